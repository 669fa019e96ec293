"""Predict on real images: turn any photo or drawing into an MNIST-style input, then top-k.

MNIST digits were made like this (LeCun et al.): white ink on black, the digit's bounding
box scaled to fit 20x20 keeping its aspect ratio (anti-aliased), then placed in a 28x28
field so that its centre of mass sits in the middle. `preprocess` does the same to a user's
image, so that a digit written on paper looks like the digits the model was trained on.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mnistlab.errors import MnistlabError

# Below this much contrast (0..255) between ink and background the image counts as empty.
MIN_CONTRAST = 32
# Pixels fainter than this fraction of the strongest ink are paper texture, not ink.
NOISE_FRACTION = 0.15
# The digit's bounding box is taken over pixels at least this fraction of the strongest ink.
SOLID_FRACTION = 0.4
# Uploads larger than this are refused rather than decoded (a decompression bomb guard).
MAX_PIXELS = 40_000_000


class ImageError(MnistlabError):
    """One image cannot be used (unreadable, empty); the others still are."""


def open_image(source) -> Image.Image:
    """A decoded PIL image from a path, bytes or an open PIL image; ImageError otherwise."""
    if isinstance(source, Image.Image):
        return source
    try:
        fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")
    except FileNotFoundError:
        raise ImageError("no such file; check the path") from None
    except IsADirectoryError:
        raise ImageError("is a directory; pass image files (PNG, JPEG, ...)") from None
    except OSError as err:
        raise ImageError(f"cannot be opened ({err.strerror or err})") from None
    with fp:
        try:
            img = Image.open(fp)
            if img.width * img.height > MAX_PIXELS:
                raise ImageError(f"{img.width}x{img.height} is too large; "
                                 f"scale it below {MAX_PIXELS // 1_000_000} megapixels")
            img.load()  # decode now, while the file is open, so a truncated file fails here
        except UnidentifiedImageError:
            raise ImageError("not an image PIL can read; use PNG, JPEG, BMP, GIF or WebP") from None
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            raise ImageError(f"cannot be decoded ({err}); is the file complete?") from None
    return img


def _to_gray(img: Image.Image, background: int) -> np.ndarray:
    """Float grayscale 0..255; transparency is flattened onto `background`."""
    img = ImageOps.exif_transpose(img)  # phone photos are often stored sideways
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (background, background, background, 255))
        img = Image.alpha_composite(flat, rgba)
    return np.asarray(img.convert("L"), dtype=np.float32)


def _ink(gray: np.ndarray) -> np.ndarray:
    """Ink as white on black, background removed, scaled so the strongest ink is 255."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 127:  # light background (paper, a white canvas): invert
        gray, border = 255.0 - gray, 255.0 - border
    level = np.median(border)
    spread = 1.4826 * np.median(np.abs(border - level))  # robust std of the paper's texture
    ink = np.clip(gray - (level + 4 * spread), 0, None)
    peak = float(ink.max()) if ink.size else 0.0
    if peak < MIN_CONTRAST:
        return np.zeros_like(ink)
    ink = ink * (255.0 / peak)
    ink[ink < NOISE_FRACTION * 255] = 0
    return ink


