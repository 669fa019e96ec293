"""train_run() on tiny synthetic data: determinism, resume equality, NaN guard, run directory."""
import contextlib
import json
import os

import pytest
import torch

from mnistlab.data import Dataset
from mnistlab.errors import MnistlabError
from mnistlab.train import train_run, open_run
from mnistlab.train.callback import LambdaCallback
from mnistlab import io as io_mod
from mnistlab.train import training as run_mod

SPEC = {"input_shape": [6, 6, 1], "layers": [
    {"type": "conv2d", "filters": 3, "kernel": 3, "activation": "relu"},
    {"type": "flatten"}, {"type": "dropout", "rate": 0.2},
    {"type": "dense", "units": 3, "activation": "softmax", "l2": 0.001}]}


def tiny_dataset(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randint(0, 60, (n, 6, 6, 1), generator=g, dtype=torch.uint8)
    x[torch.arange(n), y * 2, 1] = 250  # a learnable bright pixel per class
    return Dataset("tiny", x, y, x[:30].clone(), y[:30].clone(), ["a", "b", "c"])


def recipe(**kw):
    r = {"name": "tiny", "model": SPEC, "data": {"validation_split": 0.25}, "batch_size": 16,
         "epochs": 4, "seed": 1, "device": "cpu",
         "optimizer": {"name": "adam", "lr": 0.01},
         "callbacks": {"lr_schedule": {"name": "reduce_on_plateau", "patience": 1}}}
    r.update(kw)
    return r


def strip(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_run_directory_files_and_load_run(tmp_path):
    run_dir = train_run(recipe(), dataset=tiny_dataset(), out=tmp_path, quiet=True)
    names = sorted(p.name for p in run_dir.iterdir())
    # .lock: the one-writer lock (runs/lock.py); its owner note goes when fit releases it
    assert names == [".lock", "checkpoint.pt", "config.yaml", "history.csv", "metrics.json", "model.safetensors"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers
    run = open_run(run_dir)
    assert [r["epoch"] for r in run.history.rows] == [1, 2, 3, 4]
    assert set(run.history.rows[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    m = run.metrics
    for key in ("test_loss", "test_accuracy", "params", "epochs_run", "train_seconds", "seed", "device",
                "versions", "classes"):
        assert key in m
    assert m["epochs_run"] == 4 and m["classes"] == ["a", "b", "c"] and m["device"] == "cpu"
    assert m["test_accuracy"] > 0.5  # the bright pixel is learnable
    assert run.config["data"]["dataset"] == "memory:tiny"  # given in memory: not loadable by name
    # the saved weights are the evaluated ones: re-evaluating them gives the same test metrics
    from mnistlab.train.loop import evaluate
    from mnistlab.models import l2_penalty
    ds = tiny_dataset()
    loss, acc = evaluate(run.model, ds.x_test, ds.y_test, penalty=l2_penalty)
    assert acc == m["test_accuracy"] and loss == pytest.approx(m["test_loss"], rel=1e-5)


def test_same_seed_same_history_different_seed_differs(tmp_path):
    ds = tiny_dataset()
    runs = [open_run(train_run(recipe(seed=s), dataset=ds, out=tmp_path, quiet=True)) for s in (3, 3, 4)]
    assert strip(runs[0].history.rows) == strip(runs[1].history.rows)
    assert strip(runs[0].history.rows) != strip(runs[2].history.rows)


@pytest.mark.parametrize("kernels", ["torch", "fused"])  # fused: its counter-based dropout resumes too
def test_resume_after_interrupt_gives_the_uninterrupted_history(tmp_path, monkeypatch, kernels):
    ds = tiny_dataset()
    full = open_run(train_run(recipe(kernels=kernels), dataset=ds, out=tmp_path / "a", quiet=True))

    real, calls = run_mod.train_epoch, []

    def interrupt_in_epoch_3(*args, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(run_mod, "train_epoch", interrupt_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train_run(recipe(kernels=kernels), dataset=ds, out=tmp_path / "b", quiet=True)
    monkeypatch.setattr(run_mod, "train_epoch", real)
    (partial,) = list((tmp_path / "b").iterdir())
    assert not (partial / "metrics.json").exists()
    with pytest.raises(MnistlabError, match="--resume"):
        open_run(partial)
    resumed = train_run(resume=partial, dataset=ds, quiet=True)
    assert resumed == partial
    assert strip(open_run(resumed).history.rows) == strip(full.history.rows)
    assert open_run(resumed).metrics["test_loss"] == full.metrics["test_loss"]


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    real = run_mod.train_epoch

    def nan_in_epoch_2(*args, **kw):
        logs = real(*args, **kw)
        if len(nan_in_epoch_2.seen) == 1:  # the loss sum, still on the device (sync=False)
            logs["sums"] = logs["sums"].clone().index_fill_(0, torch.tensor([0]), float("nan"))
        nan_in_epoch_2.seen.append(1)
        return logs
    nan_in_epoch_2.seen = []
    monkeypatch.setattr(run_mod, "train_epoch", nan_in_epoch_2)
    with pytest.raises(MnistlabError, match=r"epoch 2; lower the learning rate.*epoch 1 is kept"):
        train_run(recipe(), dataset=tiny_dataset(), out=tmp_path, quiet=True)
    (run_dir,) = list(tmp_path.iterdir())
    ck = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert ck["state"]["epoch"] == 1


def test_real_divergence_is_caught(tmp_path):
    with pytest.raises(MnistlabError, match="lower the learning rate"):
        train_run(recipe(optimizer={"name": "sgd", "lr": 1e30}), dataset=tiny_dataset(), out=tmp_path,
            quiet=True)
    assert list(tmp_path.iterdir()) == []  # failed in epoch 1: nothing half-written is left


def test_early_stopping_restores_best_weights(tmp_path):
    es = {"monitor": "val_loss", "patience": 1, "restore_best_weights": True}
    r = recipe(epochs=30, optimizer={"name": "sgd", "lr": 0.5},
               callbacks={"early_stopping": es})
    run = open_run(train_run(r, dataset=tiny_dataset(), out=tmp_path, quiet=True))
    assert run.metrics["stopped_early"] and run.metrics["epochs_run"] < 30
    best = min(range(len(run.history.rows)), key=lambda i: run.history.rows[i]["val_loss"])
    assert run.metrics["best_epoch"] == best + 1


def test_val_monitor_without_validation_is_a_user_error(tmp_path):
    r = recipe(data={"validation": "none"}, callbacks={"early_stopping": {"patience": 2}})
    with pytest.raises(MnistlabError, match="no validation data"):
        train_run(r, dataset=tiny_dataset(), out=tmp_path, quiet=True)


def test_atomic_write_leaves_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    io_mod.write_atomic(target, "old")

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(io_mod.FileWriteError, match="cannot write .*metrics.json: disk full"):
        io_mod.write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_config_yaml_reruns_as_the_same_recipe(tmp_path):
    ds = tiny_dataset()
    first = open_run(train_run(recipe(epochs=2), dataset=ds, out=tmp_path, quiet=True))
    second = open_run(train_run(first.config, dataset=ds, out=tmp_path, quiet=True))
    assert second.config == first.config
    assert strip(second.history.rows) == strip(first.history.rows)
    assert json.loads((second.dir / "metrics.json").read_text())["test_loss"] == first.metrics["test_loss"]


def test_bf16_autocast_trains_keeps_fp32_weights_and_is_deterministic(tmp_path):
    ds = tiny_dataset()
    runs = [open_run(train_run(recipe(precision=p), dataset=ds, out=tmp_path, quiet=True))
            for p in ("bf16", "bf16", "fp32")]
    assert strip(runs[0].history.rows) == strip(runs[1].history.rows)
    assert strip(runs[0].history.rows) != strip(runs[2].history.rows)  # the forward really ran in bfloat16
    assert runs[0].metrics["test_accuracy"] > 0.5
    assert all(p.dtype == torch.float32 for p in runs[0].model.parameters())


def test_threads_apply_during_the_run_only(tmp_path):
    """Passes alone and in any order: the process is set to 2 threads first, so a run that
    ignored `threads: 1` (issue 22) would train on 2 even under OMP_NUM_THREADS=1."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen = []
        train_run(recipe(threads=1, epochs=1), dataset=tiny_dataset(), out=tmp_path, quiet=True,
            callbacks=[LambdaCallback(on_epoch_end=lambda epoch, row: seen.append(torch.get_num_threads()))])
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_batch_split_is_the_same_step_as_one_batch():
    """Two chunks on two threads give the gradient of the whole batch (no dropout: same math)."""
    from mnistlab.models import build, l2_penalty
    from mnistlab.train.parallel import BatchSplit
    spec = {**SPEC, "layers": [layer for layer in SPEC["layers"] if layer["type"] != "dropout"]}
    torch.manual_seed(0)
    model = build(spec)
    ds = tiny_dataset()
    x, y = ds.x_train[:40].permute(0, 3, 1, 2).float() / 255, ds.y_train[:40]
    loss = torch.nn.functional.cross_entropy(model(x), y, label_smoothing=0.1) + l2_penalty(model)
    expected = torch.autograd.grad(loss, list(model.parameters()))
    split = BatchSplit(model, 2, seed=0)
    try:
        got_loss, correct = split.step(x, y, penalty=l2_penalty, label_smoothing=0.1,
                                       autocast=contextlib.nullcontext)
        from mnistlab.train.loop import evaluate
        together = evaluate(model, ds.x_test, ds.y_test, batch_size=7)
        assert evaluate(model, ds.x_test, ds.y_test, batch_size=7, split=split) == pytest.approx(together)
    finally:
        split.close()
    assert float(got_loss) == pytest.approx(float(loss.detach()), rel=1e-5)
    assert int(correct) == int((model(x).argmax(1) == y).sum())
    for p, g in zip(model.parameters(), expected):
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-7)


def test_batch_split_runs_are_reproducible_and_resume_exactly(tmp_path, monkeypatch):
    ds = tiny_dataset()
    r = recipe(batch_split=2, epochs=3)
    runs = [open_run(train_run(r, dataset=ds, out=tmp_path / "a", quiet=True)) for _ in range(2)]
    assert runs[0].config["batch_split"] == 2
    assert strip(runs[0].history.rows) == strip(runs[1].history.rows)
    # interrupt after epoch 2, resume: the same history (the chunk generators are checkpointed)
    calls = {"n": 0}
    real = run_mod.train_epoch

    def interrupt_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    monkeypatch.setattr(run_mod, "train_epoch", interrupt_third)
    with pytest.raises(KeyboardInterrupt):
        train_run(r, dataset=ds, out=tmp_path / "b", quiet=True)
    monkeypatch.setattr(run_mod, "train_epoch", real)
    (partial,) = list((tmp_path / "b").iterdir())
    resumed = open_run(train_run(resume=partial, dataset=ds, quiet=True))
    assert strip(resumed.history.rows) == strip(runs[0].history.rows)


def test_batch_split_auto_skips_batchnorm_and_explicit_split_explains(tmp_path):
    bn_spec = {"input_shape": [6, 6, 1], "layers": [
        {"type": "conv2d", "filters": 3, "kernel": 3}, {"type": "batchnorm"}, {"type": "flatten"},
        {"type": "dense", "units": 3, "activation": "softmax"}]}
    run = open_run(train_run(recipe(model=bn_spec, batch_size=64, epochs=1), dataset=tiny_dataset(), out=tmp_path,
                       quiet=True))
    assert run.config["batch_split"] == 1
    with pytest.raises(MnistlabError, match="batch_split: 2 is not possible here: the model has BatchNorm"):
        train_run(recipe(model=bn_spec, batch_split=2), dataset=tiny_dataset(), out=tmp_path, quiet=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_best_weights_restored_after_all_epochs_and_evaluated_epoch_recorded(tmp_path):
    """Keras restores the best epoch's weights at the end of training even when no epoch
    stopped it; metrics.json says whose weights were evaluated."""
    ds = tiny_dataset()
    # lr 1.0 makes validation loss bounce, so the best epoch is not the last
    r = recipe(epochs=5, optimizer={"name": "adam", "lr": 1.0},
               callbacks={"early_stopping": {"patience": 10, "restore_best_weights": True}})
    run = open_run(train_run(r, dataset=ds, out=tmp_path, quiet=True))
    val = [row["val_loss"] for row in run.history.rows]
    best = min(range(len(val)), key=lambda i: (val[i], i)) + 1
    assert run.metrics["epochs_run"] == 5 and not run.metrics["stopped_early"]
    assert run.metrics["evaluated_epoch"] == best == run.metrics["best_epoch"]
    assert best < 5, val  # the seed and lr above make an earlier epoch the best: a real restore
    plain = open_run(train_run(recipe(epochs=2), dataset=ds, out=tmp_path / "p", quiet=True))
    assert plain.metrics["evaluated_epoch"] == 2  # no early stopping: the last epoch's weights


def test_divergence_rule():
    from mnistlab.train.divergence import DivergenceGuard
    guard = DivergenceGuard(10)  # limit 100 x ln(10) = 230.3
    assert guard.check({"loss": 2.3}) is None and guard.check({"loss": 200.0}) is None
    assert "over 100 x ln(10) = 230" in guard.check({"loss": 6e5})
    assert "nan" in guard.check({"loss": float("nan")})


def test_finite_divergence_is_a_verdict_not_a_success(tmp_path, monkeypatch):
    """Issue 17 item 8: a loss that explodes without NaN (Adam lr 1e6: 4e25, then 6e5) stops
    training, keeps and evaluates the last good epoch, says so in metrics.json, exits 2."""
    real = run_mod.train_epoch

    def explode_in_epoch_3(*args, **kw):
        logs = real(*args, **kw)
        if len(explode_in_epoch_3.seen) == 2:  # finite but far beyond any healthy loss
            logs["sums"] = logs["sums"].clone().index_fill_(0, torch.tensor([0]), 6e5 * 72)
        explode_in_epoch_3.seen.append(1)
        return logs
    explode_in_epoch_3.seen = []
    monkeypatch.setattr(run_mod, "train_epoch", explode_in_epoch_3)
    with pytest.raises(MnistlabError, match=r"training diverged: .* in epoch 3; lower the learning rate.*epoch 2"):
        train_run(recipe(epochs=5), dataset=tiny_dataset(), out=tmp_path, quiet=True)
    (run_dir,) = list(tmp_path.iterdir())
    run = open_run(run_dir)
    assert run.metrics["verdict"] == "diverged" and run.metrics["diverged"]["epoch"] == 3
    assert run.metrics["evaluated_epoch"] == 2 and run.metrics["epochs_run"] == 2
    assert run.metrics["test_accuracy"] is not None and len(run.history.rows) == 2
    ok = open_run(train_run(recipe(epochs=1), dataset=tiny_dataset(), out=tmp_path / "ok", quiet=True))
    assert ok.metrics["verdict"] == "ok"


@pytest.fixture
def process_on_one_thread():
    """Runs that are compared to the last bit must sum in the same order: the same thread
    count for all of them (resume's threads=1 is honoured since issue 22)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_resume_with_epochs_extends_a_finished_run(tmp_path, capsys, process_on_one_thread):
    """Issue 17 item 11: like calling Keras fit again; runtime options allowed on resume."""
    from mnistlab.cli import main
    ds = tiny_dataset()
    run_dir = train_run(recipe(epochs=2), dataset=ds, out=tmp_path, quiet=True)
    two = open_run(run_dir)
    with pytest.raises(MnistlabError, match="pass epochs=N with N > 2"):  # Python words, not flags
        train_run(resume=run_dir, dataset=ds, quiet=True)
    train_run(resume=run_dir, dataset=ds, quiet=True, epochs=4, threads=1, device="cpu")
    four = open_run(run_dir)
    assert four.metrics["epochs_run"] == 4 and len(four.history.rows) == 4
    assert strip(four.history.rows[:2]) == strip(two.history.rows)  # the first two epochs are kept as they were
    # the same as training 4 epochs straight away
    straight = open_run(train_run(recipe(epochs=4), dataset=ds, out=tmp_path / "s", quiet=True))
    assert strip(four.history.rows) == strip(straight.history.rows)
    # CLI: runtime options are fine, recipe options are named
    assert main(["train", "--resume", str(run_dir), "--threads", "1", "--seed", "3"]) == 2
    assert "drop --seed" in capsys.readouterr().err
