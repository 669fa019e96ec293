"""The seeds' printed per-epoch logs, as data: parsed once from the seed notebooks' text and
committed beside this module as seed_epochs.json, which the package reads.

Keras prints one line per epoch (`Epoch 3/10 ... - loss: 0.1717 - accuracy: 0.9499 -
val_loss: 0.1574 - val_accuracy: 0.9527`); the seeds' PDF-to-text copies break those lines,
split them across code fences, escape underscores (`val\\_loss`) and spell accuracy `acc` in
Keras 2 (notebook 001). `parse` reads each "Epoch k/N" block up to the next one and keeps the
first value of each of the four numbers in it (after the last epoch the block can run on into
an `evaluate` line with its own loss and accuracy, which come later).

Which printed log is which reproduce row, in the order the seed prints them, is `ROWS`. Run
`python -m mnistlab.reproduce.seedlogs ../shared/seeds` to parse the seeds again and rewrite
seed_epochs.json (tests/unit/test_reproduce_seedlogs.py checks the committed file against the
seeds when they are present).
"""
from __future__ import annotations

import json
import re
import sys
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).with_name("seed_epochs.json")
KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")   # mnistlab's history.csv names
_KERAS2 = {"acc": "accuracy", "val_acc": "val_accuracy"}     # notebook 001's Keras 2 names
# notebook -> the reproduce rows whose training logs it printed, in the order printed
# (002 printed no epochs, 003's 500-300 MLP and L2 sweep ran with verbose=0)
ROWS = {"000": ["cnn"], "001": ["keras-cnn", "elu-cnn"], "003": ["mlp-64-64", "cnn"],
        "004": ["bn-cnn", "resnet"]}

_EPOCH = re.compile(r"^\s*Epoch (\d+)/(\d+)\s*$")
_VALUE = re.compile(r"\b(val_loss|val_accuracy|val_acc|loss|accuracy|acc):\s*([0-9]+\.[0-9]+)")


def parse(text: str) -> list[dict]:
    """Every printed training log in `text`: [{"epochs": N, "first_line": L, "log": [{"epoch":
    1, "loss": ..., ...}, ...]}], in order. Line numbers count from 1."""
    lines = text.replace("\\_", "_").splitlines()
    heads = [(i, int(m[1]), int(m[2])) for i, line in enumerate(lines) if (m := _EPOCH.match(line))]
    logs: list[dict] = []
    for j, (i, k, n) in enumerate(heads):
        end = heads[j + 1][0] if j + 1 < len(heads) else len(lines)
        # the PDF's code fences can cut an epoch's line in two: drop them before joining
        block = " ".join(line for line in lines[i + 1:end] if not line.strip().startswith("```"))
        values: dict[str, float] = {}
        for name, number in _VALUE.findall(block):
            values.setdefault(_KERAS2.get(name, name), float(number))
        missing = [key for key in KEYS if key not in values]
        if missing:
            raise ValueError(f"line {i + 1}: epoch {k}/{n} prints no {', '.join(missing)}")
        if k == 1:
            logs.append({"epochs": n, "first_line": i + 1, "log": []})
        if not logs or logs[-1]["epochs"] != n or len(logs[-1]["log"]) != k - 1:
            raise ValueError(f"line {i + 1}: epoch {k}/{n} out of order")
        logs[-1]["log"].append({"epoch": k, **{key: values[key] for key in KEYS}})
    return logs


def parse_seeds(folder: Path) -> dict:
    """{nb: {row: {"seed_file", "first_line", "log"}}} for every notebook in ROWS."""
    out: dict = {}
    for nb, rows in ROWS.items():
        path, = sorted(Path(folder).glob(f"{nb}_*.txt"))
        logs = parse(path.read_text(encoding="utf-8"))
        if len(logs) != len(rows):
            raise ValueError(f"{path.name}: {len(logs)} training logs, expected {len(rows)} ({rows})")
        out[nb] = {row: {"seed_file": path.name, "first_line": log["first_line"], "log": log["log"]}
                   for row, log in zip(rows, logs)}
    return out


@lru_cache(maxsize=None)
def _load() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


def seed_log(nb: str, row: str) -> dict | None:
    """The seed's printed log of one reproduce row ({"seed_file", "first_line", "log": [per
    epoch: epoch, loss, accuracy, val_loss, val_accuracy]}), or None when it printed none."""
    entry = _load().get(nb, {}).get(row)
    return None if entry is None else json.loads(json.dumps(entry))  # a copy: callers may edit


def rows_with_logs(nb: str) -> list[str]:
    return list(_load().get(nb, {}))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m mnistlab.reproduce.seedlogs SEEDS_FOLDER  (rewrites "
              f"{DATA.name})", file=sys.stderr)
        return 2
    data = parse_seeds(Path(argv[0]))
    DATA.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    for nb, rows in data.items():
        for row, entry in rows.items():
            print(f"{nb} {row}: {len(entry['log'])} epochs from {entry['seed_file']} "
                  f"line {entry['first_line']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
