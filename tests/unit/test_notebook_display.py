"""What the notebook objects show (issue 23 item 3): a module summary's text is the Keras
table, an unknown sweep metric is one line, one repeat shows no ± spread, a constant
learning rate gets no panel, and labels in figures do not run into each other."""
import numpy as np
import pytest
import torch

import mnistlab
from mnistlab.data.images import grid_figure
from mnistlab.errors import MnistlabError
from mnistlab.evaluation.plots import history_figure
from mnistlab.sweeps.results import errorbar_figure, format_summary
from mnistlab.sweepview import SweepResult


def test_module_summary_text_is_the_keras_table():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    s = mnistlab.summary(net)
    assert repr(s) == str(s) and repr(s).startswith('Model: "Sequential"')
    assert "Total params: 7,850" in repr(s)


def _sweep(n=1):
    r = SweepResult.__new__(SweepResult)
    r.name, r.keys, r.metrics = "l2", ["l2"], ["max_val_accuracy", "test_accuracy"]
    r.summary = [{"config": 0, "l2": 1e-4, "n": n, "failed": 0,
                  **{f"{m}_{s}": v for m in r.metrics for s, v in
                     (("mean", 0.98), ("std", 0.0), ("min", 0.98), ("max", 0.98))}}]
    return r


def test_plot_of_an_unknown_metric_lists_the_sweeps_metrics():
    with pytest.raises(MnistlabError) as err:
        _sweep().plot("val_accuracy")
    msg = str(err.value)
    assert "\n" not in msg and "unknown metric 'val_accuracy'" in msg
    assert "did you mean 'max_val_accuracy'" in msg and msg.endswith("max_val_accuracy, test_accuracy")


def test_one_repeat_shows_no_spread():
    one = _sweep(n=1)
    assert "±" not in format_summary(one.summary, one.keys, one.metrics)
    assert [c for c in one._rows()[1][0] if "±" in str(c)] == []
    three = _sweep(n=3)
    assert "0.9800 ± 0.0000 [0.9800, 0.9800]" in format_summary(three.summary, three.keys, three.metrics)
    assert "0.9800 ± 0.0000" in three._rows()[1][0]


def _history(lrs):
    return [{"epoch": e + 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5, "lr": lr}
            for e, lr in enumerate(lrs)]


def test_a_constant_learning_rate_gets_no_panel():
    assert len(history_figure(_history([1e-3] * 4)).axes) == 2
    assert len(history_figure(_history([1e-3, 1e-3, 1e-4, 1e-4])).axes) == 3


def _overlaps(texts):
    """Pairs of texts closer side by side than half an em (they read as one label)."""
    texts[0].figure.draw_without_rendering()
    gap = 0.5 * texts[0].get_fontsize() * texts[0].figure.dpi / 72
    boxes = [t.get_window_extent() for t in texts if t.get_text()]
    return [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if a.x0 < b.x1 + gap and b.x0 < a.x1 + gap and a.y0 < b.y1 and b.y0 < a.y1]


def test_close_swept_values_on_a_log_axis_do_not_overlap():
    entries = [{"config": i, "l2": v, "n": 3, "failed": 0, "m_mean": 0.98, "m_std": 0.001}
               for i, v in enumerate([1e-6, 1e-5, 1e-4, 5e-4, 1e-3])]
    fig = errorbar_figure(entries, ["l2"], "m")
    labels = fig.axes[0].get_xticklabels()
    assert {t.get_rotation() for t in labels} == {30}
    # turned labels are parallel strips: clear of each other when the ticks are further apart,
    # measured across the strips, than a line of text is high
    xs = [t.get_window_extent().x1 for t in labels]  # right-aligned: x1 is at the tick
    height = labels[0].get_fontsize() * fig.dpi / 72
    assert min(b - a for a, b in zip(xs, xs[1:])) * np.sin(np.radians(30)) > height
    spaced = errorbar_figure(entries[:3], ["l2"], "m")  # 1e-06, 1e-05, 0.0001: level and clear
    assert {t.get_rotation() for t in spaced.axes[0].get_xticklabels()} == {0}
    assert not _overlaps(spaced.axes[0].get_xticklabels())


def test_long_class_names_do_not_run_into_their_neighbours():
    names = ["T-shirt/top", "Ankle boot"] * 10
    fig = grid_figure(np.zeros((20, 28, 28, 1), np.uint8), names, cols=20, scale=0.6)
    assert not _overlaps(fig.axes[0].texts)
