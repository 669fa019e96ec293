"""The timing probe that the `auto` speed settings which depend on the model share
(`precision: auto`, train/precision.py; `kernels: auto`, train/kernels.py): two settings
timed on this run's own training step, the faster kept only by a margin, the answer cached.

- on a deep copy of the model with its own optimiser, batch split and generators, the global
  RNG forked and restored: the run itself draws the same numbers with or without the probe;
- on the run's own training images (random data misleads: pooling and ReLU run faster on real
  MNIST batches), through `train_epoch`, i.e. the real forward, loss, backward and optimiser
  step at the run's batch size, channels_last and thread count; augmentation is left out (it
  runs before the step and costs the same either way);
- interleaved: a warm-up of both, then ROUNDS rounds of single steps alternating between
  the two settings, each round keeping each one's fastest step (a neighbour's load only
  adds time), so load hits both alike and bursts drop out;
- with a margin: the candidate (bf16; the fused tail) only when the median per-round time
  ratio candidate/base is MARGIN below 1 and it was faster in all rounds but one (a
  neighbour's burst can spoil one); else the base (fp32; torch's ops).

Each answer is cached in the user cache (one JSON file per setting, written atomically, under
a lock so two processes starting at once measure once), keyed by everything that changes the
step's speed (`step_parts`, plus what each setting adds), so two identical commands train the
same way. `mnistlab doctor` lists the caches and re-measures on request.
"""
from __future__ import annotations

import contextlib
import copy
import datetime
import hashlib
import json
import statistics
import time
from pathlib import Path

import torch

from mnistlab import hardware, settings
from mnistlab.errors import warn
from mnistlab.io import write_cache
from mnistlab.models.layers import use_kernels
from mnistlab.train.loop import train_epoch
from mnistlab.train.optim import make_optimizer
from mnistlab.train.parallel import BatchSplit

FORMAT = 1
WARMUP_STEPS = 2       # per setting: oneDNN builds its kernels for a shape on first use
ROUNDS = 5
ROUND_SECONDS = 0.15   # per setting and round; sets the steps per round
MAX_STEPS = 16
MARGIN = 0.05          # the candidate must be this much faster (median of the per-round ratios) ...
OUTLIERS = 1           # ... and faster in all rounds but this many (a neighbour's burst)
# The most steps one probe trains (warm-up, the step-count calibration and every round, both
# settings): a run shorter than that would spend longer choosing than training.
PROBE_STEPS = 2 * (WARMUP_STEPS + 1 + ROUNDS * MAX_STEPS)


def too_short(run_steps: int) -> str | None:
    """The config.yaml note of a run too short to be worth timing (its base setting is kept,
    nothing cached), or None: a probe of up to PROBE_STEPS steps pays off only when the run
    trains at least as many."""
    if run_steps >= PROBE_STEPS:
        return None
    return (f"auto: not measured, the run's {run_steps} training steps are fewer than a probe's "
            f"{PROBE_STEPS}")


def decide(base: list[float], candidate: list[float], margin: float = MARGIN, outliers: int = OUTLIERS) -> bool:
    """True (use the candidate) when the median of the per-round ratios candidate/base is at
    most 1 - `margin` and the candidate was faster in all rounds but `outliers` (rounds are
    paired: base[i] and candidate[i] ran back to back, so a ratio cancels the load they shared)."""
    if not base or len(base) != len(candidate):
        return False
    ratios = [c / b for b, c in zip(base, candidate)]
    slower = sum(r >= 1 for r in ratios)
    return statistics.median(ratios) <= 1 - margin and slower <= outliers


