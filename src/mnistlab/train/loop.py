"""The on-device epoch loop: no DataLoader, no per-batch host work.

Images stay on the device as uint8 NHWC (Contract 1). Each epoch draws one permutation;
a batch is an index slice of it, gathered and scaled to float on the device. Running
loss/accuracy sums stay on the device too. On a GPU the host waits for the device once per
epoch: train_epoch(sync=False) and evaluate(sync=False) return device tensors, and
epoch_values() copies the training and validation numbers to the host in one transfer (the
progress bar shows only the step count there; on a CPU reading a number is free, so it shows
the running loss and accuracy).
"""
from __future__ import annotations

import contextlib
import sys
import time

import torch

from mnistlab.data.tensors import to_model_input
from mnistlab.models.infer import keras_loss

# Inference keeps no activations for backward, so a GPU takes big batches; on a CPU they
# overflow the caches (measured per batch size in docs/training.md, Speed).
def eval_batch(device: torch.device) -> int:
    return 512 if device.type == "cpu" else 4096


to_input = to_model_input  # the name the loop's callers know


def autocast(device: torch.device, precision: str):
    """The forward pass's context: bf16 autocast (weights and optimiser stay fp32) or nothing."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_epoch(model, optimizer, x, y, *, batch_size, generator, lr_at, penalty=None,
                label_smoothing=0.0, bar=None, augment=None, precision="fp32", split=None,
                sync=True) -> dict:
    """One pass over (x, y) in a fresh random order; returns Keras' epoch logs.

    `lr_at(step, steps)` gives the base learning rate of each step; `penalty(model)` is the
    L2 term added to the loss (Keras adds regularisation losses to the reported loss too);
    `augment(xb)` transforms each float batch on the device; `precision` "bf16" runs the
    forward pass and loss under bfloat16 autocast; `split` (a parallel.BatchSplit) runs each
    batch's chunks on CPU worker threads. `sync=False` leaves loss and accuracy on the device
    as `logs["sums"]` (a 2-tensor for epoch_values) instead of reading them.
    """
    model.train()
    n = x.shape[0]
    steps = (n + batch_size - 1) // batch_size  # Keras keeps the last, smaller batch
    perm = torch.randperm(n, generator=generator)  # the CPU generator: checkpointed, same order everywhere
    if x.device.type == "cuda":  # from pinned memory the copy is asynchronous: no host wait
        perm = perm.pin_memory().to(x.device, non_blocking=True)
    else:
        perm = perm.to(x.device)
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    group = optimizer.param_groups[0]
    for i in range(steps):
        idx = perm[i * batch_size:(i + 1) * batch_size]
        xb, yb = to_input(x[idx]), y[idx]
        if augment is not None:
            xb = augment(xb)
        lr = lr_at(i, steps)
        for g in optimizer.param_groups:
            g["lr"] = lr
        if split is not None:
            loss, right = split.step(xb, yb, penalty=penalty, label_smoothing=label_smoothing,
                                     autocast=lambda: autocast(x.device, precision))
        else:
            with autocast(x.device, precision):
                logits = model(xb)
                loss = keras_loss(logits, yb, model=model, penalty=penalty, label_smoothing=label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            right = (logits.argmax(1) == yb).sum()
        optimizer.step()
        with torch.no_grad():
            loss_sum += loss.detach() * yb.shape[0]
            correct += right
        if bar is not None:
            bar.update(1)
            if x.device.type == "cpu" and (i % bar.refresh_every == 0 or i == steps - 1):
                seen = min(n, (i + 1) * batch_size)
                bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}",
                                accuracy=f"{correct.item() / seen:.4f}", refresh=False)
    logs = {"sums": torch.stack([loss_sum, correct.to(loss_sum.dtype)]) / n,
            "lr": optimizer.current_lr() if hasattr(optimizer, "current_lr") else group["lr"]}
    if not sync:
        return logs
    logs["loss"], logs["accuracy"] = logs.pop("sums").tolist()
    return logs


@torch.inference_mode()
def evaluate(model, x, y, *, penalty=None, label_smoothing=0.0, batch_size=None,
             split=None, sync=True):
    """(loss, accuracy) over (x, y) in eval mode; loss includes the L2 term like Keras.
    `sync=False`: the pair as a 2-tensor on the device, for epoch_values. The means are
    taken in double precision where the device has it, so 90 right of 100 is 0.9 exactly."""
    model.eval()
    batch_size = batch_size or eval_batch(x.device)
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), dtype=torch.long, device=x.device)

    def sums(_, xb, yb):
        with torch.inference_mode():  # thread-local: batch-split workers need it too
            logits = model(xb)
            return (keras_loss(logits, yb, model=model, penalty=penalty, label_smoothing=label_smoothing,
                               reduction="sum"),
                    (logits.argmax(1) == yb).sum())

    for i in range(0, x.shape[0], batch_size):
        xb, yb = to_input(x[i:i + batch_size]), y[i:i + batch_size]
        for batch_loss, right in (split.map(sums, xb, yb) if split is not None else [sums(0, xb, yb)]):
            loss_sum += batch_loss
            correct += right
    n = x.shape[0]
    wide = torch.float32 if x.device.type == "mps" else torch.float64  # MPS has no float64
    pair = torch.stack([loss_sum.to(wide), correct.to(wide)]) / n
    return pair if not sync else tuple(pair.tolist())


def epoch_values(train_sums: torch.Tensor, val_pair: torch.Tensor | None = None) -> list:
    """[loss, accuracy, val_loss, val_accuracy] on the host in one copy (one GPU sync);
    the validation pair is None, None without validation data."""
    if val_pair is None:
        return train_sums.tolist() + [None, None]
    return torch.cat([train_sums.to(val_pair.dtype), val_pair]).tolist()


def progress_bar(epoch: int, epochs: int, steps: int, *, quiet: bool, device: torch.device):
    """A tqdm bar for one epoch, or None (then the per-epoch lines alone show progress):
    a text bar on a terminal, a widget in a notebook kernel that can draw one (whose stderr
    is never a TTY), none when quiet, in a log file, or in a kernel without ipywidgets
    (plain JupyterLab, VS Code), where a text bar would only leave blank stderr blocks."""
    from mnistlab.display import in_notebook, notebook_bar, widgets_render
    if quiet:
        return None
    desc = f"Epoch {epoch}/{epochs}"
    if in_notebook():
        if not widgets_render():
            return None
        bar = notebook_bar(steps, desc)
    elif sys.stderr.isatty():
        from tqdm import tqdm
        bar = tqdm(total=steps, desc=desc, unit="step", leave=False, dynamic_ncols=True, file=sys.stderr)
    else:
        return None
    # reading a number from a GPU waits for it; on CPU it is free
    bar.refresh_every = 1 if device.type == "cpu" else 20
    return bar


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
