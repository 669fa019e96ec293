"""Where one training step's time goes, per group of ops (torch.profiler).

    .venv/bin/python benchmarks/profile_step.py nb000-cnn [--batch 512] [--precision bf16]
                                                [--threads 2] [--steps 20] [--warmup 5]
                                                [--repeats 3] [--kernels auto|torch]

The model is built by mnistlab.models.build, channels_last, with the recipe's Keras
optimiser (rmsprop for nb000, adam otherwise, or --optimizer), one batch of random images
and labels (the op times do not depend on the pixel values), the plain step (no batch
split): forward under autocast for bf16, Keras loss, backward, optimiser step.

ms/step is wall time of --steps steps without the profiler (median of --repeats), with the
process's CPU time beside it (a shared machine's load inflates wall time); the
shares are each group's self CPU time in the profiled steps (ops run on the calling
thread, intra-op workers included in their op's time). Ops under `Optimizer.step` count
as "optimiser" whatever they are; the fused tail (mnistlab.models.fused) shows as its own
group. --kernels torch runs the reference ops (the `kernels: torch` path) for a before/after.
"""
from __future__ import annotations

import argparse
import statistics
import time

DEFAULT_OPT = {"nb000-cnn": "rmsprop", "nb002-cnn": "adam"}
DEFAULT_BATCH = {"nb000-cnn": 512, "nb002-cnn": 128}

# first matching group wins; names are aten op names without the "aten::" prefix, and a
# trailing * matches any name that starts so
GROUPS = [
    ("fused tail", ("mnistlab::*", "_TailFn*")),  # the label, and the autograd Function (backward)
    ("max-pool", ("max_pool2d*", "constant_pad_nd")),
    ("dropout RNG + mask", ("uniform_", "rand_like", "rand", "bernoulli*", "ge")),
    ("convolution", ("convolution*", "conv2d", "_convolution", "mkldnn_convolution*", "_slow_conv2d*")),
    ("relu", ("relu", "relu_", "threshold_backward", "clamp_min", "clamp_min_")),
    ("fill / copy", ("fill_", "zero_", "zeros", "zeros_like", "empty*", "copy_", "_to_copy", "to", "clone",
                     "contiguous")),
    ("elementwise (mul)", ("mul", "mul_")),
    ("linear / loss", ("addmm", "mm", "linear", "t", "cross_entropy", "*log_softmax*", "nll_loss*", "sum",
                       "mean", "div", "add", "sub", "sqrt", "pow")),
]


def group_of(name: str) -> str:
    short = name.split("aten::", 1)[-1]
    for group, names in GROUPS:
        for n in names:
            if n.startswith("*"):
                hit = n.strip("*") in short
            elif n.endswith("*"):
                hit = name.startswith(n[:-1]) or short.startswith(n[:-1])
            else:
                hit = short == n
            if hit:
                return group
    return "other"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="a zoo model, or a recipe whose model to build (e.g. fast)")
    p.add_argument("--batch", type=int)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    p.add_argument("--optimizer")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--kernels", choices=["fused", "torch"], default="fused")
    p.add_argument("--top", type=int, default=0, help="also print the N slowest ops by name")
    p.add_argument("--shapes", action="store_true",
                   help="with --top: one row per op and input shapes (each layer's convolution apart)")
    a = p.parse_args(argv)
    if a.shapes and not a.top:
        p.error("--shapes goes with --top N (it splits the N slowest ops by input shapes)")

    import torch
    from torch.profiler import ProfilerActivity, profile

    from mnistlab.hardware import machine_line
    from mnistlab.models import build
    from mnistlab.models.layers import use_kernels
    from mnistlab.models.infer import keras_loss
    from mnistlab.train.optim import check_optimizer, make_optimizer

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    batch = a.batch or DEFAULT_BATCH.get(a.model, 256)
    from mnistlab.models import ZOO
    spec = a.model
    if a.model not in ZOO:  # a recipe (packaged name or path): its model
        from mnistlab.train import load_recipe
        spec = load_recipe(a.model).to_dict()["model"]
    model = build(spec).to(memory_format=torch.channels_last).train()
    use_kernels(model, a.kernels)  # the recipe's `kernels`, as a training run sets it
    opt = make_optimizer(model.parameters(), check_optimizer({"name": a.optimizer or DEFAULT_OPT.get(a.model, "adam")}))
    h, w, c = model.input_shape
    x = torch.rand(batch, c, h, w).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))
    cast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if a.precision == "bf16" else \
        (lambda: torch.autocast("cpu", enabled=False))

    def step():
        with cast():
            loss = keras_loss(model(x), y, model=model)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    walls, cpus = [], []
    for _ in range(a.repeats):
        t, c = time.perf_counter(), time.process_time()
        for _ in range(a.steps):
            step()
        walls.append((time.perf_counter() - t) / a.steps * 1e3)
        cpus.append((time.process_time() - c) / a.steps * 1e3)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=a.shapes) as prof:
        for _ in range(a.steps):
            step()

    totals: dict[str, float] = {}
    by_name: dict[str, float] = {}
    for e in prof.events():
        anc, under_opt = e.cpu_parent, e.name.startswith("Optimizer.step")
        fused = e.name.startswith(("mnistlab::", "_TailFn"))
        while anc is not None:
            under_opt |= anc.name.startswith("Optimizer.step")
            fused |= anc.name.startswith(("mnistlab::", "_TailFn"))
            anc = anc.cpu_parent
        g = "optimiser" if under_opt else "fused tail" if fused else group_of(e.name)
        totals[g] = totals.get(g, 0.0) + e.self_cpu_time_total
        key = f"{e.name} {e.input_shapes}" if a.shapes else e.name
        by_name[key] = by_name.get(key, 0.0) + e.self_cpu_time_total
    profiled = sum(totals.values())
    ms = statistics.median(walls)
    print(machine_line())
    print(f"{a.model}, batch {batch}, {a.precision}, channels_last, kernels {a.kernels}"
          f" ({tail_path()}), {a.threads} threads: "
          f"{ms:.2f} ms/step (median of {a.repeats} x {a.steps} steps; all: "
          f"{', '.join(f'{v:.2f}' for v in walls)}); process CPU {statistics.median(cpus):.2f} ms/step "
          f"(all threads; on a loaded machine closer to the work than wall time); "
          f"profiled {profiled / 1e3 / a.steps:.2f} ms/step")
    print(f"{'group':<20} {'ms/step':>8} {'share':>6}")
    for g, v in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"{g:<20} {v / 1e3 / a.steps:8.2f} {v / profiled:6.1%}")
    if a.top:
        print()
        for name, v in sorted(by_name.items(), key=lambda kv: -kv[1])[:a.top]:
            print(f"{name:<50} {v / 1e3 / a.steps:8.2f}  {group_of(name.split(' ')[0])}")


def tail_path() -> str:
    try:
        from mnistlab.models.fused import status
    except ImportError:  # before the fused tail existed
        return "torch ops"
    built, how = status()
    return f"fused kernels {how}" if built else f"no fused kernels: {how}"


if __name__ == "__main__":
    main()
