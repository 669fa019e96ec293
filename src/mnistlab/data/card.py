"""How a Dataset shows itself: a card with sizes, classes and per-class counts, and a grid."""
from __future__ import annotations

import numpy as np

from mnistlab.display import html_table


def _counts(y, k: int) -> list[int]:
    return np.bincount(np.asarray(y), minlength=k).tolist() if y is not None else [0] * k


def card_rows(ds) -> list[tuple]:
    k = len(ds.classes)
    train, test = _counts(ds.y_train, k), _counts(ds.y_test, k)
    return [(c, train[i], test[i]) for i, c in enumerate(ds.classes)]


def card_text(ds) -> str:
    n_test = 0 if ds.x_test is None else len(ds.x_test)
    h, w, c = ds.image_shape
    lines = [f"Dataset '{ds.name}': {len(ds.x_train):,} train + {n_test:,} test images, "
             f"{h}x{w}x{c} uint8, {len(ds.classes)} classes",
             f"  {'class':>12}  {'train':>7}  {'test':>6}"]
    lines += [f"  {str(name):>12}  {a:>7,}  {b:>6,}" for name, a, b in card_rows(ds)]
    return "\n".join(lines)


def card_html(ds) -> str:
    n_test = 0 if ds.x_test is None else len(ds.x_test)
    h, w, c = ds.image_shape
    head = (f"<b>Dataset '{ds.name}'</b>: {len(ds.x_train):,} train + {n_test:,} test images, "
            f"{h}&times;{w}&times;{c} uint8, {len(ds.classes)} classes")
    return f"<div>{head}{html_table(('class', 'train', 'test'), card_rows(ds))}</div>"


def show(ds, n: int = 40, split: str = "train", cols: int | None = None):
    """A Figure with the first `n` images of a split and their class names."""
    from mnistlab.data.images import grid_figure
    from mnistlab.display import enable_notebook_figures
    from mnistlab.errors import MnistlabError
    enable_notebook_figures()
    if split not in ("train", "test"):
        raise MnistlabError(f"split must be 'train' or 'test', got {split!r}")
    x, y = (ds.x_train, ds.y_train) if split == "train" else (ds.x_test, ds.y_test)
    if x is None:
        raise MnistlabError(f"dataset '{ds.name}' has no {split} images; use split='train'")
    n = max(1, min(int(n), len(x)))
    labels = [str(ds.classes[int(k)]) for k in np.asarray(y[:n])]
    return grid_figure(np.asarray(x[:n]), labels, cols or min(20, n), scale=0.6)
