"""Is a reproduced number within the run-to-run spread of the notebook's? One rule, stated once.

A row is "within" when |ours - notebook| <= max(2 std, floor): two sample standard deviations
of our seeds (a notebook number that one of our seeds could have produced), but never tighter
than a floor, because a notebook reports one run whose own spread we cannot see. Accuracy's
floor is 0.3 percentage points; a loss's is 10% of the notebook's loss (losses differ by scale
between notebooks, accuracies do not). With one seed there is no std: the floor alone decides,
and the verdict says n=1.
"""
from __future__ import annotations

ACC_FLOOR_PP = 0.3          # percentage points
LOSS_FLOOR_REL = 0.10       # fraction of the notebook's loss

ACC_RULE = f"|ours - notebook| <= max(2 std, {ACC_FLOOR_PP} pp)"
LOSS_RULE = f"|ours - notebook| <= max(2 std, {LOSS_FLOOR_REL:.0%} of the notebook's loss)"


def tolerance(std: float | None, floor: float) -> float:
    """max(2 std, floor); the floor alone without a std (n=1)."""
    return floor if std is None else max(2.0 * std, floor)


def within(ours: float, notebook: float, std: float | None, floor: float) -> bool:
    # a hair of slack so that a difference equal to the tolerance, up to float rounding, passes
    return abs(ours - notebook) <= tolerance(std, floor) + 1e-12


def accuracy_verdict(mean: float | None, notebook: float | None, std: float | None, n: int) -> str | None:
    """'within' / 'OUTSIDE' (+ ' (n=1)'), on accuracies as fractions; None when nothing to compare."""
    if mean is None or notebook is None:
        return None
    ok = within(100 * mean, 100 * notebook, None if std is None else 100 * std, ACC_FLOOR_PP)
    return _word(ok, n)


def range_verdict(mean: float | None, low: float, high: float, std: float | None, n: int) -> str | None:
    """A notebook that gives a range in words ("around 50-60%"): within when ours lies in it,
    widened by the same tolerance as a single number."""
    if mean is None:
        return None
    tol = tolerance(None if std is None else 100 * std, ACC_FLOOR_PP)
    return _word(100 * low - tol - 1e-12 <= 100 * mean <= 100 * high + tol + 1e-12, n)


def range_diff_pp(mean: float | None, low: float, high: float) -> float | None:
    """Percentage points from the range's nearer end (0 inside it)."""
    if mean is None:
        return None
    return 100 * (min(0.0, mean - low) + max(0.0, mean - high))


def loss_verdict(mean: float | None, notebook: float | None, std: float | None, n: int) -> str | None:
    if mean is None or notebook is None:
        return None
    return _word(within(mean, notebook, std, LOSS_FLOOR_REL * abs(notebook)), n)


def _word(ok: bool, n: int) -> str:
    return ("within" if ok else "OUTSIDE") + (" (n=1)" if n == 1 else "")
