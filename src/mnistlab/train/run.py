"""fit(): a Recipe and a Dataset in, a run directory out (Contract 4); load_run() reads it back.

A run directory is never half-written: training starts in a hidden `out/.<name>.partial-*`
folder (no config.yaml, so no tool mistakes it for a run) that is renamed to
`out/<timestamp>-<name>/` once the first epoch's checkpoint exists. From then on the folder
is a resumable run; metrics.json is written last, so a run without it is unfinished
(interrupted, or stopped by a NaN loss) and `mnistlab train --resume DIR` continues it.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from mnistlab.errors import MnistlabError
from mnistlab.hardware import resolve_speed
from mnistlab.models import count_params
from mnistlab.train.callbacks import make_early_stopping, make_schedule
from mnistlab.train.divergence import DivergenceGuard
from mnistlab.train.loop import Timer, epoch_values, evaluate, progress_bar, train_epoch
from mnistlab.train.optim import make_optimizer
from mnistlab.train.parallel import BatchSplit, resolve_split
from mnistlab.train.recipe import Recipe, load_recipe, read_yaml

HISTORY_KEYS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"]


# ---------------------------------------------------------------- atomic files

def write_atomic(path: Path, data: bytes | str) -> None:
    """Write a temp file next to `path`, then rename it over `path` (never a torn file)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _history_csv(history: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=HISTORY_KEYS, lineterminator="\n")
    w.writeheader()
    for row in history:
        w.writerow({k: ("" if row.get(k) is None else row[k]) for k in HISTORY_KEYS})
    return buf.getvalue()


def _read_history(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: (None if v == "" else int(v) if k == "epoch" else float(v)) for k, v in r.items()} for r in rows]


