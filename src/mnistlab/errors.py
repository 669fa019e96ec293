"""User-facing errors and warnings: one line that says what is wrong and how to fix it,
in the words of the surface the user is on (command-line flags or Python keywords)."""
from __future__ import annotations

import contextlib
import contextvars
import difflib
import warnings
from collections.abc import Iterable


class MnistlabError(Exception):
    """An error caused by the user's input. The CLI prints it as one line, no traceback;
    IPython/Jupyter shows the same line (`%tb` still shows the traceback)."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows what this returns in place of the traceback: a user error is its
        # message, as `mnistlab: error: ...` is on the CLI. %tb asks the same method, and
        # then gets IPython's full traceback (the way back to a bug in mnistlab).
        if _asked_by_tb_magic():
            from IPython import get_ipython
            return get_ipython().InteractiveTB.structured_traceback(type(self), self, self.__traceback__)
        return [f"{type(self).__name__}: {self}"]


def _asked_by_tb_magic() -> bool:
    """True when IPython's %tb magic (IPython.core.magics.execution.tb) is on the stack."""
    import sys
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "tb" and frame.f_globals.get("__name__") == "IPython.core.magics.execution":
            return True
        frame = frame.f_back
    return False


class MnistlabWarning(UserWarning):
    """Something the user should know about their input or results. Shown as one line,
    `mnistlab: warning: ...`, in a terminal and a notebook alike; filter it like any
    warning category (warnings.simplefilter("ignore", mnistlab.MnistlabWarning))."""


# ---------------------------------------------------------------- surface wording

# "python" (the API; the default) or "cli" (set by mnistlab.cli.main for the length of a
# command): which spelling option() gives a setting the user passed
_SURFACE = contextvars.ContextVar("mnistlab_surface", default="python")


@contextlib.contextmanager
def surface(name: str):
    """Word messages for the command line ("cli") or Python ("python") inside the block."""
    token = _SURFACE.set(name)
    try:
        yield
    finally:
        _SURFACE.reset(token)


def option(name: str, value=True, *, cli: str | None = None, python: str | None = None) -> str:
    """A setting as the user spells it where they are: the one wording table of both
    surfaces. option("split", "test") is `--split test` on the command line and
    `split='test'` in Python; a True flag is `--allow-pickle` / `allow_pickle=True`. `cli`
    gives the command-line wording where it is no flag of that name (a recipe key:
    "data.split: [0.9, 0.1] in the recipe"), `python` the Python wording where it is no
    keyword=value ("another out= folder"). Library code names settings only through this,
    never as a literal flag: a Python caller never reads `--out`."""
    if _SURFACE.get() == "cli":
        if cli is not None:
            return cli
        flag = "--" + name.replace("_", "-")
        return flag if value is True else f"{flag} {value}"
    return python if python is not None else f"{name}={value!r}"


def warn(message: str, stacklevel: int = 1) -> None:
    """Issue a MnistlabWarning; `stacklevel` counts from the caller (1: the caller's line),
    so filters by module keep working."""
    warnings.warn(MnistlabWarning(message), stacklevel=stacklevel + 1)


def _one_line(previous):
    def formatwarning(message, category, filename, lineno, line=None):
        if issubclass(category, MnistlabWarning):  # not the machine's paths nor our source
            return f"mnistlab: warning: {message}\n"
        return previous(message, category, filename, lineno, line)
    formatwarning.mnistlab = True
    return formatwarning


# Python formats a warning it shows with warnings.formatwarning (terminal and Jupyter
# kernel alike); this wraps it so that only MnistlabWarning reads differently. Filters and
# showwarning stay untouched, so recording (pytest, catch_warnings) works as before.
if not getattr(warnings.formatwarning, "mnistlab", False):
    warnings.formatwarning = _one_line(warnings.formatwarning)


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
