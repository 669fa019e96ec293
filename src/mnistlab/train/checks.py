"""The value checks every recipe section shares: a number in a range, a flag, one of a few
words. Each failure is one MnistlabError line naming the key as the user wrote it
('callbacks.early_stopping.patience', or 'EarlyStopping.patience' for the object)."""
from __future__ import annotations

import copy
import math

from mnistlab.errors import MnistlabError, as_number, did_you_mean, unknown_key_error


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


def known_keys(defaults: dict, given, where: str, extra_ok=()) -> dict:
    """A copy of `defaults` updated with the mapping `given`, whose keys must be known
    (`extra_ok` names more); an unknown key fails with a did-you-mean."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise MnistlabError(f"'{where}' must be a mapping of keys, got {given!r}")
    allowed = list(defaults) + list(extra_ok)
    for key in given:
        if key not in allowed:
            raise unknown_key_error(key, allowed, "recipe key", name=f"{where}.{key}" if where else str(key))
    return {**copy.deepcopy(defaults), **given}


def section_name(section, names, where: str, default_name=None) -> tuple[str, dict]:
    """(name, the other settings) of a section like {name: adam, lr: ...} or a bare name,
    whose name must be one of `names`."""
    if isinstance(section, str):
        section = {"name": section}
    if isinstance(section, dict) and "name" not in section and default_name:
        section = {"name": default_name, **section}
    if not isinstance(section, dict) or "name" not in section:
        raise MnistlabError(f"'{where}' needs a name: one of {', '.join(names)}, got {section!r}")
    section = dict(section)
    name = str(section.pop("name")).lower()
    if name not in names:
        raise MnistlabError(f"unknown {where} '{name}'{did_you_mean(name, names)}; choose one of {', '.join(names)}")
    return name, section
