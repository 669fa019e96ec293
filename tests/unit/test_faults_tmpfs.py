"""Issue 32 on a real small file system: a tmpfs too small for a run fills up at epoch 2's
checkpoint; `mnistlab train` says so in one line, the run resumes to the history of an
uninterrupted run once there is space, and a read-only remount is one line too.

Needs root and a kernel that lets it mount a tmpfs; the test skips, saying why, only when the
mount itself is refused."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from mnistlab.cli import main
from mnistlab.runs import files, layout
from tinydata import tiny_recipe, write_tiny_data


def _mount(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@pytest.fixture()
def tmpfs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        done = _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt))
    except FileNotFoundError:
        pytest.skip("no mount command on this machine")
    if done.returncode != 0:
        pytest.skip(f"this machine refuses to mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _resize(mnt: Path, size: int, *more: str) -> None:
    done = _mount("-o", ",".join(["remount", f"size={size}", *more]), str(mnt))
    assert done.returncode == 0, done.stderr


def _used(mnt: Path) -> int:
    st = os.statvfs(mnt)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def strip(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("mnistlab: error: ") and "\n" not in err and "Traceback" not in err, err
    return err[len("mnistlab: error: "):]


def test_a_full_tmpfs_at_a_checkpoint_resumes_to_the_same_history(tmp_path, tmpfs, capsys):
    recipe = tiny_recipe(write_tiny_data(tmp_path / "tiny.npz"), epochs=3)
    recipe["model"]["layers"][1]["units"] = 512  # a checkpoint of ~140 KB, far above the small files
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["train", str(path), "--out", str(tmp_path / "ref"), "--quiet", "--no-report"]) == 0
    (ref,) = layout.find_runs(tmp_path / "ref")
    checkpoint = (ref / "checkpoint.pt").stat().st_size
    assert checkpoint > 100_000

    # room for one checkpoint, not for the temp file of the next one beside it
    _resize(tmpfs, checkpoint * 3 // 2 + 32 * 1024)
    assert main(["train", str(path), "--out", str(tmpfs / "runs"), "--quiet"]) == 2
    (run,) = layout.find_runs(tmpfs / "runs")
    assert one_line(capsys) == (
        f"cannot write {run}/checkpoint.pt: no space left on the device; the last checkpoint (epoch 1) in "
        f"{run} is intact: free some space, then `mnistlab train --resume {run}` (in Python: "
        f"mnistlab.fit(resume='{run}')) continues the run")
    assert not list(tmpfs.rglob("*.tmp"))
    assert files.load_checkpoint(run)["state"]["epoch"] == 1 and len(files.read_history(run)) == 1

    _resize(tmpfs, 4 * 1024 * 1024)  # space freed
    assert main(["train", "--resume", str(run), "--quiet", "--no-report"]) == 0
    assert strip(files.read_history(run)) == strip(files.read_history(ref))
    assert files.read_metrics(run)["test_loss"] == files.read_metrics(ref)["test_loss"]

    # the report on a disk that fills while its plots are written
    _resize(tmpfs, _used(tmpfs) + 8 * 1024)
    assert main(["report", str(run)]) == 2
    msg = one_line(capsys)
    assert msg.startswith(f"cannot write {run}/") and ": no space left on the device; free some space" in msg
    assert not list(tmpfs.rglob("*.tmp"))

    # read-only: a new run's --out, and a resume that would extend the run
    _resize(tmpfs, 4 * 1024 * 1024, "ro")
    assert main(["train", str(path), "--out", str(tmpfs / "runs2"), "--quiet"]) == 2
    assert one_line(capsys) == (f"cannot use --out {tmpfs / 'runs2'}: the file system is read-only; "
                                "choose a folder on a writable file system")
    assert main(["train", "--resume", str(run), "--epochs", "4", "--quiet"]) == 2
    assert "the file system is read-only" in one_line(capsys)
    assert files.read_metrics(run)["epochs_run"] == 3  # untouched
