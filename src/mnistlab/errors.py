"""User-facing errors: one line that says what is wrong and how to fix it."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class MnistlabError(Exception):
    """An error caused by the user's input. The CLI prints it as one line, no traceback."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
