"""Issue 17 item 12: `tune` and `sweep` take --set KEY=VALUE and --epochs like `train`;
the space file of the README's tune line is shipped and valid."""
import json
import re
import shlex
from pathlib import Path

import yaml

from mnistlab.cli import build_parser
from mnistlab.sweeps import keys as K
from mnistlab.sweeps.commands import _overrides
from tinydata import read_rows, tiny_recipe, write_tiny_data

ROOT = Path(__file__).resolve().parents[2]


def test_cli_parses_set_and_epochs_like_train():
    for cmd in (["sweep", "s.yaml"], ["tune", "r.yaml", "--space", "sp.yaml", "--trials", "1"]):
        args = build_parser().parse_args(cmd + ["--set", "optimizer.lr=1e-3", "--set", "batch_size=64",
                                                "--epochs", "2"])
        assert _overrides(args) == {"optimizer.lr": 0.001, "batch_size": 64, "epochs": 2}


def test_sweep_and_tune_apply_the_overrides(tmp_path):
    from mnistlab.sweeps.grid import run_sweep
    from mnistlab.sweeps.tuning import run_tune
    data = write_tiny_data(tmp_path / "tiny.npz")
    sweep = {"name": "s", "recipe": tiny_recipe(data, epochs=3), "grid": {"seed": [0]}, "repeats": 1}
    out = run_sweep(sweep, out=tmp_path / "sw", quiet=True, overrides={"epochs": 1, "optimizer.lr": 0.05})
    run = out / read_rows(out / "results.csv")[0]["run_dir"]
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["epochs"] == 1 and config["optimizer"]["lr"] == 0.05
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == 1

    st = run_tune(tiny_recipe(data, epochs=3), {"batch_size": [16]}, trials=1, out=tmp_path / "st", quiet=True,
              overrides={"epochs": 1, "optimizer.lr": 0.05})
    row = read_rows(st / "trials.csv")[0]
    config = yaml.safe_load((Path(row["run_dir"]) / "config.yaml").read_text())
    assert config["epochs"] == 1 and config["optimizer"]["lr"] == 0.05 and config["batch_size"] == 16


def test_readme_tune_line_names_a_shipped_valid_space():
    line = next(l for l in (ROOT / "README.md").read_text().splitlines() if re.match(r"mnistlab tune recipes/", l))
    words = shlex.split(line.split("#")[0])
    recipe, space = ROOT / words[2], ROOT / words[words.index("--space") + 1]
    assert recipe.is_file() and space.is_file()
    from mnistlab.sweeps.sweepfile import check_recipe, read_recipe_file
    from mnistlab.sweeps.tuning import corners, load_space
    base = read_recipe_file(recipe)
    dists = load_space(space)
    for key in dists:
        assert K.resolve(key, K.apply(base, {}))  # every key exists in that recipe
    for corner in corners(dists):
        check_recipe(K.apply(base, corner), corner)
