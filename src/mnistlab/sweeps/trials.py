"""Training the trials a queue hands out: in this process, or in worker processes that
share the cores. Each trial is a normal run made by `mnistlab.train.train_run` in its trial folder.
"""
from __future__ import annotations

import os
import shutil
import time
import traceback
import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

_worker_dataset = None


def _init_worker(threads: int, dataset) -> None:
    """Runs once in each worker process: share the cores, keep the dataset in memory."""
    import torch

    global _worker_dataset
    torch.set_num_threads(threads)
    _worker_dataset = dataset


def _pool_trial(recipe, trial_dir: str):
    """run_trial in a worker process, its warnings handed back instead of printed: a worker
    would print Python's raw `file:line: UserWarning:` lines, once in every worker. The
    parent shows each message once, through the CLI's one-line format."""
    with warnings.catch_warnings(record=True) as caught:
        run, failure = run_trial(recipe, trial_dir)
    seen = {}
    for w in caught:
        seen.setdefault(str(w.message), w.category)
    return run, failure, list(seen.items())


def run_trial(recipe, trial_dir: str, quiet: bool = True) -> tuple[str | None, dict | None]:
    """Train one trial with `mnistlab.train.train_run`; (run_dir, None) or (None, error record).
    Any exception is caught and recorded so that one bad trial does not stop the others."""
    from mnistlab.io import FileWriteError
    from mnistlab.train import train_run

    trial_dir = Path(trial_dir)
    (trial_dir / "failed.json").unlink(missing_ok=True)
    # A run killed before metrics.json keeps the checkpoint of its last epoch: continue it.
    # Anything else unfinished (a hidden .partial folder, a second leftover) is removed.
    partial = None
    for leftover in sorted(p for p in trial_dir.iterdir() if p.is_dir()):
        if (leftover / "metrics.json").exists():
            continue
        if (partial is None and not leftover.name.startswith(".")
                and (leftover / "checkpoint.pt").exists() and (leftover / "config.yaml").exists()):
            partial = leftover
        else:
            shutil.rmtree(leftover)
    try:
        if partial is not None:
            try:
                run = train_run(dataset=_worker_dataset, resume=partial, quiet=quiet)
                return str(run), None
            except FileWriteError:
                raise  # the disk, not the trial: keep its checkpoint for the next try
            except Exception:  # noqa: BLE001 - cannot continue it: train it from the start
                shutil.rmtree(partial, ignore_errors=True)
        run = train_run(recipe, dataset=_worker_dataset, out=trial_dir, quiet=quiet)
        return str(run), None
    except FileWriteError:
        raise  # a full or read-only disk fails every trial after it: stop the sweep with its line
    except Exception as err:  # noqa: BLE001 - recorded per trial, see docstring
        msg = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return None, {"error": f"{type(err).__name__}: {msg}" if msg else type(err).__name__,
                      "traceback": traceback.format_exc()}


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """The cores divided between the worker processes (at least one thread each)."""
    return max(1, (cores or cpu_cores()) // workers)


def run_here(claim, trial_dir, dataset, record) -> None:
    """Train the trials `claim()` hands out one after the other in this process, until it
    returns None; `record(trial, run, failure, seconds)` after each."""
    global _worker_dataset
    _worker_dataset = dataset
    try:
        while (t := claim()) is not None:
            start = time.perf_counter()
            run, failure = run_trial(t.checked, str(trial_dir(t)))
            record(t, run, failure, time.perf_counter() - start)
    finally:
        _worker_dataset = None


def run_in_pool(claim, trial_dir, workers: int, dataset, record) -> None:
    """At most `workers` trials in flight, taken from `claim()` until it returns None,
    so a worker that dies (e.g. out of memory) costs only the trials it was running: those
    are recorded as failed and a new pool goes on."""
    import multiprocessing as mp

    threads = threads_per_worker(workers)
    # fresh processes (never a fork of this one); a fork server imports torch and the
    # training code once for all of them. Not torch._dynamo: our optimisers avoid it
    # (mnistlab.train.optim), so a trial never needs it.
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["torch", "mnistlab.train.training"])
    else:
        ctx = mp.get_context("spawn")
    exhausted = False
    warned: set[str] = set()
    while not exhausted:
        with ProcessPoolExecutor(workers, mp_context=ctx,
                                 initializer=_init_worker, initargs=(threads, dataset)) as pool:
            running: dict = {}
            try:
                while True:
                    while not exhausted and len(running) < workers:
                        t = claim()
                        if t is None:
                            exhausted = True
                            break
                        fut = pool.submit(_pool_trial, t.checked, str(trial_dir(t)))
                        running[fut] = (t, time.perf_counter())
                    if not running:
                        break
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in done:
                        t, start = running[fut]
                        run, failure, caught = fut.result()  # BrokenProcessPool if a worker died
                        del running[fut]
                        for message, category in caught:
                            if message not in warned:  # once per sweep, not once per worker
                                warned.add(message)
                                warnings.warn(message, category, stacklevel=1)
                        record(t, run, failure, time.perf_counter() - start)
            except BrokenProcessPool:
                for t, start in running.values():
                    record(t, None, {"error": "the worker process died (out of memory?)",
                                     "traceback": ""}, time.perf_counter() - start)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
