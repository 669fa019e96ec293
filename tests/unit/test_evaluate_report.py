"""Report, plots and run-file reading on a hand-made run directory (Contract 4 files)."""
import base64
import csv
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
import yaml
from PIL import Image

from mnistlab.errors import MnistlabError
from mnistlab.evaluation import plots
from mnistlab.evaluation.predictions import Predictions
from mnistlab.evaluation.report import write_report
from mnistlab.evaluation.runfiles import find_runs, read_run

CLASSES = ["1", "2", "3", "4", "5"]  # notebook 004-style labels


def make_run(root, name="20240101-000000-tiny", *, epochs=3, test_accuracy=0.8, classes=CLASSES,
             with_metrics=True, model="notebook000-cnn"):
    """A run directory written by hand, exactly as Contract 4 describes it."""
    run = root / name
    run.mkdir(parents=True)
    config = {"name": name.split("-", 2)[-1], "data": {"dataset": "synthetic", "validation_split": 0.2},
              "model": model, "optimizer": {"name": "adam", "lr": 0.001}, "batch_size": 32,
              "epochs": epochs, "seed": 0}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    with open(run / "history.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"])
        for e in range(1, epochs + 1):
            w.writerow([e, 1.0 / e, 0.5 + 0.1 * e, 1.1 / e, 0.45 + 0.1 * e, 0.001, 0.5])
    if with_metrics:
        (run / "metrics.json").write_text(json.dumps({
            "test_loss": 0.55, "test_accuracy": test_accuracy, "params": 5899, "epochs_run": epochs,
            "train_seconds": 1.5, "seed": 0, "device": "cpu", "versions": {"torch": "2.13.0"},
            "classes": classes}))
    return run


def hand_predictions(n=60, k=5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 3 * np.eye(k)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    images = rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)
    return Predictions("test", y, probs, CLASSES, images=images)


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.tables, self.scripts, self.links = [], [], 0, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a)
        elif tag == "table":
            self.tables.append(a.get("id"))
        elif tag == "script":
            self.scripts += 1
        elif tag == "link":
            self.links.append(a)


def test_read_run_and_find_runs(tmp_path):
    a = make_run(tmp_path, "20240101-000000-a")
    make_run(tmp_path, "20240102-000000-b", with_metrics=False)
    (tmp_path / "not-a-run").mkdir()
    assert [p.name for p in find_runs(tmp_path)] == ["20240101-000000-a", "20240102-000000-b"]
    run = read_run(a)
    assert run.history.rows[2] == {"epoch": 3, "loss": pytest.approx(1 / 3), "accuracy": pytest.approx(0.8),
                              "val_loss": pytest.approx(1.1 / 3), "val_accuracy": pytest.approx(0.75),
                              "lr": 0.001, "seconds": 0.5}
    assert run.classes == CLASSES
    with pytest.raises(MnistlabError, match="not a run directory"):
        read_run(tmp_path / "not-a-run")


def test_plots_are_pngs(tmp_path):
    run = read_run(make_run(tmp_path))
    pred = hand_predictions()
    m = pred.metrics()
    outs = [plots.plot_history(run.history.rows, tmp_path / "p" / "h.png"),
            plots.plot_confusion(m["confusion_matrix"], CLASSES, tmp_path / "p" / "c.png"),
            plots.plot_misclassified(pred.images, pred.y_true, pred.probs, CLASSES, tmp_path / "p" / "m.png"),
            plots.plot_compare({"a": run.history.rows, "b": run.history.rows[:2]}, tmp_path / "p" / "cmp.png")]
    for out in outs:
        with Image.open(out) as im:
            assert im.format == "PNG" and im.size[0] > 200 and im.size[1] > 100
            assert np.asarray(im.convert("L")).std() > 5  # something was drawn
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["c.png", "cmp.png", "h.png", "m.png"]


def test_misclassified_are_most_confident_mistakes_first():
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
    y = np.array([0, 0, 0, 1])
    assert plots.misclassified(y, probs).tolist() == [2, 1]
    assert plots.plot_misclassified(np.zeros((1, 4, 4, 1), np.uint8), [0], [[1.0, 0.0]], ["a", "b"], "x.png") is None


