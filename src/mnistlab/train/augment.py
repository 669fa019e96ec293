"""Batched on-device augmentation: random rotation, shift, zoom (and optional elastic warp).

One affine matrix per sample, one `affine_grid` + `grid_sample` for the whole batch, on the
device the batch lives on: no per-image Python, no PIL, no DataLoader workers. It runs in
the training step on float NCHW batches in [0, 1], after the uint8 -> float scaling.

Recipe key (Contract 3), Keras ImageDataGenerator names:

    augment:
      rotation_range: 10        # degrees, uniform in [-r, r]
      width_shift_range: 0.1    # fraction of the width, uniform in [-f, f]
      height_shift_range: 0.1   # fraction of the height
      zoom_range: 0.1           # content scale uniform in [1 - z, 1 + z]
      horizontal_flip: false    # mirror left-right with probability 1/2 (clothes, not digits)
      elastic: {alpha: 1.5, sigma: 7.0}   # optional: max displacement and smoothness, pixels
      fill_value: 0.0           # value outside the image (0 = MNIST background)

`augment: null` (or leaving it out) means no augmentation.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mnistlab.errors import MnistlabError, as_number, unknown_key_error

DEFAULTS = {
    "rotation_range": 0.0,
    "width_shift_range": 0.0,
    "height_shift_range": 0.0,
    "zoom_range": 0.0,
    "horizontal_flip": False,
    "elastic": None,
    "fill_value": 0.0,
}
ELASTIC_DEFAULTS = {"alpha": 1.5, "sigma": 7.0}
_LIMITS = {  # sane upper bounds: beyond these the digits stop being digits
    "rotation_range": 180.0,
    "width_shift_range": 1.0,
    "height_shift_range": 1.0,
    "zoom_range": 0.9,
}


def _number(key: str, value, *, low: float = 0.0, high: float = math.inf) -> float:
    value = as_number(value) if as_number(value) is not None else value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise MnistlabError(f"augment.{key} must be a number in [{low:g}, {high:g}], got {value!r}")
    return float(value)


def validate_augment(cfg) -> dict | None:
    """Check a recipe's `augment` value and return it resolved with defaults (None = off)."""
    if cfg is None or cfg is False:
        return None
    if not isinstance(cfg, dict):
        raise MnistlabError(f"augment must be a mapping like {{rotation_range: 10}} or null, got {cfg!r}")
    for key in cfg:
        if key not in DEFAULTS:
            raise unknown_key_error(key, DEFAULTS, "recipe key", name=f"augment.{key}")
    out = {**DEFAULTS, **cfg}
    for key, high in _LIMITS.items():
        out[key] = _number(key, out[key], high=high)
    out["fill_value"] = _number("fill_value", out["fill_value"], low=-math.inf)
    if not isinstance(out["horizontal_flip"], bool):
        raise MnistlabError(f"augment.horizontal_flip must be true or false, got {out['horizontal_flip']!r}")
    elastic = out["elastic"]
    if elastic is not None and elastic is not False:
        if elastic is True:
            elastic = {}
        if not isinstance(elastic, dict):
            raise MnistlabError(f"augment.elastic must be a mapping like {{alpha: 1.5, sigma: 7}} or null, got {elastic!r}")
        for key in elastic:
            if key not in ELASTIC_DEFAULTS:
                raise unknown_key_error(key, ELASTIC_DEFAULTS, "recipe key", name=f"augment.elastic.{key}")
        elastic = {**ELASTIC_DEFAULTS, **elastic}
        elastic = {"alpha": _number("elastic.alpha", elastic["alpha"], high=64.0),
                   "sigma": _number("elastic.sigma", elastic["sigma"], low=1.0, high=64.0)}
        out["elastic"] = elastic
    else:
        out["elastic"] = None
    return out


def _uniform(n: int, half_width: float, generator, device) -> torch.Tensor:
    """n samples uniform in [-half_width, half_width]."""
    return (torch.rand(n, generator=generator, device=device) * 2 - 1) * half_width


