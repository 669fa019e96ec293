"""Package names that load on first use (PEP 562), so that `mnistlab --help` and the CLI's
command registration start without torch, numpy or matplotlib."""
from __future__ import annotations

import importlib


def lazy_names(package: str, api: dict[str, str]):
    """(`__getattr__`, `__all__`) for `package`, whose public names live in the modules `api` maps them to."""
    def __getattr__(name: str):
        if name in api:
            return getattr(importlib.import_module(api[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return __getattr__, sorted(api)
