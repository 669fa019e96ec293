"""Preprocessing real images the way MNIST was made, and per-file prediction errors."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from mnistlab.serve.predict import ImageError, Predictor, format_predictions, preprocess


def seven(size=(200, 200), offset=(0, 0), ink=(0, 0, 0), paper=(255, 255, 255), width=None, mode="RGB"):
    """A hand-drawn-looking '7' (bar + diagonal) on `paper`, shifted by `offset`."""
    w, h = size
    img = Image.new(mode, size, paper)
    d = ImageDraw.Draw(img)
    s = min(w, h) / 200
    ox, oy = offset
    lw = width or max(1, round(14 * s))
    d.line([(ox + 60 * s, oy + 50 * s), (ox + 140 * s, oy + 50 * s)], fill=ink, width=lw)
    d.line([(ox + 140 * s, oy + 50 * s), (ox + 90 * s, oy + 160 * s)], fill=ink, width=lw)
    return img


def centre_of_mass(a):
    a = a.astype(float)
    ys, xs = np.indices(a.shape)
    return (ys * a).sum() / a.sum(), (xs * a).sum() / a.sum()


def bbox(a):
    rows, cols = np.flatnonzero(a.any(1)), np.flatnonzero(a.any(0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_light_background_is_inverted_to_white_ink_on_black():
    out = preprocess(seven())
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out[[0, 0, -1, -1], [0, -1, 0, -1]].max() == 0   # corners black, as in MNIST
    assert np.median(out) == 0
    assert out.max() == 255             # strongest ink white
    assert (out > 0).mean() < 0.4       # ink is the minority, so it was not left inverted


def test_dark_background_is_kept():
    light = preprocess(seven())
    dark = preprocess(seven(ink=(255, 255, 255), paper=(0, 0, 0)))
    assert np.abs(light.astype(int) - dark.astype(int)).mean() < 3


def test_scaled_into_20x20_keeping_aspect_and_centred_by_mass():
    out = preprocess(seven())
    h, w = bbox(out)
    assert max(h, w) in (20, 21)        # longest side 20 (+1 for resampling halo)
    assert h > w                        # the 7 is taller than wide, and stays so
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) <= 0.75 and abs(cx - 14) <= 0.75


def test_tall_thin_stroke_keeps_its_aspect_ratio():
    img = Image.new("L", (300, 300), 255)
    ImageDraw.Draw(img).line([(150, 20), (150, 280)], fill=0, width=20)
    h, w = bbox(preprocess(img))
    assert h in (20, 21) and w <= 4


def test_off_centre_digit_lands_in_the_middle():
    centred = preprocess(seven(size=(600, 600), offset=(0, 0)))
    corner = preprocess(seven(size=(600, 600), offset=(-150, 80)))
    cy, cx = centre_of_mass(corner)
    assert abs(cy - 14) <= 0.75 and abs(cx - 14) <= 0.75
    assert np.abs(centred.astype(int) - corner.astype(int)).mean() < 4


def test_large_image_gives_the_same_digit_as_a_small_one():
    small = preprocess(seven(size=(100, 100)))
    large = preprocess(seven(size=(3000, 3000)))
    corr = np.corrcoef(small.ravel().astype(float), large.ravel().astype(float))[0, 1]
    assert corr > 0.9


def test_rgb_coloured_ink_on_coloured_paper():
    grey = preprocess(seven())
    colour = preprocess(seven(ink=(20, 40, 160), paper=(250, 240, 190)))
    corr = np.corrcoef(grey.ravel().astype(float), colour.ravel().astype(float))[0, 1]
    assert corr > 0.95


def test_uneven_grey_paper_texture_is_not_ink():
    rng = np.random.default_rng(0)
    paper = rng.normal(200, 8, size=(200, 200)).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(paper).convert("RGB")
    ImageDraw.Draw(img).line([(100, 30), (100, 170)], fill=(30, 30, 30), width=16)
    h, w = bbox(preprocess(img))
    assert 19 <= h <= 21 and w <= 5     # only the stroke, not the speckles, is the digit


def test_transparent_canvas_png_with_dark_or_light_ink():
    dark = seven(mode="RGBA", paper=(0, 0, 0, 0), ink=(0, 0, 0, 255))
    light = seven(mode="RGBA", paper=(0, 0, 0, 0), ink=(255, 255, 255, 255))
    ref = preprocess(seven())
    for img in (dark, light):
        out = preprocess(png(img))
        assert np.abs(out.astype(int) - ref.astype(int)).mean() < 3


def test_paths_bytes_and_pil_agree(tmp_path):
    img = seven()
    path = tmp_path / "seven.jpg"
    img.save(path, quality=90)
    a, b = preprocess(path), preprocess(png(img))
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 3
    assert np.array_equal(preprocess(img), b)


@pytest.mark.parametrize("make, message", [
    (lambda p: Image.new("RGB", (50, 50), "white").save(p / "blank.png") or p / "blank.png", "no digit"),
    (lambda p: (p / "noise.png").write_bytes(b"not an image") and p / "noise.png", "not an image"),
    (lambda p: (p / "cut.png").write_bytes(png(seven())[:200]) and p / "cut.png", "cannot be decoded"),
    (lambda p: p / "missing.png", "no such file"),
    (lambda p: p, "directory"),
])
def test_unusable_images_raise_a_clear_error(tmp_path, make, message):
    with pytest.raises(ImageError, match=message):
        preprocess(make(tmp_path))


class Ink(torch.nn.Module):
    """A stand-in model: logit k grows with the amount of ink in row band k."""

    def forward(self, x):
        bands = x[:, 0].reshape(len(x), 4, 7, 28).sum(dim=(2, 3))
        return torch.cat([bands, torch.zeros(len(x), 1)], dim=1)


def test_predictor_reports_bad_files_and_still_predicts_the_others(tmp_path):
    good = tmp_path / "good.png"
    seven().save(good)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG garbage")
    pred = Predictor(Ink(), ["a", "b", "c", "d", "e"])
    out = pred.predict([str(good), str(tmp_path / "bad.png"), str(tmp_path / "none.png")], top=3)
    assert [p.error is None for p in out] == [True, False, False]
    labels = [lab for lab, _ in out[0].top]
    probs = [p for _, p in out[0].top]
    assert len(labels) == 3 and set(labels) <= set("abcde")
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    # the 7's top bar puts most ink in the upper band -> class "a" wins over empty "e"
    assert labels[0] in "ab"
    text = format_predictions(out)
    assert "good.png: " in text and "bad.png: error: not an image" in text
    assert out[1].to_dict()["error"] and "top" in out[0].to_dict()


def test_top_is_clipped_to_the_number_of_classes():
    pred = Predictor(Ink(), ["a", "b", "c", "d", "e"])
    assert len(pred.predict([seven()], top=99)[0].top) == 5
