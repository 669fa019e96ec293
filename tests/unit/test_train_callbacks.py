"""EarlyStopping (Keras logic) and each learning-rate schedule's sequence."""
import math

import pytest
import torch

from mnistlab.train.early_stopping import EarlyStopping
from mnistlab.train.schedules import CosineSchedule, OneCycleSchedule, ReduceLROnPlateau, StepSchedule


class Weights(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))


def run_stopper(stopper, values, key="val_loss"):
    """(epoch it stopped after or None, epoch whose weights the model holds at the end)."""
    model = Weights()
    stopper.set_model(model)
    model.stop_training = False
    stop = None
    for epoch, v in enumerate(values):
        model.w.data.fill_(epoch)  # the weights remember which epoch they are from
        stopper.on_epoch_end(epoch, {key: v})
        if model.stop_training:  # Keras: the callback sets model.stop_training
            stop = epoch
            break
    stopper.on_train_end()  # as fit does (Keras' on_train_end)
    return stop, model.w.item()


def test_early_stopping_patience_and_restore_best_weights():
    stop, w = run_stopper(EarlyStopping(patience=2, restore_best_weights=True), [1.0, 0.5, 0.6, 0.7, 0.1])
    assert stop == 3 and w == 1.0  # best was epoch 1; two epochs without improvement
    stop, w = run_stopper(EarlyStopping(patience=2), [1.0, 0.5, 0.6, 0.7, 0.1])
    assert stop == 3 and w == 3.0  # without restore the last weights stay


def test_early_stopping_min_delta_and_max_mode():
    stop, _ = run_stopper(EarlyStopping(patience=1, min_delta=0.1), [1.0, 0.95, 0.5])
    assert stop == 1  # 0.95 is not better by 0.1
    stop, _ = run_stopper(EarlyStopping(monitor="val_accuracy", patience=1), [0.5, 0.6, 0.55], key="val_accuracy")
    assert stop == 2  # auto mode: accuracy goes up


def test_early_stopping_never_stops_while_improving():
    assert run_stopper(EarlyStopping(patience=0), [5, 4, 3, 2, 1])[0] is None


def test_step_schedule_like_notebook_004():
    s = StepSchedule(1e-3, 200, boundaries=[80, 120, 160, 180], factors=[1e-1, 1e-2, 1e-3, 0.5e-3])
    lrs = {e: s.lr(e, 0, 10) for e in (0, 80, 81, 121, 161, 181)}
    expected = {0: 1e-3, 80: 1e-3, 81: 1e-4, 121: 1e-5, 161: 1e-6, 181: 5e-7}
    assert lrs == pytest.approx(expected)


def test_cosine_schedule_with_warmup():
    s = CosineSchedule(0.1, 4, min_lr=0.0, warmup_epochs=1)
    lrs = [s.lr(e, i, 2) for e in range(4) for i in range(2)]
    assert lrs[:2] == pytest.approx([0.05, 0.1])
    decay = [0.5 * 0.1 * (1 + math.cos(math.pi * k / 6)) for k in range(6)]
    assert lrs[2:] == pytest.approx(decay)


def test_onecycle_matches_torch():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    ref = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, epochs=3, steps_per_epoch=5, cycle_momentum=False)
    expected = []
    for _ in range(15):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    s = OneCycleSchedule(0.1, 3)
    assert [s.lr(e, i, 5) for e in range(3) for i in range(5)] == pytest.approx(expected)


def test_reduce_on_plateau_keras_logic_and_state():
    s = ReduceLROnPlateau(patience=2, factor=0.5, cooldown=1, min_lr=0.2).bind(1.0, 10)
    lrs = []
    for epoch, v in enumerate([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]):
        s.on_epoch_end(epoch, {"val_loss": v})
        lrs.append(s.lr(epoch + 1, 0, 1))
    # Keras: the cooldown epoch resets wait, then counting starts again in the same epoch
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2, 0.2]
    t = ReduceLROnPlateau().bind(1.0, 10)
    t.load_state_dict(s.state_dict())
    assert t.lr(0, 0, 1) == 0.2 and t.wait == s.wait


# Sequences below are worked out by hand from Keras 3's EarlyStopping.on_epoch_end (3.15;
# tests/unit/test_keras_early_stopping.py runs a transcription of it against ours):
#   on_train_begin: best = None (beaten by any value, NaN too);
#   first monitored epoch: best_weights = current weights, best_epoch = epoch (if restoring);
#   wait += 1; if monitor_op(current - min_delta, best): best = current, best_epoch = epoch,
#   (wait = 0 only if it also beats baseline), RETURN; elif wait >= patience and epoch > 0: stop.
#   on_train_end: restore best_weights whenever restore_best_weights and they were recorded.

def test_restore_best_weights_also_when_all_epochs_run():
    stop, w = run_stopper(EarlyStopping(patience=5, restore_best_weights=True), [1.0, 0.5, 0.6, 0.7])
    assert stop is None and w == 1.0  # Keras restores epoch 1's weights at the end of training


def test_baseline_never_stops_on_an_improving_epoch():
    # improving every epoch, never below baseline 0.3: Keras runs all 8 epochs
    values = [0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35]
    assert run_stopper(EarlyStopping(monitor="loss", patience=2, baseline=0.3), values, key="loss")[0] is None
    # epoch 0 improves (wait stays 1: not below baseline), epoch 1 does not: wait 2 -> stop
    assert run_stopper(EarlyStopping(monitor="loss", patience=2, baseline=0.3), [0.9, 0.95, 0.96],
                       key="loss")[0] == 1


def test_first_monitored_nan_is_the_best_so_far():
    # best starts at None, so a NaN first value is the best; nothing compares better than NaN
    stopper = EarlyStopping(patience=2, restore_best_weights=True)
    stop, w = run_stopper(stopper, [math.nan] * 5)
    assert stop == 2 and w == 0.0 and stopper.best_epoch == 0  # patience epochs after it, keeps epoch 0
    stopper = EarlyStopping(patience=2, restore_best_weights=True, start_from_epoch=1)
    stop, w = run_stopper(stopper, [5.0, math.nan, math.nan, math.nan])
    assert stop == 3 and w == 1.0 and stopper.best_epoch == 1  # epoch 1: the first monitored one
    stop, w = run_stopper(EarlyStopping(patience=1, restore_best_weights=True), [math.nan, 1.0, 1.1, 1.2])
    assert stop == 1 and w == 0.0  # 1.0 < NaN is False: a finite value never beats the NaN best


def test_nan_first_patience_5_runs_6_epochs_and_restores_the_first():
    # the case, as Keras 3.15 runs it
    stop, w = run_stopper(EarlyStopping(patience=5, restore_best_weights=True), [math.nan, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    assert stop == 5 and w == 0.0
