"""Search space: every sampled architecture is a valid spec whose count matches the built module."""
from __future__ import annotations

import optuna
import pytest
import torch

from mnistlab.models import build, count_params
from mnistlab.sweeps.search import (KINDS, Rejected, SearchConfig, candidate_recipe, suggest_spec)

CONTRACT_TYPES = {"conv2d", "separable_conv2d", "batchnorm", "maxpool2d", "global_avg_pool",
                  "dropout", "dense", "activation", "flatten"}


def _sampled_specs(n=40, shape=(28, 28, 1), seed=0):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    specs, rejected = [], 0
    for _ in range(n):
        trial = study.ask()
        try:
            specs.append(suggest_spec(trial, list(shape), 10))
        except Rejected:
            rejected += 1
        study.tell(trial, 0.0)
    return specs, rejected


def test_sampled_specs_build_and_count_like_the_module():
    specs, _ = _sampled_specs(n=15)
    assert len(specs) >= 8
    x = torch.rand(2, 1, 28, 28)
    for spec in specs:
        assert {layer["type"] for layer in spec["layers"]} <= CONTRACT_TYPES
        model = build(spec)
        assert model(x).shape == (2, 10)
        # The budget counts what the module really holds (Keras-style total, BN stats included).
        held = sum(p.numel() for p in model.parameters()) + sum(
            b.numel() for name, b in model.named_buffers() if "running" in name)
        assert count_params(spec) == held


def test_space_covers_every_choice():
    specs, _ = _sampled_specs(n=60, seed=1)
    types = [{layer["type"] for layer in s["layers"]} for s in specs]
    assert any("separable_conv2d" in t for t in types) and any("batchnorm" in t for t in types)
    assert any("global_avg_pool" in t for t in types) and any("flatten" in t for t in types)
    assert any("maxpool2d" in t for t in types) and any("dropout" in t for t in types)
    assert any(any(layer.get("kernel") == 1 and layer["type"] == "conv2d" and layer["filters"] != 10
                   for layer in s["layers"]) for s in specs)  # a 1x1 transition
    assert len(KINDS) == 2


def test_tiny_images_are_rejected_not_crashed():
    # 4x4 inputs: three valid 3x3 convs cannot fit; the sampler must say so, not build it.
    trial = optuna.trial.FixedTrial({"blocks": 1, "batchnorm": False, "activation": "relu",
                                     "padding": "valid", "dropout": 0.0, "b0_convs": 3,
                                     "b0_kind_1": "conv3x3", "b0_kind_2": "conv3x3",
                                     "b0_filters_0": 4, "b0_filters_1": 4, "b0_filters_2": 4})
    with pytest.raises(Rejected):
        suggest_spec(trial, [4, 4, 1], 10)


def test_batchnorm_drops_conv_bias():
    trial = optuna.trial.FixedTrial({"blocks": 1, "batchnorm": True, "activation": "relu",
                                     "padding": "same", "dropout": 0.0, "b0_convs": 1,
                                     "b0_filters_0": 8, "pool_after_0": True, "head": "gap"})
    spec = suggest_spec(trial, [28, 28, 1], 10)
    conv = spec["layers"][0]
    assert conv["use_bias"] is False and spec["layers"][1]["type"] == "batchnorm"
    assert [layer["type"] for layer in spec["layers"]][-3:] == ["conv2d", "global_avg_pool", "activation"]


def test_candidate_recipe_carves_validation_from_train_and_keeps_budget():
    cfg = SearchConfig(max_params=3000, dataset="mnist", epochs=2, validation_split=0.2,
                       base={"batch_size": 64, "augment": {"rotation_range": 5}})
    r = candidate_recipe({"input_shape": [28, 28, 1], "layers": []}, cfg, name="t", seed=3)
    assert r["data"] == {"dataset": "mnist", "validation_split": 0.2, "validation": "split"}
    assert r["max_params"] == 3000 and r["epochs"] == 2 and r["seed"] == 3
    assert r["batch_size"] == 64 and r["augment"] == {"rotation_range": 5}


@pytest.mark.parametrize("argv, words", [
    (["search", "--max-params", "0"], "--max-params"),
    (["search", "--max-params", "5000", "--validation-split", "1.5"], "--validation-split"),
    (["search", "--max-params", "5000", "--epochs", "0"], "--epochs"),
])
def test_cli_rejects_bad_arguments_in_one_line(argv, words, capsys):
    from mnistlab.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err and "Traceback" not in err


def test_one_line_per_candidate_trained_or_skipped():
    """Issue 17 item 13: params, MACs, validation accuracy and seconds, or why it was skipped."""
    import optuna

    from mnistlab.sweeps.search import candidate_line
    S = optuna.trial.TrialState
    done = optuna.trial.create_trial(state=S.COMPLETE, values=[0.98125, 5874],
                                     user_attrs={"params": 5874, "macs": 812345})
    done.number = 3
    line = candidate_line(done)
    assert line.startswith("trial 3: 5,874 params, 812,345 MACs, val_accuracy 0.9812, ") and line.endswith(" s")
    over = optuna.trial.create_trial(state=S.PRUNED, user_attrs={"params": 7210, "macs": 9000,
                                                                 "rejected": "7210 params > budget 6000"})
    over.number = 4
    assert candidate_line(over) == ("trial 4: 7,210 params, 9,000 MACs, over budget: skipped without "
                                    "training (7210 params > budget 6000)")
