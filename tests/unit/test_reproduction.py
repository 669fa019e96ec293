"""Issue 24: the example notebooks' view of a reproduction (mnistlab.reproduction): the same
runs and the same table as `mnistlab reproduce NB`, reused when the folder already holds them."""
from __future__ import annotations

import pytest

import sklearn  # noqa: F401  (imported before any test: its import sets KMP_* variables)

from mnistlab.errors import MnistlabError
from mnistlab.reproduction import Reproduction
from test_reproduce_runner import _notebook, _runs


def test_a_notebook_sees_the_commands_runs_and_table(tmp_path, monkeypatch):
    out = _notebook(tmp_path, monkeypatch)
    first = Reproduction.run("999", out=out)
    made = _runs(out / "full" / "mlp")
    assert len(made) == 3                     # the row's 3 seeds
    again = Reproduction.run("999", out=out)  # what re-executing the notebook does
    assert _runs(out / "full" / "mlp") == made  # nothing trained twice
    assert again.row("mlp")["accuracies"] == first.row("mlp")["accuracies"]

    text = again._repr_markdown_()
    assert f"Command: `mnistlab reproduce 999 --out {out}`" in text
    assert "| mlp | 1,091 / 1,091 |" in text and "(n=3)" in text
    assert "This call:" in text and "runs finished earlier are reused" in text

    runs = again.runs("mlp")
    assert [r.dir for r in runs] == [p for p in map(type(made[0]), again.row("mlp")["runs"])]
    assert sorted(r.metrics["seed"] for r in runs) == [0, 1, 2]
    assert runs[0].history  # curves and reports come from the run folder itself


def test_unknown_row_and_bad_seeds_are_refused(tmp_path, monkeypatch):
    out = _notebook(tmp_path, monkeypatch)
    with pytest.raises(MnistlabError, match="seeds must be at least 1"):
        Reproduction.run("999", out=out, seeds=0)
    rep = Reproduction.run("999", out=out, seeds=1, only=["mlp"])
    with pytest.raises(MnistlabError, match="no row 'cnn' here; rows: mlp"):
        rep.row("cnn")


def test_a_warning_every_run_raises_is_shown_once(tmp_path, monkeypatch, recwarn):
    from mnistlab.errors import warn
    from mnistlab.reproduce import runner

    out = _notebook(tmp_path, monkeypatch)

    def run_experiments(*args, **kw):
        for _ in range(5):  # five runs, one message
            warn("the test set is used as validation set")
        raise RuntimeError("a run failed")

    monkeypatch.setattr(runner, "run_experiments", run_experiments)
    with pytest.raises(RuntimeError):
        Reproduction.run("999", out=out)
    # once, and not lost when a run fails
    assert [str(w.message) for w in recwarn] == ["the test set is used as validation set"]
