"""train_run(): a Recipe and a Dataset in, a run directory out (Contract 4, written through mnistlab.runs).

Read it top to bottom: set-up -> maybe resume -> epoch loop -> finish. The pieces it calls
(`Session` for everything built from the recipe, `checkpoint`/`restore` for the resumable
state) live below it; the run directory's files belong to mnistlab.runs.
"""
from __future__ import annotations

import contextlib
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from mnistlab.errors import MnistlabError, option
from mnistlab.io import FileWriteError, writable_dir
from mnistlab.runs import files, layout
from mnistlab.runs.lock import RunLock
from mnistlab.train.callback import Callback, CallbackList, as_callbacks
from mnistlab.train.callbacks import fold_callbacks
from mnistlab.train.divergence import RULE, DivergenceGuard
from mnistlab.train.loop import Timer, epoch_values, progress_bar, train_epoch
from mnistlab.train.recipe import Recipe, load_recipe
from mnistlab.train.session import Session, pick_device


class Diverged(MnistlabError):
    """Training diverged; the run (when there is one) is kept, evaluated and marked so."""

    def __init__(self, message: str, run_dir):
        super().__init__(message)
        self.run_dir = run_dir


@dataclass
class Progress:
    """What a checkpoint holds besides the weights, optimiser and RNG states."""
    epoch: int = 0                 # epochs finished
    history: list = field(default_factory=list)
    train_seconds: float = 0.0
    stopped: bool = False          # early stopping ended training


def train_run(recipe=None, *, dataset=None, out="runs", quiet=False, resume=None, callbacks=None,
               epochs=None, threads=None, device=None, model=None) -> Path:
    """Train a recipe (Recipe, dict or YAML path) and write a run directory; returns its path.

    `dataset` (a mnistlab.data.Dataset) replaces the recipe's data source. `resume` is an
    unfinished run directory to continue (its config.yaml is the recipe). `callbacks` (a list,
    or one) are Keras-style callbacks (train/callback.py: one CallbackList, Keras' order and
    stop_training); an EarlyStopping, ReduceLROnPlateau or ModelCheckpoint among them is
    recorded in the recipe's callbacks section (config.yaml) and used by the run. The epoch's
    checkpoint is written after on_epoch_end, so a hook that raises leaves the previous epoch
    to resume from. The report is written by the caller (mnistlab.evaluate).

    With `resume`: `epochs` larger than the epochs run extends the run, finished or not, as
    calling Keras' fit again would (EarlyStopping starts counting afresh); `threads` and
    `device` change only how it runs. Without `resume` the recipe says all three.
    `model` (a torch nn.Module mapping float (N, C, H, W) in [0, 1] to logits) replaces the
    recipe's architecture; the recipe's model entry then only records what it was.
    A run whose loss diverges (train/divergence.py) keeps its last good epoch, evaluated, with
    `verdict: diverged` in metrics.json, and fit raises `Diverged`.
    One process trains a run at a time: fit holds the run's lock (runs/lock.py) from start to
    end, and a second fit (or `mnistlab train --resume`) of the same run is refused in one line.
    A file that cannot be written (a full disk, a read-only folder) stops training with one
    line (`mnistlab.io.FileWriteError`) that says which checkpoint is intact and how to resume.
    """
    with RunLock() as lock:  # released however fit ends
        return _fit(lock, recipe, dataset=dataset, out=out, quiet=quiet, resume=resume, callbacks=callbacks,
                    epochs=epochs, threads=threads, device=device, model=model)


