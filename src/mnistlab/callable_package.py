"""Subpackages whose name is also a public function: `mnistlab.evaluate`, `mnistlab.sweep`.

Importing a subpackage makes Python bind `mnistlab.<name>` to it, replacing a function of
that name ("'module' object is not callable"). So the subpackage itself is made callable:
calling it calls the public function in mnistlab.api, whatever was imported before, while
`import mnistlab.evaluate.report` and `from mnistlab.sweep import grid` keep working.
"""
from __future__ import annotations

import importlib
import sys
import types


def _target(module):
    return getattr(importlib.import_module("mnistlab.api"), module.__name__.rsplit(".", 1)[1])


class CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return _target(self)(*args, **kwargs)

    @property
    def __signature__(self):
        import inspect  # only when asked (help(), IDEs): the CLI imports this package at start
        return inspect.signature(_target(self))


def make_callable(name: str) -> None:
    """Turn the (already imported) module `name` into a CallablePackage."""
    sys.modules[name].__class__ = CallablePackage
