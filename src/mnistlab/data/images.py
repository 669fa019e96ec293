"""Image grids as PNG (notebook 001 shows the first 200 digits in 10 rows x 20 columns).

The tiles are drawn as one mosaic image with one imshow plus a caption per tile, which
stays fast for hundreds of images (one subplot per image takes seconds).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from mnistlab.errors import MnistlabError


def _mosaic(images: np.ndarray, rows: int, cols: int, pad: int) -> np.ndarray:
    n, h, w, c = images.shape
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
    for i in range(n):
        r, k = divmod(i, cols)
        y0, x0 = pad + r * (h + pad), pad + k * (w + pad)
        canvas[y0:y0 + h, x0:x0 + w] = images[i]
    return canvas


def save_grid(images, labels=None, path="grid.png", cols: int = 20, *, titles=None,
              title: str | None = None, colors=None, scale: float = 0.45) -> Path:
    """Write grid_figure(...) as a PNG, atomically; returns the path."""
    fig = grid_figure(images, labels, cols, titles=titles, title=title, colors=colors, scale=scale)
    from mnistlab.io import save_figure
    return save_figure(fig, path, facecolor="white")


def grid_figure(images, labels=None, cols: int = 20, *, titles=None, title: str | None = None,
                colors=None, scale: float = 0.45):
    """A matplotlib Figure: a grid of uint8 NHWC images with a caption above each tile.

    labels: one string per image (the class names), or None.
    titles: optional per-image captions that replace the labels (e.g. "7 (pred 1)" for
            misclassified samples); colors: optional per-caption matplotlib colours.
    title:  optional figure title."""
    from matplotlib.figure import Figure

    x = images.numpy() if hasattr(images, "numpy") else np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or x.dtype != np.uint8:
        raise MnistlabError(f"save_grid needs uint8 images (N, H, W, 1|3), got {x.dtype} {x.shape}")
    n = len(x)
    if n == 0:
        raise MnistlabError("no images to draw")
    captions = titles if titles is not None else labels
    if captions is not None and len(captions) != n:
        raise MnistlabError(f"{n} images but {len(captions)} captions")
    cols = max(1, min(int(cols), n))
    rows = math.ceil(n / cols)
    h, w = x.shape[1:3]
    pad = max(2, h // 3) if captions is not None else 1  # room above each tile for its caption
    mosaic = _mosaic(x, rows, cols, pad)

    tile_in = scale * max(h, w) / 28  # inches per tile: MNIST tiles ~0.45 in
    fontsize = max(4.0, min(8.0, 72 * tile_in / 5))
    if captions is not None:  # each caption fits its column (tile and gap): Fashion-MNIST's
        # "T-shirt/top" and "Ankle boot" ran into their neighbours at the default size
        from matplotlib.textpath import TextPath
        widest = max(TextPath((0, 0), str(c), size=fontsize).get_extents().width for c in captions) / 72
        tile_in = max(tile_in, 1.15 * widest)
    width = cols * tile_in
    top = 0.35 if title else 0.0  # inches kept for the figure title
    height = width * mosaic.shape[0] / mosaic.shape[1]  # the mosaic's own aspect: no margins
    fig = Figure(figsize=(width, height + top), dpi=100)
    ax = fig.add_axes((0, 0, 1, height / (height + top)))
    ax.imshow(mosaic[..., 0] if mosaic.shape[-1] == 1 else mosaic, cmap="gray",
              vmin=0, vmax=255, interpolation="nearest")
    ax.set_axis_off()
    if captions is not None:
        for i, text in enumerate(captions):
            r, k = divmod(i, cols)
            ax.text(pad + k * (w + pad) + w / 2, pad + r * (h + pad) - 0.5, str(text),
                    ha="center", va="bottom", fontsize=fontsize,
                    color=colors[i] if colors is not None else "black", clip_on=False)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.08 / fig.get_figheight(), va="top")

    return fig