def _ink_box(ink: np.ndarray) -> tuple[slice, slice]:
    """Bounding box of the solid ink; stray specks of paper texture do not stretch it."""
    solid = ink >= SOLID_FRACTION * 255
    rows, cols = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def preprocess(source, size: tuple[int, int] = (28, 28)) -> np.ndarray:
    """An image (path, bytes or PIL) as a uint8 (H, W) array made the way MNIST was made.

    Grayscale; inverted when the background is light; cropped to the ink; the longest side
    scaled to 20/28 of the field keeping the aspect ratio; centred by centre of mass.
    Raises ImageError for unreadable images and images without ink.
    """
    img = open_image(source)
    ink = _ink(_to_gray(img, background=255))
    if not ink.any() and img.mode in ("RGBA", "LA", "PA", "P"):
        ink = _ink(_to_gray(img, background=0))  # light ink on a transparent background
    if not ink.any():
        raise ImageError("no digit found (the image is blank or has too little contrast)")

    crop = ink[_ink_box(ink)]

    H, W = size
    box = max(1, round(min(H, W) * 20 / 28))
    scale = box / max(crop.shape)
    h, w = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    patch = Image.fromarray(crop.astype(np.float32)).resize((w, h), Image.Resampling.BILINEAR)  # no ringing
    patch = np.clip(np.asarray(patch), 0, 255)
    if patch.sum() == 0:  # a hairline that vanished in the resize
        patch = np.full_like(patch, 255.0)

    # Put the centre of mass at (H/2, W/2) -- where it sits in MNIST on average, (14.0, 14.0)
    # in pixel-index coordinates -- clamped so that no ink is cut off.
    total = patch.sum()
    cy = (patch.sum(axis=1) * np.arange(h)).sum() / total
    cx = (patch.sum(axis=0) * np.arange(w)).sum() / total
    top = int(np.clip(round(H / 2 - cy), 0, H - h))
    left = int(np.clip(round(W / 2 - cx), 0, W - w))
    out = np.zeros((H, W), dtype=np.float32)
    out[top:top + h, left:left + w] = patch
    return np.round(out).astype(np.uint8)


@dataclass
class Prediction:
    """Top-k (label, probability) for one image, or the reason it could not be used."""
    source: str
    top: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None
    pixels: np.ndarray | None = None  # the 28x28 input the model saw

    def to_dict(self) -> dict:
        d = {"source": self.source}
        if self.error is not None:
            d["error"] = self.error
        else:
            d["top"] = [{"label": label, "probability": round(p, 6)} for label, p in self.top]
        return d


class Predictor:
    """A model plus its class names and input shape; predicts on images of any size."""

    def __init__(self, model, classes: list[str], input_shape=(28, 28, 1)):
        self.model = model.eval()
        self.classes = [str(c) for c in classes]
        self.input_shape = tuple(int(s) for s in input_shape)  # H, W, C

    @classmethod
    def from_run(cls, run_dir) -> "Predictor":
        from mnistlab.runs import open_run
        run = open_run(run_dir)
        return cls(run.model, run.classes, run_input_shape(run))

    def probabilities(self, images) -> np.ndarray:
        """(N, K) class probabilities for images as serve.arrays accepts them: numpy or
        torch, (N, H, W), (N, H, W, C), (N, C, H, W) or one image, uint8 0..255 or float 0..1."""
        from mnistlab.models.infer import probabilities
        from mnistlab.serve.arrays import to_unit_float
        return probabilities(self.model, to_unit_float(images, self.input_shape))

    def predict(self, sources, top: int = 3) -> list[Prediction]:
        """One Prediction per source, in order; bad images carry an error, not an exception."""
        results, good = [], []
        H, W, _ = self.input_shape
        for src in sources:
            label = "image" if isinstance(src, (bytes, bytearray, Image.Image)) else str(src)
            try:
                pixels = preprocess(src, size=(H, W))
            except ImageError as err:
                results.append(Prediction(label, error=str(err)))
                continue
            results.append(Prediction(label, pixels=pixels))
            good.append(results[-1])
        if good:
            probs = self.probabilities(np.stack([p.pixels for p in good]))
            k = max(1, min(top, len(self.classes)))
            for pred, p in zip(good, probs):
                order = np.argsort(-p, kind="stable")[:k]
                pred.top = [(self.classes[i], float(p[i])) for i in order]
        return results


def run_input_shape(run) -> tuple[int, int, int]:
    """(H, W, C) the run's model expects, from the model spec in its config.yaml."""
    from mnistlab.models import resolve_spec
    return tuple(int(d) for d in resolve_spec(run.config["model"])["input_shape"])


def format_predictions(preds: list[Prediction]) -> str:
    """Human-readable lines: `file: 7 (98.1%)  1 (1.2%)  ...` or `file: error: ...`."""
    lines = []
    for p in preds:
        if p.error:
            lines.append(f"{p.source}: error: {p.error}")
        else:
            lines.append(f"{p.source}: " + "  ".join(f"{lab} ({pr:.1%})" for lab, pr in p.top))
    return "\n".join(lines)
