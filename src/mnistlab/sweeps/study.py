"""The one storage layer of every Optuna study mnistlab keeps: `tune`, `search` and grid
sweeps shared over processes and machines (`sweep --storage`).

    storage = open_storage(url, study_dir)   # SQLite in study_dir by default, or any RDB URL
    shown = redact(url)                      # the URL with its password hidden, for messages

A study lives in the storage, not in a process: any number of processes (on any number of
machines, with a server database such as PostgreSQL) that open the same URL and study name
share its trials. Heartbeats let a study mark the trials of a killed process as failed.
"""
from __future__ import annotations

import importlib.util
import random
import time
import warnings
from pathlib import Path

from mnistlab.errors import MnistlabError
from mnistlab.sweeps.locks import file_lock

# A running trial records a heartbeat this often; one silent for GRACE_SECONDS is taken
# as the trial of a killed process (failed, so its work is handed out again).
HEARTBEAT_SECONDS = 60
GRACE_SECONDS = 180


def default_url(study_dir: Path) -> str:
    return f"sqlite:///{(Path(study_dir) / 'study.db').resolve()}"


def open_storage(url: str | None, study_dir: Path):
    """An Optuna RDBStorage: SQLite in `study_dir` by default, or any RDB URL."""
    import optuna

    url = with_installed_driver(url or default_url(study_dir))
    if url.startswith("sqlite"):
        # several processes share one file: wait for the write lock instead of failing
        engine_kwargs = {"connect_args": {"timeout": 60}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    # Processes that start together race to create the tables of a new database ("table
    # ... already exists"): the loser simply tries again, and finds them made.
    for attempt in range(4):
        try:
            with storage_lock(url), warnings.catch_warnings():
                # heartbeats are "experimental" in Optuna; nothing for the user to act on
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs,
                                                  heartbeat_interval=HEARTBEAT_SECONDS,
                                                  grace_period=GRACE_SECONDS)
        except ImportError:
            raise MnistlabError(f"storage '{redact(url)}' needs a database driver that is not "
                                "installed; for PostgreSQL: pip install \"psycopg[binary]\"") from None
        except Exception as err:  # noqa: BLE001 - SQLAlchemy/driver errors: one line for the user
            if attempt < 3 and _is_creation_race(err):
                time.sleep(0.2 + random.random())
                continue
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise MnistlabError(f"cannot open storage '{redact(url)}': {first}") from None


def redact(url: str) -> str:
    """A database URL with its password hidden, for messages and logs."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # not a URL (e.g. a plain path): nothing to hide
        return url


def with_installed_driver(url: str) -> str:
    """postgresql://... means psycopg (3) to SQLAlchemy 2.1; use psycopg2 when only it is there."""
    if url.startswith("postgresql://") and importlib.util.find_spec("psycopg") is None \
            and importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def lock_path(url: str) -> str | None:
    """The lock file that makes one process at a time create an SQLite study's tables or pop
    its trial (SQLite ignores SELECT FOR UPDATE); None for a server database, which locks
    rows itself."""
    path = url.split(":///", 1)[1] if url.startswith("sqlite:///") else ""
    return f"{path}.lock" if path and path != ":memory:" else None


def check_data(study, identities, where: str, fix: str) -> None:
    """A study records the data its trials train on (user attribute `data`: reference and
    content sha256 of each dataset); other data is refused in one line, so no process ever
    reads another dataset's trials as its own. A study with trials but no record (an older
    mnistlab) is refused too: what it trained on is unknown."""
    new = sorted({i.sha256: i.record() for i in identities}.values(), key=lambda r: r["sha256"])
    have = study.user_attrs.get("data")
    if have is None:
        if study.get_trials(deepcopy=False):
            raise MnistlabError(f"{where} holds trials whose data was not recorded (made by an older "
                                f"mnistlab), so they may be another dataset's; {fix}")
        study.set_user_attr("data", new)
        return
    if sorted(r.get("sha256") for r in have) != [r["sha256"] for r in new]:
        shown = lambda recs: ", ".join(f"{r.get('dataset')} (sha256 {str(r.get('sha256'))[:12]})"  # noqa: E731
                                       for r in recs)
        raise MnistlabError(f"{where} was run on {shown(have)}, this data is {shown(new)}; {fix}")


def _is_creation_race(err: Exception) -> bool:
    text = str(err).lower()
    return any(s in text for s in ("already exists", "duplicate key", "unique constraint",
                                   "database is locked"))


def storage_lock(url: str):
    """file_lock on lock_path(url) for an SQLite file; nothing for a server database."""
    import contextlib
    path = lock_path(url)
    return file_lock(path) if path is not None else contextlib.nullcontext()


def optimize(st, objective, **kwargs) -> None:
    """st.optimize(objective, catch=(Exception,), ...) — a crashing trial is recorded as FAIL
    and the study goes on — except for a file that cannot be written (a full or read-only
    disk): it would fail every trial after it, so the study stops and its one line is raised."""
    from mnistlab.io import FileWriteError
    stopped: list[FileWriteError] = []

    def guarded(trial):
        try:
            return objective(trial)
        except FileWriteError as err:
            stopped.append(err)
            trial.study.stop()
            raise

    st.optimize(guarded, catch=(Exception,), **kwargs)
    if stopped:
        err = stopped[0]
        raise FileWriteError(err.problem, f"the study stopped: {err.remedy}, then run the same command again "
                             "(its finished trials are kept in the study)", path=err.path, errno_=err.errno,
                             remedy=err.remedy)
