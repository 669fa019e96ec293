"""One writer per run (issue 32): fit holds RUN/.lock while it trains or resumes a run; a
second resume, in this process or another, is refused in one line naming the holder, and a
lock left by a killed process does not block."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mnistlab.cli import main
from mnistlab.errors import MnistlabError
from mnistlab.evaluation.compare import run_row
from mnistlab.runs import files
from mnistlab.runs.lock import RunLock, trained_by
from mnistlab.train import fit
from test_train_run import recipe, strip, tiny_dataset

HERE = Path(__file__).resolve().parent


def _child(tmp_path: Path, body: str) -> subprocess.Popen:
    """A second Python process with the test helpers importable (another user's terminal)."""
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    return subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the child process ended early:\n{proc.stdout.read()}")
        if time.monotonic() > end:
            proc.kill()
            pytest.fail("the child process did not get going")
        time.sleep(0.05)


def test_a_held_run_is_refused_before_it_changes(tmp_path):
    run_dir = fit(recipe(epochs=2), dataset=tiny_dataset(), out=tmp_path, quiet=True)
    config = (run_dir / "config.yaml").read_text()
    with RunLock() as lock:
        lock.hold(run_dir)
        assert trained_by(run_dir).startswith(f"process {os.getpid()} on ")
        with pytest.raises(MnistlabError, match=rf"{run_dir} is being trained by process {os.getpid()} on .*; "
                                                r"one process trains a run at a time"):
            fit(resume=run_dir, epochs=3, dataset=tiny_dataset(), quiet=True)
    # refused before extending touched it: still the finished 2-epoch run
    assert (run_dir / "config.yaml").read_text() == config and (run_dir / "metrics.json").is_file()
    assert trained_by(run_dir) is None and not (run_dir / ".lock.owner").exists()
    fit(resume=run_dir, epochs=3, dataset=tiny_dataset(), quiet=True)  # released: it goes on
    assert len(files.read_history(run_dir)) == 3


def test_two_resumes_of_one_run_leave_exactly_one_writer(tmp_path, capsys):
    ds = tiny_dataset()
    run_dir = fit(recipe(epochs=1), dataset=ds, out=tmp_path / "runs", quiet=True)
    reference = fit(recipe(epochs=3), dataset=ds, out=tmp_path / "reference", quiet=True)
    started, go = tmp_path / "started", tmp_path / "go"
    child = _child(tmp_path, f"""
        import time
        from pathlib import Path
        from mnistlab.train import train_run
        from mnistlab.train.callback import LambdaCallback
        from test_train_run import tiny_dataset

        def hold(epoch, row):  # mid-run: tell the parent, wait for its go
            Path({str(started)!r}).touch()
            end = time.monotonic() + 120
            while not Path({str(go)!r}).exists() and time.monotonic() < end:
                time.sleep(0.05)

        train_run(resume={str(run_dir)!r}, epochs=3, dataset=tiny_dataset(), quiet=True,
                  callbacks=[LambdaCallback(on_epoch_end=hold)])
        print("child done")
    """)
    try:
        _wait_for(started, child)
        holder = f"process {child.pid} on "
        with pytest.raises(MnistlabError, match=f"is being trained by {holder}"):
            fit(resume=run_dir, epochs=3, dataset=ds, quiet=True)
        assert main(["train", "--resume", str(run_dir), "--epochs", "3"]) == 2  # the CLI: one line, exit 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"mnistlab: error: {run_dir} is being trained by {holder}") and "\n" not in err
        assert run_row(run_dir)["status"] == f"training: process {child.pid} on {os.uname().nodename}"
        go.touch()
        assert child.wait(timeout=120) == 0, child.stdout.read()
    finally:
        go.touch()
        if child.poll() is None:
            child.kill()
    # exactly one writer: the run is the same as one trained to 3 epochs in one go
    assert strip(files.read_history(run_dir)) == strip(files.read_history(reference))
    assert files.read_metrics(run_dir)["test_loss"] == files.read_metrics(reference)["test_loss"]
    assert trained_by(run_dir) is None


def test_a_killed_holder_leaves_no_lock_behind(tmp_path):
    ds = tiny_dataset()
    run_dir = fit(recipe(epochs=1), dataset=ds, out=tmp_path, quiet=True)
    held = tmp_path / "held"
    child = _child(tmp_path, f"""
        import time
        from pathlib import Path
        from mnistlab.runs.lock import RunLock
        lock = RunLock()  # kept: the lock lives as long as the object
        lock.hold({str(run_dir)!r})
        Path({str(held)!r}).touch()
        time.sleep(120)
    """)
    try:
        _wait_for(held, child)
        assert trained_by(run_dir).startswith(f"process {child.pid} ")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert (run_dir / ".lock.owner").exists()  # its note stays, but the lock went with the process
    assert trained_by(run_dir) is None
    fit(resume=run_dir, epochs=2, dataset=ds, quiet=True)
    assert len(files.read_history(run_dir)) == 2 and not (run_dir / ".lock.owner").exists()


def test_a_busy_sweep_folder_names_the_process_that_holds_it(tmp_path):
    from mnistlab.locks import file_lock
    from mnistlab.sweeps.grid import run_sweep
    from tinydata import tiny_recipe, write_tiny_data

    sweep = {"name": "s", "recipe": tiny_recipe(write_tiny_data(tmp_path / "tiny.npz"), epochs=1), "repeats": 1,
             "grid": {"optimizer.lr": [0.1]}}
    out = tmp_path / "sw"
    out.mkdir()
    with file_lock(out / ".lock", busy="held"):  # as another `mnistlab sweep` on this folder would
        with pytest.raises(MnistlabError, match=rf"another `mnistlab sweep` \(process {os.getpid()} on .*\) is "
                                                rf"running in {out}; wait for it or use a new out= folder"):
            run_sweep(sweep, out=out, quiet=True)
