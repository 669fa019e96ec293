"""A run when the file system fails under it (issue 32): every write site of fit, through the
fault seam of mnistlab.io (tests/unit/faults.py). Each failure is one FileWriteError line
naming the file; the run folder holds only complete files (the previous or the new version),
says it is interrupted and resumable, and resuming it ends with the history and test loss of
an uninterrupted run."""
from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from faults import inject
from mnistlab.evaluation.compare import run_row
from mnistlab.io import FileWriteError
from mnistlab.runs import files, layout
from mnistlab.train import fit
from test_train_run import recipe, strip, tiny_dataset

EPOCHS = 3


def _recipe(tmp_path):
    best = tmp_path / "best"
    best.mkdir(parents=True, exist_ok=True)
    # ModelCheckpoint writes through io too: one more write site of a run
    # precision fp32, kernels torch: `auto` would time the step and write its cache on a first run
    # only, which shifts the write sites with test order (and may choose another setting than the baseline)
    return recipe(epochs=EPOCHS, precision="fp32", kernels="torch", callbacks={"model_checkpoint": {
        "filepath": str(best / "best.safetensors"), "save_best_only": True}})


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """An uninterrupted run and the list of writes it made, in order."""
    import pytest as _p
    mp = _p.MonkeyPatch()
    try:
        tmp = tmp_path_factory.mktemp("baseline")
        mp.setenv("XDG_CACHE_HOME", str(tmp / "xdg-cache"))  # module scope: before the per-test isolation
        faults = inject(mp)
        run_dir = fit(_recipe(tmp), dataset=tiny_dataset(), out=tmp / "out", quiet=True)
    finally:
        mp.undo()
    return {"history": strip(files.read_history(run_dir)), "metrics": files.read_metrics(run_dir),
            "writes": faults.seen}


def test_the_seam_sees_every_write_of_a_run(baseline):
    names = [Path(p).name for op, p in baseline["writes"] if op == "write"]
    for name in ["config.yaml", "history.csv", "checkpoint.pt", "model.safetensors", "metrics.json",
                 "best.safetensors"]:
        assert name in names
    assert names.count("checkpoint.pt") == EPOCHS and names[-1] == "metrics.json"


def _check_complete_files(run_dir: Path) -> int:
    """Every file of the run reads back whole; returns the checkpoint's epoch."""
    assert not [p.name for p in run_dir.rglob("*") if p.name.endswith(".tmp")]  # no torn temp file
    assert not (run_dir / ".lock.owner").exists()  # the lock was released with the failure
    files.read_config(run_dir)
    history = files.read_history(run_dir)
    epoch = files.load_checkpoint(run_dir)["state"]["epoch"]
    assert len(history) in (epoch, epoch - 1)  # history.csv is written right after the checkpoint
    assert files.read_metrics(run_dir) == {}  # unfinished, so resumable
    return epoch


@pytest.mark.parametrize("err, words", [(errno.ENOSPC, "no space left on the device"),
                                        (errno.EROFS, "the file system is read-only")])
def test_a_failure_at_every_write_is_one_line_and_the_run_resumes_to_the_same_history(
        tmp_path, monkeypatch, baseline, err, words):
    writes = baseline["writes"]
    ds = tiny_dataset()
    resumed = 0
    for n in range(1, len(writes) + 1):
        if err == errno.EROFS and n % 3:  # the read-only case: a third of the sites is enough
            continue
        out = tmp_path / f"out{n}"
        faults = inject(monkeypatch, err=err, at=n)
        with pytest.raises(FileWriteError) as info:
            fit(_recipe(tmp_path / f"t{n}"), dataset=ds, out=out, quiet=True)
        op, failing = faults.seen[n - 1]
        msg = str(info.value)
        assert "\n" not in msg and words in msg, (n, msg)
        if msg.startswith("cannot use out="):  # the --out check's probe, before anything else
            assert n <= 2, (n, msg)
        elif op == "mkdir":  # the run's hidden work folder
            assert msg.startswith(f"cannot create a folder in {out}"), (n, msg)
        else:  # the file that failed first, unless it was a cache (an auto choice's) or the lock's
            # owner note: those never fail a command
            named = [p for p in faults.raised if "cannot write " + p + ":" in msg]
            assert named and all("/xdg-cache/" in p or p.endswith(".lock.owner")
                                 for p in faults.raised[:faults.raised.index(named[0])]), (n, msg)
        runs = layout.find_runs(out) if out.is_dir() else []
        if not runs:  # failed before the first checkpoint: nothing saved, nothing left behind
            assert "nothing was saved" in msg or msg.startswith(("cannot use out=", "cannot create")), (n, msg)
            assert not out.is_dir() or not [p for p in out.iterdir() if not p.name.startswith(".mnistlab")]
            continue
        (run_dir,) = runs
        epoch = _check_complete_files(run_dir)
        assert f"the last checkpoint (epoch {epoch}) in {run_dir} is intact" in msg, (n, msg)
        assert f"mnistlab train --resume {run_dir}" in msg and f"mnistlab.fit(resume='{run_dir}')" in msg
        assert run_row(run_dir)["status"].startswith(f"interrupted after epoch {len(files.read_history(run_dir))}")
        faults.stop()  # space freed: resuming finishes the run as if nothing had happened
        fit(resume=run_dir, dataset=ds, quiet=True)
        assert strip(files.read_history(run_dir)) == baseline["history"], n
        metrics = files.read_metrics(run_dir)
        assert metrics["test_loss"] == baseline["metrics"]["test_loss"], n
        assert run_row(run_dir)["status"] == ""
        resumed += 1
    # the sites after the run is published: best, checkpoint, history of epochs 2..N, weights, metrics
    assert resumed == (3 * (EPOCHS - 1) + 2 if err == errno.ENOSPC else resumed) and resumed >= 2, resumed


