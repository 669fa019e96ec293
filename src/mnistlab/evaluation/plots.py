"""Plots of a run: learning curves, confusion heatmap, misclassified samples, comparisons.

Each `*_figure` function returns a matplotlib Figure (what a notebook shows); the `plot_*`
functions write that figure as a PNG atomically (what the CLI and the report use). Figures
are built with matplotlib's object API (no pyplot state, no display needed).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mnistlab.io import save_figure as io_save_figure
from mnistlab.runs.history import history_figure, series  # the History's own figure, used here too


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Write the figure as PNG, atomically (mnistlab.io.save_figure), tightly cropped."""
    return io_save_figure(fig, path, dpi=dpi, bbox_inches="tight")


def plot_history(history: list[dict], path, title: str = "") -> Path:
    return save_figure(history_figure(history, title), path)


def plot_confusion(cm, classes: list[str], path, title: str = "Confusion matrix") -> Path:
    return save_figure(confusion_figure(cm, classes, title), path)


def confusion_figure(cm, classes: list[str], title: str = "Confusion matrix") -> Figure:
    """The confusion matrix as a heatmap (colour: share of the true class; text: counts)."""
    cm = np.asarray(cm)
    k = len(classes)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    size = max(4.0, 0.5 * k + 2)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.subplots()
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    ax.set_xticks(range(k), classes, rotation=90 if max(map(len, classes)) > 3 else 0)
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if k <= 30:  # beyond that the numbers would not be readable
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                            color="white" if share[i, j] > 0.5 else "black")
    return fig


def misclassified(y_true, probs, n: int = 36) -> np.ndarray:
    """Indices of up to `n` misclassified samples, the most confident mistakes first."""
    probs = np.asarray(probs)
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != np.asarray(y_true))
    confidence = probs[wrong, pred[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")][:n]


def plot_misclassified(images, y_true, probs, classes: list[str], path, n: int = 36) -> Path | None:
    """misclassified_figure(...) written as a PNG; None if there are no mistakes."""
    fig = misclassified_figure(images, y_true, probs, classes, n)
    return None if fig is None else save_figure(fig, path)


def misclassified_figure(images, y_true, probs, classes: list[str], n: int = 36) -> Figure | None:
    """The most confident mistakes with true label, prediction and confidence; None if there are none."""
    from mnistlab.data.images import grid_figure

    idx = misclassified(y_true, probs, n)
    if len(idx) == 0:
        return None
    probs = np.asarray(probs)
    pred = probs.argmax(axis=1)
    # One line per tile (save_grid leaves room for one): "true→predicted confidence".
    titles = [f"{classes[int(y_true[i])]}→{classes[pred[i]]} {probs[i, pred[i]]:.0%}" for i in idx]
    scale = max(1.0, 0.075 * max(map(len, titles)))  # long class names (Fashion-MNIST) get wider tiles
    return grid_figure(np.asarray(images)[idx], titles=titles, cols=min(12, len(idx)), scale=scale)


def plot_samples(images, y, classes: list[str], path, n: int = 40) -> Path:
    return save_figure(samples_figure(images, y, classes, n), path)


def samples_figure(images, y, classes: list[str], n: int = 40) -> Figure:
    """The first `n` images of a split with their label names."""
    from mnistlab.data.images import grid_figure

    n = min(n, len(images))
    return grid_figure(np.asarray(images)[:n], [classes[int(k)] for k in np.asarray(y)[:n]],
                       cols=min(20, n), scale=0.6)


def plot_compare(histories: dict[str, list[dict]], path) -> Path:
    return save_figure(compare_figure(histories), path)


def compare_figure(histories: dict[str, list[dict]]) -> Figure:
    """Several runs' validation (dashed: training) loss and accuracy overlaid."""
    fig = Figure(figsize=(11, 4))
    axes = fig.subplots(1, 2)
    colors = [f"C{i % 10}" for i in range(len(histories))]
    for (name, history), color in zip(histories.items(), colors):
        for ax, metric in zip(axes, ("loss", "accuracy")):
            x, y = series(history, f"val_{metric}")
            if x:
                ax.plot(x, y, "-", color=color, label=f"{name} (val)")
            x, y = series(history, metric)
            if x:
                ax.plot(x, y, "--", color=color, alpha=0.6, label=f"{name} (train)")
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="lower right")
    return fig
