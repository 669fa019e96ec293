"""Issue 24: the within-the-spread rule, the table that shows it, and the seed counts."""
from __future__ import annotations

import argparse

import pytest

from mnistlab.errors import MnistlabError
from mnistlab.reproduce import command_line, table, verdict as V
from mnistlab.reproduce.notebooks import NOTEBOOKS, Experiment
from mnistlab.reproduce.runner import Result, seeds_for


def test_accuracy_tolerance_is_two_std_with_a_floor():
    # std 0.1 pp: 2 std = 0.2 pp < floor 0.3 pp -> the floor decides
    assert V.accuracy_verdict(0.9890, 0.9863, 0.001, 3) == "within"          # +0.27 pp
    assert V.accuracy_verdict(0.9895, 0.9863, 0.001, 3) == "OUTSIDE"         # +0.32 pp
    # std 0.5 pp: 2 std = 1.0 pp decides
    assert V.accuracy_verdict(0.9861, 0.9919, 0.005, 3) == "within"          # -0.58 pp
    assert V.accuracy_verdict(0.9800, 0.9919, 0.005, 3) == "OUTSIDE"         # -1.19 pp
    # exactly on the edge counts as within
    assert V.accuracy_verdict(0.99, 0.987, None, 1) == "within (n=1)"
    assert V.accuracy_verdict(0.9781, 0.98538, None, 1) == "OUTSIDE (n=1)"   # 001's -0.73 pp
    assert V.accuracy_verdict(None, 0.9, None, 0) is None


def test_loss_floor_is_relative_to_the_notebooks_loss():
    assert V.loss_verdict(0.050, 0.046, None, 1) == "within (n=1)"           # 8.7% off
    assert V.loss_verdict(0.052, 0.046, None, 1) == "OUTSIDE (n=1)"          # 13% off
    assert V.loss_verdict(0.052, 0.046, 0.004, 3) == "within"                # 2 std = 0.008
    assert V.tolerance(None, 0.3) == 0.3 and V.tolerance(0.2, 0.3) == 0.4


def _result(exp: Experiment, accs, losses) -> Result:
    return Result(exp, params=exp.params, accuracies=list(accs), losses=list(losses),
                  test_accuracies=list(accs), epochs=[3] * len(accs), seconds=12.0,
                  runs=[f"r{i}" for i in range(len(accs))],
                  speed=[{"precision": "bf16", "threads": 1, "batch_split": 1}] * len(accs))


def test_full_table_row_n_verdicts_and_no_fake_plus_minus():
    exp = Experiment(key="cnn", recipe="recipes/x.yaml", params=5899, accuracy=0.9863, loss=0.0460)
    three = table.summary(_result(exp, [0.9850, 0.9870, 0.9880], [0.047, 0.045, 0.046]))
    one = table.summary(_result(Experiment(key="elu", recipe="r", params=7, accuracy=0.9906, loss=0.0271),
                                [0.9897], [0.0300]))
    assert three["n"] == 3 and three["verdict"] == "within" and three["loss_verdict"] == "within"
    text = table.markdown("000", [three, one], quick=False, total_seconds=5,
                          machine="machine: TestCPU; flags: avx2", command="mnistlab reproduce 000 --seeds 3")
    lines = text.splitlines()
    assert lines[2] == "Command: `mnistlab reproduce 000 --seeds 3`  "
    assert lines[3].startswith("Machine: TestCPU; flags: avx2")
    assert "precision bf16, 1 thread(s), batch_split 1: 4 run(s)" in lines[4]
    assert "max(2 std, 0.3 pp)" in text and "10% of the notebook's loss" in text
    cnn = next(line for line in lines if line.startswith("| cnn |"))
    assert "98.67% ± 0.15 (n=3)" in cnn and "| +0.04 | within |" in cnn and "0.0460" in cnn
    elu = next(line for line in lines if line.startswith("| elu |"))
    assert "98.97% (n=1)" in elu and "±" not in elu and "within (n=1)" in elu
    assert "OUTSIDE (n=1)" in elu  # the loss: 0.0300 vs 0.0271 is 11% off
    assert "- elu: not investigated yet" in text


def test_loss_not_compared_where_the_notebook_says_so():
    exp = Experiment(key="cnn", recipe="r", params=6722, accuracy=0.991, loss=4.78, compare_loss=False,
                     note="its test loss does not fit its accuracy")
    s = table.summary(_result(exp, [0.992, 0.993, 0.991], [0.03, 0.02, 0.025]))
    assert s["loss_verdict"] is None and s["loss_diff"] is None
    text = table.markdown("002", [s], quick=False, total_seconds=1)
    assert "4.7800 (not compared)" in text and "notebook loss not compared" in text
    csv_text = table.to_csv([s], machine="m", command="mnistlab reproduce 002", quick=False)
    assert csv_text.splitlines()[0] == "# Command: `mnistlab reproduce 002`"
    header = next(line for line in csv_text.splitlines() if not line.startswith("#"))
    assert header.split(",") == table.CSV_COLUMNS
    assert csv_text.rstrip().endswith("not compared,3 3 3,12.0")


