"""Each file of a run directory: written atomically, read back with a one-line error when damaged.

They are read together, and only, by `runs.run.Run` (open_run), which builds the model only
when asked: a listing of fifty runs reads three small files each.
"""
from __future__ import annotations

import csv
import io
import json
import pickle
import zipfile
from pathlib import Path

import yaml

from mnistlab.errors import MnistlabError
from mnistlab.io import load_yaml, write_atomic
from mnistlab.runs.layout import CHECKPOINT, CONFIG, HISTORY, METRICS, WEIGHTS

HISTORY_KEYS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"]


class DamagedRunFile(MnistlabError):
    """A run file that exists but cannot be read: unlike missing data, no command should
    work around it quietly (the report fails instead of leaving out its evaluation)."""


def _damaged(path: Path, what: str, fix: str) -> MnistlabError:
    return DamagedRunFile(f"{path}: {what}; {fix}")


# ---------------------------------------------------------------- config.yaml, metrics.json

def write_config(run_dir: Path, cfg: dict, notes: dict | None = None) -> None:
    """`notes` (top-level key -> text) become comments at the end of those keys' lines, e.g.
    how `precision: auto` was decided; a comment keeps the file a loadable recipe."""
    text = yaml.safe_dump(cfg, sort_keys=False)
    if notes:
        lines = text.splitlines()
        for i, line in enumerate(lines):
            key = line.partition(":")[0]
            if key in notes and not line.startswith(" "):
                lines[i] = f"{line}  # {' '.join(str(notes[key]).split())}"
        text = "\n".join(lines) + "\n"
    write_atomic(Path(run_dir) / CONFIG, text)


def read_config(run_dir) -> dict:
    path = Path(run_dir) / CONFIG
    try:
        cfg = load_yaml(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise _damaged(path, f"unreadable run file ({err.__class__.__name__})",
                       "the run may have been interrupted; retrain it or restore the file") from None
    if not isinstance(cfg, dict):
        raise _damaged(path, "not a recipe (expected a YAML mapping)", "retrain the run or restore the file")
    return cfg


def write_metrics(run_dir: Path, metrics: dict) -> None:
    write_atomic(Path(run_dir) / METRICS, json.dumps(metrics, indent=2) + "\n")


def read_metrics(run_dir) -> dict:
    """metrics.json, or {} while the run is unfinished."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return {}
    try:
        metrics = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _damaged(path, f"unreadable run file ({err.__class__.__name__})",
                       "the run may have been interrupted; delete metrics.json and resume with "
                       f"`mnistlab train --resume {Path(run_dir)}`") from None
    if not isinstance(metrics, dict):
        raise _damaged(path, "not a metrics object", f"delete it and resume with `mnistlab train --resume {run_dir}`")
    return metrics


# ---------------------------------------------------------------- history.csv

def history_csv(history: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=HISTORY_KEYS, lineterminator="\n")
    w.writeheader()
    for row in history:
        w.writerow({k: ("" if row.get(k) is None else row[k]) for k in HISTORY_KEYS})
    return buf.getvalue()


def write_history(run_dir: Path, history: list[dict]) -> None:
    write_atomic(Path(run_dir) / HISTORY, history_csv(history))


def _number(text):
    if text is None or text.strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def read_history(run_dir) -> list[dict]:
    """One dict per epoch (numbers, or None where a value was not recorded); [] when absent."""
    path = Path(run_dir) / HISTORY
    if not path.is_file():
        return []
    try:
        with open(path, newline="") as f:
            rows = [{k: _number(v) for k, v in row.items() if k is not None} for row in csv.DictReader(f)]
    except (csv.Error, UnicodeDecodeError) as err:
        raise _damaged(path, f"unreadable run file ({err.__class__.__name__})", "restore it or retrain the run") from None
    for row in rows:
        if isinstance(row.get("epoch"), float):
            row["epoch"] = int(row["epoch"])
    return rows


# ---------------------------------------------------------------- weights and checkpoint

def save_weights(model, run_dir: Path) -> None:
    from safetensors.torch import save
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    write_atomic(Path(run_dir) / WEIGHTS, save(state))


def load_weights(model, run_dir) -> None:
    """Weights into `model` (safetensors: no code runs); one line when the file is damaged."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    path = Path(run_dir) / WEIGHTS
    if not path.is_file():
        raise _damaged(path, "missing", f"the run did not finish; resume it with `mnistlab train --resume {run_dir}`")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise _damaged(path, f"not a readable safetensors file ({str(err).splitlines()[0][:80]})",
                       "the file is damaged; retrain the run or restore the file") from None
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise _damaged(path, "its weights do not fit the model in config.yaml",
                       "the two files come from different runs; retrain or restore them") from None


def save_checkpoint(run_dir: Path, checkpoint: dict) -> None:
    import torch
    buf = io.BytesIO()
    torch.save(checkpoint, buf)
    write_atomic(Path(run_dir) / CHECKPOINT, buf.getvalue())


def load_checkpoint(run_dir, map_location=None) -> dict:
    """checkpoint.pt with weights_only=True (never unpickles code); one line when damaged."""
    import torch
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise MnistlabError(f"{run_dir} has no checkpoint.pt to resume from")
    try:
        ck = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise _damaged(path, "holds objects other than tensors and plain data (refused: loading them could "
                             "run code)", "use a checkpoint written by mnistlab, or retrain the run") from None
    except (EOFError, OSError, RuntimeError, zipfile.BadZipFile, ValueError) as err:
        raise _damaged(path, f"empty or truncated ({err.__class__.__name__})",
                       "the file is damaged; retrain the run (the last epochs are lost)") from None
    if not isinstance(ck, dict) or "model" not in ck:
        raise _damaged(path, "not a mnistlab checkpoint", "retrain the run")
    return ck
