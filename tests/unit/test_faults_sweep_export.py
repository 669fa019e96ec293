"""A full or read-only disk under a sweep, a tune study and an export (issue 32), through the
fault seam of mnistlab.io: one FileWriteError line, and for a sweep, nothing lost: running
it again when there is space finishes it with the results of an uninterrupted sweep."""
from __future__ import annotations

import errno

import numpy as np
import pytest

from faults import inject
from mnistlab.io import FileWriteError
from mnistlab.sweeps.grid import run_sweep
from tinydata import read_rows, tiny_recipe, write_tiny_data

TINY_SPACE = {"optimizer.lr": [0.05, 0.1]}


@pytest.fixture()
def data(tmp_path):
    return write_tiny_data(tmp_path / "tiny.npz")


def _sweep(data):
    return {"name": "s", "recipe": tiny_recipe(data, epochs=2), "grid": {"optimizer.lr": [0.05, 0.1]},
            "repeats": 1, "metrics": ["test_accuracy"]}


def _results(out):
    return [(r["trial"], r["status"], r["test_accuracy"]) for r in read_rows(out / "results.csv")]


def test_a_full_disk_at_every_write_of_a_sweep_stops_it_in_one_line_and_nothing_is_lost(
        tmp_path, data, monkeypatch):
    run_sweep(_sweep(data), out=tmp_path / "warm", quiet=True)  # precision auto's cache is written once
    counting = inject(monkeypatch)
    whole = run_sweep(_sweep(data), out=tmp_path / "whole", quiet=True)
    expected = _results(whole)
    assert [s for _, s, _ in expected] == ["done", "done"]
    writes = len(counting.seen)
    assert writes > 20  # sweep.yaml, results, each trial's run files, summary, plot
    failed_first = set()
    for n in range(1, writes + 1):
        out = tmp_path / f"sw{n}"
        faults = inject(monkeypatch, at=n)
        with pytest.raises(FileWriteError) as info:
            run_sweep(_sweep(data), out=out, quiet=True)
        msg = str(info.value)
        assert "\n" not in msg and "no space left on the device" in msg, (n, msg)
        if out.exists() and "cannot use out=" not in msg:
            assert msg.endswith("the sweep stopped: free some space, then run the same sweep again (finished "
                                "trials are kept; an interrupted one resumes from its checkpoint)"), (n, msg)
        first = [p for p in faults.raised if not p.endswith(".lock.owner")]  # a note: never fails anything
        assert first[0] in msg or f"cannot use out='{out}" in msg or "cannot create" in msg, (n, msg)
        assert not list(out.rglob("*.tmp")) if out.exists() else True
        assert not [p for p in out.rglob("failed.json")] if out.exists() else True  # the disk, not the trial
        failed_first.add(first[0].rsplit("/", 1)[-1].split(".partial-")[0])
        faults.stop()
        done = run_sweep(_sweep(data), out=out, quiet=True)
        assert _results(done) == expected, n
    assert {"sweep.yaml", "results.csv", "checkpoint.pt", "history.csv", "metrics.json",
            "summary.csv"} <= failed_first, failed_first


def test_a_full_disk_in_a_tune_trial_stops_the_study(tmp_path, data, monkeypatch):
    from mnistlab.sweeps.tuning import run_tune
    inject(monkeypatch, at=1, match="checkpoint.pt")
    with pytest.raises(FileWriteError, match=r"checkpoint.pt: no space left on the device; the study stopped: "
                                             r"free some space, then run the same command again"):
        run_tune(tiny_recipe(data), TINY_SPACE, trials=3, out=tmp_path / "st", seed=0, quiet=True)


def test_an_unwritable_study_folder_fails_before_the_data_loads(tmp_path, data, monkeypatch):
    import mnistlab.data
    from mnistlab.sweeps.tuning import run_tune
    monkeypatch.setattr(mnistlab.data, "load_dataset", lambda *a, **k: pytest.fail("data loaded first"))
    inject(monkeypatch, err=errno.EROFS, at=1)
    with pytest.raises(FileWriteError, match=f"cannot use out='{tmp_path / 'st'}': the file system is read-only"):
        run_tune(tiny_recipe(data), TINY_SPACE, trials=1, out=tmp_path / "st", quiet=True)


@pytest.fixture()
def model():
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8 * 8, 3)).eval()


@pytest.mark.parametrize("err, words", [(errno.ENOSPC, "no space left on the device"),
                                        (errno.EROFS, "the file system is read-only")])
def test_an_export_that_cannot_be_written_keeps_the_old_file(tmp_path, model, monkeypatch, err, words):
    from mnistlab.serve import export as E
    path = E.export_onnx(model, tmp_path / "m.onnx", input_shape=(8, 8, 1))
    before = path.read_bytes()
    inject(monkeypatch, err=err, at=1, match="m.onnx")
    with pytest.raises(FileWriteError, match=f"cannot write {path}: {words}"):
        E.export_onnx(model, path, input_shape=(8, 8, 1))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no scratch folder, no temp file


def test_an_int8_export_that_cannot_be_written(tmp_path, model, monkeypatch):
    from mnistlab.serve import export as E
    path = E.export_onnx(model, tmp_path / "m.onnx", input_shape=(8, 8, 1))
    inject(monkeypatch, at=1, match="m.int8.onnx")
    x = np.random.default_rng(0).integers(0, 255, (64, 8, 8, 1), dtype=np.uint8)
    with pytest.raises(FileWriteError, match="m.int8.onnx: no space left on the device"):
        E.quantize_int8(path, tmp_path / "m.int8.onnx", x)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_export_out_is_checked_before_the_run_loads(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    from mnistlab.serve import export as E
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FileWriteError, match=r"cannot use out='.*afile/m.onnx': .*afile is a file, not a folder"):
        E.export_run(tmp_path / "no-run-needed", tmp_path / "afile" / "m.onnx")


def test_a_c_export_that_cannot_be_written_keeps_the_old_files(tmp_path, monkeypatch):
    name = "model.c"  # the second of its two files
    pytest.importorskip("onnx")
    from mnistlab.models import build
    from mnistlab.serve import export_c as X
    monkeypatch.setattr(X, "find_compiler", lambda: None)  # the writes are what is tested, not gcc
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 255, (20, 28, 28, 1), dtype=np.uint8), rng.integers(0, 10, 20)
    model = build("nb000-cnn").eval()
    X.export_c(model, tmp_path / "c", x_calib=x, x_eval=x, y_eval=y)
    before = {p.name: p.read_bytes() for p in (tmp_path / "c").iterdir()}
    inject(monkeypatch, at=1, match=name)
    with pytest.raises(FileWriteError, match=f"cannot write {tmp_path / 'c' / name}: no space left on the device"):
        X.export_c(model, tmp_path / "c", x_calib=x, x_eval=x, y_eval=y)
    assert {p.name: p.read_bytes() for p in (tmp_path / "c").iterdir()} == before
