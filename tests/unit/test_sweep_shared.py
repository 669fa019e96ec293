"""Grid sweeps shared through a study storage (`sweep --storage`), in one process: trials
are done once, results are gathered from the storage, copies queued by a race give way."""
from __future__ import annotations

import optuna
import pytest

from mnistlab.errors import MnistlabError
from mnistlab.sweeps.grid import load_sweep, run_sweep
from mnistlab.sweeps.gridstudy import SharedGrid
from mnistlab.sweeps.study import redact
from tinydata import read_rows, tiny_recipe, write_tiny_data


@pytest.fixture()
def data(tmp_path):
    return write_tiny_data(tmp_path / "tiny.npz")


def sweep_spec(data, values=(1e-2, 1e-6), repeats=2):
    return {"name": "shared", "recipe": tiny_recipe(data, epochs=1),
            "grid": {"model.layers.*.l2": list(values)}, "repeats": repeats}


def grid_trials(url):
    study = optuna.load_study(study_name="shared", storage=url)
    return [t for t in study.trials if "grid_id" in t.user_attrs]


def test_second_machine_finds_the_grid_done_and_gathers_the_results(tmp_path, data):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    a = run_sweep(sweep_spec(data), out=tmp_path / "a", storage=url, quiet=True)
    b = run_sweep(sweep_spec(data), out=tmp_path / "b", storage=url, quiet=True)
    done = [t for t in grid_trials(url) if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.user_attrs["grid_id"] for t in done) == ["000-r0", "000-r1", "001-r0", "001-r1"]
    assert not list((b / "trials").glob("*/*/metrics.json"))  # b trained nothing
    rows = {r["trial"]: r for r in read_rows(b / "results.csv")}
    assert all(r["status"] == "done" and str(a) in r["run_dir"] for r in rows.values())
    own = {r["trial"]: r for r in read_rows(a / "results.csv")}
    assert rows["001-r1"]["test_accuracy"] == own["001-r1"]["test_accuracy"] != ""
    assert [s["n"] for s in read_rows(b / "summary.csv")] == ["2", "2"]


def test_a_copy_queued_by_a_race_gives_way(tmp_path, data):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    sweep = load_sweep(sweep_spec(data, values=(1e-2,), repeats=2))
    first = SharedGrid(sweep, sweep.trials(), url, tmp_path, retry_failed=True)
    first.close()
    # a second process that raced the first queued every trial again
    study = optuna.load_study(study_name="shared", storage=url)
    for i, t in enumerate(sweep.trials()):
        study.enqueue_trial({"grid_trial": i}, user_attrs={"grid_id": t.id})
    out = run_sweep(sweep, out=tmp_path / "sw", storage=url, quiet=True)
    trials = grid_trials(url)
    assert len(trials) == 4
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.user_attrs["grid_id"] for t in complete) == ["000-r0", "000-r1"]
    assert sorted(t.user_attrs.get("duplicate_of") for t in trials if t not in complete) == [
        "000-r0", "000-r1"]
    for trial_dir in (out / "trials").iterdir():
        assert len(list(trial_dir.glob("*/metrics.json"))) == 1, trial_dir.name


def test_failed_trial_is_stored_and_retried_when_started_again(tmp_path, data):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    # input_shape [9, 9, 1] is a valid spec but does not fit the 8x8 images: fit raises
    spec = {"name": "shared", "recipe": tiny_recipe(data, epochs=1), "repeats": 1,
            "list": [{"batch_size": 16}, {"model.input_shape": [9, 9, 1]}]}
    out = run_sweep(spec, out=tmp_path / "a", storage=url, quiet=True)
    rows = read_rows(out / "results.csv")
    assert [r["status"] for r in rows] == ["done", "failed"]
    assert "input_shape" in rows[1]["error"]
    assert [(s["n"], s["failed"]) for s in read_rows(out / "summary.csv")] == [("1", "0"), ("0", "1")]

    run_sweep(spec, out=tmp_path / "b", storage=url, quiet=True, retry_failed=False)
    assert len(grid_trials(url)) == 2  # nothing queued again
    run_sweep(spec, out=tmp_path / "b", storage=url, quiet=True)  # retries only the failure
    by_id = {}
    for t in grid_trials(url):
        by_id.setdefault(t.user_attrs["grid_id"], []).append(t.state.name)
    assert by_id == {"000-r0": ["COMPLETE"], "001-r0": ["FAIL", "FAIL"]}
    assert not (tmp_path / "b" / "trials" / "000-r0").exists()


def test_a_changed_grid_or_a_tune_study_is_refused(tmp_path, data):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    run_sweep(sweep_spec(data, values=(1e-2,), repeats=1), out=tmp_path / "a", storage=url,
              quiet=True)
    with pytest.raises(MnistlabError, match="different grid"):
        run_sweep(sweep_spec(data, values=(1e-3,), repeats=1), out=tmp_path / "b",
                  storage=url, quiet=True)
    study = optuna.create_study(study_name="tuned", storage=url)
    study.tell(study.ask(), 1.0)
    with pytest.raises(MnistlabError, match="not a grid sweep"):
        run_sweep({**sweep_spec(data, repeats=1), "name": "tuned"}, out=tmp_path / "c",
                  storage=url, quiet=True)


def test_redact_hides_only_the_password():
    assert redact("postgresql://me:s3cret@db.example:5432/lab") == \
        "postgresql://me:***@db.example:5432/lab"
    assert redact("postgresql://me@db.example/lab") == "postgresql://me@db.example/lab"
    assert redact("sqlite:////tmp/study.db") == "sqlite:////tmp/study.db"
