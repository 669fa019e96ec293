"""`kernels: auto` on a CPU: the fused max-pool/ReLU/dropout tail or torch's ops, timed on
this run's own training step.

The fused tail (models/fused.py) made nb000-cnn's epochs 1.5x faster on a 2-core AVX512-BF16
EPYC but nb002-cnn's and recipes/fast.yaml's slower (docs/speed.md): the sign depends on the
model, so it is measured, with precision auto's probe (train/probe.py: a deep copy of the
model, interleaved single steps of both paths, the RNG forked, a margin), after precision is
decided and at that precision. The fused tail is chosen only when it is MARGIN faster in the
median round and faster in all rounds but one; else torch's ops.

Not measured, torch's ops: a run with fewer training steps than a probe takes
(probe.too_short; precision auto keeps fp32 there too), on a GPU (hardware.kernels_auto), with `compile: true` (the
kernels step aside under compilation), for a model without a span the kernels take
(layers.fusable: a max pool or dropout of a built chain whose rows fit), and where the
kernels do not build (no C compiler: the one warning line of models/fused.py says so, since
auto would have measured). Explicit `kernels: torch|fused` never measures.

The answer is cached in the user cache (`kernels.json`, like precision.json), keyed by the
probe's step_parts, the precision and the kernels' build (their source, compiler and CPU),
so two identical commands train the same way; config.yaml records the path used, so a rerun
and a resume take it again. `mnistlab doctor` lists the cache.
"""
from __future__ import annotations

from pathlib import Path

import torch

from mnistlab.models import fused
from mnistlab.models.layers import fusable
from mnistlab.train import probe

CACHE = probe.ChoiceCache("kernels.json", "kernels")
OPTIONS = ("torch", "fused")  # (base, candidate)


def measure(step, rounds: int = probe.ROUNDS) -> tuple[list[float], list[float], int]:
    """probe.measure of `step(path, n)`, torch's ops against the fused tail."""
    return probe.measure(step, OPTIONS, rounds, timer=_timed)


def _timed(step, path: str, n: int) -> float:
    """Seconds for step(path, n) (the tests replace this timer)."""
    return probe.timed(step, path, n)


def signature(cfg: dict, model: torch.nn.Module, input_shape) -> tuple[str, str]:
    """(cache key, a line saying what it is): probe.step_parts, the precision the step runs
    in, and the kernels' build (a new source or compiler is timed again)."""
    key = probe.key_of(probe.step_parts(cfg, model, input_shape) + [cfg["precision"], fused.build_id()])
    return key, f"{probe.step_line(cfg, model)}, {cfg['precision']}"


def measure_run(model, cfg: dict, x, y, *, penalty=None, label_smoothing=0.0) -> dict:
    """Time the run's step on both paths at the run's precision without touching the run
    (the global RNG forked and restored, the model copied). Returns the cache entry."""
    return probe.time_both(model, cfg, x, y, setting="kernels", options=OPTIONS,
                           configure=lambda path: (cfg["precision"], path), measure=measure,
                           penalty=penalty, label_smoothing=label_smoothing)


def describe(entry: dict) -> str:
    """'torch 24.1 ms vs fused 20.3 ms per step (fused/torch 0.84; best of 8, median of 5 rounds)'."""
    return probe.describe(entry, *OPTIONS)


def resolve(model, cfg: dict, x, y, *, penalty=None, label_smoothing=0.0, remeasure=False) -> tuple[str, str]:
    """(torch | fused, how auto decided it: a config.yaml comment) for `kernels: auto` on a
    CPU; `cfg` holds the run's resolved speed settings, precision included."""
    if cfg["compile"]:
        return "torch", "auto: not measured with compile: true"
    if not fusable(model):
        return "torch", "auto: no max-pool or dropout span the fused kernels take"
    if not fused.available():  # warns once: auto would have measured
        return "torch", f"auto: the fused kernels are not available here ({fused.status()[1]})"
    key, what = signature(cfg, model, tuple(x.shape[1:]))
    path, source = CACHE.choose(key, what, lambda: measure_run(model, cfg, x, y, penalty=penalty,
                                                               label_smoothing=label_smoothing),
                                describe, remeasure)
    return path, f"auto, {source}"


def timed_note(note: str | None) -> bool:
    """The note of a choice that a timing made (measured now or cached), not a rule."""
    return bool(note) and note.startswith("auto, ")


# ---------------------------------------------------------------- the cache file

def cache_path() -> Path:
    return CACHE.path


def cache_lines() -> list[str]:
    """The cached choices, one line each (newest first), for `mnistlab doctor`."""
    return CACHE.lines(describe)