def _fit(lock: RunLock, recipe, *, dataset, out, quiet, resume, callbacks, epochs, threads,
         device, model) -> Path:
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    if resume is None and (epochs is not None or threads is not None or device is not None):
        raise MnistlabError("epochs, threads and device are recipe keys for a new run "
                            "(load_recipe(..., epochs=N)); as fit() keywords they apply to resume=")
    recipe, run_dir, out = _recipe_and_place(recipe, resume, out, epochs, lock, threads=threads, device=device)
    # EarlyStopping/ReduceLROnPlateau/ModelCheckpoint objects go into the recipe (config.yaml)
    recipe, own, hooks = fold_callbacks(recipe, as_callbacks(callbacks), resume=run_dir is not None)
    work_dir = run_dir or lock.hold(layout.start_partial(out, recipe.name))
    threads_before = torch.get_num_threads()  # restored at the end: fit leaves the process as it found it
    try:
        with contextlib.ExitStack() as cleanup, _sigterm_as_interrupt():
            # ---- set-up: data, model, optimiser, callbacks, all from the recipe
            s = Session(recipe, dataset, cleanup, model=model, callbacks=own, quiet=quiet)
            guard, diverged = DivergenceGuard(len(s.splits.classes)), None
            progress = Progress()
            # One list, every hook in this order (Keras'): the recipe's callbacks, the epoch's
            # checkpoint (their state after the epoch), then the user's
            saved = SaveEpoch(s, progress, work_dir, out, published=run_dir is not None)
            callbacks = CallbackList([s.stopper, s.schedule, s.saver, saved, *hooks], s.model)
            callbacks.on_train_begin()
            if run_dir is not None:  # ---- maybe resume: the callbacks' state comes back too
                vars(progress).update(s.restore(files.load_checkpoint(run_dir, map_location=s.device)))
                # the checkpoint's history is the truth: a failed write can leave history.csv one epoch behind
                files.write_history(run_dir, progress.history)
                if progress.stopped and progress.epoch < s.epochs:  # extended: a new fit, as in Keras
                    progress.stopped = False
                    s.restart_early_stopping()
                say(f"Resuming {run_dir} after epoch {progress.epoch}/{s.epochs}")
            else:
                say(s.start_line())
            try:  # ---- the epoch loop
                while progress.epoch < s.epochs and not progress.stopped:
                    epoch = progress.epoch  # 0-based, as Keras passes it to callbacks
                    callbacks.on_epoch_begin(epoch)
                    row = _one_epoch(s, epoch, quiet)
                    reason = guard.check(row)
                    if reason is not None:
                        diverged = (epoch + 1, reason)
                        if run_dir is None:  # the first epoch: nothing good to keep
                            raise _diverged_error(*diverged, s.cfg, None)
                        break  # the last good checkpoint stays; it is evaluated below
                    progress.history.append(row)
                    progress.train_seconds += row["seconds"]
                    progress.epoch = epoch + 1
                    say(_epoch_line(row, s.epochs))
                    try:
                        stop = callbacks.on_epoch_end(epoch, row)  # saves the checkpoint on the way
                    finally:  # published by the first checkpoint: the run is visible from here on
                        if saved.published:
                            run_dir = work_dir = saved.work_dir
                    if stop:  # a callback set model.stop_training
                        progress.stopped = True
                        say(_stop_line(s.stopper, epoch))
            except KeyboardInterrupt as err:
                _say_interrupted(run_dir, progress.epoch, s.epochs)
                err.run_dir = run_dir  # what to resume (None: nothing saved), for mnistlab.fit's Python line
                raise
            # ---- finish: Keras restores the best weights at the end of training, stopped
            # early or not; the checkpoint keeps the last epoch's state for resuming.
            evaluated = progress.epoch
            if diverged is not None:
                s.model.load_state_dict(files.load_checkpoint(run_dir, map_location=s.device)["model"])
                say(f"Diverged in epoch {diverged[0]}: {diverged[1]}; evaluating epoch {progress.epoch}'s weights")
            callbacks.on_train_end(progress.history[-1] if progress.history else {})
            restored = s.stopper.restored_epoch if s.stopper is not None else None
            if restored is not None:
                evaluated = restored + 1
                say(f"Restored the weights of epoch {evaluated} (best {s.stopper.monitor})")
            test_loss, test_acc = s.test()
            files.save_weights(s.model, run_dir)
            metrics = s.metrics(progress, test_loss, test_acc, evaluated)
            metrics["verdict"] = "ok" if diverged is None else "diverged"
            if diverged is not None:
                metrics["diverged"] = {"epoch": diverged[0], "reason": diverged[1], "rule": RULE}
            files.write_metrics(run_dir, metrics)
            if test_acc is not None:
                say(f"Test loss {test_loss:.4f}, test accuracy {test_acc:.4f}")
            callbacks.on_test_end({"test_loss": test_loss, "test_accuracy": test_acc})
            say(f"Run saved to {run_dir}")
            if diverged is not None:  # after the files: the run is kept, but it is not a success
                raise _diverged_error(*diverged, s.cfg, run_dir)
            return run_dir
    except FileWriteError as err:  # a full disk, a read-only folder: say what is kept, how to go on
        raise _write_failed(err, run_dir) from None
    finally:
        torch.set_num_threads(threads_before)
        if run_dir is None:
            layout.discard_partial(work_dir)  # failed before the first checkpoint


