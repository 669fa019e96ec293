"""Read the plain files of a run directory (Contract 4) without building the model.

`mnistlab runs`, `compare` and the report need only config.yaml, history.csv and
metrics.json; loading weights for a listing of fifty runs would be wasted time.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mnistlab.errors import MnistlabError
from mnistlab.io import load_yaml


@dataclass
class RunFiles:
    dir: Path
    config: dict
    history: list[dict] = field(default_factory=list)   # one dict per epoch, numbers or None
    metrics: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def classes(self) -> list[str] | None:
        return self.metrics.get("classes")


def _number(text: str):
    if text is None or text.strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def read_history(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def is_run_dir(path: Path) -> bool:
    return (Path(path) / "config.yaml").is_file()


def read_run(run_dir) -> RunFiles:
    """config.yaml (required), history.csv and metrics.json (empty while a run is unfinished)."""
    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise MnistlabError(f"{run_dir} is not a run directory (no config.yaml in it); "
                            "pass a folder written by `mnistlab train`, e.g. runs/<timestamp>-<name>")
    try:
        config = load_yaml((run_dir / "config.yaml").read_text()) or {}
        metrics_path = run_dir / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    except (yaml.YAMLError, json.JSONDecodeError) as err:
        raise MnistlabError(f"{run_dir}: unreadable run file ({err.__class__.__name__}: "
                            f"{str(err).splitlines()[0]}); the run may have been interrupted") from None
    return RunFiles(run_dir, config, read_history(run_dir / "history.csv"), metrics)


def find_runs(root) -> list[Path]:
    """Run directories at `root` itself or directly below it, oldest name first."""
    root = Path(root)
    if not root.is_dir():
        raise MnistlabError(f"{root} is not a directory; pass the folder holding your runs (default: runs)")
    if is_run_dir(root):
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and is_run_dir(p))


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
