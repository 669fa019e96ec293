"""precision auto on a CPU with native bf16: measured on the run's step, with a margin, cached;
never measured where the answer is known (explicit precision, no native bf16)."""
import json

import pytest
import torch

from mnistlab import hardware
from mnistlab.cli import main
from mnistlab.train import train_run, open_run
from mnistlab.train import kernels as K
from mnistlab.train import precision as P
from mnistlab.train import probe
from tests.unit.test_hardware import LAPTOP, ZEN4, fake
from tests.unit.test_train_run import recipe, strip, tiny_dataset


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Each test its own empty user cache (never the real ~/.cache)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "mnistlab" / P.CACHE_NAME


@pytest.fixture(autouse=True)
def probe_any_run(monkeypatch):
    """The tiny runs here train a few steps, fewer than a probe takes (which keeps fp32 without
    measuring, probe.too_short): the tests of the timing itself lift that floor."""
    monkeypatch.setattr(probe, "PROBE_STEPS", 0)


@pytest.fixture(autouse=True)
def kernels_tie(monkeypatch):
    """kernels auto (the tiny model's dropout is a span it times) is test_train_kernels.py's:
    here its probe reports a tie, so the runs keep torch's ops without timing anything."""
    monkeypatch.setattr(K, "measure", lambda step, rounds=5: ([1.0] * rounds, [1.0] * rounds, 2))


def fake_timer(monkeypatch, fp32=0.020, bf16=0.010, run_steps=False):
    """Replace the step timer: fixed seconds per precision (a list: one value per call).
    Returns the list of (precision, steps) it was asked to time."""
    calls = []
    seq = {p: (iter(v) if isinstance(v, list) else None) for p, v in (("fp32", fp32), ("bf16", bf16))}

    def timed(step, precision, n):
        calls.append((precision, n))
        if run_steps:
            step(precision, n)
        v = fp32 if precision == "fp32" else bf16
        return next(seq[precision]) if seq[precision] is not None else v

    monkeypatch.setattr(P, "_timed", timed)
    return calls