# The name this function had before `mnistlab.fit` (the notebook API, which returns a Run)
# became the one public fit; kept so that code written against mnistlab.train.fit runs.
fit = train_run


def _one_epoch(s: Session, epoch: int, quiet: bool) -> dict:
    """Train one epoch and validate it: the history row."""
    with Timer() as t:
        bar = progress_bar(epoch + 1, s.epochs, s.steps, quiet=quiet, device=s.device)
        try:
            logs = train_epoch(s.net, s.optimizer, s.x_tr, s.y_tr, batch_size=s.cfg["batch_size"],
                               generator=s.order, lr_at=lambda i, n: s.schedule.lr(epoch, i, n),
                               penalty=s.penalty, label_smoothing=s.smoothing, bar=bar, augment=s.augment,
                               precision=s.speed.precision, split=s.split, sync=False)
        finally:
            if bar is not None:
                bar.close()
        val = s.validate()
        loss, acc, val_loss, val_acc = epoch_values(logs.pop("sums"), val)
    return {"epoch": epoch + 1, "loss": loss, "accuracy": acc, "val_loss": val_loss,
            "val_accuracy": val_acc, "lr": logs["lr"], "seconds": t.seconds}


def _recipe_and_place(recipe, resume, out, epochs, lock: RunLock, *, threads=None,
                      device=None) -> tuple[Recipe, Path | None, Path]:
    """(the validated recipe, the run to resume or None, the folder new runs go in).

    The folder is checked before any data loads; a run to resume is locked before it changes.
    A resume's `threads`/`device` go through the Recipe (`replace`: checked once, like every
    value; config.yaml keeps what the run was started with), and the device must exist
    here, all before the run directory changes (an extension rewrites config.yaml)."""
    if resume is None:
        if recipe is None:
            raise MnistlabError("fit() needs a recipe (a Recipe, a dict or a YAML path) or resume=RUN_DIR")
        recipe = load_recipe(recipe)  # threads/device: the recipe's (checked by the caller)
        return recipe, None, writable_dir(out, option("out", str(out)))
    run_dir = lock.hold(layout.require_run(resume))
    if not (run_dir / layout.CHECKPOINT).is_file():
        raise MnistlabError(f"{run_dir} has no checkpoint.pt to resume from")
    config = files.read_config(run_dir)
    # the recorded tail path is kept; a run written before the `kernels` setting trained on
    # torch's ops (the default then), so it continues on them rather than timing a choice
    config.setdefault("kernels", "torch")
    if layout.is_finished(run_dir):
        done = int(files.read_metrics(run_dir).get("epochs_run") or config.get("epochs") or 0)
        if epochs is None or int(epochs) <= done:
            more = option("epochs", "N", cli="--epochs N", python="epochs=N")
            raise MnistlabError(f"{run_dir} already finished after {done} epochs; pass {more} with N > "
                                f"{done} to train it further (like calling Keras fit again)")
    recipe = Recipe({**config, "epochs": int(epochs)} if epochs is not None else config)
    runtime = recipe.replace(threads=threads, device=device)
    pick_device(runtime.device)  # a device this machine lacks fails before the run changes
    if epochs is not None:
        files.load_checkpoint(run_dir)  # and a damaged checkpoint fails before it changes, too
        files.write_config(run_dir, recipe.to_dict())
        (run_dir / layout.METRICS).unlink(missing_ok=True)  # unfinished from here: a plain resume completes it
    return runtime, run_dir, run_dir.parent


