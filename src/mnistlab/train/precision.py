"""`precision: auto` on a CPU with native bfloat16: timed on this run's own training step.

Where the CPU runs bfloat16 natively (AVX512-BF16 or AMX), whether bf16 autocast is faster
than fp32 depends on the model and batch, not only on the CPU flag: on one such Xeon it was
slower for two of the seed CNNs and faster for a third (issue 22; numbers per machine in
docs/training.md, "precision auto"). So the choice is measured, on the first run of a
(machine, model, batch, layout, threads) combination, by the probe train/probe.py describes
(shared with `kernels: auto`): a deep copy of the model trains interleaved single steps of
fp32 and bf16 with the RNG forked, and bf16 is chosen only when it is MARGIN faster in the
median round and faster in all rounds but one; else fp32, the precision every other path
(evaluation, export) uses. The steps take the run's tail path when `kernels` names one
(auto is decided after precision, at the precision chosen here, so its probe runs torch's ops).

The answer is cached in the user cache (`precision.json`, written atomically, under a lock so
two processes starting at once measure once), keyed by everything that changes the step's
speed, so two identical commands train the same way. `mnistlab doctor` lists the cache and
re-measures on request. Explicit `precision: fp32|bf16`, GPUs and CPUs without native bf16
never measure (hardware.precision_auto), nor does a run with fewer training steps than a probe
takes (probe.too_short): it trains in fp32.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from mnistlab.models import fused
from mnistlab.train import probe
from mnistlab.train.probe import MARGIN, MAX_STEPS, OUTLIERS, ROUND_SECONDS, ROUNDS, WARMUP_STEPS  # noqa: F401

CACHE = probe.ChoiceCache("precision.json", "precision")
CACHE_NAME, FORMAT = CACHE.name, probe.FORMAT
OPTIONS = ("fp32", "bf16")  # (base, candidate)


@dataclass(frozen=True)
class Choice:
    precision: str     # fp32 | bf16
    source: str        # how it was decided, for the start line and config.yaml


def decide(fp32: list[float], bf16: list[float], margin: float = MARGIN, outliers: int = OUTLIERS) -> bool:
    """True (use bf16): probe.decide with fp32 the base."""
    return probe.decide(fp32, bf16, margin, outliers)


def measure(step, rounds: int = ROUNDS) -> tuple[list[float], list[float], int]:
    """probe.measure of `step(precision, n)`, fp32 against bf16: (fp32 seconds per step per
    round, bf16's, steps per precision per round)."""
    return probe.measure(step, OPTIONS, rounds, timer=_timed)


def _timed(step, precision: str, n: int) -> float:
    """Seconds for step(precision, n) (the tests replace this timer)."""
    return probe.timed(step, precision, n)


def tail_path(cfg: dict) -> str:
    """The tail path the probe's steps take: `kernels: fused` where the kernels load, else
    torch's ops (also while `kernels: auto` waits for this precision)."""
    return "fused" if cfg.get("kernels") == "fused" and fused.status()[0] else "torch"


def signature(cfg: dict, model: torch.nn.Module, input_shape) -> tuple[str, str]:
    """(cache key, a line saying what it is) for the step being timed: probe.step_parts and
    whether the pool/dropout tail runs fused (models/fused.py)."""
    key = probe.key_of(probe.step_parts(cfg, model, input_shape) + [tail_path(cfg)])
    return key, probe.step_line(cfg, model)


def measure_run(model, cfg: dict, x, y, *, penalty=None, label_smoothing=0.0) -> dict:
    """Time the run's step in both precisions without touching the run: the global RNG is
    forked and restored, the model copied. Returns the cache entry."""
    path = tail_path(cfg)
    return probe.time_both(model, cfg, x, y, setting="precision", options=OPTIONS,
                           configure=lambda precision: (precision, path), measure=measure,
                           penalty=penalty, label_smoothing=label_smoothing)


def describe(entry: dict) -> str:
    """'fp32 24.1 ms vs bf16 20.3 ms per step (bf16/fp32 0.84; best of 8, median of 5 rounds)'."""
    return probe.describe(entry, *OPTIONS)


def choose(model, cfg: dict, x, y, *, penalty=None, label_smoothing=0.0, remeasure=False) -> Choice:
    """The cached choice for this run's step, or a fresh measurement (then cached)."""
    key, what = signature(cfg, model, tuple(x.shape[1:]))
    precision, source = CACHE.choose(key, what, lambda: measure_run(model, cfg, x, y, penalty=penalty,
                                                                    label_smoothing=label_smoothing),
                                     describe, remeasure)
    return Choice(precision, source)


# ---------------------------------------------------------------- the cache file

def cache_path() -> Path:
    return CACHE.path


def read_cache() -> dict:
    """key -> entry; a damaged or foreign file warns once and counts as empty (re-measured)."""
    return CACHE.read()


def cache_lines() -> list[str]:
    """The cached choices, one line each (newest first), for `mnistlab doctor`."""
    return CACHE.lines(describe)
