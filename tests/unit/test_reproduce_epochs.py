"""Issue 30 item 2: every printed seed epoch beside ours with a verdict (epochs.md), a figure
per row (the seed's line, our mean with a min-max band), from the command and the notebook
surface alike."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import sklearn  # noqa: F401  (imported before any test: its import sets KMP_* variables)

from mnistlab.errors import MnistlabError
from mnistlab.reproduce import epochs, seedlogs
from mnistlab.reproduce.notebooks import Experiment
from mnistlab.reproduce.runner import Result

COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"]


def _run(folder: Path, rows: list[dict]) -> str:
    folder.mkdir(parents=True)
    with open(folder / "history.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({**{k: r.get(k, "") for k in COLUMNS}, "lr": 0.1, "seconds": 1.0})
    return str(folder)


def _result(tmp_path, key: str, shifts: list[float], epochs_run: int | None = None) -> Result:
    """Runs whose numbers are 003's seed log shifted by `shift` (one run per shift)."""
    log = seedlogs.seed_log("003", key)["log"][:epochs_run]
    runs = [_run(tmp_path / f"{key}-{i}", [{**e, **{k: e[k] + s for k in seedlogs.KEYS}} for e in log])
            for i, s in enumerate(shifts)]
    return Result(Experiment(key=key, recipe="x.yaml", params=1, accuracy=0.9), runs=runs)


def test_each_printed_number_gets_our_mean_and_a_verdict(tmp_path):
    res = _result(tmp_path, "mlp-64-64", [-0.001, 0.0, 0.001])
    rows = epochs.epoch_rows("003", res)
    assert len(rows) == 40 and {r["n"] for r in rows} == {3}
    assert all(r["verdict"] == "within" for r in rows)
    first = rows[0]
    assert (first["epoch"], first["number"], first["seed"]) == (1, "loss", 0.4820)
    assert first["mean"] == pytest.approx(0.4820) and first["std"] == pytest.approx(0.001)

    far = _result(tmp_path / "far", "mlp-64-64", [0.05, 0.05, 0.051])  # 5 pp off, tiny spread
    assert {r["verdict"] for r in epochs.epoch_rows("003", far)} == {"OUTSIDE"}


def test_an_epoch_no_run_reached_is_said_and_judged_on_the_runs_that_did(tmp_path):
    res = _result(tmp_path, "cnn", [0.0, 0.0], epochs_run=4)  # e.g. early stopping
    rows = epochs.epoch_rows("003", res)
    assert len(rows) == 40
    assert [r["n"] for r in rows if r["epoch"] == 4] == [2] * 4
    late = [r for r in rows if r["epoch"] == 5]
    assert {r["n"] for r in late} == {0} and {r["verdict"] for r in late} == {None}
    text = epochs.markdown("003", rows, quick=False)
    assert "| cnn | 5 | loss | 0.0331 | - (no run reached this epoch) | - | - |" in text
    assert "- cnn: 40 printed numbers (from 003_" in text and "16 of 16 within" in text


def test_quick_gets_no_verdict_and_a_row_without_a_log_nothing(tmp_path):
    res = _result(tmp_path, "cnn", [0.0], epochs_run=1)
    quick = epochs.epoch_rows("003", res, quick=True)
    assert {r["verdict"] for r in quick} == {None} and {r["mean"] for r in quick} == {None}
    text = epochs.markdown("003", quick, quick=True)
    assert "a wiring check: no numbers of ours, no verdicts" in text
    assert "| cnn | 1 | loss | 0.2539 | - (wiring check) | - | - |" in text
    assert "| cnn | 2 | loss | 0.0715 | - (no run reached this epoch) | - | - |" in text
    other = Result(Experiment(key="mlp-500-300", recipe="x.yaml", params=1, accuracy=0.9), runs=res.runs)
    assert epochs.epoch_rows("003", other) == [] and epochs.curves_figure("003", other) is None


def test_the_figure_has_the_seeds_line_and_our_band(tmp_path):
    res = _result(tmp_path, "cnn", [-0.002, 0.0, 0.002])
    fig = epochs.curves_figure("003", res)
    loss_ax, acc_ax = fig.axes
    labels = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert "seed, training" in labels and "seed, validation" in labels
    assert "ours, training (mean, n=3)" in labels and "ours, validation (min-max over the seeds)" in labels
    seed_val = [ln for ln in acc_ax.get_lines() if ln.get_label() == "seed, validation"][0]
    assert list(seed_val.get_ydata()) == [e["val_accuracy"] for e in seedlogs.seed_log("003", "cnn")["log"]]
    band = acc_ax.collections[0].get_paths()[0].vertices[:, 1]  # the training band: seed -/+ 0.002
    assert band.min() == pytest.approx(0.9211 - 0.002)


def test_write_puts_the_table_and_figures_beside_table_md(tmp_path):
    results = [_result(tmp_path, "mlp-64-64", [0.0, 0.001]), _result(tmp_path, "cnn", [0.0, 0.001]),
               Result(Experiment(key="l2=0.001", recipe="x", params=1, accuracy=0.9), runs=[])]
    written = epochs.write(tmp_path / "out", "003", results, quick=False)
    assert [p.name for p in written] == ["epochs.md", "epochs.csv", "curves-mlp-64-64.png", "curves-cnn.png"]
    assert (tmp_path / "out" / "curves-cnn.png").read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader(open(tmp_path / "out" / "epochs.csv")))
    assert len(rows) == 80 and rows[0]["seed_file"].startswith("003_")
    assert epochs.write(tmp_path / "none", "002", results, quick=False) == []


def test_the_command_and_reproduction_write_and_show_them(tmp_path, monkeypatch, capsys):
    from test_reproduce_runner import _notebook

    from mnistlab.cli import main
    from mnistlab.reproduction import Reproduction

    out = _notebook(tmp_path, monkeypatch)
    log = [{"epoch": e, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5} for e in (1, 2)]
    fake = {"999": {"mlp": {"seed_file": "999_x.txt", "first_line": 7, "log": log}}}
    monkeypatch.setattr(seedlogs, "_load", lambda: fake)
    assert main(["reproduce", "999", "--out", str(out), "--seeds", "2"]) == 0
    assert "the seed's printed epochs beside ours" in capsys.readouterr().out
    full = out / "full"
    assert (full / "curves-mlp.png").is_file() and not (full / "curves-step.png").exists()
    assert "| mlp | 2 | val_accuracy | 50.00% |" in (full / "epochs.md").read_text()

    rep = Reproduction.run("999", out=out, seeds=2)
    assert rep.curves("mlp").axes[0].get_ylabel() == "loss"
    assert rep.epochs() == (full / "epochs.md").read_text()
    with pytest.raises(MnistlabError, match="printed no per-epoch log for 'step'; rows with one: mlp"):
        rep.curves("step")
    with pytest.raises(MnistlabError, match="no row 'nope' here"):
        rep.curves("nope")
    assert repr(rep) == str(rep) and repr(rep).startswith("## Notebook 999 (full)")
    assert "results=" not in repr(rep)
