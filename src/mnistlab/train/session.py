"""Everything a training run builds from its recipe: device, data on the device, model, optimiser,
schedule, early stopping, generators; and the resumable state of all of them.

The recipe is only read here: the values resolved per machine (`auto` speed settings, the batch
split) go into `Session.cfg`, a copy, which is what config.yaml records.
"""
from __future__ import annotations

import platform

import torch

from mnistlab.errors import MnistlabError, option, warn
from mnistlab.hardware import Speed, resolve_speed
from mnistlab.models import count_params
from mnistlab.models.infer import l2_of
from mnistlab.models.layers import use_kernels
from mnistlab.runs import build_model, make_run_splits
from mnistlab.train.callbacks import build_callbacks
from mnistlab.train.loop import evaluate
from mnistlab.train.optim import make_optimizer
from mnistlab.train.parallel import BatchSplit, resolve_split
from mnistlab.train.probe import too_short


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
        raise MnistlabError(f"device '{name}' is not available on this machine; use {option('device', 'cpu')} "
                            "(or auto)")
    return torch.device(name)


class Session:
    def __init__(self, recipe, dataset, cleanup, *, model=None, remeasure=False, callbacks=None, quiet=False):
        cfg = recipe.to_dict()
        if dataset is not None:
            cfg["data"]["dataset"] = dataset.reference  # loadable again: `mnist[:2000]`, a path, or memory:NAME
        if cfg["threads"] is not None:
            torch.set_num_threads(cfg["threads"])
        self.device = device = pick_device(cfg["device"])
        if cfg["precision"] == "bf16" and device.type == "cpu" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            warn("precision bf16: this CPU has no native bfloat16 (AVX512-BF16/AMX), so it is emulated and "
                 f"slower than fp32; use {option('precision', 'auto', cli='--set precision=auto')}")
        seed = cfg["seed"]
        torch.manual_seed(seed)  # weights and dropout; the batch order has its own generator
        # the recipe's data (runs.load_run_dataset: notebook 004's file is built first when missing)
        self.splits = splits = make_run_splits(cfg["data"], dataset, quiet=quiet)
        if model is None:
            self.model, self.spec = model, _ = build_model(cfg, splits)
        else:  # the user's own module (mnistlab.fit(model=...))
            self.model, self.spec = model, None
            check_own_model(model, cfg, splits)
        if cfg["quantize_aware"]:
            from mnistlab.train.qat import enable
            enable(model)
        model.to(device)
        speed = resolve_speed(cfg, model, device)  # every `auto` made concrete (precision, kernels may be "measure")
        if speed["channels_last"]:  # the saved weights are made contiguous again
            model.to(memory_format=torch.channels_last)
        self.net = torch.compile(model) if cfg["compile"] else model
        speed["batch_split"] = resolve_split(cfg["batch_split"], model, device, cfg["batch_size"], cfg["compile"])
        self.split = None
        if speed["batch_split"] > 1:  # config.yaml records the resolved count: a rerun splits alike
            self.split = BatchSplit(model, speed["batch_split"], seed)
            cleanup.callback(self.split.close)
            torch.set_num_threads(1)  # each worker thread runs its chunk on one core
        self.epochs = cfg["epochs"]
        self.optimizer = make_optimizer(model.parameters(), cfg["optimizer"])
        # `callbacks`: EarlyStopping/ReduceLROnPlateau/ModelCheckpoint objects given to fit(), recorded in cfg
        self.schedule, self.stopper, self.saver = build_callbacks(cfg, callbacks, self.spec)
        self.order = torch.Generator().manual_seed(seed)
        self.augment, self.aug_gen = None, None
        if cfg["augment"] is not None:
            from mnistlab.train.augment import apply_augment
            aug_cfg = cfg["augment"]  # validated with the recipe
            self.aug_gen = torch.Generator(device=device).manual_seed(seed + 1)
            self.augment = lambda xb: apply_augment(xb, aug_cfg, self.aug_gen)  # noqa: E731

        self.has_val = splits.x_val is not None
        # The Recipe refused monitored names the run will not log; only here is it known whether a
        # random split left any validation images (a tiny dataset), checked before the first epoch.
        for what in (self.stopper, self.schedule, self.saver):
            monitor = getattr(what, "monitor", "")
            if monitor.startswith("val_") and not self.has_val and getattr(what, "save_best_only", True):
                raise MnistlabError(f"{type(what).__name__} monitors {monitor} but this data's split left no "
                                    f"validation images; use a larger validation fraction or monitor {monitor[4:]}")
        self.x_tr, self.y_tr = splits.x_train.to(device), splits.y_train.to(device)
        self.x_va, self.y_va = ((splits.x_val.to(device), splits.y_val.to(device)) if self.has_val
                                else (None, None))
        self.steps = (len(self.y_tr) + cfg["batch_size"] - 1) // cfg["batch_size"]
        self.penalty = l2_of(model)
        self.smoothing = cfg["loss"]["label_smoothing"]
        note = kernels_note = None
        short = too_short(self.steps * cfg["epochs"])  # the base settings (fp32, torch's ops) stand
        if speed["precision"] == "measure" and short:
            speed["precision"], note = "fp32", short
        if speed["kernels"] == "measure" and short:
            speed["kernels"], kernels_note = "torch", short
        if speed["precision"] == "measure":  # auto on a CPU with native bf16: time this run's step
            speed["precision"], note = self._measure_precision({**cfg, **speed}, remeasure)
        if speed["kernels"] == "measure":  # auto on a CPU: the fused tail timed at that precision
            from mnistlab.train.kernels import resolve
            speed["kernels"], kernels_note = resolve(model, {**cfg, **speed}, self.x_tr, self.y_tr,
                                                     penalty=self.penalty, label_smoothing=self.smoothing,
                                                     remeasure=remeasure)
        use_kernels(model, speed["kernels"])
        # the resolved speed settings, one frozen value; cfg is config.yaml's copy of the recipe with them
        self.speed = Speed(**speed, note=note, kernels_note=kernels_note)
        self.cfg = {**cfg, **self.speed.config()}
        # config.yaml comments: how an `auto` was decided
        self.notes = {k: v for k, v in (("precision", note), ("kernels", kernels_note)) if v}

    def _measure_precision(self, cfg: dict, remeasure: bool) -> tuple[str, str]:
        """(precision, how it was decided) for precision auto on a CPU with native bf16."""
        if cfg["compile"]:  # a compiled step is not worth compiling twice to time; fp32 is safe
            return "fp32", "auto: not measured with compile: true"
        from mnistlab.train.precision import choose
        choice = choose(self.model, cfg, self.x_tr, self.y_tr, penalty=self.penalty,
                        label_smoothing=self.smoothing, remeasure=remeasure)
        return choice.precision, f"auto, {choice.source}"

    def start_line(self) -> str:
        from mnistlab.train.kernels import timed_note
        cfg, device, speed = self.cfg, self.device, self.speed
        sizes = f"{len(self.y_tr)} train, {len(self.y_va) if self.has_val else 0} val"
        where = str(device)
        if device.type == "cpu":
            n = speed.threads  # the run's count (the batch-split workers each run on one)
            where += (f" ({speed.batch_split} threads, each batch split across them)" if self.split is not None
                      else f" ({n} thread{'s' if n != 1 else ''})")
        where += (f", {speed.precision}" + (f" ({speed.note})" if speed.note else "")
                  + (", channels_last" if speed.channels_last else "")
                  + f", eval batch {speed.eval_batch}")
        if device.type == "cpu" and (speed.kernels == "fused" or timed_note(speed.kernels_note)):
            where += f", {speed.kernels} tail" + (f" ({speed.kernels_note})" if speed.kernels_note else "")
        return (f"Training {cfg['name']} ({self.params():,} params) on {where}: {sizes} samples, "
                f"{cfg['epochs']} epochs, batch {cfg['batch_size']}")

    def params(self) -> int:
        """Keras' count for a spec; every parameter and float buffer for the user's own module."""
        if self.spec is not None:
            return count_params(self.spec)
        return (sum(p.numel() for p in self.model.parameters())
                + sum(b.numel() for b in self.model.buffers() if b.is_floating_point()))

    def validate(self):
        if not self.has_val:
            return None
        return evaluate(self.net, self.x_va, self.y_va, penalty=self.penalty, label_smoothing=self.smoothing,
                        split=self.split, batch_size=self.speed.eval_batch, sync=False)

    def test(self) -> tuple[float | None, float | None]:
        if self.splits.x_test is None:
            return None, None
        x_te, y_te = self.splits.x_test.to(self.device), self.splits.y_test.to(self.device)
        return evaluate(self.net, x_te, y_te, penalty=self.penalty, label_smoothing=self.smoothing,
                        split=self.split, batch_size=self.speed.eval_batch)

    def restart_early_stopping(self) -> None:
        """Keras' on_train_begin for an extended run (fit called again): EarlyStopping's wait,
        best and best weights, and ReduceLROnPlateau's counters, start afresh."""
        if self.stopper is not None:
            self.stopper.on_train_begin()
        self.schedule.on_train_begin()

    # ---------------------------------------------------------------- resumable state

    def state_dict(self) -> dict:
        rng = {"torch": torch.get_rng_state(), "order": self.order.get_state(),
               "cuda": torch.cuda.get_rng_state() if self.device.type == "cuda" else None,
               "augment": self.aug_gen.get_state() if self.aug_gen is not None else None,
               "split": self.split.get_state() if self.split is not None else None}
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(), "rng": rng,
                "early_stopping": self.stopper.state_dict() if self.stopper is not None else None,
                "model_checkpoint": self.saver.state_dict() if self.saver is not None else None}

    def restore(self, ck: dict) -> dict:
        """Load a checkpoint's states; returns its progress (epoch, history, ...)."""
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.schedule.load_state_dict(ck["schedule"])
        if self.stopper is not None:
            self.stopper.load_state_dict(ck["early_stopping"])
        if self.saver is not None and ck.get("model_checkpoint") is not None:
            self.saver.load_state_dict(ck["model_checkpoint"])
        rng = ck["rng"]
        torch.set_rng_state(rng["torch"].cpu())
        if self.device.type == "cuda" and rng.get("cuda") is not None:
            torch.cuda.set_rng_state(rng["cuda"].cpu())
        self.order.set_state(rng["order"].cpu())
        if self.aug_gen is not None and rng.get("augment") is not None:
            self.aug_gen.set_state(rng["augment"].cpu())
        if self.split is not None and rng.get("split") is not None:
            self.split.set_state(rng["split"])
        return ck["state"]

    def metrics(self, progress, test_loss, test_acc, evaluated_epoch: int) -> dict:
        m = {"test_loss": test_loss, "test_accuracy": test_acc, "params": self.params(),
             "trainable_params": sum(p.numel() for p in self.model.parameters() if p.requires_grad),
             "epochs_run": progress.epoch, "train_seconds": round(progress.train_seconds, 3),
             "seed": self.cfg["seed"], "device": str(self.device), "versions": _versions(),
             "classes": list(self.splits.classes), "stopped_early": progress.stopped,
             "val_is_test": bool(self.splits.val_is_test),
             "evaluated_epoch": evaluated_epoch}  # whose weights model.safetensors and test_* are
        if self.stopper is not None:
            m["best_epoch"] = self.stopper.best_epoch + 1
        return m


