"""The `kernels` setting (auto | torch | fused): validated with the recipe, recorded in
config.yaml, kept by a resume; `auto` times the fused max-pool/ReLU/dropout tail against
torch's ops on the run's step (train/kernels.py, with precision auto's probe), keeps the
fused tail only by the margin, caches the answer, and never disturbs the run's numbers;
without a compiler it is torch's ops with the one warning line."""
import json
import warnings

import numpy as np
import pytest
import torch
import yaml

import mnistlab
from mnistlab.cli import main
from mnistlab.errors import MnistlabError, MnistlabWarning
from mnistlab.models import build, fused, native
from mnistlab.models.layers import fusable
from mnistlab.train import kernels as K
from mnistlab.train import probe
from mnistlab.train import open_run, train_run
from mnistlab.train import training as run_mod
from mnistlab.train.recipe import Recipe
from tests.unit.test_hardware import LAPTOP, fake
from tests.unit.test_train_run import SPEC, strip, tiny_dataset
from tests.unit.test_train_run import recipe as base_recipe

NO_SPAN = {**SPEC, "layers": [layer for layer in SPEC["layers"] if layer["type"] != "dropout"]}


@pytest.fixture(autouse=True)
def probe_any_run(monkeypatch):
    """The tiny runs here train fewer steps than a probe takes (which keeps torch's ops without
    measuring, probe.too_short; test_train_precision.py tests that): lift that floor."""
    monkeypatch.setattr(probe, "PROBE_STEPS", 0)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Each test its own empty user cache (the kernels library, built once per session in the
    session's cache, is loaded first)."""
    fused.status()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "mnistlab" / K.CACHE.name


@pytest.fixture
def built():
    if not fused.status()[0]:
        pytest.skip("the fused kernels did not build here (no C compiler?)")


@pytest.fixture
def no_compiler(monkeypatch):
    """The kernels do not build (CC points nowhere) for this test; the process's library and
    warnings are as before afterwards."""
    monkeypatch.setenv("CC", "/nonexistent/cc")
    native.library.cache_clear()
    warned = set(fused._warned)
    fused._warned.clear()
    yield
    native.library.cache_clear()
    fused._warned.clear()
    fused._warned.update(warned)


def recipe(**kw):
    """The tiny run (its dropout is a span the kernels take) in fp32: precision auto would time
    its own probe on a CPU with native bf16; kernels auto is what is tested here."""
    return base_recipe(**{"precision": "fp32", **kw})


def fake_timer(monkeypatch, torch_s=0.020, fused_s=0.010, run_steps=False):
    """Fixed seconds per path in place of the step timer; returns the (path, steps) it was asked."""
    calls = []

    def timed(step, path, n):
        calls.append((path, n))
        if run_steps:
            step(path, n)
        return torch_s if path == "torch" else fused_s

    monkeypatch.setattr(K, "_timed", timed)
    return calls


def never_measure(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("kernels were measured")
    monkeypatch.setattr(K, "measure", boom)


def tail_calls(monkeypatch) -> list:
    """Counts the spans that run through the fused kernels."""
    calls, real = [], fused.tail

    def spy(*a, **k):
        calls.append(1)
        return real(*a, **k)
    monkeypatch.setattr(fused, "tail", spy)
    return calls


def config_line(run, key: str) -> str:
    return next(line for line in (run.dir / "config.yaml").read_text().splitlines() if line.startswith(f"{key}:"))


# ---------------------------------------------------------------- the setting

def test_a_bad_value_is_one_line_naming_the_key_and_its_choices(tmp_path):
    with pytest.raises(MnistlabError) as err:
        Recipe(recipe(kernels="fast"))
    assert str(err.value) == "'kernels' must be one of auto, torch, fused, got 'fast'"
    with pytest.raises(MnistlabError, match="'kernels' must be one of auto, torch, fused"):
        mnistlab.fit(recipe(), dataset=tiny_dataset(), kernels=True, out=tmp_path / "runs", quiet=True, report=False)
    assert not (tmp_path / "runs").exists()  # refused before anything was written
    assert Recipe(recipe()).kernels == "auto"


@pytest.mark.parametrize("path", ["torch", "fused"])
def test_an_explicit_path_is_recorded_and_honoured_and_never_measured(monkeypatch, cache, tmp_path, capsys, path):
    if path == "fused" and not fused.status()[0]:
        pytest.skip("the fused kernels did not build here")
    never_measure(monkeypatch)
    spans = tail_calls(monkeypatch)
    run = mnistlab.fit(recipe(epochs=1), dataset=tiny_dataset(), kernels=path, out=tmp_path, report=False)
    assert run.config["kernels"] == path and config_line(run, "kernels") == f"kernels: {path}"
    assert bool(spans) == (path == "fused") and not cache.exists()
    assert (", fused tail" in capsys.readouterr().out) == (path == "fused")


def tiny_recipe_file(tmp_path):
    """A 1-epoch recipe file on the tiny dataset saved beside it (what the CLI takes)."""
    ds = tiny_dataset()
    data = tmp_path / "tiny.npz"
    np.savez(data, x_train=ds.x_train.numpy(), y_train=ds.y_train.numpy(), x_test=ds.x_test.numpy(),
             y_test=ds.y_test.numpy())
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**recipe(epochs=1), "data": {"dataset": str(data), "validation_split": 0.25}}))
    return path