def save_weights(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    write_atomic(path, save(state))


def load_weights(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import load_file
    model.load_state_dict(load_file(str(path)))


# ---------------------------------------------------------------- data, model, device

def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if not available[name]:
        raise MnistlabError(f"device '{name}' is not available on this machine; use --device cpu (or auto)")
    return torch.device(name)


def make_run_splits(data: dict, dataset=None):
    """The recipe's splits of `dataset` (or of the dataset the recipe names)."""
    from mnistlab.data import load_dataset
    from mnistlab.data.splits import make_splits
    if dataset is None:
        dataset = load_dataset(data["dataset"], allow_pickle=data["allow_pickle"])
    return make_splits(dataset, validation_split=data["validation_split"], split=data["split"],
                       split_seed=data["split_seed"], stratify=data["stratify"],
                       validation=data["validation"])


def build_model(cfg: dict, splits=None) -> tuple[torch.nn.Module, dict]:
    """(module, resolved spec) for the recipe's model, checked against budget and data."""
    from mnistlab.models import build, check_budget, resolve_spec
    spec = resolve_spec(cfg["model"])
    check_budget(spec, cfg["max_params"], max_macs=cfg["max_macs"], max_ram_bytes=cfg["max_ram_bytes"],
                 max_flash_bytes=cfg["max_flash_bytes"])
    if splits is not None:
        shape = list(splits.x_train.shape[1:])
        if list(spec["input_shape"]) != shape:
            raise MnistlabError(f"the model expects input_shape {list(spec['input_shape'])} but the images "
                                f"are {shape} (H, W, C); change the spec's input_shape or the dataset")
    model = build(spec)
    if splits is not None:
        with torch.no_grad():
            k = model.eval()(splits.x_train[:1].permute(0, 3, 1, 2).float()).shape[-1]
        if k != len(splits.classes):
            raise MnistlabError(f"the model outputs {k} classes but the data has {len(splits.classes)}; "
                                f"make the last dense layer units: {len(splits.classes)}")
    return model, spec


def _penalty(model):
    """models.l2_penalty, or None when no layer has L2 (saves a call per step)."""
    if not any(getattr(m, "l2", 0) for m in model.modules()):
        return None
    from mnistlab.models import l2_penalty
    return l2_penalty


def _versions() -> dict:
    import numpy
    import mnistlab
    return {"mnistlab": mnistlab.__version__, "torch": torch.__version__,
            "numpy": numpy.__version__, "python": platform.python_version()}


# ---------------------------------------------------------------- run directory

def _new_run_name(out: Path, name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip(".") or "run"
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}"
    final, i = base, 2
    while (out / final).exists():
        final, i = f"{base}-{i}", i + 1
    return final


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


@dataclass
class _State:
    """What a checkpoint holds besides the weights and optimiser."""
    epoch: int = 0                 # epochs finished
    history: list = field(default_factory=list)
    train_seconds: float = 0.0
    stopped: bool = False          # early stopping ended training


def fit(recipe=None, *, dataset=None, out="runs", quiet=False, resume=None, report=True,
        on_epoch_end=None, epochs=None, threads=None, device=None) -> Path:
    """Train a recipe (Recipe, dict or YAML path) and write a run directory; returns its path.

    `dataset` (a mnistlab.data.Dataset) replaces the recipe's data source. `resume` is an
    unfinished run directory to continue (its config.yaml is the recipe). `on_epoch_end(epoch,
    row)` is called after each epoch's checkpoint (epoch 0-based, row = the history row);
    tuning uses it to report to Optuna's pruner, and whatever it raises leaves fit unchanged.

    With `resume`: `epochs` larger than the epochs run extends the run, finished or not, as
    calling Keras' fit again would (EarlyStopping starts counting afresh); `threads` and
    `device` change only how it runs. Without `resume` the recipe says all three.
    """
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / "config.yaml").is_file():
            raise MnistlabError(f"{run_dir} is not a run directory (no config.yaml); pass a folder under runs/")
        if not (run_dir / "checkpoint.pt").is_file():
            raise MnistlabError(f"{run_dir} has no checkpoint.pt to resume from")
        config = read_yaml(run_dir / "config.yaml")
        finished = run_dir / "metrics.json"
        if finished.is_file():
            done = int(json.loads(finished.read_text()).get("epochs_run") or config.get("epochs") or 0)
            if epochs is None or int(epochs) <= done:
                raise MnistlabError(f"{run_dir} already finished after {done} epochs; pass --epochs N with N > "
                                    f"{done} to train it further (like calling Keras fit again)")
        if epochs is not None:
            config["epochs"] = int(epochs)
            recipe = Recipe(config)  # validated before the run directory changes
            write_atomic(run_dir / "config.yaml", yaml.safe_dump(recipe.to_dict(), sort_keys=False))
            # no longer finished: interrupted from here on, a plain resume completes it
            finished.unlink(missing_ok=True)
        recipe = Recipe(config)
        work_dir = run_dir
    else:
        if epochs is not None or threads is not None or device is not None:
            raise MnistlabError("epochs, threads and device are recipe keys for a new run "
                                "(load_recipe(..., epochs=N)); as fit() keywords they apply to resume=")
        if recipe is None:
            raise MnistlabError("fit() needs a recipe (a Recipe, a dict or a YAML path) or resume=RUN_DIR")
        recipe = load_recipe(recipe)
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        run_dir = None
        work_dir = Path(tempfile.mkdtemp(dir=out, prefix=f".{recipe.name}.partial-"))
    cfg = recipe.to_dict()
    if threads is not None:  # runtime only: not written to config.yaml
        cfg["threads"] = int(threads)
    if device is not None:
        cfg["device"] = device
    if dataset is not None:
        cfg["data"]["dataset"] = dataset.name
    threads = torch.get_num_threads()
    if cfg["threads"] is not None:
        torch.set_num_threads(cfg["threads"])
    try:
        with contextlib.ExitStack() as cleanup:
            return _fit(cfg, dataset, work_dir, run_dir, Path(out) if resume is None else run_dir.parent,
                        say, quiet, report, on_epoch_end, cleanup)
    finally:
        torch.set_num_threads(threads)
        if run_dir is None and work_dir.exists() and work_dir.name.startswith("."):
            shutil.rmtree(work_dir, ignore_errors=True)  # failed before the first checkpoint


def _fit(cfg, dataset, work_dir, run_dir, out, say, quiet, report, on_epoch_end, cleanup) -> Path:
    device = pick_device(cfg["device"])
    if cfg["precision"] == "bf16" and device.type == "cpu" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        warnings.warn("precision bf16: this CPU has no native bfloat16 (AVX512-BF16/AMX), so it is emulated "
                      "and slower than fp32; drop --set precision=bf16")
    seed = cfg["seed"]
    torch.manual_seed(seed)  # weights and dropout; the batch order has its own generator
    splits = make_run_splits(cfg["data"], dataset)
    model, spec = build_model(cfg, splits)
    if cfg["quantize_aware"]:
        from mnistlab.train.qat import enable
        enable(model)
    model.to(device)
    cfg.update(resolve_speed(cfg, model, device))  # every `auto` made concrete, into config.yaml
    if cfg["channels_last"]:  # the saved weights are made contiguous again
        model.to(memory_format=torch.channels_last)
    n_params = count_params(spec)  # Keras' total (BatchNorm statistics included), as notebooks print
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    net = torch.compile(model) if cfg["compile"] else model
    cfg["batch_split"] = resolve_split(cfg["batch_split"], model, device, cfg["batch_size"], cfg["compile"])
    split = None
    if cfg["batch_split"] > 1:  # config.yaml records the resolved count: a rerun splits alike
        split = BatchSplit(model, cfg["batch_split"], seed)
        cleanup.callback(split.close)
        torch.set_num_threads(1)  # each worker thread runs its chunk on one core
    optimizer = make_optimizer(model.parameters(), cfg["optimizer"])
    schedule = make_schedule(cfg["callbacks"]["lr_schedule"], cfg["optimizer"]["lr"], cfg["epochs"])
    stopper = make_early_stopping(cfg["callbacks"]["early_stopping"])
    guard = DivergenceGuard(len(splits.classes))
    diverged = None  # (epoch, reason) once the guard trips
    order = torch.Generator().manual_seed(seed)
    augment, aug_gen = None, None
    if cfg["augment"] is not None:
        from mnistlab.train.augment import augment_batch, validate_augment
        aug_cfg = validate_augment(cfg["augment"])
        aug_gen = torch.Generator(device=device).manual_seed(seed + 1)
        augment = lambda xb: augment_batch(xb, aug_cfg, aug_gen)  # noqa: E731

    has_val = splits.x_val is not None
    for what in (stopper, schedule):
        monitor = getattr(what, "monitor", "")
        if monitor.startswith("val_") and not has_val:
            raise MnistlabError(f"a callback monitors {monitor} but the run has no validation data; "
                                f"set data.validation_split (e.g. 0.1) or monitor: {monitor[4:]}")

    x_tr, y_tr = splits.x_train.to(device), splits.y_train.to(device)
    x_va, y_va = (splits.x_val.to(device), splits.y_val.to(device)) if has_val else (None, None)
    penalty = _penalty(model)
    smoothing = cfg["loss"]["label_smoothing"]

    state = _State()
    if run_dir is not None:  # resuming
        ck = torch.load(run_dir / "checkpoint.pt", map_location=device, weights_only=True)
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        schedule.load_state_dict(ck["schedule"])
        if stopper is not None:
            stopper.load_state_dict(ck["early_stopping"])
        torch.set_rng_state(ck["rng"]["torch"].cpu())
        if device.type == "cuda" and ck["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(ck["rng"]["cuda"].cpu())
        order.set_state(ck["rng"]["order"].cpu())
        if aug_gen is not None and ck["rng"].get("augment") is not None:
            aug_gen.set_state(ck["rng"]["augment"].cpu())
        if split is not None and ck["rng"].get("split") is not None:
            split.set_state(ck["rng"]["split"])
        state = _State(**ck["state"])
        if state.stopped and state.epoch < cfg["epochs"]:  # extended: a new fit, as in Keras
            state.stopped = False
            if stopper is not None:  # Keras' on_train_begin: wait and best weights start afresh
                stopper.wait, stopper.stopped_epoch, stopper.best_weights = 0, 0, None
        say(f"Resuming {run_dir} after epoch {state.epoch}/{cfg['epochs']}")
    else:
        sizes = f"{len(y_tr)} train, {len(y_va) if has_val else 0} val"
        where = str(device)
        if device.type == "cpu":
            where += (f" ({cfg['batch_split']} threads, each batch split across them)" if split is not None
                      else f" ({torch.get_num_threads()} threads)")
        where += (f", {cfg['precision']}" + (", channels_last" if cfg["channels_last"] else "")
                  + f", eval batch {cfg['eval_batch']}")
        say(f"Training {cfg['name']} ({n_params:,} params) on {where}: {sizes} samples, "
            f"{cfg['epochs']} epochs, batch {cfg['batch_size']}")

    def checkpoint():
        rng = {"torch": torch.get_rng_state(), "order": order.get_state(),
               "cuda": torch.cuda.get_rng_state() if device.type == "cuda" else None,
               "augment": aug_gen.get_state() if aug_gen is not None else None,
               "split": split.get_state() if split is not None else None}
        ck = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
              "schedule": schedule.state_dict(), "rng": rng, "state": vars(state).copy(),
              "early_stopping": stopper.state_dict() if stopper is not None else None}
        write_atomic(work_dir / "checkpoint.pt", _torch_bytes(ck))
        write_atomic(work_dir / "history.csv", _history_csv(state.history))

    epochs = cfg["epochs"]
    with _sigterm_as_interrupt():
        try:
            while state.epoch < epochs and not state.stopped:
                epoch = state.epoch  # 0-based, as Keras passes it to callbacks
                with Timer() as t:
                    steps = (len(y_tr) + cfg["batch_size"] - 1) // cfg["batch_size"]
                    bar = progress_bar(epoch + 1, epochs, steps, quiet=quiet, device=device)
                    try:
                        logs = train_epoch(net, optimizer, x_tr, y_tr, batch_size=cfg["batch_size"],
                                           generator=order, lr_at=lambda i, n: schedule.lr(epoch, i, n),
                                           penalty=penalty, label_smoothing=smoothing, bar=bar,
                                           augment=augment, precision=cfg["precision"], split=split, sync=False)
                    finally:
                        if bar is not None:
                            bar.close()
                    val = (evaluate(net, x_va, y_va, penalty=penalty, label_smoothing=smoothing, split=split,
                                    batch_size=cfg["eval_batch"], sync=False) if has_val else None)
                    logs["loss"], logs["accuracy"], val_loss, val_acc = epoch_values(logs.pop("sums"), val)
                    diverged = (epoch + 1, guard.check(logs))
                if diverged[1] is not None:
                    if run_dir is None:  # the first epoch: nothing good to keep
                        raise _diverged_error(*diverged, cfg, None)
                    break  # the last good checkpoint stays; it is evaluated below
                diverged = None
                row = {"epoch": epoch + 1, "loss": logs["loss"], "accuracy": logs["accuracy"],
                       "val_loss": val_loss, "val_accuracy": val_acc, "lr": logs["lr"], "seconds": t.seconds}
                state.history.append(row)
                state.train_seconds += t.seconds
                state.epoch = epoch + 1
                say(_epoch_line(row, epochs))
                if stopper is not None and stopper.on_epoch_end(epoch, row, model):
                    state.stopped = True
                    say(f"Early stopping after epoch {epoch + 1}: {stopper.monitor} has not improved "
                        f"for {stopper.patience} epochs")
                schedule.on_epoch_end(epoch, row)
                checkpoint()
                if run_dir is None:  # the first checkpoint exists: the run becomes visible
                    write_atomic(work_dir / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
                    run_dir = out / _new_run_name(out, cfg["name"])
                    os.rename(work_dir, run_dir)
                    work_dir = run_dir
                if on_epoch_end is not None:
                    on_epoch_end(epoch, dict(row))
        except KeyboardInterrupt:
            if run_dir is not None:
                print(f"\nInterrupted: {run_dir} keeps the checkpoint of epoch {state.epoch}/{epochs}. "
                      f"Resume with: mnistlab train --resume {run_dir}", file=sys.stderr)
            else:
                print("\nInterrupted before the first epoch finished; nothing was saved.", file=sys.stderr)
            raise

    # Keras restores the best weights at the end of training, stopped early or not; the
    # checkpoint keeps the last epoch's state, so resuming continues where training was.
    evaluated_epoch = state.epoch
    if diverged is not None:
        ck = torch.load(run_dir / "checkpoint.pt", map_location=device, weights_only=True)
        model.load_state_dict(ck["model"])
        say(f"Diverged in epoch {diverged[0]}: {diverged[1]}; evaluating epoch {state.epoch}'s weights")
    restored = stopper.on_train_end(model) if stopper is not None else None
    if restored is not None:
        evaluated_epoch = restored + 1
        say(f"Restored the weights of epoch {evaluated_epoch} (best {stopper.monitor})")
    test_loss = test_acc = None
    if splits.x_test is not None:
        x_te, y_te = splits.x_test.to(device), splits.y_test.to(device)
        test_loss, test_acc = evaluate(net, x_te, y_te, penalty=penalty, label_smoothing=smoothing, split=split,
                                       batch_size=cfg["eval_batch"])
    save_weights(model, run_dir / "model.safetensors")
    metrics = {"test_loss": test_loss, "test_accuracy": test_acc, "params": n_params,
               "trainable_params": n_trainable,
               "epochs_run": state.epoch, "train_seconds": round(state.train_seconds, 3), "seed": cfg["seed"],
               "device": str(device), "versions": _versions(), "classes": list(splits.classes),
               "stopped_early": state.stopped, "val_is_test": bool(splits.val_is_test),
               "evaluated_epoch": evaluated_epoch,  # whose weights model.safetensors and test_* are
               "verdict": "ok" if diverged is None else "diverged"}
    if diverged is not None:
        metrics["diverged"] = {"epoch": diverged[0], "reason": diverged[1],
                               "rule": "training loss not finite or above 100 x ln(classes)"}
    if stopper is not None:
        metrics["best_epoch"] = stopper.best_epoch + 1
    write_atomic(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    if test_acc is not None:
        say(f"Test loss {test_loss:.4f}, test accuracy {test_acc:.4f}")
    if report:
        _write_report(run_dir, say, dataset)
    say(f"Run saved to {run_dir}")
    if diverged is not None:  # after the files: the run is kept, but it is not a success
        raise _diverged_error(*diverged, cfg, run_dir)
    return run_dir


def _write_report(run_dir: Path, say, dataset=None) -> None:
    try:
        from mnistlab.evaluate.report import write_report
    except ImportError:  # the evaluate package is optional for training
        return
    try:
        path = write_report(run_dir, dataset=dataset)
        say(f"Report: {path}")
    except MnistlabError as err:
        say(f"Report not written: {err}")


def _diverged_error(epoch: int, reason: str, cfg: dict, run_dir) -> MnistlabError:
    lr = cfg["optimizer"]["lr"]
    kept = (f"the checkpoint of epoch {epoch - 1} is kept in {run_dir} (evaluated; metrics.json "
            "verdict: diverged)" if run_dir is not None else "nothing was saved")
    return MnistlabError(f"training diverged: {reason} in epoch {epoch}; lower the learning rate "
                         f"(e.g. --set optimizer.lr={lr / 10:g}); {kept}")


def _epoch_line(row: dict, epochs: int) -> str:
    parts = [f"Epoch {row['epoch']}/{epochs}", f"{row['seconds']:.1f}s",
             f"loss: {row['loss']:.4f}", f"accuracy: {row['accuracy']:.4f}"]
    if row["val_loss"] is not None:
        parts += [f"val_loss: {row['val_loss']:.4f}", f"val_accuracy: {row['val_accuracy']:.4f}"]
    parts.append(f"lr: {row['lr']:.3g}")
    return " - ".join(parts)


# ---------------------------------------------------------------- reading a run

class Run:
    """A finished run directory, read back: config, history, metrics, model and data."""

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir)
        if not (self.dir / "config.yaml").is_file():
            raise MnistlabError(f"{self.dir} is not a run directory (no config.yaml); "
                                "pass a folder written by `mnistlab train`, e.g. runs/<timestamp>-<name>")
        if not (self.dir / "metrics.json").is_file():
            raise MnistlabError(f"{self.dir} is unfinished (no metrics.json); continue it with "
                                f"`mnistlab train --resume {self.dir}`")
        self.config = read_yaml(self.dir / "config.yaml")
        self.recipe = Recipe(self.config)
        self.history = _read_history(self.dir / "history.csv") if (self.dir / "history.csv").is_file() else []
        self.metrics = json.loads((self.dir / "metrics.json").read_text())
        self.classes = list(self.metrics.get("classes") or [])
        self._model = None
        self._splits = None

    @property
    def model(self) -> torch.nn.Module:
        """The evaluated weights in the recipe's architecture, on the CPU, in eval mode."""
        if self._model is None:
            model, _ = build_model(self.recipe.to_dict())
            load_weights(model, self.dir / "model.safetensors")
            self._model = model.eval()
        return self._model

    def splits(self):
        """The data split exactly as the run saw it (loads the dataset named in config.yaml)."""
        if self._splits is None:
            self._splits = make_run_splits(self.config["data"])
        return self._splits

    def __repr__(self) -> str:
        return f"Run({str(self.dir)!r})"


def load_run(run_dir) -> Run:
    return Run(Path(run_dir))