def measure(step, options: tuple[str, str], rounds: int = ROUNDS, timer=None) -> tuple[list[float], list[float], int]:
    """Interleaved timings of `step(option, n)` (trains n steps) for options (base, candidate).
    Each round times `steps` single steps of each, alternating (a, b, b, a, ...), and keeps
    each one's fastest: a neighbour's load only ever adds time, so the fastest step of a round
    is the least disturbed. `timer(step, option, n)` -> seconds (`timed`; the tests replace
    it). Returns (base seconds per step per round, candidate's, steps per option per round)."""
    timer = timer or timed
    a, b = options
    for option in options:
        step(option, WARMUP_STEPS)
    one = min(timer(step, a, 1), timer(step, b, 1))
    steps = max(2, min(MAX_STEPS, round(ROUND_SECONDS / max(one, 1e-6))))
    base, candidate = [], []
    for _ in range(rounds):
        times = {a: [], b: []}
        for i in range(steps):
            for option in ((a, b) if i % 2 == 0 else (b, a)):
                times[option].append(timer(step, option, 1))
        base.append(min(times[a]))
        candidate.append(min(times[b]))
    return base, candidate, steps


def timed(step, option: str, n: int) -> float:
    """Seconds for step(option, n)."""
    start = time.perf_counter()
    step(option, n)
    return time.perf_counter() - start


def describe(entry: dict, base: str, candidate: str) -> str:
    """'fp32 24.1 ms vs bf16 20.3 ms per step (bf16/fp32 0.84; best of 8, median of 5 rounds)'."""
    b, c = statistics.median(entry[base]), statistics.median(entry[candidate])
    ratio = statistics.median(y / x for x, y in zip(entry[base], entry[candidate]))
    return (f"{base} {b * 1e3:.1f} ms vs {candidate} {c * 1e3:.1f} ms per step ({candidate}/{base} {ratio:.2f}; "
            f"best of {entry['steps']}, median of {len(entry[base])} rounds)")


# ---------------------------------------------------------------- the run's step, on a copy

def step_parts(cfg: dict, model: torch.nn.Module, input_shape) -> list:
    """What every probe's cache key holds: the machine (CPU model, ISA flags and limits),
    torch's version, the model's structure and parameter shapes, the input shape and
    everything in the recipe that changes the step's cost."""
    m = hardware.machine()
    layout = [(n, tuple(t.shape), str(t.dtype)) for n, t in
              list(model.named_parameters()) + list(model.named_buffers())]
    limits = {k: v for k, v in m.isa_limits.items() if k != "OMP_NUM_THREADS"}  # threads: below
    return [m.cpu, sorted(m.flags), limits, torch.__version__, repr(model), layout, list(input_shape),
            cfg["batch_size"], bool(cfg["channels_last"]), int(cfg["threads"]), int(cfg["batch_split"]),
            cfg["optimizer"]["name"], bool(cfg.get("quantize_aware"))]


def key_of(parts: list) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def step_line(cfg: dict, model: torch.nn.Module) -> str:
    """'nb000-cnn (4,050 params), batch 512, 1 thread, channels_last, rmsprop': what was timed."""
    split = f", batch split {cfg['batch_split']}" if cfg["batch_split"] > 1 else ""
    return (f"{cfg.get('name') or 'model'} ({sum(p.numel() for p in model.parameters()):,} params), batch "
            f"{cfg['batch_size']}, {cfg['threads']} thread{'' if cfg['threads'] == 1 else 's'}{split}"
            f"{', channels_last' if cfg['channels_last'] else ''}, {cfg['optimizer']['name']}")


def probe_step(model, cfg: dict, x: torch.Tensor, y: torch.Tensor, *, configure, penalty, label_smoothing):
    """A `step(option, n)` that trains n steps of a deep copy of `model` on the first images
    of (x, y) (repeated if there are fewer than n batches) with the (precision, kernels path)
    that `configure(option)` gives, plus its clean-up."""
    net = copy.deepcopy(model)
    optimizer = make_optimizer(net.parameters(), cfg["optimizer"])
    split = BatchSplit(net, cfg["batch_split"], 0) if cfg["batch_split"] > 1 else None
    order = torch.Generator().manual_seed(0)
    bs, lr = cfg["batch_size"], cfg["optimizer"]["lr"]

    def step(option: str, n: int) -> None:
        precision, kernels = configure(option)
        use_kernels(net, kernels)
        idx = torch.arange(n * bs, device=x.device) % len(x)
        train_epoch(net, optimizer, x[idx], y[idx], batch_size=bs, generator=order, lr_at=lambda i, k: lr,
                    penalty=penalty, label_smoothing=label_smoothing, precision=precision, split=split)

    return step, (split.close if split is not None else (lambda: None))