def test_the_cli_flag_sets_it(monkeypatch, tmp_path):
    never_measure(monkeypatch)
    path = tiny_recipe_file(tmp_path)
    assert main(["train", str(path), "--kernels", "torch", "--out", str(tmp_path / "runs"), "--quiet",
                 "--no-report"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert open_run(run_dir).config["kernels"] == "torch"


# ---------------------------------------------------------------- auto: timed, with a margin, cached

@pytest.mark.parametrize("torch_s, fused_s, expected", [
    (0.020, 0.010, "fused"),   # clearly faster
    (0.010, 0.020, "torch"),   # slower
    (0.020, 0.0195, "torch"),  # 2.5% faster: inside the margin
])
def test_auto_keeps_the_fused_tail_only_when_clearly_faster(monkeypatch, cache, built, torch_s, fused_s, expected):
    calls = fake_timer(monkeypatch, torch_s, fused_s)
    run = open_run(train_run(recipe(epochs=1), dataset=tiny_dataset(), out=cache.parent.parent, quiet=True))
    assert {p for p, _ in calls} == {"torch", "fused"}
    assert run.config["kernels"] == expected
    # config.yaml records the path used and how auto chose it; it reruns as a recipe
    line = config_line(run, "kernels")
    assert line.startswith(f"kernels: {expected}  # auto, measured: torch {torch_s * 1e3:.1f} ms vs fused "
                           f"{fused_s * 1e3:.1f} ms per step (fused/torch {fused_s / torch_s:.2f};"), line
    assert Recipe(yaml.safe_load((run.dir / "config.yaml").read_text())).kernels == expected
    entry, = json.loads(cache.read_text())["choices"].values()
    assert entry["kernels"] == expected and "tiny" in entry["what"] and entry["what"].endswith(", fp32")


def test_the_choice_is_measured_once_then_cached(monkeypatch, cache, built, capsys):
    calls = fake_timer(monkeypatch)
    first = open_run(train_run(recipe(epochs=1), dataset=tiny_dataset(), out=cache.parent.parent / "a"))
    assert calls and first.config["kernels"] == "fused"
    assert "fused tail (auto, measured: torch 20.0 ms vs fused 10.0 ms per step" in capsys.readouterr().out

    calls.clear()
    second = open_run(train_run(recipe(epochs=1), dataset=tiny_dataset(), out=cache.parent.parent / "b"))
    assert not calls, "the second identical run reuses the cached choice"
    assert second.config["kernels"] == "fused"
    assert "fused tail (auto, cached: torch 20.0 ms vs fused 10.0 ms" in capsys.readouterr().out
    assert config_line(second, "kernels").startswith("kernels: fused  # auto, cached: torch 20.0 ms")

    calls.clear()  # another batch size is another step: measured on its own
    open_run(train_run(recipe(epochs=1, batch_size=8), dataset=tiny_dataset(), out=cache.parent.parent / "c",
                       quiet=True))
    assert calls and len(json.loads(cache.read_text())["choices"]) == 2


def test_the_key_holds_the_precision_and_the_step():
    model = build(SPEC)
    cfg = {"name": "tiny", "batch_size": 16, "channels_last": False, "threads": 1, "batch_split": 1,
           "optimizer": {"name": "adam"}, "precision": "fp32"}
    key, what = K.signature(cfg, model, (1, 6, 6))
    assert what == "tiny (177 params), batch 16, 1 thread, adam, fp32"
    assert K.signature({**cfg, "precision": "bf16"}, model, (1, 6, 6))[0] != key
    assert K.signature({**cfg, "threads": 2}, model, (1, 6, 6))[0] != key
    assert K.signature(dict(cfg), model, (1, 6, 6))[0] == key


# ---------------------------------------------------------------- the run is not disturbed

@pytest.mark.parametrize("winner", ["torch", "fused"])
def test_the_probe_leaves_the_runs_numbers_alone(monkeypatch, cache, built, winner):
    """Same seed: a run whose auto measured (real steps of the copy on both paths, dropout
    included) trains the same numbers and weights as one told the path it chose."""
    calls = fake_timer(monkeypatch, *((0.010, 0.020) if winner == "torch" else (0.020, 0.010)), run_steps=True)
    measured = open_run(train_run(recipe(epochs=2), dataset=tiny_dataset(), out=cache.parent.parent / "a", quiet=True))
    assert calls and measured.config["kernels"] == winner
    plain = open_run(train_run(recipe(epochs=2, kernels=winner), dataset=tiny_dataset(),
                               out=cache.parent.parent / "b", quiet=True))
    assert strip(measured.history.rows) == strip(plain.history.rows)
    for a, b in zip(measured.model.state_dict().values(), plain.model.state_dict().values()):
        assert torch.equal(a, b)


def test_measuring_restores_the_global_rng_and_leaves_the_model_alone(monkeypatch, built):
    fake_timer(monkeypatch, run_steps=True)
    model = build(SPEC)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = {"batch_size": 8, "batch_split": 1, "optimizer": {"name": "adam", "lr": 0.1}, "precision": "fp32"}
    x, y = torch.randint(0, 255, (20, 6, 6, 1), dtype=torch.uint8), torch.randint(0, 3, (20,))
    torch.manual_seed(3)
    state = torch.get_rng_state()
    entry = K.measure_run(model, cfg, x, y)
    assert entry["kernels"] == "fused" and len(entry["torch"]) == len(entry["fused"]) == K.probe.ROUNDS
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.kernels == "torch"  # only the copy ran fused


# ---------------------------------------------------------------- a resume keeps the path

def _interrupted(monkeypatch, cfg, out):
    """A run of `cfg` interrupted in its third epoch (after two checkpoints): its folder."""
    real, calls = run_mod.train_epoch, []

    def interrupt_in_epoch_3(*args, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(run_mod, "train_epoch", interrupt_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, dataset=tiny_dataset(), out=out, quiet=True)
    monkeypatch.setattr(run_mod, "train_epoch", real)
    (partial,) = list(out.iterdir())
    return partial


def test_a_resume_keeps_the_recorded_path_without_measuring(monkeypatch, cache, built):
    fake_timer(monkeypatch)  # fused wins
    full = open_run(train_run(recipe(), dataset=tiny_dataset(), out=cache.parent.parent / "a", quiet=True))
    assert full.config["kernels"] == "fused"
    partial = _interrupted(monkeypatch, recipe(), cache.parent.parent / "b")
    cache.unlink()  # the machine's answer is gone (or would be another now): the run keeps its own
    never_measure(monkeypatch)
    spans = tail_calls(monkeypatch)
    resumed = open_run(train_run(resume=partial, dataset=tiny_dataset(), quiet=True))
    assert resumed.config["kernels"] == "fused" and spans and not cache.exists()
    assert strip(resumed.history.rows) == strip(full.history.rows)


def test_a_run_recorded_before_the_setting_resumes_on_torchs_ops(monkeypatch, cache):
    never_measure(monkeypatch)
    full = open_run(train_run(recipe(kernels="torch"), dataset=tiny_dataset(), out=cache.parent.parent / "a",
                              quiet=True))
    partial = _interrupted(monkeypatch, recipe(kernels="torch"), cache.parent.parent / "b")
    config = partial / "config.yaml"
    config.write_text("".join(line for line in config.read_text().splitlines(keepends=True)
                              if not line.startswith("kernels:")))
    spans = tail_calls(monkeypatch)
    resumed = open_run(train_run(resume=partial, dataset=tiny_dataset(), quiet=True))
    assert not spans and strip(resumed.history.rows) == strip(full.history.rows)


# ---------------------------------------------------------------- where auto does not measure

def test_no_compiler_is_torchs_ops_with_the_one_warning_only_where_fused_would_run(monkeypatch, cache, no_compiler):
    never_measure(monkeypatch)
    out = cache.parent.parent

    def train(**kw):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run = open_run(train_run(recipe(epochs=1, **kw), dataset=tiny_dataset(), out=out, quiet=True))
        return run, [str(w.message) for w in caught if issubclass(w.category, MnistlabWarning)]

    run, said = train(kernels="torch")
    assert run.config["kernels"] == "torch" and said == []
    run, said = train(model=NO_SPAN)  # auto on a model it would not time: nothing to build, nothing said
    assert run.config["kernels"] == "torch" and said == []
    assert config_line(run, "kernels") == "kernels: torch  # auto: no max-pool or dropout span the fused kernels take"
    run, said = train()  # auto would have measured: the one line, and torch's ops
    assert run.config["kernels"] == "torch" and len(said) == 1, said
    assert "kernels are not available (the C compiler CC=/nonexistent/cc is not found)" in said[0]
    assert config_line(run, "kernels") == ("kernels: torch  # auto: the fused kernels are not available here "
                                           "(the C compiler CC=/nonexistent/cc is not found)")
    fused._warned.clear()  # once per process: a fresh process for the explicit request
    run, said = train(kernels="fused")
    assert run.config["kernels"] == "fused" and len(said) == 1 and "not available" in said[0]


def test_compile_and_a_model_without_a_span_are_torch_without_timing(monkeypatch, cache):
    from contextlib import ExitStack

    from mnistlab.train.session import Session
    never_measure(monkeypatch)
    monkeypatch.setattr(torch, "compile", lambda m: m)  # the probe question only, not compilation
    with ExitStack() as stack:
        s = Session(Recipe(recipe(epochs=1, compile=True)), tiny_dataset(), stack)
    assert s.cfg["kernels"] == "torch" and s.notes["kernels"] == "auto: not measured with compile: true"
    assert s.speed.kernels == "torch" and s.model.kernels == "torch"


def test_which_models_have_a_span_the_kernels_take():
    assert fusable(build("nb000-cnn")) and fusable(build(SPEC))  # pool + dropout; dropout alone
    assert not fusable(build(NO_SPAN)) and not fusable(torch.nn.Linear(3, 2))
    wide = {"input_shape": [2, 2048, 1], "layers": [  # 16 x 2048 values a row: wider than the kernels take
        {"type": "conv2d", "filters": 16, "kernel": 1, "activation": "relu"},
        {"type": "maxpool2d", "pool": 2}, {"type": "flatten"}, {"type": "dense", "units": 2}]}
    model = build(wide).train()
    before = torch.get_rng_state()
    assert not fusable(model)
    assert model.training and torch.equal(torch.get_rng_state(), before)


# ---------------------------------------------------------------- mnistlab doctor

def test_doctor_lists_the_cached_choices_and_measures_again(monkeypatch, cache, built, capsys, tmp_path):
    fake(monkeypatch, LAPTOP)  # no native bf16: precision auto is fp32 without timing, kernels are timed
    assert main(["doctor"]) == 0
    assert f"no kernels choices cached yet in {cache}" in capsys.readouterr().out
    fake_timer(monkeypatch, 0.030, 0.020)
    train_run(recipe(epochs=1, precision="auto"), dataset=tiny_dataset(), out=tmp_path / "runs", quiet=True)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert f"kernels choices cached in {cache}:" in out
    assert "  fused  tiny (177 params), batch 16" in out and "torch 30.0 ms vs fused 20.0 ms per step" in out

    path = tiny_recipe_file(tmp_path)
    fake_timer(monkeypatch, 0.020, 0.030)  # the machine changed its mind: measured again
    assert main(["doctor", "--measure", str(path)]) == 0
    out = capsys.readouterr().out
    assert "tiny, batch 16: torch tail (auto, measured: torch 20.0 ms vs fused 30.0 ms" in out
    assert [e["kernels"] for e in json.loads(cache.read_text())["choices"].values()] == ["torch"]
