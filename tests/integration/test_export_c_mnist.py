"""`mnistlab export RUN --format c` on real MNIST: the C code checked on all 10,000 test images."""
import re

import pytest

from mnistlab.cli import main
from mnistlab.serve.export_c import find_compiler
from mnistlab.train import train_run

pytestmark = pytest.mark.integration


def test_int8_c_export_of_a_trained_cnn_matches_onnxruntime_on_the_test_set(data_root, tmp_path, capsys):
    assert find_compiler(), "a C compiler (gcc) is needed to check the C export"
    recipe = {"name": "c-export", "model": "nb000-cnn", "data": {"dataset": "mnist", "validation": "none"},
              "optimizer": {"name": "rmsprop"}, "batch_size": 128, "epochs": 1, "seed": 0, "device": "cpu",
              "threads": 1}  # for this run only: fit restores the process count
    run_dir = train_run(recipe, out=tmp_path, quiet=True)
    capsys.readouterr()
    assert main(["export", str(run_dir), "--format", "c", "--out", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    m = re.search(r"C code on 10,000 test images: accuracy ([\d.]+)% \(fp32 model ([\d.]+)%.*"
                  r"int8 onnxruntime reference on ([\d.]+)%", out)
    assert m, out
    c_acc, fp32_acc, agree = map(float, m.groups())
    assert c_acc > 90 and abs(c_acc - fp32_acc) <= 0.3 and agree >= 99.9
    assert (tmp_path / "c" / "model.h").exists() and (tmp_path / "c" / "model.c").exists()
