"""A grid sweep shared through a study storage: `mnistlab sweep FILE --storage URL`.

Every process (on this machine or others) that runs the same sweep file against the same
storage works through one queue of grid x repeats trials, the way `mnistlab tune` shares
a study (the storage is mnistlab.sweeps.study's):

- the first process to arrive puts every trial of the grid in the study as an Optuna
  WAITING trial (user attribute `grid_id`, e.g. "003-r1"; fixed parameter `grid_trial`);
- the study records the data the trials train on (user attribute `data`: reference and
  content sha256); other data is refused, so no process reports another dataset's results;
- a process claims a trial by popping it (Optuna's atomic WAITING -> RUNNING), trains it
  under its own --out directory, and stores the numbers a sweep compares (user attribute
  `metrics`), the run directory and the host;
- results.csv / summary.csv are rebuilt from the storage, so any process sees every
  machine's results;
- started again, a process re-queues what is missing: trials of a killed process (their
  heartbeat stops; Optuna marks them failed) and, unless --no-retry-failed, failed ones.

Two processes that start together may both queue the same missing trial. The copies are
told apart when claimed: the lowest-numbered copy that is waiting or running is the
trial, a higher-numbered copy gives way (it is closed as FAIL with user attribute
`duplicate_of`), and a copy of a trial already complete is not run either. So each trial
is trained once.
"""
from __future__ import annotations

import hashlib
import json
import math
import socket
import threading
import warnings
from pathlib import Path

from mnistlab.errors import MnistlabError
from mnistlab.sweeps import results as R
from mnistlab.sweeps.folderqueue import claim_folder, columns, record_failure
from mnistlab.sweeps.study import HEARTBEAT_SECONDS, check_data, open_storage, redact, storage_lock

GRID_PARAM = "grid_trial"


