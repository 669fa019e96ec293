"""What this machine can run fast, and the speed settings that follow from it.

Two jobs, both cheap (no torch import until a choice needs it):
- `machine()` / `machine_line()`: the CPU model, the ISA flags that matter (avx2, avx512f,
  avx512_bf16, amx), cores, torch's version and the ISA limits in force. Benchmarks print it
  above every table, so a number always says where it was measured.
- `resolve_speed(...)`: the recipe's `auto` speed settings (precision, threads, channels_last,
  eval_batch, kernels) as concrete values for this machine and device. fit() writes them into
  config.yaml and the start line, so a run records what it actually ran with.

Most choices come from a capability table: each rule is a measured step-time difference
several times larger than this shared machine's noise (docs/training.md, "Speed per CPU
kind"). One does not: whether bf16 beats fp32 on a CPU that runs bfloat16 natively depends
on the model and batch (slower for some CNNs, faster for others on the same CPU), so there
`precision_auto` answers "measure" and mnistlab.train.precision times the run's own step
and caches the answer per machine, model and batch. The same holds for the fused CPU tail
(models/fused.py): faster for some zoo models, slower for others on the same CPU, so
`kernels_auto` answers "measure" on a CPU and mnistlab.train.kernels times it.

bfloat16 is considered only where the hardware runs it natively (AVX512-BF16 or AMX on a
CPU, a bf16-capable GPU). Elsewhere it is emulated and much slower than fp32. The limits that
PyTorch (`ATEN_CPU_CAPABILITY`) and oneDNN (`ONEDNN_MAX_CPU_ISA`) honour count: an AVX-512
machine told to run its AVX2 code paths is treated as the AVX2 machine it then is.
"""
from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass

# oneDNN's ISA names (ONEDNN_MAX_CPU_ISA), lowest to highest; bf16 is native from
# avx512_core_bf16 on (AVX512-BF16), and AMX adds tile bf16 matmuls.
_ONEDNN_ISAS = ["sse41", "avx", "avx2", "avx2_vnni", "avx2_vnni_2", "avx512_core", "avx512_core_vnni",
                "avx512_core_bf16", "avx10_1_512", "avx512_core_fp16", "avx10_1_512_amx",
                "avx512_core_amx", "avx10_1_512_amx_fp16", "avx512_core_amx_fp16", "default", "all"]
FLAGS_THAT_MATTER = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


@dataclass(frozen=True)
class Machine:
    cpu: str                  # model name, e.g. "AMD EPYC 7B13"
    flags: frozenset          # of FLAGS_THAT_MATTER, as /proc/cpuinfo spells them
    cores: int                # CPUs this process may run on
    isa_limits: dict          # the ISA-limiting environment variables that are set

    @property
    def cpu_bf16(self) -> bool:
        """The CPU executes bfloat16 natively and no ISA limit forbids using it."""
        has = "avx512_bf16" in self.flags or "amx_bf16" in self.flags
        return has and not limited_below(self.isa_limits, "avx512_core_bf16")

    @property
    def kind(self) -> str:
        """A short name of the code path torch and oneDNN take here (limits included)."""
        if self.cpu_bf16:
            return "amx" if "amx_bf16" in self.flags else "avx512_bf16"
        if "avx512f" in self.flags and not limited_below(self.isa_limits, "avx512_core"):
            return "avx512"
        return "avx2" if "avx2" in self.flags else "baseline"


def limited_below(limits: dict, isa: str) -> bool:
    """True when ATEN_CPU_CAPABILITY or ONEDNN_MAX_CPU_ISA keeps torch or oneDNN below `isa`
    (a oneDNN ISA name, avx512_core or higher)."""
    if limits.get("ATEN_CPU_CAPABILITY", "").lower() in ("default", "avx2", "zvector", "vsx"):
        return True  # ATen's non-AVX-512 kernel sets
    cap = limits.get("ONEDNN_MAX_CPU_ISA", "").lower()
    return cap in _ONEDNN_ISAS and _ONEDNN_ISAS.index(cap) < _ONEDNN_ISAS.index(isa)


def _cpuinfo() -> tuple[str, set]:
    model, flags = "", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:  # not Linux: the model from platform, flags unknown (fp32 everywhere)
        pass
    return model or platform.processor() or platform.machine(), flags


