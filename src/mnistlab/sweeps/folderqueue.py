"""The local trial queue: the trial folders under SWEEP_DIR/trials/<trial>/ are the record.

A trial is done when its folder holds a finished run (metrics.json), failed when it holds
failed.json; results.csv is rebuilt from the folders after every trial, so a sweep killed
at any point and started again runs only what is missing (a trial killed half-way
continues from the checkpoint of its last finished epoch). trial.json records what the
trial is (values, seed, recipe, data): a folder made by another sweep, recipe or data is
refused, never reused. One process per sweep directory (a lock file).
"""
from __future__ import annotations

import json
from pathlib import Path

from mnistlab.errors import MnistlabError, option
from mnistlab.io import make_dirs
from mnistlab.sweeps import results as R
from mnistlab.sweeps.locks import file_lock


# ---------------------------------------------------------------- one trial's folder

def finished_run(trial_dir: Path) -> Path | None:
    """The finished run in a trial folder (one with metrics.json), or None."""
    done = sorted(p.parent for p in trial_dir.glob("*/metrics.json"))
    return done[-1] if done else None


def status(trial_dir: Path) -> str:
    if finished_run(trial_dir) is not None:
        return "done"
    return "failed" if (trial_dir / "failed.json").exists() else "pending"


def claim_folder(trial, trial_dir: Path) -> None:
    """Record what the trial is; refuse a folder that belongs to a different sweep, recipe
    or dataset (its results are not this trial's)."""
    record = {"id": trial.id, "config": trial.config, "repeat": trial.repeat,
              "seed": trial.seed, "values": trial.values, "recipe": trial.recipe,
              "data": trial.data.record() if trial.data is not None else None}
    marker = trial_dir / "trial.json"
    if marker.exists():
        old = json.loads(marker.read_text())
        new = json.loads(json.dumps(record))
        if (old["values"], old["seed"]) != (new["values"], new["seed"]):
            raise MnistlabError(
                f"{trial_dir} was made by a different sweep ({old['values']}, seed "
                f"{old['seed']}) than this one ({trial.values}, seed {trial.seed}); "
                f"use a new {_new_out()} for a changed sweep file")
        was = trial.data.differs(old.get("data")) if trial.data is not None else None
        if was is not None:
            raise MnistlabError(
                f"{trial_dir} was trained on {was}, this sweep's data is {trial.data}; "
                f"use a new {_new_out()} for other data")
        if {**old, "data": None} != {**new, "data": None}:
            raise MnistlabError(
                f"{trial_dir} was trained from a different base recipe than this sweep's "
                f"(the recipe file changed?); use a new {_new_out()}")
        return
    make_dirs(trial_dir)
    R.write_text_atomic(marker, json.dumps(record, indent=1))


def record_failure(trial_dir: Path, failure: dict) -> None:
    R.write_text_atomic(trial_dir / "failed.json", json.dumps(failure, indent=1))


def columns(sweep) -> list[str]:
    return ["trial", "config", "repeat", "seed", *sweep.keys, "status",
            *R.TRIAL_METRICS, "run_dir", "error"]


def folder_row(trial, trial_dir: Path) -> dict:
    row = {"trial": trial.id, "config": trial.config, "repeat": trial.repeat,
           "seed": trial.seed, **trial.values, "status": status(trial_dir)}
    if row["status"] == "done":
        run = finished_run(trial_dir)
        # relative to the sweep directory, so the folder can be moved as a whole
        row.update(R.trial_metrics(run), run_dir=str(run.relative_to(trial_dir.parent.parent)))
    elif row["status"] == "failed":
        row["error"] = json.loads((trial_dir / "failed.json").read_text())["error"]
    return row


# ---------------------------------------------------------------- the queue

class FolderQueue:
    """The TrialQueue of a sweep directory (see the module docstring)."""

    def __init__(self, sweep, sweep_dir: Path, *, retry_failed: bool):
        self.sweep, self.dir, self.retry_failed = sweep, Path(sweep_dir), retry_failed
        self.trials = sweep.trials()
        self.columns = columns(sweep)
        self._lock = file_lock(self.dir / ".lock", busy=lambda who: f"another `mnistlab sweep` ({who}) is running "
                                                                    f"in {self.dir}; wait for it or use a new {_new_out()}")

    def __enter__(self) -> "FolderQueue":
        self._lock.__enter__()
        try:
            for t in self.trials:
                claim_folder(t, self.folder(t))
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        wanted = {"pending", "failed"} if self.retry_failed else {"pending"}
        self.todo = [t for t in self.trials if status(self.folder(t)) in wanted]
        self._next = iter(self.todo)
        self.of = f"/{len(self.todo)}"
        return self

    def __exit__(self, *exc) -> None:
        self._lock.__exit__(*exc)

    def folder(self, trial) -> Path:
        return self.dir / "trials" / trial.id

    def intro(self) -> str:
        s = self.sweep
        return (f"sweep {s.name}: {len(self.trials)} trials ({len(s.configs)} configurations x "
                f"{len(s.seeds)} repeats), {len(self.trials) - len(self.todo)} already done or "
                f"skipped, {len(self.todo)} to run -> {self.dir}")

    def claim(self):
        return next(self._next, None)

    def finish(self, trial, run: str | None, failure: dict | None) -> dict | None:
        if failure is not None:
            record_failure(self.folder(trial), failure)
            return None
        return R.trial_metrics(Path(run))

    def rows(self) -> list[dict]:
        return [folder_row(t, self.folder(t)) for t in self.trials]


def _new_out() -> str:
    """Another output folder, as the user names it here (`--out directory` / `out= folder`)."""
    return option("out", cli="--out directory", python="out= folder")
