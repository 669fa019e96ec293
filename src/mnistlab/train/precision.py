"""`precision: auto` on a CPU with native bfloat16: timed on this run's own training step.

Where the CPU runs bfloat16 natively (AVX512-BF16 or AMX), whether bf16 autocast is faster
than fp32 depends on the model and batch, not only on the CPU flag: on one such Xeon it was
slower for two of the seed CNNs and faster for a third (issue 22; numbers per machine in
docs/training.md, "precision auto"). So the choice is measured, on the first run of a
(machine, model, batch, layout, threads) combination:

- on a deep copy of the model with its own optimiser, batch split and generators, the global
  RNG forked and restored: the run itself draws the same numbers with or without the probe;
- on the run's own training images (random data misleads: pooling and ReLU run faster on real
  MNIST batches), through `train_epoch`, i.e. the real forward, loss, backward and optimiser
  step at the run's batch size, channels_last and thread count; augmentation is left out (it
  runs before autocast and costs the same in both precisions);
- interleaved: a warm-up of both, then ROUNDS rounds of single steps alternating between
  the precisions, each round keeping each precision's fastest step (a neighbour's load only
  adds time), so load hits both alike and bursts drop out;
- with a margin: bf16 only when the median per-round time ratio is MARGIN below 1 and bf16
  was faster in all rounds but one (a neighbour's burst can spoil one); else fp32, the
  precision every other path (evaluation, export) uses.

The answer is cached in the user cache (`precision.json`, written atomically, under a lock so
two processes starting at once measure once), keyed by everything that changes the step's
speed, so two identical commands train the same way. `mnistlab doctor` lists the cache and
re-measures on request. Explicit `precision: fp32|bf16`, GPUs and CPUs without native bf16
never measure (hardware.precision_auto).
"""
from __future__ import annotations

import contextlib
import copy
import datetime
import hashlib
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from mnistlab import hardware, settings
from mnistlab.errors import warn
from mnistlab.io import write_cache
from mnistlab.models import fused
from mnistlab.train.loop import train_epoch
from mnistlab.train.optim import make_optimizer
from mnistlab.train.parallel import BatchSplit

CACHE_NAME = "precision.json"
FORMAT = 1
WARMUP_STEPS = 2       # per precision: oneDNN builds its kernels for a shape on first use
ROUNDS = 5
ROUND_SECONDS = 0.15   # per precision and round; sets the steps per round
MAX_STEPS = 16
MARGIN = 0.05          # bf16 must be this much faster (median of the per-round ratios) ...
OUTLIERS = 1           # ... and faster in all rounds but this many (a neighbour's burst)


@dataclass(frozen=True)
class Choice:
    precision: str     # fp32 | bf16
    source: str        # how it was decided, for the start line and config.yaml


def decide(fp32: list[float], bf16: list[float], margin: float = MARGIN, outliers: int = OUTLIERS) -> bool:
    """True (use bf16) when the median of the per-round ratios bf16/fp32 is at most
    1 - `margin` and bf16 was faster in all rounds but `outliers` (rounds are paired:
    fp32[i] and bf16[i] ran back to back, so a ratio cancels the load they shared)."""
    if not fp32 or len(fp32) != len(bf16):
        return False
    ratios = [b / f for f, b in zip(fp32, bf16)]
    slower = sum(r >= 1 for r in ratios)
    return statistics.median(ratios) <= 1 - margin and slower <= outliers


def measure(step, rounds: int = ROUNDS) -> tuple[list[float], list[float], int]:
    """Interleaved timings: `step(precision, n)` trains n steps. Each round times `steps`
    single steps of each precision, alternating (fp32, bf16, bf16, fp32, ...), and keeps
    each precision's fastest: a neighbour's load only ever adds time, so the fastest step
    of a round is the least disturbed. Returns (fp32 seconds per step per round, bf16
    seconds per step per round, steps per precision per round)."""
    for p in ("fp32", "bf16"):
        step(p, WARMUP_STEPS)
    one = min(_timed(step, "fp32", 1), _timed(step, "bf16", 1))
    steps = max(2, min(MAX_STEPS, round(ROUND_SECONDS / max(one, 1e-6))))
    fp32, bf16 = [], []
    for _ in range(rounds):
        times = {"fp32": [], "bf16": []}
        for i in range(steps):
            for p in (("fp32", "bf16") if i % 2 == 0 else ("bf16", "fp32")):
                times[p].append(_timed(step, p, 1))
        fp32.append(min(times["fp32"]))
        bf16.append(min(times["bf16"]))
    return fp32, bf16, steps


def _timed(step, precision: str, n: int) -> float:
    """Seconds for step(precision, n) (the tests replace this timer)."""
    start = time.perf_counter()
    step(precision, n)
    return time.perf_counter() - start


# ---------------------------------------------------------------- the run's step, on a copy

def signature(cfg: dict, model: torch.nn.Module, input_shape) -> tuple[str, str]:
    """(cache key, a line saying what it is) for the step being timed: the machine (CPU
    model, ISA flags and limits), torch's version, the model's structure and parameter
    shapes, the input shape and everything in the recipe that changes the step's cost,
    and whether the pool/dropout tail runs fused (models/fused.py)."""
    m = hardware.machine()
    layout = [(n, tuple(t.shape), str(t.dtype)) for n, t in
              list(model.named_parameters()) + list(model.named_buffers())]
    limits = {k: v for k, v in m.isa_limits.items() if k != "OMP_NUM_THREADS"}  # threads: below
    parts = [m.cpu, sorted(m.flags), limits, torch.__version__, repr(model), layout, list(input_shape),
             cfg["batch_size"], bool(cfg["channels_last"]), int(cfg["threads"]), int(cfg["batch_split"]),
             cfg["optimizer"]["name"], bool(cfg.get("quantize_aware")), fused.step_path()]
    key = hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]
    split = f", batch split {cfg['batch_split']}" if cfg["batch_split"] > 1 else ""
    what = (f"{cfg.get('name') or 'model'} ({sum(p.numel() for p in model.parameters()):,} params), batch "
            f"{cfg['batch_size']}, {cfg['threads']} thread{'' if cfg['threads'] == 1 else 's'}{split}"
            f"{', channels_last' if cfg['channels_last'] else ''}, {cfg['optimizer']['name']}")
    return key, what


