"""Issue 24: `reproduce` on tiny data, end to end: seeds per row, per-seed reuse of finished
runs (an interrupted reproduction resumes), chains that continue the right run, the L2 grid
with its repeats and the notebook's values plotted beside ours."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import sklearn  # noqa: F401  (imported here, not first inside a test: its import sets KMP_* variables)
import yaml

from mnistlab.errors import MnistlabWarning
from mnistlab.data import fashion5
from mnistlab.reproduce import runner, table
from mnistlab.reproduce.notebooks import NOTEBOOKS, Experiment
from mnistlab.train import train_run
from tinydata import tiny_recipe, write_tiny_data

PARAMS = 1091  # tiny_recipe's MLP: 64*16+16 + 16*3+3


def _notebook(tmp_path: Path, monkeypatch, *, epochs=2, grid=False) -> Path:
    data = write_tiny_data(tmp_path / "tiny.npz")
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe(data, epochs=epochs)))
    exps = [Experiment(key="mlp", recipe=str(recipe), params=PARAMS, accuracy=0.9, loss=0.5, seeds=3),
            Experiment(key="step", recipe=str(recipe), params=PARAMS, accuracy=0.9, loss=0.5,
                       kind="chain", after="mlp", overrides={"batch_size": 16})]
    if grid:
        sweep = tmp_path / "sweep.yaml"
        sweep.write_text(yaml.safe_dump({"name": "tiny-l2", "recipe": tiny_recipe(data, epochs=1),
                                         "grid": {"model.layers.*.l2": [0.001, 0.0005]}, "repeats": 3,
                                         "metrics": ["max_val_accuracy", "test_accuracy"]}))
        exps += [Experiment(key=f"l2={v:g}", recipe=str(sweep), params=PARAMS, accuracy=0.9, loss=0.5,
                            kind="grid", overrides={"l2": v}) for v in (0.001, 0.0005)]
    monkeypatch.setitem(NOTEBOOKS, "999", exps)
    return tmp_path / "out"


def _runs(folder: Path) -> list[Path]:
    return sorted(p.parent for p in folder.glob("*/metrics.json"))


def test_seeds_run_and_a_second_call_reuses_them(tmp_path, monkeypatch):
    out = _notebook(tmp_path, monkeypatch)
    results, _ = runner.run_notebook("999", out=out, seeds=2)
    mlp, step = results
    assert len(mlp.accuracies) == 2 and len(step.accuracies) == 2 and len(mlp.losses) == 2
    assert mlp.params == PARAMS and [e for e in step.epochs] == [3, 3]  # one more epoch each
    first = _runs(out / "full" / "mlp") + _runs(out / "full" / "step")
    assert len(first) == 4
    again, _ = runner.run_notebook("999", out=out, seeds=2)
    assert _runs(out / "full" / "mlp") + _runs(out / "full" / "step") == first  # nothing retrained
    assert again[0].accuracies == mlp.accuracies and again[1].accuracies == step.accuracies
    assert again[0].runs == mlp.runs and again[1].runs == step.runs


def test_an_interrupted_reproduction_trains_only_the_missing_seed(tmp_path, monkeypatch):
    out = _notebook(tmp_path, monkeypatch)
    first, _ = runner.run_notebook("999", out=out, seeds=2)
    lost_seed1, lost_step1 = Path(first[0].runs[1]), Path(first[1].runs[1])
    shutil.rmtree(lost_seed1)   # seed 1 never finished, and so neither did its chain step
    shutil.rmtree(lost_step1)
    kept = [Path(first[0].runs[0]), Path(first[1].runs[0])]
    mtimes = [(p / "metrics.json").stat().st_mtime_ns for p in kept]
    (out / "resumed").touch()
    resumed = (out / "resumed").stat().st_mtime_ns
    second, _ = runner.run_notebook("999", out=out, seeds=2)
    assert [Path(second[0].runs[0]), Path(second[1].runs[0])] == kept
    assert [(p / "metrics.json").stat().st_mtime_ns for p in kept] == mtimes
    # seed 1 trained again; its folder may take the lost one's name when both start in one second
    assert (Path(second[0].runs[1]) / "metrics.json").stat().st_mtime_ns >= resumed
    # the new chain step continues the new seed-1 run, not the old one
    assert runner._continues(Path(second[1].runs[1]), Path(second[0].runs[1]))
    assert len(_runs(out / "full" / "mlp")) == 2 and len(_runs(out / "full" / "step")) == 2


def test_a_changed_recipe_is_not_reused(tmp_path, monkeypatch):
    out = _notebook(tmp_path, monkeypatch, epochs=2)
    runner.run_notebook("999", out=out, seeds=1, only=["mlp"])
    _notebook(tmp_path, monkeypatch, epochs=3)  # the row's recipe now trains 3 epochs
    res, _ = runner.run_notebook("999", out=out, seeds=1, only=["mlp"])
    assert res[0].epochs == [3] and len(_runs(out / "full" / "mlp")) == 2


def test_grid_runs_its_repeats_and_plots_the_notebooks_values(tmp_path, monkeypatch):
    out = _notebook(tmp_path, monkeypatch, grid=True)
    results, seconds = runner.run_notebook("999", out=out, only=["l2=0.001", "l2=0.0005"])
    assert [len(r.accuracies) for r in results] == [3, 3]   # the rows' default: 3 repeats
    assert all(r.seconds > 0 for r in results)
    assert (out / "full" / "l2-max-val-accuracy.png").stat().st_size > 1000
    summaries = [table.summary(r) for r in results]
    assert all(s["n"] == 3 and s["std"] is not None for s in summaries)
    text = table.markdown("999", summaries, quick=False, total_seconds=seconds)
    assert "(n=3)" in text and "(n=1)" not in text


def test_quick_defaults_to_one_seed(tmp_path, monkeypatch):
    out = _notebook(tmp_path, monkeypatch)
    results, _ = runner.run_notebook("999", out=out, quick=True, only=["mlp"])
    assert len(results[0].accuracies) == 1 and results[0].epochs == [1]
    assert (out / "quick" / "mlp").is_dir() and not (out / "full").exists()


def test_the_004_file_is_one_file_from_any_working_directory(tmp_path, monkeypatch):
    # `reproduce 004` from the repository root records reproduce/004/full/<file>; the example
    # notebook, executed in examples/, names that file ../reproduce/004/full/<file>: its runs
    # are reused, not trained again. Another grouping's file is other data.
    root = tmp_path / "repo"
    (root / "examples").mkdir(parents=True)
    rng = np.random.default_rng(0)
    name = fashion5.file_name("k+5")
    fashion5.write_npy_dict(fashion5.build_arrays(rng.integers(0, 255, (100, 28, 28), dtype=np.uint8),
                                                  rng.integers(0, 10, 100), "k+5"),
                            root / "reproduce/004/full" / name)
    recipe = {"name": "f5", "data": {"dataset": f"reproduce/004/full/{name}", "allow_pickle": True,
                                     "split": [0.8, 0.1, 0.1]},
              "model": {"input_shape": [28, 28, 1], "layers": [
                  {"type": "flatten"}, {"type": "dense", "units": 5, "activation": "softmax"}]},
              "epochs": 1, "seed": 0, "device": "cpu"}
    monkeypatch.chdir(root)
    with pytest.warns(MnistlabWarning, match="unpickled"):
        made = Path(train_run(recipe, out="reproduce/004/full/groupings/k+5/bn-cnn", quiet=True)).resolve()
    monkeypatch.chdir(root / "examples")
    folder = Path("../reproduce/004/full/groupings/k+5/bn-cnn")
    here = {**recipe, "data": {**recipe["data"], "dataset": f"../reproduce/004/full/{name}"}}
    done, _ = runner.previous_runs(folder, here)
    assert done is not None and done.resolve() == made
    other = {**recipe, "data": {**recipe["data"], "dataset": f"../reproduce/004/full/{fashion5.file_name('2k+1')}"}}
    assert runner.previous_runs(folder, other) == (None, None)


def _precisions(folder: Path) -> list[str]:
    return sorted(yaml.safe_load((p / "config.yaml").read_text())["precision"] for p in _runs(folder))


def test_precision_trains_every_run_and_step_in_it_and_reuses_only_its_own(tmp_path, monkeypatch):
    out = _notebook(tmp_path, monkeypatch, grid=True)
    runner.run_notebook("999", out=out, seeds=1, precision="bf16")
    full = out / "full"
    assert _precisions(full / "mlp") == ["bf16"] and _precisions(full / "step") == ["bf16"]
    assert all(yaml.safe_load((p.parent / "config.yaml").read_text())["precision"] == "bf16"
               for p in (full / "l2-sweep").rglob("metrics.json"))
    res, _ = runner.run_notebook("999", out=out, seeds=1, precision="fp32", only=["step"])
    # the bf16 runs are not reused for fp32: a new run per row, and the step continues it
    assert _precisions(full / "mlp") == ["bf16", "fp32"] and _precisions(full / "step") == ["bf16", "fp32"]
    assert runner._continues(Path(res[1].runs[0]), Path(res[0].runs[0]))
    again, _ = runner.run_notebook("999", out=out, seeds=1, precision="fp32", only=["step"])
    assert [r.runs for r in again] == [r.runs for r in res]            # fp32 reused now
    runner.run_notebook("999", out=out, seeds=1, only=["mlp"])   # auto: either one is reused
    assert len(_runs(full / "mlp")) == 2


def test_an_unknown_precision_is_one_line(tmp_path, monkeypatch):
    from mnistlab.errors import MnistlabError

    out = _notebook(tmp_path, monkeypatch)
    with pytest.raises(MnistlabError, match="precision= must be one of auto, fp32, bf16, got 'fp16'"):
        runner.run_notebook("999", out=out, seeds=1, precision="fp16")
    assert not (out / "full" / "mlp").exists()