def test_every_row_runs_at_least_three_seeds_by_default():
    for nb, exps in NOTEBOOKS.items():
        for e in exps:
            assert e.seeds >= 3, (nb, e.key)
            assert seeds_for(e, quick=False, seeds=None) == e.seeds
            assert seeds_for(e, quick=True, seeds=None) == 1
            assert seeds_for(e, quick=False, seeds=7) == 7
    l2 = [e for e in NOTEBOOKS["003"] if e.kind == "grid"]
    assert len(l2) == 5 and {e.seeds for e in l2} == {3}   # the notebook's 3 repeats
    five = {(nb, e.key) for nb, exps in NOTEBOOKS.items() for e in exps if e.seeds == 5}
    assert five == {("002", "cnn"), ("003", "mlp-64-64"), ("003", "mlp-500-300"), ("003", "cnn"),
                    ("004", "resnet")}
    chains = [e for e in NOTEBOOKS["001"] if e.kind == "chain"]
    assert {e.seeds for e in chains} == {NOTEBOOKS["001"][0].seeds}  # a chain runs its head's seeds


def _args(**kw):
    base = dict(notebook="004", quick=False, seeds=None, only=None, grouping=None,
                compare_groupings=False, groupings=None, out=None, precision=None)
    return argparse.Namespace(**{**base, **kw})


def test_command_line_regenerates_the_table():
    assert command_line(_args(), "004") == "mnistlab reproduce 004"
    assert command_line(_args(seeds=5, grouping="k+5", out="x"), "004") == \
        "mnistlab reproduce 004 --seeds 5 --grouping k+5 --out x"
    assert command_line(_args(quick=True, compare_groupings=True), "004") == \
        "mnistlab reproduce 004 --quick --compare-groupings"
    assert command_line(_args(compare_groupings=True, groupings=["k+5", "2k+1"]), "004") == \
        "mnistlab reproduce 004 --compare-groupings --groupings k+5 2k+1"
    assert command_line(_args(precision="fp32", out="reproduce/004-fp32"), "004") == \
        "mnistlab reproduce 004 --precision fp32 --out reproduce/004-fp32"


@pytest.mark.parametrize("argv, message", [
    (["reproduce", "003", "--grouping", "k+5"], "--grouping is about notebook 004"),
    (["reproduce", "001", "--compare-groupings"], "--compare-groupings is about notebook 004"),
    (["reproduce", "004", "--compare-groupings", "--only", "bn-cnn"], "drop --only"),
    (["reproduce", "004", "--grouping", "pairs"], "unknown grouping 'pairs'"),
    (["reproduce", "004", "--groupings", "k+5"], "add --compare-groupings"),
    (["reproduce", "004", "--compare-groupings", "--groupings", "pairs"], "unknown grouping 'pairs'"),
    (["reproduce", "004", "--seeds", "0"], "--seeds must be at least 1"),
])
def test_cli_refuses_what_it_cannot_use(argv, message, capsys, tmp_path, monkeypatch):
    from mnistlab.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "reproduce").exists()  # refused before anything was made


def test_unknown_grouping_refused_by_the_runner_too(tmp_path):
    from mnistlab.reproduce import runner

    with pytest.raises(MnistlabError, match="unknown grouping"):
        runner.run_notebook("004", out=tmp_path, grouping="nope")
    with pytest.raises(MnistlabError, match="notebook 002 has none"):
        runner.run_notebook("002", out=tmp_path, grouping="k+5")


def test_a_range_in_words_is_judged_against_the_range():
    """Notebook 002's prose: its batch-normalised CNN scored "around 50-60%" on the test set."""
    from mnistlab.reproduce import verdict as V

    assert V.range_verdict(0.55, 0.50, 0.60, 0.01, 3) == "within"
    assert V.range_verdict(0.601, 0.50, 0.60, None, 1) == "within (n=1)"     # the 0.3 pp floor
    assert V.range_verdict(0.99, 0.50, 0.60, 0.001, 3) == "OUTSIDE"
    assert V.range_verdict(0.40, 0.50, 0.60, 0.01, 3) == "OUTSIDE"
    assert V.range_diff_pp(0.55, 0.50, 0.60) == 0.0
    assert abs(V.range_diff_pp(0.99, 0.50, 0.60) - 39.0) < 1e-9
    assert abs(V.range_diff_pp(0.45, 0.50, 0.60) + 5.0) < 1e-9
    bn = next(e for e in NOTEBOOKS["002"] if e.key == "bn-cnn")
    assert bn.accuracy is None and bn.accuracy_range == (0.50, 0.60)


def test_rows_outside_for_one_reason_share_one_line():
    """A chain's steps share their reason: it is written once, naming the rows, not once per row."""
    rows = [{"experiment": k, "reason": r} for k, r in
            [("a", "same cause"), ("b", "same cause"), ("c", ""), ("d", "other")]]
    assert table.outside_lines(rows) == ["- a, b: same cause", "- c: not investigated yet",
                                         "- d: other"]


def test_a_count_from_the_prose_says_so():
    """002's BN variant has no code in the seed: its count is marked as read from the prose."""
    bn = next(e for e in NOTEBOOKS["002"] if e.key == "bn-cnn")
    line = table.row(table.summary(_result(bn, [0.99, 0.991, 0.992], [0.02, 0.02, 0.02])))
    assert "6,914 (counted from the prose's description) / " in line and "seed's code" not in line
    assert "50-60% (prose)" in line and "OUTSIDE" in line
