"""CLI commands of this package (registered by mnistlab.cli)."""
from __future__ import annotations


def register(sub, common) -> None:
    """Add this package's subcommands: sub.add_parser(NAME, parents=[common], help=...)."""