def time_both(model, cfg: dict, x, y, *, setting: str, options: tuple[str, str], configure, measure,
              penalty=None, label_smoothing=0.0) -> dict:
    """Time the run's step with both options without touching the run (the global RNG
    forked and restored, the model copied): the cache entry, its `setting` the choice.
    `measure(step)` is `measure` above with the caller's options and timer."""
    step, close = probe_step(model, cfg, x, y, configure=configure, penalty=penalty,
                             label_smoothing=label_smoothing)
    start = time.perf_counter()
    try:
        with torch.random.fork_rng(devices=[]):
            base, candidate, steps = measure(step)
    finally:
        close()
    a, b = options
    return {setting: b if decide(base, candidate) else a, a: [round(t, 5) for t in base],
            b: [round(t, 5) for t in candidate], "steps": steps, "margin": MARGIN,
            "probe_seconds": round(time.perf_counter() - start, 2),
            "measured": datetime.datetime.now().isoformat(timespec="seconds")}


# ---------------------------------------------------------------- the cache files

class ChoiceCache:
    """One setting's cached choices in the user cache: {"format": 1, "choices": {key: entry}},
    each entry holding the choice under the setting's name, the timings, and "what" and
    "measured" for people. A damaged or foreign file warns once and counts as empty."""

    def __init__(self, name: str, setting: str):
        self.name, self.setting = name, setting

    @property
    def path(self) -> Path:
        return settings.cache_dir() / self.name

    def read(self) -> dict:
        """key -> entry; a damaged or foreign file warns and counts as empty (re-measured)."""
        path = self.path
        if not path.is_file():
            return {}
        try:
            data = json.loads(path.read_text())
            if data.get("format") != FORMAT or not isinstance(data.get("choices"), dict):
                raise ValueError("unknown format")
            return data["choices"]
        except (ValueError, OSError, AttributeError) as err:
            warn(f"{path} is unreadable ({err}); {self.setting} auto measures again and rewrites it")
            return {}

    def write(self, entries: dict) -> None:
        # a cache: one that cannot be written (full or read-only disk) costs the next run a measurement
        write_cache(self.path, json.dumps({"format": FORMAT, "choices": entries}, indent=1, sort_keys=True) + "\n")

    @contextlib.contextmanager
    def locked(self):
        """Held while reading, measuring and writing: a second process starting the same run
        waits for the first's answer instead of measuring alongside it."""
        path = self.path
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

    def choose(self, key: str, what: str, measure_run, describe_entry, remeasure: bool = False) -> tuple[str, str]:
        """(the choice, how it was made): the cached entry for `key`, or `measure_run()`'s
        fresh one (then cached)."""
        with self.locked():
            entries = self.read()
            entry = entries.get(key)
            if entry is not None and not remeasure:
                return entry[self.setting], f"cached: {describe_entry(entry)}, {entry['measured'][:10]}"
            entry = {"what": what, **measure_run()}
            entries[key] = entry
            self.write(entries)
        return entry[self.setting], f"measured: {describe_entry(entry)}"

    def lines(self, describe_entry) -> list[str]:
        """The cached choices, one line each (newest first), for `mnistlab doctor`."""
        entries = self.read()
        if not entries:
            return [f"no {self.setting} choices cached yet in {self.path} (the first auto run of a model measures)"]
        out = [f"{self.setting} choices cached in {self.path}:"]
        for key, e in sorted(entries.items(), key=lambda kv: kv[1].get("measured", ""), reverse=True):
            out.append(f"  {e[self.setting]}  {e.get('what', '?')}: {describe_entry(e)}, measured {e['measured']} [{key}]")
        return out