def fingerprint(trials) -> str:
    """What makes two sweep files the same grid: trial ids, swept values, seeds, recipes and
    the content of their data (not where it lies: one file on two machines is one grid)."""
    text = json.dumps([[t.id, t.values, t.seed, {**t.recipe, "data": {**(t.recipe.get("data") or {}),
                                                                      "dataset": None}},
                        t.data.sha256] for t in trials], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class SharedGrid:
    """The TrialQueue of one sweep's trials in a study storage (see the module docstring)."""

    of = ""  # a shared grid: other processes take some of the trials

    def __init__(self, sweep, trials, storage: str, sweep_dir: Path, *, retry_failed: bool):
        import optuna

        from mnistlab.sweeps.sweepfile import bind_data

        if any(t.data is None for t in trials):
            bind_data(sweep)  # the data each recipe names
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna, self.sweep, self.trials = optuna, sweep, trials
        self.dir, self.columns = Path(sweep_dir), [*columns(sweep), "host"]
        self.by_id = {t.id: i for i, t in enumerate(trials)}
        self.url = storage
        first = sweep.metrics[0]
        direction = "minimize" if ("loss" in first or first in ("train_seconds", "params")) \
            else "maximize"
        self.worst = math.inf if direction == "minimize" else -math.inf
        self.study = optuna.create_study(study_name=sweep.name,
                                         storage=open_storage(storage, sweep_dir),
                                         direction=direction, load_if_exists=True)
        mark = fingerprint(trials)
        have = self.study.user_attrs.get("grid_sha256")
        if have is None and any(t.user_attrs.get("grid_id") is None and "spare" not in t.user_attrs
                                for t in self.study.get_trials(deepcopy=False)):
            raise MnistlabError(f"study '{sweep.name}' in {redact(storage)} is not a grid "
                                "sweep (a tune or search study?); give the sweep another name")
        check_data(self.study, [t.data for t in trials], f"study '{sweep.name}' in {redact(storage)}",
                   "give the sweep another `name:` or use another storage")
        if have is None:
            self.study.set_user_attr("grid_sha256", mark)
        elif have != mark:
            raise MnistlabError(f"study '{sweep.name}' in {redact(storage)} holds a different "
                                "grid (the sweep file or its recipe changed); give the sweep "
                                "another `name:` or use another storage")
        self.running: dict[str, object] = {}  # grid id -> optuna.Trial claimed here
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeats, daemon=True)
        self._beat.start()
        with warnings.catch_warnings():  # "experimental" in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(self.study)  # trials of killed processes
        self._queue_missing(retry_failed)

    # ---------------------------------------------------------------- the TrialQueue

    def __enter__(self) -> "SharedGrid":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def folder(self, trial) -> Path:
        return self.dir / "trials" / trial.id

    def intro(self) -> str:
        s, done = self.sweep, sum(r["status"] == "done" for r in self.rows())
        return (f"sweep {s.name}: {len(self.trials)} trials ({len(s.configs)} configurations x "
                f"{len(s.seeds)} repeats) shared through {redact(self.url)}, {done} done so far; "
                f"running what is left -> {self.dir}")

    def claim(self):
        """The next trial of the grid for this process (its folder claimed), or None when
        every trial is taken."""
        t = self._pop()
        if t is not None:
            claim_folder(t, self.folder(t))
        return t

    def _copies(self) -> dict[str, list]:
        """grid id -> its Optuna trials, given-way copies left out."""
        out: dict[str, list] = {}
        for t in self.study.get_trials(deepcopy=False):
            gid = t.user_attrs.get("grid_id")
            if gid is not None and "duplicate_of" not in t.user_attrs:
                out.setdefault(gid, []).append(t)
        return out

    def _queue_missing(self, retry_failed: bool) -> None:
        S = self.optuna.trial.TrialState
        copies = self._copies()
        for i, t in enumerate(self.trials):
            mine = copies.get(t.id, [])
            if any(c.state in (S.WAITING, S.RUNNING, S.COMPLETE) for c in mine):
                continue
            # a FAIL with an error is a trial that failed; one without, a killed process's
            if not retry_failed and any("error" in c.user_attrs for c in mine):
                continue
            self.study.enqueue_trial({GRID_PARAM: i}, user_attrs={"grid_id": t.id})

    def _pop(self):
        """The next trial of the grid for this process (its sweep Trial), or None when
        every trial is taken."""
        S = self.optuna.trial.TrialState
        while self.study.get_trials(deepcopy=False, states=(S.WAITING,)):
            # Optuna pops a WAITING trial with SELECT ... FOR UPDATE, which SQLite ignores: two
            # processes could both read it as waiting and both run it. On SQLite (one machine)
            # a file lock makes the pop atomic; server databases lock the row themselves.
            with storage_lock(self.url), warnings.catch_warnings():
                # Optuna expects heartbeats with Study.optimize; _heartbeats sends ours
                warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
                trial = self.study.ask()
            gid = trial.user_attrs.get("grid_id")
            if gid is None:  # another process took the last waiting one first
                trial.set_user_attr("spare", True)
                self.study.tell(trial, state=S.FAIL)
                return None
            index = trial.suggest_int(GRID_PARAM, 0, len(self.trials) - 1)
            others = [c for c in self._copies().get(gid, []) if c.number != trial.number]
            if any(c.state == S.COMPLETE or (c.state in (S.WAITING, S.RUNNING)
                                             and c.number < trial.number) for c in others):
                trial.set_user_attr("duplicate_of", gid)
                self.study.tell(trial, state=S.FAIL)
                continue
            self.study._storage.record_heartbeat(trial._trial_id)
            trial.set_user_attr("host", socket.gethostname())
            with self._lock:
                self.running[gid] = trial
            return self.trials[index]
        return None

    def finish(self, t, run: str | None, failure: dict | None) -> dict | None:
        """Store a claimed trial's outcome; returns its metrics (None when it failed)."""
        S = self.optuna.trial.TrialState
        with self._lock:
            trial = self.running.pop(t.id)
        if failure is not None:
            record_failure(self.folder(t), failure)
            trial.set_user_attr("error", failure["error"])
            self.study.tell(trial, state=S.FAIL)
            return None
        metrics = R.trial_metrics(Path(run))
        trial.set_user_attr("metrics", metrics)
        trial.set_user_attr("run_dir", str(Path(run).resolve()))
        value = metrics[self.sweep.metrics[0]]
        self.study.tell(trial, value if math.isfinite(value) else self.worst)
        return metrics

    def close(self) -> None:
        self._stop.set()
        self._beat.join(timeout=5)

    def _heartbeats(self) -> None:
        # while a trial trains, tell the storage this process is alive, so that no other
        # process takes it for the trial of a killed one
        while not self._stop.wait(HEARTBEAT_SECONDS / 2):
            with self._lock:
                ids = [trial._trial_id for trial in self.running.values()]
            for trial_id in ids:
                self.study._storage.record_heartbeat(trial_id)

    # ---------------------------------------------------------------- results

    def rows(self) -> list[dict]:
        """One results.csv row per grid trial, from whatever process ran it."""
        S = self.optuna.trial.TrialState
        copies = self._copies()
        rows = []
        for t in self.trials:
            mine = sorted(copies.get(t.id, []), key=lambda c: c.number)
            done = [c for c in mine if c.state == S.COMPLETE]
            live = [c for c in mine if c.state in (S.RUNNING, S.WAITING)]
            pick = (done or live or mine or [None])[0]
            row = {"trial": t.id, "config": t.config, "repeat": t.repeat, "seed": t.seed,
                   **t.values}
            if pick is None or (pick.state == S.FAIL and "error" not in pick.user_attrs):
                row["status"] = "pending"
            elif pick.state == S.COMPLETE:
                row.update(status="done", **pick.user_attrs.get("metrics", {}),
                           run_dir=pick.user_attrs.get("run_dir"), host=pick.user_attrs.get("host"))
            elif pick.state == S.RUNNING:
                row.update(status="running", host=pick.user_attrs.get("host"))
            elif pick.state == S.WAITING:
                row["status"] = "pending"
            else:
                row.update(status="failed", error=pick.user_attrs.get("error"),
                           host=pick.user_attrs.get("host"))
            rows.append(row)
        return rows
