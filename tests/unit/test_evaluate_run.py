"""evaluate / report / runs / compare on real (tiny) runs made by train.fit.

The data is a tiny synthetic .npz with notebook 004-style targets 1..5, written to disk so
that the run's config.yaml names it and open_run().splits() can load it back.
"""
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import classification_report

from mnistlab.cli import main
from mnistlab.errors import MnistlabError, MnistlabWarning
from mnistlab.evaluation import run_metrics, write_report
from mnistlab.evaluation.compare import compare, runs_table
from mnistlab.evaluation.runfiles import find_runs
from mnistlab.train import train_run, open_run

SPEC = {"input_shape": [8, 8, 1], "layers": [
    {"type": "conv2d", "filters": 4, "kernel": 3, "activation": "relu", "l2": 0.001},
    {"type": "flatten"},
    {"type": "dense", "units": 5, "activation": "softmax"}]}


def _images(y, rng):
    # A class is a bright square in one of five places: learnable in a few epochs.
    x = rng.integers(0, 60, (len(y), 8, 8, 1)).astype(np.uint8)
    for i, label in enumerate(y):
        r = (int(label) - 1) % 3 * 2
        c = (int(label) - 1) // 3 * 4
        x[i, r:r + 3, c:c + 3] = 250
    return x


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    rng = np.random.default_rng(0)
    y_train, y_test = rng.integers(1, 6, 400), rng.integers(1, 6, 100)  # targets 1..5, as in 004
    npz = root / "five.npz"
    x_test = _images(y_test, rng)
    y_test[:10] = y_test[:10] % 5 + 1  # ten mislabelled test images: there are mistakes to show
    np.savez(npz, x_train=_images(y_train, rng), y_train=y_train, x_test=x_test, y_test=y_test)
    recipe = {"name": "five", "data": {"dataset": str(npz), "validation_split": 0.2}, "model": SPEC,
              "optimizer": {"name": "adam", "lr": 0.01}, "batch_size": 32, "epochs": 3, "device": "cpu",
              "loss": {"label_smoothing": 0.1}}
    a = train_run(recipe, out=root / "runs", quiet=True)
    write_report(a)
    b = train_run({**recipe, "epochs": 2, "seed": 1}, out=root / "runs", quiet=True)
    # checked here, not in a test: other tests write b's report (test order is random)
    assert not (b / "report.html").exists(), "train.fit wrote a report; the caller writes it"
    return root, a, b, y_test


def test_evaluate_matches_training_and_uses_original_labels(runs):
    root, a, _, y_test = runs
    m = run_metrics(a, "test")
    metrics = json.loads((a / "metrics.json").read_text())
    assert m["classes"] == ["1", "2", "3", "4", "5"]
    assert m["n"] == 100 and sum(map(sum, m["confusion_matrix"])) == 100
    assert [sum(row) for row in m["confusion_matrix"]] == [int((y_test == t).sum()) for t in range(1, 6)]
    # Same weights, same data, same loss definition (label smoothing + L2) as training reported.
    assert m["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-9)
    assert m["loss"] == pytest.approx(metrics["test_loss"], rel=1e-5)
    # The report is scikit-learn's on the same predictions, in the original label names.
    run = open_run(a)
    with torch.inference_mode():
        x = run.splits().x_test.permute(0, 3, 1, 2).float() / 255
        pred = run.model(x).argmax(1).numpy()
    assert m["classification_report"] == classification_report(
        run.splits().y_test.numpy(), pred, target_names=["1", "2", "3", "4", "5"], output_dict=True,
        zero_division=0)
    val = run_metrics(a, "val")
    assert val["split"] == "val" and val["n"] == 80
    assert run_metrics(a, "train")["n"] == 320


def test_train_plus_val_is_every_training_image(runs, tmp_path):
    # Keras' model.evaluate(x_train, y_train) after fit(validation_split=0.2): all 400 images
    root, a, _, _ = runs
    run = open_run(a)
    m = run_metrics(a, "train+val")
    splits = run.splits()
    with torch.inference_mode():
        x = torch.cat([splits.x_train, splits.x_val]).permute(0, 3, 1, 2).float() / 255
        pred = run.model(x).argmax(1)
    y = torch.cat([splits.y_train, splits.y_val])
    assert m["split"] == "train+val" and m["n"] == 400
    assert m["accuracy"] == pytest.approx(float((pred == y).double().mean()), abs=1e-9)
    # validated on the test set: train+val would count test images as training images
    npz = root / "five.npz"
    with pytest.warns(MnistlabWarning, match="test set is used as validation set"):
        c = train_run({"name": "vt", "data": {"dataset": str(npz), "validation": "test"}, "model": SPEC,
                 "epochs": 1, "device": "cpu"}, out=tmp_path, quiet=True)
        with pytest.raises(MnistlabError, match="validated on the test set"):
            run_metrics(c, "train+val")


def test_fit_writes_the_report(runs):
    _, a, b, _ = runs
    page = (a / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 4
    assert 'id="confusion-table"' in page and 'id="summary-table"' in page
    assert "conv2d" in page and "Total" not in page.split('id="summary-table"')[0][-50:]
    assert sorted(p.name for p in (a / "plots").iterdir()) == [
        "confusion.png", "evaluation.json", "history.png", "misclassified.png", "samples.png"]
    assert write_report(b) == b / "report.html" and "Evaluation on the test split" in (b / "report.html").read_text()


def test_runs_and_compare(runs, tmp_path):
    root, a, b, _ = runs
    rows = runs_table([a, b])
    assert [r["epochs"] for r in rows] == [3, 2]
    assert rows[0]["params"] == 4 * 9 + 4 + 4 * 6 * 6 * 5 + 5
    assert rows[0]["test_acc"] == json.loads((a / "metrics.json").read_text())["test_accuracy"]
    text, png = compare([a, b], tmp_path / "cmp.png")
    assert png.is_file() and text.splitlines()[0].split() == [a.name, b.name]
    assert text.splitlines()[3].split()[0] == "epochs" and text.splitlines()[3].split()[1:] == ["3", "2"]


def test_cli(runs, tmp_path, capsys):
    root, a, b, _ = runs
    assert main(["eval", str(a), "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert "(val split)" in out and "Classification report" in out and "macro avg" in out
    assert main(["eval", str(a), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["classes"] == ["1", "2", "3", "4", "5"]
    assert main(["runs", str(root / "runs")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "model", "params", "epochs", "val_acc", "test_acc", "test_loss", "seconds"]
    assert len(lines) == 3 and lines[1].startswith(a.name)
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").is_file()
    assert main(["report", str(b)]) == 0 and capsys.readouterr().out.strip().endswith("report.html")
    # User mistakes: one line, exit code 2.
    assert main(["eval", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", str(a), "--split", "tset"])


def test_errors(runs, tmp_path):
    with pytest.raises(MnistlabError, match="unknown split"):
        run_metrics(runs[1], "tset")
    with pytest.raises(MnistlabError, match="not a directory"):
        find_runs(tmp_path / "nope")


def test_the_cli_offers_every_split_evaluate_takes():
    from mnistlab.evaluation.commands import CLI_SPLITS
    from mnistlab.evaluation.predictions import SPLITS

    assert CLI_SPLITS == list(SPLITS)
