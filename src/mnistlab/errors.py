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
