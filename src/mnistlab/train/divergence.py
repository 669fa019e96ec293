"""Detect a diverged training run, NaN or not, after every epoch.

Rule: an epoch's mean training loss that is not finite, or above 100 x ln(K) for K classes.
ln(K) is the cross-entropy of a uniform guess, where every fresh model starts; a healthy run
goes down from there, and even a badly overfitting or heavily L2-penalised one stays within
a few times it. 100 x ln(K) (230 for 10 classes) means the true class gets on average a
probability below e^-230: the logits have exploded. That is what a too-large learning rate
does (Adam at lr 1e6: loss 4e25, then 6e5, accuracy at chance, never NaN). The threshold is
absolute rather than relative to the first epoch because a run can diverge in its first
epoch already, as that one does.
"""
from __future__ import annotations

import math

FACTOR = 100.0
RULE = "training loss not finite or above 100 x ln(classes)"  # as metrics.json states it


class DivergenceGuard:
    """Plugged into fit after each epoch's training numbers: check() gives the reason or None."""

    def __init__(self, num_classes: int, factor: float = FACTOR):
        self.limit = factor * math.log(max(2, num_classes))
        self.num_classes, self.factor = num_classes, factor

    def check(self, logs: dict) -> str | None:
        loss = logs["loss"]
        if not math.isfinite(loss):
            return f"the training loss became {loss}"
        if loss > self.limit:
            return (f"the training loss {loss:.3g} is over {self.factor:g} x ln({self.num_classes}) = "
                    f"{self.limit:.3g} (a uniform guess scores {self.limit / self.factor:.3g}): the weights exploded")
        return None
