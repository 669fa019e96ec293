"""`mnistlab reproduce NOTEBOOK`: run a notebook's experiments end to end (issue 7)."""
from __future__ import annotations


def register(sub, common) -> None:
    pass
