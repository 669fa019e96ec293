"""Issue 17 item 15: a --quick wiring check prints no accuracy comparison."""
from mnistlab.reproduce import table


def summary(**kw):
    s = {"experiment": "keras-cnn", "params_notebook": 34826, "params_ours": 34826, "params_equal": True,
         "evaluated_on": "test", "notebook_accuracy": 0.991, "accuracies": [0.125], "mean": 0.125, "std": None,
         "diff_pp": -86.6, "epochs": [1], "seconds": 3.0}
    s.update(kw)
    return s


def test_quick_table_is_a_wiring_check_not_a_result():
    text = table.markdown("002", [summary()], quick=True, total_seconds=3)
    assert "12.50%" not in text and "-86.60" not in text and "diff" not in text
    assert "ok: built, trained and evaluated" in text and "not a result" in text
    bad = table.markdown("002", [summary(params_ours=1, params_equal=False)], quick=True, total_seconds=3)
    assert "params MISMATCH" in bad


def test_full_table_still_compares():
    text = table.markdown("002", [summary(accuracies=[0.99], mean=0.99, diff_pp=-0.1)], quick=False,
                          total_seconds=3)
    assert "99.00%" in text and "-0.10" in text


def test_a_count_the_notebook_never_printed_is_marked_as_counted_from_its_code():
    from mnistlab.reproduce.notebooks import NOTEBOOKS
    from mnistlab.reproduce.runner import Result

    unprinted = {(nb, e.key) for nb, exps in NOTEBOOKS.items() for e in exps if not e.params_printed}
    # the seeds print "Total params" for 000, 001's keras-cnn, 003's 64-64 MLP and CNN, and 002's
    # prose states 6722; the rest we count from the code they show
    assert {("001", "elu-cnn"), ("003", "mlp-500-300"), ("004", "bn-cnn"), ("004", "resnet")} <= unprinted
    assert not unprinted & {("000", "cnn"), ("001", "keras-cnn"), ("002", "cnn"), ("003", "cnn")}
    elu = next(e for e in NOTEBOOKS["001"] if e.key == "elu-cnn")
    res = Result(elu, params=elu.params, accuracies=[0.99, 0.98], losses=[0.03, 0.04])
    for quick in (False, True):
        text = table.markdown("001", [table.summary(res)], quick=quick, total_seconds=3)
        assert "329,962 (counted from the seed's code) / 329,962" in text
    printed = table.markdown("002", [summary(accuracies=[0.99], mean=0.99, diff_pp=-0.1)], quick=False,
                             total_seconds=3)
    assert "34,826 / 34,826" in printed and "from the seed's code" not in printed
