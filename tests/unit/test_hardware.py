"""Hardware-aware speed settings: ISA detection honours the env limits; auto resolves per machine."""
import pytest
import torch

from mnistlab import hardware
from mnistlab.hardware import Machine

CPU = torch.device("cpu")
ZEN4 = frozenset({"avx2", "fma", "avx512f", "avx512_bf16"})
SAPPHIRE = frozenset({"avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
LAPTOP = frozenset({"avx2", "fma"})
AVX512_ONLY = frozenset({"avx2", "fma", "avx512f"})


def fake(monkeypatch, flags, limits=None, onednn_bf16=True):
    m = Machine("Test CPU", flags, 2, dict(limits or {}))
    monkeypatch.setattr(hardware, "machine", lambda: m)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: onednn_bf16, raising=False)
    return m


def conv_model():
    return torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(8, 2))


@pytest.mark.parametrize("flags, limits, expected", [
    (ZEN4, {}, "measure"),                             # native bf16: the run times both (train/precision.py)
    (SAPPHIRE, {}, "measure"),
    (LAPTOP, {}, "fp32"),
    (AVX512_ONLY, {}, "fp32"),                         # oneDNN would emulate bf16: slower than fp32
    (ZEN4, {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}, "fp32"),
    (ZEN4, {"ATEN_CPU_CAPABILITY": "avx2"}, "fp32"),
    (ZEN4, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, "fp32"),
    (SAPPHIRE, {"ONEDNN_MAX_CPU_ISA": "avx512_core_bf16"}, "measure"),
    (ZEN4, {"ATEN_CPU_CAPABILITY": "avx512"}, "measure"),
])
def test_precision_auto_considers_bf16_only_where_native_and_not_limited(monkeypatch, flags, limits, expected):
    fake(monkeypatch, flags, limits)
    assert hardware.resolve_speed({"precision": "auto"}, conv_model(), CPU)["precision"] == expected


def test_precision_auto_trusts_onednn_when_it_says_no_bf16(monkeypatch):
    fake(monkeypatch, ZEN4, onednn_bf16=False)  # e.g. a torch build or ISA cap we do not parse
    assert hardware.resolve_speed({"precision": "auto"}, conv_model(), CPU)["precision"] == "fp32"


def test_explicit_settings_are_kept(monkeypatch):
    fake(monkeypatch, LAPTOP)
    cfg = {"precision": "bf16", "threads": 1, "channels_last": False, "eval_batch": 64, "kernels": "fused"}
    assert hardware.resolve_speed(cfg, conv_model(), CPU) == cfg


def test_auto_layout_and_eval_batch_follow_model_and_device(monkeypatch):
    fake(monkeypatch, LAPTOP)
    cfg = {"precision": "auto", "threads": None, "channels_last": "auto", "eval_batch": "auto"}
    conv = hardware.resolve_speed(cfg, conv_model(), CPU)
    assert conv == {"precision": "fp32", "threads": torch.get_num_threads(), "channels_last": True, "eval_batch": 512,
                    "kernels": "measure"}  # kernels auto on a CPU: train/kernels.py decides
    mlp = hardware.resolve_speed(cfg, torch.nn.Linear(4, 2), CPU)
    assert mlp["channels_last"] is False
    assert hardware.resolve_speed(cfg, conv_model(), torch.device("meta"))["eval_batch"] == 4096
    assert hardware.resolve_speed(cfg, conv_model(), torch.device("meta"))["kernels"] == "torch"  # CPU code only


def test_the_real_env_limits_are_read(monkeypatch):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    hardware.machine.cache_clear()
    try:
        m = hardware.machine()
        assert m.isa_limits["ATEN_CPU_CAPABILITY"] == "avx2"
        assert not m.cpu_bf16 and m.kind in ("avx2", "baseline")
    finally:
        hardware.machine.cache_clear()


def test_machine_line_names_cpu_flags_cores_torch_and_limits(monkeypatch):
    fake(monkeypatch, ZEN4, {"ONEDNN_MAX_CPU_ISA": "AVX2"})
    line = hardware.machine_line()
    assert "Test CPU" in line and "avx512_bf16" in line and "2 cores" in line
    assert f"torch {torch.__version__}" in line and "ONEDNN_MAX_CPU_ISA=AVX2" in line
    assert "kind avx2" in line  # oneDNN (the convolutions) is capped at AVX2


def test_fit_records_the_resolved_settings(monkeypatch, tmp_path):
    from tests.unit.test_train_run import recipe, tiny_dataset
    from mnistlab.train import train_run, open_run
    fake(monkeypatch, LAPTOP)
    run = open_run(train_run(recipe(epochs=1), dataset=tiny_dataset(), out=tmp_path, quiet=True))
    assert run.config["precision"] == "fp32" and run.config["channels_last"] is True
    assert run.config["eval_batch"] == 512 and isinstance(run.config["threads"], int)
    assert run.config["kernels"] in ("torch", "fused")  # auto, resolved (train/kernels.py)
