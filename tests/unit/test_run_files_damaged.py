"""Every damaged run file gives one line `mnistlab: error: ...` naming the file, through the CLI.

One tiny finished run is trained once; each case copies it, damages one file and runs one
command on the copy. A command that does not read the damaged file must simply work.
"""
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from mnistlab.cli import main
from mnistlab.train import train_run
from tinydata import tiny_recipe, write_tiny_data


class Foreign:  # what a pickle from elsewhere may hold: an instance of someone's class
    def __init__(self):
        self.payload = [1, 2, 3]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("damaged")
    data = write_tiny_data(root / "tiny.npz")
    run = train_run(tiny_recipe(data, epochs=1), out=root / "runs", quiet=True)
    image = root / "digit.png"
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(image)
    return root, run, image


def _copy(made, tmp_path):
    root, run, _ = made
    dest = tmp_path / "runs" / run.name
    shutil.copytree(run, dest)
    return dest


def _damage(run, name, how):
    path = run / name
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    elif how == "other bytes":
        path.write_bytes(b"this is not what the file should hold\n" * 20)
    elif how == "foreign pickle":
        torch.save({"model": Foreign()}, path)
    elif how == "invalid json":
        path.write_text('{"test_accuracy": 0.9,')
    elif how == "invalid yaml":
        path.write_text("name: [unclosed\nmodel: {")
    elif how == "not a mapping":
        path.write_text("- just\n- a list\n")


def _one_line_error(capsys, argv, filename):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, f"{argv}: exit {code}, stderr {err!r}"
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnistlab: error:"), err
    assert filename in lines[0], err


def _argv(command, run, made, tmp_path):
    _, _, image = made
    return {"eval": ["eval", str(run)],
            "report": ["report", str(run)],
            "predict": ["predict", str(run), str(image)],
            "export": ["export", str(run), "--out", str(tmp_path / "m.onnx")],
            "runs": ["runs", str(run.parent)],
            "compare": ["compare", str(run), "--out", str(tmp_path / "c.png")],
            "resume": ["train", "--resume", str(run), "--epochs", "2", "--quiet"]}[command]


@pytest.mark.parametrize("how", ["empty", "truncated", "foreign pickle"])
def test_a_damaged_checkpoint_fails_resume_in_one_line(made, tmp_path, capsys, how):
    run = _copy(made, tmp_path)
    _damage(run, "checkpoint.pt", how)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    _one_line_error(capsys, _argv("resume", run, made, tmp_path), "checkpoint.pt")
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before  # the run is unchanged


@pytest.mark.parametrize("command", ["eval", "report", "predict", "export"])
def test_foreign_bytes_in_the_weights_fail_in_one_line(made, tmp_path, capsys, command):
    run = _copy(made, tmp_path)
    _damage(run, "model.safetensors", "other bytes")
    _one_line_error(capsys, _argv(command, run, made, tmp_path), "model.safetensors")


@pytest.mark.parametrize("command", ["runs", "compare"])
def test_listing_and_comparing_do_not_read_the_weights(made, tmp_path, capsys, command):
    run = _copy(made, tmp_path)
    _damage(run, "model.safetensors", "other bytes")
    assert main(_argv(command, run, made, tmp_path)) == 0
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("command", ["eval", "report", "runs", "compare"])
def test_invalid_metrics_fail_in_one_line(made, tmp_path, capsys, command):
    run = _copy(made, tmp_path)
    _damage(run, "metrics.json", "invalid json")
    _one_line_error(capsys, _argv(command, run, made, tmp_path), "metrics.json")


@pytest.mark.parametrize("how", ["invalid yaml", "not a mapping"])
@pytest.mark.parametrize("command", ["eval", "report", "predict", "export", "runs", "compare", "resume"])
def test_invalid_config_fails_in_one_line(made, tmp_path, capsys, command, how):
    run = _copy(made, tmp_path)
    _damage(run, "config.yaml", how)
    _one_line_error(capsys, _argv(command, run, made, tmp_path), "config.yaml")