def test_report_contents(tmp_path):
    run_dir = make_run(tmp_path)
    pred = hand_predictions()
    out = write_report(run_dir, predictions=pred)
    assert out == run_dir / "report.html"
    page = out.read_text()
    p = _Collect()
    p.feed(page)
    # Self-contained: every image is an embedded PNG, nothing is fetched from elsewhere.
    assert len(p.imgs) == 4 and all(i["src"].startswith("data:image/png;base64,") for i in p.imgs)
    assert p.scripts == 0 and p.links == []
    assert not re.search(r'(src|href)="(?!data:)', page)
    for img in p.imgs:
        png = base64.b64decode(img["src"].split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert {"metrics-table", "history-table", "confusion-table", "classification-report",
            "per-class-table", "confusions-table"} <= set(p.tables)
    assert sorted(x.name for x in (run_dir / "plots").iterdir()) == [
        "confusion.png", "evaluation.json", "history.png", "misclassified.png", "samples.png"]
    # The numbers on the page are the metrics of these predictions, in the original label names.
    m = pred.metrics()
    assert f"accuracy {m['accuracy']:.4f}" in page
    rep = m["classification_report"]
    assert f"<td class=\"l\">5</td><td>{rep['5']['precision']:.4f}</td>" in page
    assert f"<td>{rep['weighted avg']['f1-score']:.4f}</td>" in page
    assert "<th class=\"l\">true \\ predicted</th><th>1</th><th>2</th>" in page
    row5 = "".join(f"<td>{v}</td>" for v in m["confusion_matrix"][4])
    assert f"<td class=\"l\">5</td>{row5}</tr>" in page
    assert "0.8000" in page and "5,899" in page        # metrics.json
    assert "notebook000-cnn" in page and "batch_size: 32" in page  # config
    assert json.loads((run_dir / "plots" / "evaluation.json").read_text())["accuracy"] == m["accuracy"]


def test_report_without_model_still_has_config_curves_and_metrics(tmp_path):
    run_dir = make_run(tmp_path)
    page = write_report(run_dir).read_text()
    assert "model.safetensors is missing" in page
    assert page.count("<img ") == 1 and 'id="metrics-table"' in page
    assert not (run_dir / "plots" / "confusion.png").exists()


def test_report_escapes_run_text(tmp_path):
    run_dir = make_run(tmp_path, "20240101-000000-x<script>")
    page = write_report(run_dir, predictions=hand_predictions()).read_text()
    assert "<script>" not in page and "x&lt;script&gt;" in page


def test_durations_read_like_a_person_would():
    from mnistlab.evaluation.report import duration
    assert duration(92.9740) == "1 min 33 s"
    assert [duration(s) for s in (9.87, 60, 3725)] == ["9.9 s", "1 min", "1 h 02 min"]


def test_report_says_which_epoch_was_evaluated_and_plots_the_learning_rate(tmp_path):
    """Issue 17 item 16: evaluated weights, the learning-rate curve, durations."""
    run_dir = make_run(tmp_path, epochs=4)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics.update(evaluated_epoch=2, best_epoch=2, train_seconds=92.974, stopped_early=False)
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    rows = list(csv.reader(open(run_dir / "history.csv")))
    for i, lr in zip(range(1, 5), [0.1, 0.1, 0.01, 0.001]):  # a step schedule
        rows[i][5] = str(lr)
    with open(run_dir / "history.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    page = write_report(run_dir, predictions=hand_predictions()).read_text()
    text = re.sub(r"<[^>]+>", " ", page)
    assert "weights evaluated" in text and "epoch 2 of 4 (best, restored)" in text
    assert "1 min 33 s" in text and "92.974" not in text
    assert "learning-rate" in page
    no_lr = [{k: v for k, v in row.items() if k != "lr"} for row in read_run(run_dir).history.rows]
    with Image.open(run_dir / "plots" / "history.png") as three, \
            Image.open(plots.plot_history(no_lr, tmp_path / "two.png")) as two:
        assert three.size[0] > two.size[0] * 1.3  # a third panel: the learning rate
