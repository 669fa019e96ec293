"""Issue 22 item 1: the thread count a run asks for is the one it trains with, records and
announces, on every path (CLI --threads, mnistlab.fit(threads=), a sweep's worker processes),
and the process's own count is back afterwards.

Each test first sets the process to a count other than the one asked for, so it fails where
`threads` is ignored whatever OMP_NUM_THREADS or the core count of the machine is.
"""
from __future__ import annotations

import pytest
import torch
import yaml

import mnistlab
from mnistlab.cli import main
from mnistlab.sweeps import grid, trials
from mnistlab.train import train_run, open_run
from mnistlab.train.callback import LambdaCallback
from tinydata import read_rows, tiny_recipe, write_tiny_data


@pytest.fixture()
def process_threads():
    """Set torch's count for the test (the recipe asks for another) and put it back after."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


@pytest.fixture()
def data(tmp_path):
    return write_tiny_data(tmp_path / "tiny.npz")


def recipe(data, **kw):
    # batch 64 on two threads would be cut into two chunks of 32 (train/parallel.py MIN_CHUNK)
    return {**tiny_recipe(data, epochs=1), "batch_size": 64, **kw}


def test_cli_threads_1_trains_records_and_says_1_thread(tmp_path, data, process_threads, capsys):
    process_threads(2)
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe(data)))
    assert main(["train", str(tmp_path / "r.yaml"), "--threads", "1", "--out", str(tmp_path / "runs"),
                 "--no-report"]) == 0
    out = capsys.readouterr().out
    (run_dir,) = (tmp_path / "runs").iterdir()
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert (config["threads"], config["batch_split"]) == (1, 1)
    assert "on cpu (1 thread)," in out, out
    assert torch.get_num_threads() == 2


def test_api_threads_1_trains_records_and_says_1_thread(tmp_path, data, process_threads, capsys):
    process_threads(2)
    seen = []
    run = mnistlab.fit(recipe(data), threads=1, out=tmp_path, report=False,
                       callbacks=[type("Spy", (), {"on_epoch_end": lambda self, e, logs: seen.append(
                           torch.get_num_threads())})()])
    assert (run.config["threads"], run.config["batch_split"]) == (1, 1)
    assert seen == [1]
    assert "on cpu (1 thread)," in capsys.readouterr().out
    assert torch.get_num_threads() == 2


def test_an_explicit_count_above_the_process_count_is_used_too(tmp_path, data, process_threads, capsys):
    process_threads(1)
    run = open_run(train_run(recipe(data, threads=2), out=tmp_path))
    assert (run.config["threads"], run.config["batch_split"]) == (2, 2)
    assert "on cpu (2 threads, each batch split across them)" in capsys.readouterr().out
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("count", [1, 2])
def test_threads_null_is_the_process_count(tmp_path, data, process_threads, count):
    """`threads: null` (the default): torch's count at the start, e.g. a sweep worker's share."""
    process_threads(count)
    run = open_run(train_run(recipe(data), out=tmp_path, quiet=True))
    assert (run.config["threads"], run.config["batch_split"]) == (count, count)


def test_the_process_count_is_restored_when_the_run_fails(tmp_path, data, process_threads):
    process_threads(2)

    def boom(epoch, row):
        raise RuntimeError("a callback failed")
    with pytest.raises(RuntimeError, match="a callback failed"):
        train_run(recipe(data, threads=1), out=tmp_path, quiet=True, callbacks=[LambdaCallback(on_epoch_end=boom)])
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("cores, threads, expected", [(2, None, 1), (4, None, 2), (4, 1, 1)])
def test_sweep_workers_train_with_their_share_of_the_cores(tmp_path, data, monkeypatch,
                                                           cores, threads, expected):
    """2 workers on 2 cores train on 1 thread each (not 2 each, 4 in all); on 4 cores on 2
    each; a count the sweep's recipe names is used as it is."""
    monkeypatch.setattr(trials, "cpu_cores", lambda: cores)
    sweep = {"name": "t", "recipe": recipe(data, threads=threads), "grid": {"optimizer.lr": [0.1, 0.2]}}
    out = grid.run_sweep(sweep, out=tmp_path / "sw", workers=2, quiet=True)
    rows = read_rows(out / "results.csv")
    assert [r["status"] for r in rows] == ["done", "done"], rows
    for r in rows:
        config = yaml.safe_load((out / r["run_dir"] / "config.yaml").read_text())
        assert (config["threads"], config["batch_split"]) == (expected, expected)
