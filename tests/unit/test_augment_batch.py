"""Batched augmentation: config validation, geometry of each transform, reproducibility."""
from __future__ import annotations

import math

import pytest
import torch

from mnistlab.errors import MnistlabError
from mnistlab.train.augment import augment_batch, validate_augment


def _dot_batch(n=64, h=28, w=28, at=(14, 14)):
    """A batch of images with one bright 2x2 square at `at` (row, col)."""
    x = torch.zeros(n, 1, h, w)
    r, c = at
    x[:, :, r - 1:r + 1, c - 1:c + 1] = 1.0
    return x


def _centroids(x):
    n, _, h, w = x.shape
    m = x.sum(dim=(1, 2, 3))
    rows = torch.arange(h, dtype=x.dtype).view(1, 1, h, 1)
    cols = torch.arange(w, dtype=x.dtype).view(1, 1, 1, w)
    return (x * rows).sum(dim=(1, 2, 3)) / m, (x * cols).sum(dim=(1, 2, 3)) / m


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_validate_defaults_and_off():
    assert validate_augment(None) is None
    assert validate_augment(False) is None
    cfg = validate_augment({"rotation_range": 10})
    assert cfg["rotation_range"] == 10.0 and cfg["zoom_range"] == 0.0 and cfg["elastic"] is None
    assert validate_augment({"elastic": True})["elastic"] == {"alpha": 1.5, "sigma": 7.0}
    assert validate_augment(cfg) == cfg  # idempotent


@pytest.mark.parametrize("bad, words", [
    ({"rotaton_range": 10}, "did you mean 'rotation_range'"),
    ({"rotation_range": -1}, "rotation_range"),
    ({"zoom_range": 1.5}, "zoom_range"),
    ({"width_shift_range": "a lot"}, "width_shift_range"),
    ({"elastic": {"alpah": 3}}, "did you mean 'alpha'"),
    ({"elastic": 3}, "elastic"),
    ({"horizontal_flip": "yes"}, "horizontal_flip must be true or false"),
    ([10], "mapping"),
])
def test_validate_rejects_with_one_line(bad, words):
    with pytest.raises(MnistlabError) as err:
        validate_augment(bad)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_no_op_config_returns_input_unchanged():
    x = torch.rand(4, 1, 28, 28)
    assert augment_batch(x, None, _gen()) is x
    assert torch.equal(augment_batch(x, {}, _gen()), x)


def test_shift_moves_content_within_range_and_keeps_mass():
    x = _dot_batch()
    out = augment_batch(x, {"width_shift_range": 0.2}, _gen())
    r0, c0 = _centroids(x)
    r1, c1 = _centroids(out)
    dx = c1 - c0
    assert torch.allclose(r1, r0, atol=1e-4)                 # no vertical move
    assert dx.abs().max() <= 0.2 * 28 + 1e-3                   # within range
    assert dx.std() > 1.0 and (dx > 0).any() and (dx < 0).any()  # both directions, spread
    assert torch.allclose(out.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)), atol=1e-3)
    assert torch.equal(x, _dot_batch())                       # input untouched


def test_rotation_keeps_centre_and_radius_turns_within_range():
    x = _dot_batch(at=(14, 22))  # 8 px right of the centre (pixel centres 13.5, 21.5)
    out = augment_batch(x, {"rotation_range": 30}, _gen())
    r, c = _centroids(out)
    dy, dx = r - 13.5, c - 13.5
    radius = torch.sqrt(dx ** 2 + dy ** 2)
    angle = torch.rad2deg(torch.atan2(dy, dx))
    assert torch.allclose(radius, torch.full_like(radius, 8.0), atol=0.1)
    assert angle.abs().max() <= 30 + 0.5 and angle.std() > 5


def test_zoom_scales_distance_from_centre():
    x = _dot_batch(at=(14, 24))  # 10 px right of the centre
    out = augment_batch(x, {"zoom_range": 0.2}, _gen())
    _, c = _centroids(out)
    ratio = (c - 13.5) / 10.0
    assert ratio.min() >= 0.8 - 0.01 and ratio.max() <= 1.2 + 0.01 and ratio.std() > 0.05


def test_non_square_rotation_is_a_rotation():
    x = _dot_batch(h=28, w=56, at=(14, 36))  # 8 px right of the centre (27.5)
    out = augment_batch(x, {"rotation_range": 20}, _gen())
    r, c = _centroids(out)
    radius = torch.sqrt((c - 27.5) ** 2 + (r - 13.5) ** 2)
    assert torch.allclose(radius, torch.full_like(radius, 8.0), atol=0.15)


def test_horizontal_flip_mirrors_about_half_the_images_exactly():
    x = torch.rand(200, 1, 28, 20)
    out = augment_batch(x, {"horizontal_flip": True}, _gen())
    same = (out - x).abs().amax(dim=(1, 2, 3)) < 1e-5
    mirrored = (out - x.flip(-1)).abs().amax(dim=(1, 2, 3)) < 1e-5
    assert bool((same ^ mirrored).all())  # every image is one or the other, pixel for pixel
    assert 60 < int(mirrored.sum()) < 140


def test_horizontal_flip_off_keeps_the_random_stream():
    cfg = {"rotation_range": 10, "width_shift_range": 0.1}
    x = torch.rand(8, 1, 28, 28)
    assert torch.equal(augment_batch(x, cfg, _gen(3)), augment_batch(x, {**cfg, "horizontal_flip": False}, _gen(3)))


def test_fill_value_outside_the_image():
    x = torch.full((8, 1, 10, 10), 0.5)
    out = augment_batch(x, {"width_shift_range": 0.5, "fill_value": 1.0}, _gen())
    assert torch.isclose(out, torch.tensor(1.0)).any()      # uncovered border is filled
    assert out.min() >= 0.5 - 1e-5 and out.max() <= 1.0 + 1e-5


def test_elastic_warps_locally_and_bounded():
    x = _dot_batch()
    out = augment_batch(x, {"elastic": {"alpha": 2.0, "sigma": 4.0}}, _gen())
    assert not torch.allclose(out, x)
    r0, c0 = _centroids(x)
    r1, c1 = _centroids(out)
    assert ((r1 - r0) ** 2 + (c1 - c0) ** 2).sqrt().max() <= 2.0 * math.sqrt(2) + 0.1


def test_same_seed_same_batch_different_seed_different():
    x = torch.rand(16, 1, 28, 28)
    cfg = {"rotation_range": 10, "width_shift_range": 0.1, "height_shift_range": 0.1,
           "zoom_range": 0.1, "elastic": {"alpha": 1.0}}
    a = augment_batch(x, cfg, _gen(1))
    b = augment_batch(x, cfg, _gen(1))
    c = augment_batch(x, cfg, _gen(2))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert a.shape == x.shape and a.dtype == x.dtype


def test_rejects_non_float_or_non_nchw():
    with pytest.raises(ValueError):
        augment_batch(torch.zeros(2, 28, 28, 1, dtype=torch.uint8), {"rotation_range": 5}, _gen())