def test_a_failed_write_keeps_the_previous_version_of_the_file(tmp_path, monkeypatch):
    ds = tiny_dataset()
    run_dir = fit(recipe(epochs=2), dataset=ds, out=tmp_path, quiet=True)
    before = {name: (run_dir / name).read_bytes() for name in ["config.yaml", "history.csv", "checkpoint.pt"]}
    (run_dir / "metrics.json").unlink()  # pretend the run stopped after epoch 2 of 3
    inject(monkeypatch, at=1, match="checkpoint.pt")
    with pytest.raises(FileWriteError, match=r"cannot write .*checkpoint.pt: no space left on the device; "
                                             r"the last checkpoint \(epoch 2\)"):
        fit(resume=run_dir, dataset=ds, quiet=True, epochs=3)
    for name, data in before.items():
        if name != "config.yaml":  # extending rewrote it (epochs: 3) before training
            assert (run_dir / name).read_bytes() == data, name


def test_a_full_disk_before_the_first_checkpoint_leaves_nothing(tmp_path, monkeypatch):
    inject(monkeypatch, at=1, match="checkpoint.pt")
    with pytest.raises(FileWriteError, match="nothing was saved .*free some space"):
        fit(recipe(epochs=2), dataset=tiny_dataset(), out=tmp_path, quiet=True)
    assert not list(tmp_path.iterdir())  # no run, no hidden partial folder


@pytest.mark.parametrize("err, words", [(errno.EACCES, "permission denied"), (errno.EROFS, "the file system is read-only"),
                                        (errno.ENOSPC, "no space left")])
def test_out_is_checked_before_any_data_loads(tmp_path, monkeypatch, err, words):
    import mnistlab.train.training as training
    monkeypatch.setattr(training, "Session", lambda *a, **k: pytest.fail("data loaded before --out was checked"))
    inject(monkeypatch, err=err, at=1)
    with pytest.raises(FileWriteError, match=f"cannot use out='{tmp_path / 'runs'}': {words}"):
        fit(recipe(), dataset=tiny_dataset(), out=tmp_path / "runs", quiet=True)


def test_out_that_is_a_file_or_below_a_file(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(FileWriteError, match=r"cannot use out='.*afile': it is a file, not a folder; pass a folder"):
        fit(recipe(), dataset=tiny_dataset(), out=afile, quiet=True)
    with pytest.raises(FileWriteError, match=r"cannot use out='.*afile/sub': .*afile is a file, not a folder"):
        fit(recipe(), dataset=tiny_dataset(), out=afile / "sub", quiet=True)
    assert afile.read_text() == "x"


def test_file_write_error_survives_pickling():  # sweep workers hand it back to the parent
    import pickle
    err = FileWriteError("cannot write x: no space left on the device", "free some space", path="x",
                         errno_=errno.ENOSPC, remedy="free some space")
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and back.no_space and back.path == "x"


def test_metrics_written_last_is_what_a_listing_reads(tmp_path):
    run_dir = fit(recipe(epochs=1), dataset=tiny_dataset(), out=tmp_path, quiet=True)
    assert json.loads((run_dir / "metrics.json").read_text())["epochs_run"] == 1
    assert run_row(run_dir)["status"] == ""


def test_a_fork_on_a_full_disk_leaves_no_half_copied_run(tmp_path, monkeypatch):
    import shutil

    from mnistlab.runs.fork import fork_run
    run_dir = fit(recipe(epochs=1), dataset=tiny_dataset(), out=tmp_path / "a", quiet=True)

    def full(src, dst, **kw):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))
    monkeypatch.setattr(shutil, "copy2", full)
    with pytest.raises(FileWriteError, match=r"cannot write .*/\.tiny\.partial-\w+/checkpoint\.pt: no space left"):
        fork_run(run_dir, tmp_path / "b", {"name": "tiny", "epochs": 2})
    assert list((tmp_path / "b").iterdir()) == []
    monkeypatch.undo()
    inject(monkeypatch, at=1)  # the fork's hidden folder
    with pytest.raises(FileWriteError, match=f"cannot create a folder in {tmp_path / 'b'}: no space left"):
        fork_run(run_dir, tmp_path / "b", {"name": "tiny", "epochs": 2})
