"""The C export: generated C99 compiled with the system compiler and checked against onnxruntime."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
import torch

from mnistlab.errors import MnistlabError
from mnistlab.models import build, resolve_spec, summary
from mnistlab.models.zoo import ZOO
from mnistlab.serve import export_c as X

pytestmark = pytest.mark.skipif(X.find_compiler() is None, reason="never: gcc is on every machine of this project")


def _images(n=150, shape=(28, 28, 1), seed=0):
    """Digit-like synthetic images: a bright stroke whose place depends on the class."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = rng.integers(0, 40, (n, *shape)).astype(np.uint8)
    for i, k in enumerate(y):
        r = 2 + 2 * k
        x[i, r:r + 3, 4:24] = 230
    return x, y


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_zoo_model_compiles_and_agrees_with_onnxruntime(name, tmp_path):
    spec = resolve_spec(name)
    X.check_spec(spec)
    torch.manual_seed(0)
    model = build(spec).eval()
    x, y = _images()
    r = X.export_c(model, tmp_path, x_calib=x, x_eval=x, y_eval=y % summary(spec).output_shape[-1])
    assert r.verified
    assert r.reference_agreement >= 0.999, r.lines("test")
    header = (tmp_path / "model.h").read_text()
    assert f"#define MNISTLAB_FLASH_BYTES {r.flash_bytes} " in header
    s = summary(spec)  # the summary and the budgets use the export's planner (test_c_memory.py)
    assert f"#define MNISTLAB_RAM_BYTES {s.ram_int8} " in header
    assert f"#define MNISTLAB_FLASH_BYTES {s.flash_int8} " in header


def test_fp32_variant_agrees_with_pytorch(tmp_path):
    torch.manual_seed(1)
    model = build("nb002-cnn").eval()
    x, y = _images()
    r = X.export_c(model, tmp_path, x_calib=x, x_eval=x, y_eval=y, precision="fp32")
    assert r.reference_agreement == 1.0 and r.accuracy == r.fp32_accuracy


def test_residual_block_and_separable_conv(tmp_path):
    spec = {"input_shape": [28, 28, 1], "layers": [
        {"type": "conv2d", "filters": 6, "kernel": 3, "use_bias": False},
        {"type": "batchnorm"}, {"type": "activation", "activation": "relu"},
        {"type": "separable_conv2d", "filters": 8, "kernel": 3, "padding": "same"},
        {"type": "maxpool2d", "pool": 2, "padding": "same"},
        {"type": "residual_block", "filters": 8, "kernel": 3, "strides": 1},
        {"type": "avgpool2d", "pool": 2},
        {"type": "global_avg_pool"}, {"type": "dense", "units": 10, "activation": "softmax"}]}
    torch.manual_seed(0)
    model = build(spec).eval()
    x, y = _images()
    r = X.export_c(model, tmp_path, x_calib=x, x_eval=x, y_eval=y)
    assert r.reference_agreement >= 0.999, r.lines("test")


def test_public_interface_is_exactly_the_documented_one(tmp_path):
    torch.manual_seed(0)
    x, y = _images(20)
    X.export_c(build("nb000-cnn").eval(), tmp_path, x_calib=x, x_eval=x, y_eval=y)
    header = (tmp_path / "model.h").read_text()
    defines = dict(re.findall(r"#define (MNISTLAB_\w+) (\d+)", header))
    assert {k: defines[k] for k in ("MNISTLAB_INPUT_H", "MNISTLAB_INPUT_W", "MNISTLAB_INPUT_C",
                                    "MNISTLAB_CLASSES")} == {"MNISTLAB_INPUT_H": "28", "MNISTLAB_INPUT_W": "28",
                                                             "MNISTLAB_INPUT_C": "1", "MNISTLAB_CLASSES": "10"}
    assert "int mnistlab_predict(const unsigned char *pixels, float *probabilities);" in header
    source = (tmp_path / "model.c").read_text()
    assert re.findall(r"#include [<\"](.+?)[>\"]", source) == ["model.h", "math.h", "stdint.h"]
    assert not re.search(r"\b(malloc|calloc|free|printf)\b", source)


def test_no_compiler_still_writes_the_files_and_says_unverified(tmp_path, monkeypatch):
    monkeypatch.setattr(X, "find_compiler", lambda: None)
    x, y = _images(20)
    r = X.export_c(build("nb000-cnn").eval(), tmp_path, x_calib=x, x_eval=x, y_eval=y)
    assert (tmp_path / "model.c").exists() and not r.verified
    assert "UNVERIFIED" in "\n".join(r.lines("test"))


def test_a_layer_without_a_c_kernel_is_one_line_naming_it():
    spec = resolve_spec({"input_shape": [28, 28, 1], "layers": [
        {"type": "flatten"}, {"type": "dense", "units": 10, "activation": "gelu"}]})
    with pytest.raises(MnistlabError, match=r"layer 1 \(dense\) uses activation 'gelu'") as err:
        X.check_spec(spec)
    assert "\n" not in str(err.value)


def test_the_c_files_are_clean_c99_on_their_own(tmp_path):
    """serve/c/kernels.c with every kernel compiled in, and harness.c against a generated model.h."""
    cc = X.find_compiler()
    flags = [f"-DMNISTLAB_USE_{k.upper()}" for k in X.KERNELS]
    (tmp_path / "kernels.c").write_text(X.c_file("kernels.c"))
    res = subprocess.run([cc, *X.CFLAGS, "-DMNISTLAB_KERNEL=", *flags, "-c", str(tmp_path / "kernels.c"),
                          "-o", str(tmp_path / "kernels.o")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    x, y = _images(20)
    X.export_c(build("nb000-cnn").eval(), tmp_path, x_calib=x, x_eval=x, y_eval=y)
    (tmp_path / "harness.c").write_text(X.c_file("harness.c"))
    res = subprocess.run([cc, *X.CFLAGS, "-I", str(tmp_path), "-c", str(tmp_path / "harness.c"),
                          "-o", str(tmp_path / "harness.o")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    source = (tmp_path / "model.c").read_text()
    assert "#define MNISTLAB_USE_CONV_Q" in source and "#define MNISTLAB_USE_CONV_F" not in source
