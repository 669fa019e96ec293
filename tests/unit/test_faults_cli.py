"""Issue 32's table, row by row, on the command line: each file-system failure is one
`mnistlab: error:` line with exit 2 (the disk faults through the seam of mnistlab.io; a real
tmpfs in test_faults_tmpfs.py; two resumes of one run in test_run_lock.py)."""
from __future__ import annotations

import errno
from pathlib import Path

import pytest
import yaml

from faults import inject
from mnistlab.cli import main
from mnistlab.runs import files, layout
from tinydata import tiny_recipe, write_tiny_data


@pytest.fixture()
def recipe_file(tmp_path):
    data = write_tiny_data(tmp_path / "tiny.npz")
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_recipe(data, epochs=3)))
    return path


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("mnistlab: error: ") and "\n" not in err and "Traceback" not in err, err
    return err[len("mnistlab: error: "):]


def strip(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_a_full_disk_at_a_checkpoint_says_what_is_kept_and_the_resume_finishes_the_run(
        tmp_path, recipe_file, monkeypatch, capsys):
    assert main(["train", str(recipe_file), "--out", str(tmp_path / "whole"), "--quiet", "--no-report"]) == 0
    (whole,) = layout.find_runs(tmp_path / "whole")
    faults = inject(monkeypatch, at=2, match="checkpoint.pt")  # epoch 2's checkpoint: the disk is full
    assert main(["train", str(recipe_file), "--out", str(tmp_path / "runs"), "--quiet"]) == 2
    (run,) = layout.find_runs(tmp_path / "runs")
    msg = one_line(capsys)
    assert msg == (f"cannot write {run}/checkpoint.pt: no space left on the device; the last checkpoint "
                   f"(epoch 1) in {run} is intact: free some space, then `mnistlab train --resume {run}` "
                   f"(in Python: mnistlab.fit(resume='{run}')) continues the run")
    assert main(["runs", str(tmp_path / "runs")]) == 0
    listing = capsys.readouterr().out
    assert f"{run.name} (interrupted after epoch 1)" in listing
    assert f"{run.name}: interrupted after epoch 1; resumable: mnistlab train --resume {run}" in listing
    faults.stop()
    assert main(["train", "--resume", str(run), "--quiet", "--no-report"]) == 0
    assert strip(files.read_history(run)) == strip(files.read_history(whole))
    assert files.read_metrics(run)["test_loss"] == files.read_metrics(whole)["test_loss"]


def test_a_full_disk_while_the_report_is_written_says_the_run_is_complete(
        tmp_path, recipe_file, monkeypatch, capsys):
    inject(monkeypatch, at=1, match="/plots/")
    assert main(["train", str(recipe_file), "--out", str(tmp_path), "--quiet"]) == 2
    (run,) = layout.find_runs(tmp_path)
    msg = one_line(capsys)
    assert msg.startswith(f"cannot write {run}/plots/") and ": no space left on the device; " in msg
    assert msg.endswith(f"the run {run} itself is complete: free some space, then `mnistlab report {run}` "
                        "writes its report")
    assert files.read_metrics(run)["epochs_run"] == 3  # complete
    assert not list(run.rglob("*.tmp"))


@pytest.mark.parametrize("out, words", [
    ("afile", "cannot use --out {tmp}/afile: it is a file, not a folder; pass a folder (it is created when missing)"),
    ("afile/sub", "cannot use --out {tmp}/afile/sub: {tmp}/afile is a file, not a folder; choose another path"),
])
def test_an_out_that_is_a_file_or_below_one(tmp_path, recipe_file, capsys, out, words):
    (tmp_path / "afile").write_text("keep")
    assert main(["train", str(recipe_file), "--out", str(tmp_path / out), "--quiet"]) == 2
    assert one_line(capsys) == words.format(tmp=tmp_path)
    assert (tmp_path / "afile").read_text() == "keep"


@pytest.mark.parametrize("err, words", [
    (errno.EROFS, "the file system is read-only; choose a folder on a writable file system"),
    (errno.EACCES, "permission denied; choose a folder you can write to, or change its permissions")])
def test_an_out_that_cannot_be_written(tmp_path, recipe_file, monkeypatch, capsys, err, words):
    inject(monkeypatch, err=err, at=1)
    assert main(["train", str(recipe_file), "--out", str(tmp_path / "runs"), "--quiet"]) == 2
    assert one_line(capsys) == f"cannot use --out {tmp_path / 'runs'}: {words}"


def test_a_sweep_file_that_is_not_a_file(tmp_path, capsys):
    assert main(["sweep", "/dev/null"]) == 2
    assert one_line(capsys) == "sweep file '/dev/null' is not a regular file; pass a YAML file"
    assert main(["sweep", str(tmp_path)]) == 2
    assert one_line(capsys) == f"sweep file '{tmp_path}' is a folder; pass the YAML file itself"
    assert main(["sweep", str(tmp_path / "nope.yaml")]) == 2
    assert one_line(capsys) == f"sweep file '{tmp_path / 'nope.yaml'}' not found"


def test_recipes_copy_on_a_full_disk(tmp_path, monkeypatch, capsys):
    inject(monkeypatch, at=1)
    assert main(["recipes", "copy", "nb000-cnn", str(tmp_path / "mine")]) == 2
    assert one_line(capsys).startswith(f"cannot create the folder {tmp_path / 'mine'}: no space left on the device")
    inject(monkeypatch, at=2)
    assert main(["recipes", "copy", "nb000-cnn", str(tmp_path / "mine")]) == 2
    assert one_line(capsys).startswith(f"cannot write {tmp_path / 'mine' / 'nb000-cnn.yaml'}: no space left")
    assert not list((tmp_path / "mine").iterdir())  # no half-written recipe


def test_an_os_error_that_escaped_io_is_still_one_line(monkeypatch, capsys):
    import mnistlab.train.commands as commands

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/scratch/tool.bin")
    monkeypatch.setattr(commands, "_recipes_list", full)
    assert main(["recipes", "list"]) == 2
    assert one_line(capsys) == ("cannot write /scratch/tool.bin: no space left on the device; free some space "
                                "(or choose another folder) and run it again")

    def denied(args):  # may have been a read: no "cannot write"
        raise PermissionError(errno.EACCES, "Permission denied", "/data/mnist.npz")
    monkeypatch.setattr(commands, "_recipes_list", denied)
    assert main(["recipes", "list"]) == 2
    assert one_line(capsys) == "/data/mnist.npz: permission denied; check the path and its permissions"

    def other(args):  # not the file system's refusal: a bug, with its traceback
        raise OSError(errno.EIO, "Input/output error")
    monkeypatch.setattr(commands, "_recipes_list", other)
    with pytest.raises(OSError):
        main(["recipes", "list"])


def test_a_cache_that_cannot_be_written_never_fails(tmp_path, monkeypatch):
    from mnistlab.io import write_cache
    inject(monkeypatch, at=1)
    assert write_cache(tmp_path / "c" / "cache.json", "{}") is False
    assert not (tmp_path / "c" / "cache.json").exists()
