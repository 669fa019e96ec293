import math

import numpy as np
import pytest
from sklearn.metrics import classification_report

from mnistlab.errors import MnistlabError
from mnistlab.evaluation.metrics import compute_metrics, cross_entropy, format_metrics

# Hand-made: 3 classes, 8 samples, 3 mistakes (two 2->1, one 0->2).
Y_TRUE = [0, 0, 0, 1, 1, 2, 2, 2]
Y_PRED = [0, 0, 2, 1, 1, 1, 1, 2]
CLASSES = ["0", "1", "2"]


def test_hand_made_predictions():
    m = compute_metrics(Y_TRUE, Y_PRED, classes=CLASSES)
    assert m["n"] == 8 and m["errors"] == 3
    assert m["accuracy"] == pytest.approx(5 / 8)
    assert m["per_class_accuracy"] == pytest.approx({"0": 2 / 3, "1": 1.0, "2": 1 / 3})
    assert m["confusion_matrix"] == [[2, 0, 1], [0, 2, 0], [0, 2, 1]]
    assert m["top_confusions"][0] == {"true": "2", "predicted": "1", "count": 2,
                                      "fraction_of_true": pytest.approx(2 / 3)}
    assert [(r["true"], r["predicted"]) for r in m["top_confusions"]] == [("2", "1"), ("0", "2")]
    assert m["loss"] is None  # no probabilities, no loss


def test_loss_is_keras_categorical_cross_entropy():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.0, 1.0, 0.0]])
    y = [0, 2, 0]
    expected = -(math.log(0.7) + math.log(0.8) + math.log(1e-7)) / 3  # 0 is clipped to 1e-7
    assert cross_entropy(y, probs) == pytest.approx(expected)
    m = compute_metrics(y, probs=probs, classes=CLASSES)
    assert m["loss"] == pytest.approx(expected)
    assert m["accuracy"] == pytest.approx(2 / 3)  # predictions are the argmax
    assert compute_metrics(y, probs=probs, classes=CLASSES, loss=0.5)["loss"] == 0.5


def test_agrees_with_scikit_learn_on_random_predictions():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 10, 500)
    y_pred = np.where(rng.random(500) < 0.7, y_true, rng.integers(0, 10, 500))
    names = [str(i) for i in range(10)]
    m = compute_metrics(y_true, y_pred, classes=names)
    assert m["classification_report"] == classification_report(y_true, y_pred, target_names=names,
                                                               output_dict=True)
    assert m["classification_report_text"] == classification_report(y_true, y_pred, target_names=names,
                                                                     digits=4)
    assert m["accuracy"] == pytest.approx(m["classification_report"]["accuracy"])
    for k, name in enumerate(names):  # per-class accuracy is recall
        assert m["per_class_accuracy"][name] == pytest.approx(m["classification_report"][name]["recall"])


def test_labels_not_0_to_9_are_reported_in_their_original_names():
    # Notebook 004: targets 1..5 become labels 0..4; classes keep the original names.
    classes = ["1", "2", "3", "4", "5"]
    y_true = [0, 1, 2, 3, 4, 4, 4]
    y_pred = [0, 1, 2, 3, 0, 0, 4]  # target 5 mistaken for target 1 twice
    m = compute_metrics(y_true, y_pred, classes=classes)
    assert list(m["per_class_accuracy"]) == classes
    assert m["per_class_accuracy"]["5"] == pytest.approx(1 / 3)
    assert m["top_confusions"] == [{"true": "5", "predicted": "1", "count": 2,
                                    "fraction_of_true": pytest.approx(2 / 3)}]
    assert set(classes) <= set(m["classification_report"])
    assert "0" not in m["classification_report"]
    text = format_metrics(m)
    confusion_rows = text.split("Most frequent confusions")[1].splitlines()
    assert confusion_rows[2].split() == ["5", "1", "2", "66.7"]  # in original names
    assert text.splitlines()[0].startswith("samples: 7")


def test_class_never_seen_or_predicted_is_not_an_error():
    m = compute_metrics([0, 0, 1], [0, 0, 1], classes=["a", "b", "c"])
    assert m["per_class_accuracy"]["c"] is None
    assert m["classification_report"]["c"]["support"] == 0
    assert "n/a" in format_metrics(m)
    assert "every sample is classified correctly" in format_metrics(m)


@pytest.mark.parametrize("kwargs, match", [
    (dict(y_true=[0, 1], y_pred=[0], classes=["a", "b"]), "same non-zero length"),
    (dict(y_true=[0, 5], y_pred=[0, 1], classes=["a", "b"]), "labels must be 0..1"),
    (dict(y_true=[0, 1], probs=np.ones((2, 3)) / 3, classes=["a", "b"]), "3 columns"),
    (dict(y_true=[0, 1], classes=["a", "b"]), "neither was given"),
])
def test_bad_inputs_are_one_line_errors(kwargs, match):
    with pytest.raises(MnistlabError, match=match):
        compute_metrics(**kwargs)