class SaveEpoch(Callback):
    """The epoch's checkpoint and history.csv, on fit's CallbackList after the recipe's
    callbacks (whose state after the epoch it saves) and before the user's, so a hook that
    raises, or the stop button pressed while one runs, leaves this epoch resumable. After
    the first checkpoint the hidden partial folder becomes the visible run (runs.layout)."""

    def __init__(self, session, progress: Progress, work_dir: Path, out: Path, *, published: bool):
        self.s, self.progress, self.work_dir, self.out, self.published = session, progress, work_dir, out, published

    def on_epoch_end(self, epoch, logs=None):
        s, progress = self.s, self.progress
        progress.stopped = bool(getattr(self.model, "stop_training", False))  # as the recipe's callbacks left it
        files.save_checkpoint(self.work_dir, {**s.state_dict(), "state": vars(progress).copy()})
        files.write_history(self.work_dir, progress.history)
        if not self.published:  # the first checkpoint exists: the run becomes visible
            files.write_config(self.work_dir, s.cfg, notes=s.notes)
            self.work_dir = layout.publish(self.work_dir, self.out, s.cfg["name"])
            self.published = True


def _stop_line(stopper, epoch: int) -> str:
    if stopper is not None and stopper.stopped_epoch == epoch:
        return (f"Early stopping after epoch {epoch + 1}: {stopper.monitor} has not improved "
                f"for {stopper.patience} epochs")
    return f"Stopped after epoch {epoch + 1}: a callback set model.stop_training"


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """`kill` stops a run like Ctrl-C does: at a point where the last checkpoint is intact."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _say_interrupted(run_dir, epoch: int, epochs: int) -> None:
    if run_dir is not None:
        print(f"\nInterrupted: {run_dir} keeps the checkpoint of epoch {epoch}/{epochs}. "
              f"Resume with: mnistlab train --resume {run_dir}", file=sys.stderr)
    else:
        print("\nInterrupted before the first epoch finished; nothing was saved.", file=sys.stderr)


def _diverged_error(epoch: int, reason: str, cfg: dict, run_dir) -> Diverged:
    lr = cfg["optimizer"]["lr"]
    kept = (f"the checkpoint of epoch {epoch - 1} is kept in {run_dir} (evaluated; metrics.json "
            "verdict: diverged)" if run_dir is not None else "nothing was saved")
    lower = option("lr", float(f"{lr / 10:g}"), cli=f"--set optimizer.lr={lr / 10:g}")
    return Diverged(f"training diverged: {reason} in epoch {epoch}; lower the learning rate "
                    f"(e.g. {lower}); {kept}", run_dir)


def _write_failed(err: FileWriteError, run_dir) -> FileWriteError:
    """The FileWriteError of a file training could not write, told what the run keeps: the
    checkpoint on disk (read back, so "intact" is checked, not assumed) and how to resume."""
    if run_dir is None:
        kept = f"nothing was saved (no epoch had been checkpointed yet): {err.fix}"
    else:
        try:
            epoch = files.load_checkpoint(run_dir, map_location="cpu")["state"]["epoch"]
            intact = f"the last checkpoint (epoch {epoch}) in {run_dir} is intact"
        except MnistlabError:
            intact = f"{run_dir} keeps its last complete files"
        kept = (f"{intact}: {err.remedy}, then `mnistlab train --resume {run_dir}` (in Python: "
                f"mnistlab.fit(resume={str(run_dir)!r})) continues the run")
    return FileWriteError(err.problem, kept, path=err.path, errno_=err.errno, remedy=err.remedy)


def _epoch_line(row: dict, epochs: int) -> str:
    parts = [f"Epoch {row['epoch']}/{epochs}", f"{row['seconds']:.1f}s",
             f"loss: {row['loss']:.4f}", f"accuracy: {row['accuracy']:.4f}"]
    if row["val_loss"] is not None:
        parts += [f"val_loss: {row['val_loss']:.4f}", f"val_accuracy: {row['val_accuracy']:.4f}"]
    parts.append(f"lr: {row['lr']:.3g}")
    return " - ".join(parts)