def check_own_model(model, cfg: dict, splits) -> None:
    """A user's module must map the data's float (1, C, H, W) to (1, classes) logits: checked
    on one image before any training, so a wrong head fails in a second, not after an epoch."""
    if not isinstance(model, torch.nn.Module):
        raise MnistlabError(f"model must be a torch nn.Module, not {type(model).__name__}")
    from mnistlab.data.tensors import to_model_input
    x = to_model_input(splits.x_train[:1])
    try:
        with torch.no_grad():
            was = model.training
            out = model.eval()(x.to(next(model.parameters(), x).device))
            model.train(was)
    except Exception as err:
        raise MnistlabError(f"your model failed on one image of shape {tuple(x.shape)} (N, C, H, W): "
                            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from None
    k = len(splits.classes)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, k):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise MnistlabError(f"your model outputs {shape} for one image but the data has {k} classes; "
                            f"it must return logits of shape (N, {k})")
    n = sum(p.numel() for p in model.parameters())
    if cfg.get("max_params") is not None and n > cfg["max_params"]:
        raise MnistlabError(f"your model has {n:,} parameters, over max_params {cfg['max_params']:,}")


def _versions() -> dict:
    import numpy

    from mnistlab.version import __version__
    return {"mnistlab": __version__, "torch": torch.__version__,
            "numpy": numpy.__version__, "python": platform.python_version()}
