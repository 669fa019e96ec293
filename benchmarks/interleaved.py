"""Timing several callables side by side: the rounds the micro-benchmarks share."""
from __future__ import annotations

import time


def time_rounds(fns: dict, rounds: int, reps: int) -> dict[str, list[float]]:
    """{name: [seconds per call, one per round]}: each round calls every fn `reps` times back
    to back, the order reversed every other round, so drift on a shared host hits all alike."""
    times = {k: [] for k in fns}
    for r in range(rounds):
        for name in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
            start = time.perf_counter()
            for _ in range(reps):
                fns[name]()
            times[name].append((time.perf_counter() - start) / reps)
    return times