def _affine_thetas(n: int, h: int, w: int, cfg: dict, generator, device) -> torch.Tensor:
    """(n, 2, 3) matrices mapping output to input coordinates, in affine_grid's [-1, 1] units.

    Built in pixel units (so rotation stays a rotation on non-square images) and then
    expressed in normalised units: theta = D^-1 (R / s) D, translation t -> 2 t.
    """
    angle = _uniform(n, math.radians(cfg["rotation_range"]), generator, device)
    scale = 1 + _uniform(n, cfg["zoom_range"], generator, device)
    tx = _uniform(n, cfg["width_shift_range"], generator, device)
    ty = _uniform(n, cfg["height_shift_range"], generator, device)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.empty(n, 2, 3, device=device)
    # Sampling from the input at the inverse transform: rotate by -angle, scale by 1/s,
    # shift by -t, so the content moves by +angle, *s and +t.
    theta[:, 0, 0] = cos
    theta[:, 0, 1] = sin * (h / w)
    theta[:, 1, 0] = -sin * (w / h)
    theta[:, 1, 1] = cos
    theta[:, 0, 2] = -2 * tx
    theta[:, 1, 2] = -2 * ty
    if cfg["horizontal_flip"]:  # drawn last, so recipes without it keep their random stream
        flip = torch.rand(n, generator=generator, device=device) < 0.5
        theta[:, :, 0] *= torch.where(flip, -1.0, 1.0).unsqueeze(1)
    return theta


def _elastic_offsets(n: int, h: int, w: int, alpha: float, sigma: float, generator, device) -> torch.Tensor:
    """(n, h, w, 2) smooth random displacements in normalised grid units.

    Simard et al. (2003) blur a per-pixel random field with a Gaussian of width sigma; a
    random field on a coarse grid (one control point every sigma pixels) upsampled
    bicubically is as smooth and several times cheaper (no blur over every pixel). alpha is the largest displacement in pixels.
    """
    ch, cw = max(2, math.ceil(h / sigma) + 1), max(2, math.ceil(w / sigma) + 1)
    field = torch.rand(n, 2, ch, cw, generator=generator, device=device) * 2 - 1
    field = F.interpolate(field, size=(h, w), mode="bicubic", align_corners=True).clamp_(-1, 1) * alpha
    # pixels -> [-1, 1]; filled on the device (torch.tensor([...], device=gpu) would wait for a copy)
    scale = torch.empty(1, 2, 1, 1, device=device)
    scale[:, 0], scale[:, 1] = 2.0 / w, 2.0 / h
    return (field * scale).permute(0, 2, 3, 1)


def augment_batch(x: torch.Tensor, cfg: dict | None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Randomly rotate/shift/zoom (and elastically warp) every image of a float NCHW batch.

    `cfg` is the recipe's `augment` dict (raw or resolved by `validate_augment`);
    `generator` is a torch.Generator on x's device, so runs are reproducible and resumable
    (save `generator.get_state()` in the checkpoint). Returns a new tensor; x is untouched.
    """
    return apply_augment(x, validate_augment(cfg), generator)


def apply_augment(x: torch.Tensor, cfg: dict | None, generator: torch.Generator | None = None) -> torch.Tensor:
    """augment_batch for a `cfg` already resolved by validate_augment (the recipe's, checked
    once when the Recipe was made): the training loop's per-batch call, with no re-check."""
    if cfg is None:
        return x
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"augment_batch expects a float NCHW batch, got {tuple(x.shape)} {x.dtype}")
    n, _, h, w = x.shape
    affine = any(cfg[k] > 0 for k in _LIMITS) or cfg["horizontal_flip"]
    if n == 0 or not (affine or cfg["elastic"]):
        return x
    device = x.device
    theta = _affine_thetas(n, h, w, cfg, generator, device)
    grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False)
    if cfg["elastic"]:
        grid = grid + _elastic_offsets(n, h, w, cfg["elastic"]["alpha"], cfg["elastic"]["sigma"], generator, device)
    fill = cfg["fill_value"]
    # grid_sample pads with zeros; shift the values so the padding reads as fill_value.
    src = x - fill if fill else x
    out = F.grid_sample(src, grid.to(x.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)
    return out + fill if fill else out
