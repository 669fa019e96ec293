"""Classification metrics from plain predictions, reported in the original label names.

Everything a notebook reads at the end of training: loss, accuracy, per-class accuracy,
the confusion matrix, scikit-learn's classification report and the most frequent
confusions. Inputs are plain arrays: labels 0..K-1 and `classes[k]`, the name of label k
(MNIST "0".."9"; notebook 004's targets 1..5 are labels 0..4 named "1".."5").
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix

from mnistlab.errors import MnistlabError

EPSILON = 1e-7  # Keras clips probabilities to [eps, 1 - eps] in categorical cross-entropy


def cross_entropy(y_true, probs) -> float:
    """Mean categorical cross-entropy of probabilities, clipped like Keras."""
    p = np.asarray(probs, dtype=np.float64)[np.arange(len(y_true)), np.asarray(y_true)]
    return float(-np.log(np.clip(p, EPSILON, 1 - EPSILON)).mean())


def _check(y_true, y_pred, probs, classes):
    y_true = np.asarray(y_true).astype(np.int64).ravel()
    if probs is not None:
        probs = np.asarray(probs, dtype=np.float64)
        if probs.ndim != 2 or probs.shape[0] != len(y_true):
            raise MnistlabError(f"probabilities have shape {probs.shape}; expected ({len(y_true)}, K)")
        if probs.shape[1] != len(classes):
            raise MnistlabError(f"probabilities have {probs.shape[1]} columns but there are "
                                f"{len(classes)} class names; pass one name per model output")
    if y_pred is None:
        if probs is None:
            raise MnistlabError("give predicted labels or probabilities (neither was given)")
        y_pred = probs.argmax(axis=1)
    y_pred = np.asarray(y_pred).astype(np.int64).ravel()
    if len(y_pred) != len(y_true) or len(y_true) == 0:
        raise MnistlabError(f"{len(y_true)} true labels but {len(y_pred)} predictions; "
                            "they must be the same non-zero length")
    k = len(classes)
    for name, y in (("true", y_true), ("predicted", y_pred)):
        if y.min() < 0 or y.max() >= k:
            raise MnistlabError(f"{name} labels span {y.min()}..{y.max()} but there are {k} "
                                f"classes; labels must be 0..{k - 1} (classes[k] names label k)")
    return y_true, y_pred, probs


def top_confusions(cm: np.ndarray, classes: list[str], n: int = 10) -> list[dict]:
    """The `n` largest off-diagonal cells: true name, predicted name, count, share of the true class."""
    off = cm.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:n]
    rows = []
    for flat in order:
        i, j = np.unravel_index(flat, off.shape)
        if off[i, j] == 0:
            break
        rows.append({"true": classes[i], "predicted": classes[j], "count": int(off[i, j]),
                     "fraction_of_true": float(off[i, j] / cm[i].sum())})
    return rows


def compute_metrics(y_true, y_pred=None, probs=None, *, classes, loss: float | None = None,
                    n_confusions: int = 10) -> dict:
    """All metrics as plain JSON-able data.

    y_true, y_pred: labels 0..K-1 (y_pred defaults to argmax of probs); probs: (N, K)
    softmax outputs, used for the loss unless `loss` is given.
    """
    classes = [str(c) for c in classes]
    y_true, y_pred, probs = _check(y_true, y_pred, probs, classes)
    labels = list(range(len(classes)))
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    support = cm.sum(axis=1)
    per_class = {name: (float(cm[k, k] / support[k]) if support[k] else None)
                 for k, name in enumerate(classes)}
    if loss is None and probs is not None:
        loss = cross_entropy(y_true, probs)
    # zero_division=0: a class never predicted gets precision 0 instead of a warning.
    report_kw = dict(labels=labels, target_names=classes, zero_division=0)
    return {
        "n": int(len(y_true)),
        "loss": None if loss is None else float(loss),
        "accuracy": float((y_true == y_pred).mean()),
        "errors": int((y_true != y_pred).sum()),
        "classes": classes,
        "per_class_accuracy": per_class,
        "confusion_matrix": cm.tolist(),
        "classification_report": classification_report(y_true, y_pred, output_dict=True, **report_kw),
        "classification_report_text": classification_report(y_true, y_pred, digits=4, **report_kw),
        "top_confusions": top_confusions(cm, classes, n_confusions),
    }


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.rjust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([fmt(header), *map(fmt, rows)])


def format_metrics(m: dict, title: str = "") -> str:
    """The metrics as the plain text `mnistlab eval` prints."""
    classes = m["classes"]
    out = [title] if title else []
    loss = "n/a" if m["loss"] is None else f"{m['loss']:.4f}"
    out += [f"samples: {m['n']}   loss: {loss}   accuracy: {m['accuracy']:.4f}   errors: {m['errors']}", ""]
    acc = m["per_class_accuracy"]
    out += ["Per-class accuracy", _table(["class", "accuracy"],
            [[c, "n/a" if acc[c] is None else f"{acc[c]:.4f}"] for c in classes]), ""]
    cm = m["confusion_matrix"]
    out += ["Confusion matrix (rows: true, columns: predicted)",
            _table(["true\\pred", *classes], [[c, *map(str, row)] for c, row in zip(classes, cm)]), ""]
    out += ["Classification report", m["classification_report_text"].rstrip(), ""]
    if m["top_confusions"]:
        out += ["Most frequent confusions", _table(
            ["true", "predicted", "count", "% of true"],
            [[r["true"], r["predicted"], str(r["count"]), f"{100 * r['fraction_of_true']:.1f}"]
             for r in m["top_confusions"]])]
    else:
        out += ["No confusions: every sample is classified correctly."]
    return "\n".join(out)
