"""Models: architecture specs in Keras vocabulary, Keras-exact summaries, the notebooks' zoo.

    build(spec) -> nn.Module        float NCHW in [0, 1] -> logits
    summary(spec) -> Summary        str() prints a Keras-style table; .to_dict() for JSON
    count_params, check_budget, l2_penalty, resolve_spec, list_models, ZOO

spec, costs (summary, counts, budgets) and zoo do not need torch and are imported here;
the torch parts load on first use.
"""
from __future__ import annotations

import importlib

from mnistlab.models.spec import resolve_spec
from mnistlab.models.costs import Summary, check_budget, count_params, list_models, summary
from mnistlab.models.zoo import ZOO

_TORCH_API = {"build", "l2_penalty", "Net"}  # defined in mnistlab.models.layers

__all__ = sorted(["resolve_spec", "Summary", "check_budget", "count_params", "summary",
                  "ZOO", "list_models", *_TORCH_API])


def __getattr__(name: str):
    if name in _TORCH_API:
        return getattr(importlib.import_module("mnistlab.models.layers"), name)
    raise AttributeError(f"module 'mnistlab.models' has no attribute {name!r}")