@functools.lru_cache(maxsize=1)
def machine() -> Machine:
    model, flags = _cpuinfo()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limits = {k: os.environ[k] for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA",
                                         "OMP_NUM_THREADS") if os.environ.get(k)}
    if "DNNL_MAX_CPU_ISA" in limits and "ONEDNN_MAX_CPU_ISA" not in limits:  # oneDNN's older name
        limits["ONEDNN_MAX_CPU_ISA"] = limits["DNNL_MAX_CPU_ISA"]
    return Machine(model, frozenset(f for f in FLAGS_THAT_MATTER if f in flags), cores, limits)


def machine_line() -> str:
    """One line for the top of a benchmark table: where the numbers were measured."""
    import torch
    m = machine()
    flags = " ".join(f for f in FLAGS_THAT_MATTER if f in m.flags) or "none known"
    limits = ", ".join(f"{k}={v}" for k, v in m.isa_limits.items()) or "none"
    n = torch.get_num_threads()
    line = (f"machine: {m.cpu}; flags: {flags}; {m.cores} cores, torch {torch.__version__} on "
            f"{n} thread{'s' if n != 1 else ''}, ATen {torch.backends.cpu.get_cpu_capability()}, "
            f"kind {m.kind}; env limits: {limits}")
    if torch.cuda.is_available():
        line += f"; GPU: {torch.cuda.get_device_name(0)}"
    return line


# ---------------------------------------------------------------- speed settings

def native_bf16(device) -> bool:
    """bfloat16 runs natively on `device` (a torch.device)."""
    import torch
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type != "cpu":
        return False
    # oneDNN's own check honours ONEDNN_MAX_CPU_ISA; the flags say whether it is native
    # (oneDNN also "supports" bf16 on plain AVX-512 by converting, which is slower than fp32)
    return machine().cpu_bf16 and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def has_conv(model) -> bool:
    import torch
    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def precision_auto(device) -> str:
    """What `precision: auto` is on `device`: "bf16" on a GPU that runs it natively, "fp32"
    where bf16 is not native (emulated: far slower), "measure" on a CPU with native bf16
    (AVX512-BF16/AMX), where the faster of the two depends on the model and batch."""
    if not native_bf16(device):
        return "fp32"
    return "measure" if device.type == "cpu" else "bf16"


def kernels_auto(device) -> str:
    """What `kernels: auto` is on `device`: "measure" on a CPU (mnistlab.train.kernels times the
    fused tail against torch's ops where the model has a span the kernels take and they
    build, else torch's ops), "torch" elsewhere (the kernels are CPU code)."""
    return "measure" if device.type == "cpu" else "torch"


@dataclass(frozen=True)
class Speed:
    """A run's speed settings as resolved on this machine, one frozen value: what config.yaml
    records in place of each `auto` (so the file reruns the same way), and what the training
    loop reads. `note` says how precision auto was decided and `kernels_note` how kernels
    auto was (config.yaml comments)."""
    precision: str          # fp32 | bf16
    threads: int
    batch_split: int
    channels_last: bool
    eval_batch: int
    kernels: str            # torch | fused: the CPU max-pool/ReLU/dropout tail (models/fused.py)
    note: str | None = None
    kernels_note: str | None = None

    def config(self) -> dict:
        return {"precision": self.precision, "threads": self.threads, "batch_split": self.batch_split,
                "channels_last": self.channels_last, "eval_batch": self.eval_batch, "kernels": self.kernels}


def resolve_speed(cfg: dict, model, device) -> dict:
    """The recipe's speed keys with every `auto` (or None) replaced by this machine's choice.

    precision auto: precision_auto(device), i.e. possibly "measure", which the caller
    resolves by timing (mnistlab.train.precision); kernels auto likewise (kernels_auto,
    mnistlab.train.kernels). threads None: torch's count (all
    cores, or OMP_NUM_THREADS). channels_last auto: conv models on CPU and CUDA (oneDNN's
    convolutions are slower in NCHW, docs/training.md; cuDNN's tensor cores want NHWC too). eval_batch
    auto: 512 on a CPU (bigger batches overflow its caches), 4096 elsewhere.
    """
    import torch
    out = {}
    precision = cfg.get("precision", "auto")
    if precision == "auto":
        precision = precision_auto(device)
    out["precision"] = precision
    threads = cfg.get("threads")
    out["threads"] = int(threads) if threads is not None else torch.get_num_threads()
    cl = cfg.get("channels_last", "auto")
    out["channels_last"] = (device.type in ("cpu", "cuda") and has_conv(model)) if cl == "auto" else bool(cl)
    eb = cfg.get("eval_batch", "auto")
    out["eval_batch"] = (512 if device.type == "cpu" else 4096) if eb == "auto" else int(eb)
    kernels = cfg.get("kernels", "auto")
    out["kernels"] = kernels_auto(device) if kernels == "auto" else kernels
    return out
