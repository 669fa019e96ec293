"""The value checks every recipe section shares: a number in a range, a flag, one of a few
words. Each failure is one MnistlabError line naming the key as the user wrote it
('callbacks.early_stopping.patience', or 'EarlyStopping.patience' for the object)."""
from __future__ import annotations

import math

from mnistlab.errors import MnistlabError, as_number, did_you_mean


def number(value, key, *, lo=None, hi=None, integer=False, allow_none=False, above=None):
    """A finite number (int when `integer`) within [lo, hi] (and > `above`); '1e-3' counts."""
    if value is None and allow_none:
        return None
    n = as_number(value)  # '1e-3' from an API keyword is a number too
    ok = n is not None and math.isfinite(n)
    if ok and integer:
        ok = float(n).is_integer()
    if ok and lo is not None:
        ok = n >= lo
    if ok and hi is not None:
        ok = n <= hi
    if ok and above is not None:
        ok = n > above
    if not ok:
        if above is not None:
            rng = f" > {above}" + (f" and <= {hi}" if hi is not None else "")
        elif hi is not None:
            rng = f" in [{lo}, {hi}]"
        else:
            rng = f" >= {lo}" if lo is not None else ""
        kind = "an integer" if integer else "a number"
        raise MnistlabError(f"'{key}' must be {kind}{rng}{' or null' if allow_none else ''}, got {value!r}")
    return int(n) if integer else float(n)


def flag(value, key) -> bool:
    if not isinstance(value, bool):
        raise MnistlabError(f"'{key}' must be true or false, got {value!r}")
    return value


def choice(value, key, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        hint = did_you_mean(str(value), choices)
        raise MnistlabError(f"'{key}' must be one of {', '.join(choices)}{hint}, got {value!r}")
    return value
