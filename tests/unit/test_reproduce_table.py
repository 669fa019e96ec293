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