def probe_step(model, cfg: dict, x: torch.Tensor, y: torch.Tensor, *, penalty, label_smoothing):
    """A `step(precision, n)` that trains n steps of a deep copy of `model` on the first
    images of (x, y) (repeated if there are fewer than n batches), plus its clean-up."""
    net = copy.deepcopy(model)
    optimizer = make_optimizer(net.parameters(), cfg["optimizer"])
    split = BatchSplit(net, cfg["batch_split"], 0) if cfg["batch_split"] > 1 else None
    order = torch.Generator().manual_seed(0)
    bs, lr = cfg["batch_size"], cfg["optimizer"]["lr"]

    def step(precision: str, n: int) -> None:
        idx = torch.arange(n * bs, device=x.device) % len(x)
        train_epoch(net, optimizer, x[idx], y[idx], batch_size=bs, generator=order, lr_at=lambda i, k: lr,
                    penalty=penalty, label_smoothing=label_smoothing, precision=precision, split=split)

    return step, (split.close if split is not None else (lambda: None))


def measure_run(model, cfg: dict, x, y, *, penalty=None, label_smoothing=0.0) -> dict:
    """Time the run's step in both precisions without touching the run: the global RNG is
    forked and restored, the model copied. Returns the cache entry."""
    step, close = probe_step(model, cfg, x, y, penalty=penalty, label_smoothing=label_smoothing)
    start = time.perf_counter()
    try:
        with torch.random.fork_rng(devices=[]):
            fp32, bf16, steps = measure(step)
    finally:
        close()
    return {"precision": "bf16" if decide(fp32, bf16) else "fp32", "fp32": [round(t, 5) for t in fp32],
            "bf16": [round(t, 5) for t in bf16], "steps": steps, "margin": MARGIN,
            "probe_seconds": round(time.perf_counter() - start, 2),
            "measured": datetime.datetime.now().isoformat(timespec="seconds")}


def describe(entry: dict) -> str:
    """'fp32 24.1 ms vs bf16 20.3 ms per step (bf16/fp32 0.84; best of 8, median of 5 rounds)'."""
    f, b = statistics.median(entry["fp32"]), statistics.median(entry["bf16"])
    ratio = statistics.median(y / x for x, y in zip(entry["fp32"], entry["bf16"]))
    return (f"fp32 {f * 1e3:.1f} ms vs bf16 {b * 1e3:.1f} ms per step (bf16/fp32 {ratio:.2f}; "
            f"best of {entry['steps']}, median of {len(entry['fp32'])} rounds)")


def choose(model, cfg: dict, x, y, *, penalty=None, label_smoothing=0.0, remeasure=False) -> Choice:
    """The cached choice for this run's step, or a fresh measurement (then cached)."""
    key, what = signature(cfg, model, tuple(x.shape[1:]))
    with _locked():
        entries = read_cache()
        entry = entries.get(key)
        if entry is not None and not remeasure:
            return Choice(entry["precision"], f"cached: {describe(entry)}, {entry['measured'][:10]}")
        entry = {"what": what, **measure_run(model, cfg, x, y, penalty=penalty, label_smoothing=label_smoothing)}
        entries[key] = entry
        _write_cache(entries)
    return Choice(entry["precision"], f"measured: {describe(entry)}")


# ---------------------------------------------------------------- the cache file

def cache_path() -> Path:
    return settings.cache_dir() / CACHE_NAME


def read_cache() -> dict:
    """key -> entry; a damaged or foreign file warns once and counts as empty (re-measured)."""
    path = cache_path()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT or not isinstance(data.get("choices"), dict):
            raise ValueError("unknown format")
        return data["choices"]
    except (ValueError, OSError, AttributeError) as err:
        warn(f"{path} is unreadable ({err}); precision auto measures again and rewrites it")
        return {}


def _write_cache(entries: dict) -> None:
    # a cache: one that cannot be written (full or read-only disk) costs the next run a measurement
    write_cache(cache_path(), json.dumps({"format": FORMAT, "choices": entries}, indent=1, sort_keys=True) + "\n")


@contextlib.contextmanager
def _locked():
    """Held while reading, measuring and writing: a second process starting the same run
    waits for the first's answer instead of measuring alongside it."""
    path = cache_path()
    try:
        import fcntl
        path.parent.mkdir(parents=True, exist_ok=True)
        f = open(path.with_name(path.name + ".lock"), "a")
    except (ImportError, OSError):  # Windows, or a cache folder that cannot be written: no lock
        yield
        return
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cache_lines() -> list[str]:
    """The cached choices, one line each (newest first), for `mnistlab doctor`."""
    entries = read_cache()
    if not entries:
        return [f"no precision choices cached yet in {cache_path()} (the first auto run of a model measures)"]
    out = [f"precision choices cached in {cache_path()}:"]
    for key, e in sorted(entries.items(), key=lambda kv: kv[1].get("measured", ""), reverse=True):
        out.append(f"  {e['precision']}  {e.get('what', '?')}: {describe(e)}, measured {e['measured']} [{key}]")
    return out
