"""User-facing errors: one line that says what is wrong and how to fix it."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class MnistlabError(Exception):
    """An error caused by the user's input. The CLI prints it as one line, no traceback."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    best = closest(word, choices)
    return f" (did you mean '{best}'?)" if best else ""


def unknown_key_error(key, choices: Iterable[str], where: str, *, name: str | None = None,
                      context: str = "") -> MnistlabError:
    """The one wording of an unknown key, wherever keys are read (recipes, --set, API
    keywords, augment, model specs and layer arguments, sweep files, tune spaces):

        {context}unknown {where} '{name or key}' (did you mean 'x'?); allowed here: a, b, c

    `where` names the kind of key ("recipe key", "argument", "sweep key"), `name` the key as
    the user wrote it when that differs from the bare key (a dotted path like 'data.splt'),
    `context` a prefix that locates it ("layers[2] (dense): ")."""
    choices = [str(c) for c in choices]
    return MnistlabError(f"{context}unknown {where} '{name or key}'{did_you_mean(str(key), choices)}; "
                         f"allowed here: {', '.join(choices) or 'none'}")


def closest(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The choice most similar to `word` (difflib ratio >= cutoff), or None.

    Ties go to the earlier choice: difflib.get_close_matches breaks ties by the larger string,
    so 'nb00-cnn' would suggest 'nb003-cnn' over the equally close, first-listed 'nb000-cnn'.
    """
    word = str(word)
    scored = []
    for i, choice in enumerate(choices):
        m = difflib.SequenceMatcher(None, word, choice)
        if m.real_quick_ratio() >= cutoff and m.quick_ratio() >= cutoff and m.ratio() >= cutoff:
            scored.append((-m.ratio(), i, choice))
    return min(scored)[2] if scored else None


def as_number(value):
    """An int or float as given; a string Python's float() reads ('1e-3', '1E5', '.5', 'inf')
    as a number (int when it spells a whole number without a dot or exponent); else None.

    One rule for every place a number is read (recipes, --set, sweep grids, tune spaces,
    search options, API keywords), so `1e-3` is never "not a number" in one of them.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            return None
    return None


def count_arg(text: str) -> int:
    """argparse type for whole numbers that also takes float spellings of them ('6e3')."""
    import argparse
    value = as_number(text)
    if value is None or not float(value).is_integer():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(value)