def never_measure(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("precision was measured")
    monkeypatch.setattr(P, "measure", boom)


# ---------------------------------------------------------------- the margin rule

@pytest.mark.parametrize("fp32, bf16, expected", [
    ([10, 10, 10, 10, 10], [8, 8, 8, 8, 8], True),        # 20% faster in every round
    ([10, 10, 10, 10, 10], [9.7, 9.7, 9.7, 9.7, 9.7], False),  # 3% faster: inside the margin
    ([10, 10, 10, 10, 10], [9.5, 9.5, 9.5, 9.5, 9.5], True),   # exactly the margin
    ([10, 10, 10, 10, 10], [8, 8, 8, 12, 8], True),       # one round spoilt by a burst
    ([10, 10, 10, 10, 10], [8, 8, 8, 12, 12], False),     # slower in two rounds: not consistent
    ([10, 10, 10, 10, 10], [12, 12, 12, 12, 12], False),  # bf16 slower
    ([10, 20, 10, 20, 10], [8, 16, 8, 16, 8], True),      # paired ratios cancel the shared load
    ([], [], False),
])
def test_bf16_only_when_clearly_and_consistently_faster(fp32, bf16, expected):
    assert P.decide(fp32, bf16) is expected


def test_measure_interleaves_single_steps_and_keeps_each_rounds_fastest(monkeypatch):
    calls = fake_timer(monkeypatch, fp32=[0.05] + [0.02, 0.03] * 50, bf16=[0.04] + [0.012, 0.011] * 50)
    warm = []
    fp32, bf16, steps = P.measure(lambda p, n: warm.append((p, n)), rounds=3)
    assert warm == [("fp32", P.WARMUP_STEPS), ("bf16", P.WARMUP_STEPS)]
    assert steps == min(P.MAX_STEPS, round(P.ROUND_SECONDS / 0.04))
    timed = calls[2:]  # after the two one-step estimates
    assert all(n == 1 for _, n in timed) and len(timed) == 3 * 2 * steps
    assert [p for p, _ in timed[:4]] == ["fp32", "bf16", "bf16", "fp32"]  # alternating order
    assert fp32 == [0.02] * 3 and bf16 == [0.011] * 3


# ---------------------------------------------------------------- when it measures

def test_a_run_shorter_than_a_probe_keeps_fp32_and_torchs_ops_without_measuring(monkeypatch, cache, capsys):
    fake(monkeypatch, ZEN4)
    calls = fake_timer(monkeypatch, fp32=0.020, bf16=0.010)
    monkeypatch.setattr(K, "measure", lambda *a, **k: pytest.fail("kernels were measured"))
    floor = 2 * (probe.WARMUP_STEPS + 1 + probe.ROUNDS * probe.MAX_STEPS)  # the probe's own count
    monkeypatch.setattr(probe, "PROBE_STEPS", floor)
    # 72 training images at batch 16: 5 steps an epoch
    short = open_run(train_run(recipe(epochs=1), dataset=tiny_dataset(), out=cache.parent.parent / "a"))
    assert not calls and not cache.exists(), "nothing measured, nothing cached"
    config = (short.dir / "config.yaml").read_text().splitlines()
    note = f"auto: not measured, the run's 5 training steps are fewer than a probe's {floor}"
    assert f"precision: fp32  # {note}" in config
    assert f"kernels: torch  # {note}" in config
    assert f"fp32 ({note})" in capsys.readouterr().out
    # a run of as many steps as a probe takes is measured (3 epochs of 5 steps)
    monkeypatch.setattr(probe, "PROBE_STEPS", 5 * 3)
    monkeypatch.setattr(K, "measure", lambda step, rounds=5: ([1.0] * rounds, [1.0] * rounds, 2))
    long = open_run(train_run(recipe(epochs=3), dataset=tiny_dataset(), out=cache.parent.parent / "b"))
    assert calls and long.config["precision"] == "bf16"


def test_the_choice_is_measured_once_then_cached(monkeypatch, cache, capsys):
    fake(monkeypatch, ZEN4)
    calls = fake_timer(monkeypatch, fp32=0.020, bf16=0.010)
    first = open_run(train_run(recipe(epochs=1), dataset=tiny_dataset(), out=cache.parent.parent / "a"))
    assert calls, "the first run measures"
    assert "bf16 (auto, measured: fp32 20.0 ms vs bf16 10.0 ms per step" in capsys.readouterr().out
    assert first.config["precision"] == "bf16"
    entry, = json.loads(cache.read_text())["choices"].values()
    assert entry["precision"] == "bf16" and "batch 16" in entry["what"]

    calls.clear()
    second = open_run(train_run(recipe(epochs=1), dataset=tiny_dataset(), out=cache.parent.parent / "b"))
    assert not calls, "the second identical run reuses the cached choice"
    assert second.config["precision"] == "bf16"
    assert "bf16 (auto, cached: fp32 20.0 ms vs bf16 10.0 ms" in capsys.readouterr().out
    # config.yaml says how it was chosen, and stays a recipe that trains again
    line = next(l for l in (second.dir / "config.yaml").read_text().splitlines() if l.startswith("precision:"))
    assert line.startswith("precision: bf16  # auto, cached: fp32 20.0 ms")

    calls.clear()  # another batch size is another step: measured on its own
    open_run(train_run(recipe(epochs=1, batch_size=8), dataset=tiny_dataset(), out=cache.parent.parent / "c", quiet=True))
    assert calls and len(json.loads(cache.read_text())["choices"]) == 2


def test_fp32_is_kept_unless_bf16_is_clearly_faster(monkeypatch, cache):
    fake(monkeypatch, ZEN4)
    fake_timer(monkeypatch, fp32=0.020, bf16=0.0195)
    run = open_run(train_run(recipe(epochs=1), dataset=tiny_dataset(), out=cache.parent.parent, quiet=True))
    assert run.config["precision"] == "fp32"


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_an_explicit_precision_is_never_measured(monkeypatch, cache, precision):
    fake(monkeypatch, ZEN4)
    never_measure(monkeypatch)
    run = open_run(train_run(recipe(epochs=1, precision=precision), dataset=tiny_dataset(),
                       out=cache.parent.parent, quiet=True))
    assert run.config["precision"] == precision and not cache.exists()


def test_no_native_bf16_is_fp32_without_measuring(monkeypatch, cache):
    fake(monkeypatch, LAPTOP)
    never_measure(monkeypatch)
    run = open_run(train_run(recipe(epochs=1), dataset=tiny_dataset(), out=cache.parent.parent, quiet=True))
    assert run.config["precision"] == "fp32" and not cache.exists()


def test_compile_is_fp32_without_measuring(monkeypatch, cache):
    from contextlib import ExitStack

    from mnistlab.train.recipe import Recipe
    from mnistlab.train.session import Session
    fake(monkeypatch, ZEN4)
    never_measure(monkeypatch)
    monkeypatch.setattr(torch, "compile", lambda m: m)  # the probe question only, not compilation
    with ExitStack() as stack:
        s = Session(Recipe(recipe(epochs=1, compile=True)), tiny_dataset(), stack)
    assert s.cfg["precision"] == "fp32" and "not measured" in s.notes["precision"]


def test_a_damaged_cache_warns_and_is_measured_again(monkeypatch, cache):
    fake(monkeypatch, ZEN4)
    calls = fake_timer(monkeypatch)
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    with pytest.warns(UserWarning, match="unreadable"):
        train_run(recipe(epochs=1), dataset=tiny_dataset(), out=cache.parent.parent, quiet=True)
    assert calls and json.loads(cache.read_text())["format"] == P.FORMAT


# ---------------------------------------------------------------- the run is not disturbed

def test_the_probe_leaves_the_runs_numbers_alone(monkeypatch, cache):
    """Same seed: a run that measured (real steps of the copy, dropout included) trains the
    same numbers and weights as one that did not."""
    fake(monkeypatch, ZEN4)
    calls = fake_timer(monkeypatch, fp32=0.010, bf16=0.020, run_steps=True)  # fp32 wins
    measured = open_run(train_run(recipe(epochs=2), dataset=tiny_dataset(), out=cache.parent.parent / "a", quiet=True))
    assert calls and measured.config["precision"] == "fp32"
    plain = open_run(train_run(recipe(epochs=2, precision="fp32"), dataset=tiny_dataset(),
                         out=cache.parent.parent / "b", quiet=True))
    assert strip(measured.history.rows) == strip(plain.history.rows)
    for a, b in zip(measured.model.state_dict().values(), plain.model.state_dict().values()):
        assert torch.equal(a, b)


def test_measuring_restores_the_global_rng_and_leaves_model_alone(monkeypatch):
    fake(monkeypatch, ZEN4)
    fake_timer(monkeypatch, run_steps=True)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(36, 3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = {"batch_size": 8, "batch_split": 1, "optimizer": {"name": "adam", "lr": 0.1}}
    x, y = torch.rand(20, 1, 6, 6), torch.randint(0, 3, (20,))
    torch.manual_seed(3)
    state = torch.get_rng_state()
    P.measure_run(model, cfg, x, y)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# ---------------------------------------------------------------- mnistlab doctor

def test_doctor_prints_the_machine_and_the_cached_choices(monkeypatch, cache, capsys):
    fake(monkeypatch, ZEN4)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "machine: Test CPU" in out and "avx512_bf16" in out and "no precision choices cached yet" in out
    fake_timer(monkeypatch, fp32=0.030, bf16=0.020)
    train_run(recipe(epochs=1), dataset=tiny_dataset(), out=cache.parent.parent, quiet=True)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert f"cached in {cache}" in out
    assert "bf16  tiny" in out and "batch 16" in out and "fp32 30.0 ms vs bf16 20.0 ms per step" in out


def test_doctor_measure_replaces_the_cached_choice(monkeypatch, cache, capsys, tmp_path):
    import yaml
    fake(monkeypatch, ZEN4)
    # a recipe file whose data is an .npz of the tiny dataset
    import numpy as np
    ds = tiny_dataset()
    data = tmp_path / "tiny.npz"
    np.savez(data, x_train=ds.x_train.numpy(), y_train=ds.y_train.numpy(), x_test=ds.x_test.numpy(),
             y_test=ds.y_test.numpy())
    r = recipe(epochs=1)
    r["data"] = {"dataset": str(data), "validation_split": 0.25}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(r))
    fake_timer(monkeypatch, fp32=0.030, bf16=0.020)
    assert main(["doctor", "--measure", str(path)]) == 0
    assert "tiny, batch 16: bf16 (auto, measured:" in capsys.readouterr().out
    fake_timer(monkeypatch, fp32=0.020, bf16=0.030)  # the machine changed its mind: re-measured
    assert main(["doctor", "--measure", str(path), "--batch-size", "16"]) == 0
    assert "tiny, batch 16: fp32 (auto, measured:" in capsys.readouterr().out
    assert [e["precision"] for e in json.loads(cache.read_text())["choices"].values()] == ["fp32"]


def test_doctor_refuses_options_without_measure_and_measuring_with_nothing_to_time(monkeypatch, capsys):
    from mnistlab.models import native
    assert main(["doctor", "--batch-size", "64"]) == 2
    assert "--measure" in capsys.readouterr().err
    fake(monkeypatch, LAPTOP)  # no native bf16, and no compiler for the fused kernels
    monkeypatch.setenv("CC", "/nonexistent/cc")
    native.library.cache_clear()
    try:
        assert main(["doctor", "--measure", "nb000-cnn"]) == 2
    finally:
        native.library.cache_clear()
    err = capsys.readouterr().err
    assert "no native bfloat16" in err and "the fused kernels do not build here" in err


def test_precision_auto_is_decided_by_capability_except_on_a_bf16_cpu(monkeypatch):
    fake(monkeypatch, ZEN4)
    assert hardware.precision_auto(torch.device("cpu")) == "measure"
    fake(monkeypatch, LAPTOP)
    assert hardware.precision_auto(torch.device("cpu")) == "fp32"
