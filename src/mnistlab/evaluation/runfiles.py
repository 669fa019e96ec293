"""What the listing, comparison and report show of a run's plain files (read by mnistlab.runs)."""
from __future__ import annotations

from mnistlab.runs.layout import find_runs, is_run_dir  # noqa: F401
from mnistlab.runs.run import Run, open_run


def read_run(run_dir) -> Run:
    """A run, finished or not, as the listing, compare and the report read it."""
    return open_run(run_dir, finished=False)


def model_name(config: dict) -> str:
    model = config.get("model")
    if isinstance(model, str):
        return model
    if isinstance(model, dict):
        return model.get("name") or f"custom ({len(model.get('layers', []))} layers)"
    return "?"


def last(history: list[dict], key: str):
    for row in reversed(history):
        if row.get(key) is not None:
            return row[key]
    return None
