"""Batch split: one training step's batch cut into chunks that run on CPU threads at once.

Small MNIST models make small ops, and torch's intra-op threads (one op spread over the
cores) buy little for them. Giving each core its own slice of the batch, forward and
backward on one thread, is faster (measured with benchmarks/epoch_speed.py on real MNIST
batches: docs/training.md, Speed); torch releases the GIL inside every op, so Python
threads suffice.

The step is the same step: each chunk returns the gradient of its summed loss
(`torch.autograd.grad`, so no two threads write one `.grad`), and the sums, added in chunk
order, are divided by the batch size. What differs from one big batch: float summation
order, and each chunk draws its dropout masks from its own generator (seeded from the
recipe, saved in the checkpoint), so a run stays reproducible for a given split.
Models whose layers mix samples (BatchNorm) are never split: their statistics would be
per chunk ("ghost batch norm"), a different model.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F

from mnistlab.errors import MnistlabError
from mnistlab.models.layers import dropout_generator

MIN_CHUNK = 32  # below this, per-op overhead outweighs the second core


def mixes_samples(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def resolve_split(setting, model, device: torch.device, batch_size: int, compiled: bool) -> int:
    """The recipe's `batch_split` ("auto" or N) as a chunk count; 1 means no split."""
    if setting == "auto":
        if device.type != "cpu" or compiled or mixes_samples(model):
            return 1
        return max(1, min(torch.get_num_threads(), batch_size // MIN_CHUNK))
    if setting > 1:
        why = None
        if device.type != "cpu":
            why = "it runs on the CPU only"
        elif compiled:
            why = "it does not combine with compile: true"
        elif mixes_samples(model):
            why = "the model has BatchNorm, whose statistics would differ per chunk"
        if why:
            raise MnistlabError(f"batch_split: {setting} is not possible here: {why}; use batch_split: auto or 1")
    return min(int(setting), batch_size)


class BatchSplit:
    """`k` chunks per batch: chunk 0 on the calling thread, the rest on k - 1 worker threads.
    `step(xb, yb, ...)` sets every parameter's .grad for the batch."""

    def __init__(self, model: torch.nn.Module, k: int, seed: int):
        self.model, self.k = model, k
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.pool = ThreadPoolExecutor(k - 1, thread_name_prefix="mnistlab-split")
        self.generators = [torch.Generator().manual_seed(seed * 7919 + 104729 * (i + 1)) for i in range(k)]

    def close(self) -> None:
        self.pool.shutdown()

    def get_state(self) -> list[torch.Tensor]:
        return [g.get_state() for g in self.generators]

    def set_state(self, states) -> None:
        for g, s in zip(self.generators, states):
            g.set_state(s.cpu())

    def map(self, fn, xb, yb) -> list:
        """[fn(i, x_chunk, y_chunk) for each chunk i], chunk 0 here, the others on the workers."""
        chunks = list(zip(xb.chunk(self.k), yb.chunk(self.k)))
        futures = [self.pool.submit(fn, i, xc, yc) for i, (xc, yc) in enumerate(chunks) if i > 0]
        return [fn(0, *chunks[0])] + [f.result() for f in futures]

    def step(self, xb, yb, *, penalty, label_smoothing, autocast):
        """Gradients of mean loss (+ penalty) into .grad; returns (that loss, correct count)."""
        n = yb.shape[0]
        # the penalty enters once, on chunk 0, scaled by n because the sum is divided by n
        extra = penalty(self.model) * n if penalty is not None else None

        def chunk(i, xc, yc):
            with dropout_generator(self.generators[i]), autocast():  # autocast state is per thread
                logits = self.model(xc)
                loss = F.cross_entropy(logits, yc, label_smoothing=label_smoothing, reduction="sum")
            total = loss + extra if i == 0 and extra is not None else loss
            grads = torch.autograd.grad(total, self.params, allow_unused=True)
            grads = [torch.zeros_like(p) if g is None else g for p, g in zip(self.params, grads)]
            return grads, loss.detach(), (logits.argmax(1) == yc).sum()

        results = self.map(chunk, xb, yb)
        grads = results[0][0]
        for other, _, _ in results[1:]:
            torch._foreach_add_(grads, other)
        torch._foreach_div_(grads, n)
        for p, g in zip(self.params, grads):
            p.grad = g
        loss = sum(r[1] for r in results) / n
        if extra is not None:
            loss = loss + extra.detach() / n
        return loss, sum(r[2] for r in results)
