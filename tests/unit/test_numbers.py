"""Issue 17 item 5: every spelling of a float Python accepts is a number wherever one is read."""
import pytest

from mnistlab.cli import build_parser
from mnistlab.errors import as_number
from mnistlab.io import load_yaml
from mnistlab.train.recipe import Recipe, load_recipe


def test_yaml_reads_exponent_floats_as_numbers_and_leaves_the_rest():
    got = load_yaml("a: 1e-3\nb: 1E5\nc: .5\nd: 1.0e3\ne: -2e-4\nf: 10\ng: nb000-cnn\nh: 1e\ni: 1.5\nj: 5e+2")
    assert got == {"a": 0.001, "b": 1e5, "c": 0.5, "d": 1000.0, "e": -2e-4, "f": 10, "g": "nb000-cnn",
                   "h": "1e", "i": 1.5, "j": 500.0}
    assert isinstance(got["f"], int) and isinstance(got["b"], float)


@pytest.mark.parametrize("text, value", [("1e-3", 0.001), ("1E5", 1e5), (".5", 0.5), ("inf", float("inf")),
                                         ("7", 7), ("1_000", 1000), (" 2.5 ", 2.5)])
def test_as_number_takes_what_python_float_takes(text, value):
    assert as_number(text) == value
    assert as_number(True) is None and as_number("lr") is None and as_number(None) is None


def test_recipe_file_set_and_api_keyword(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("model: nb000-cnn\noptimizer: {name: adam, lr: 1e-3}\n")
    assert load_recipe(path).optimizer["lr"] == 0.001
    assert load_recipe(path, ["optimizer.lr=2E-3"]).optimizer["lr"] == 0.002
    assert Recipe({"model": "nb000-cnn", "optimizer": {"name": "adam", "lr": "3e-3"}}).optimizer["lr"] == 0.003


def test_model_spec_l2_in_exponent_form():
    from mnistlab.models import resolve_spec
    spec = resolve_spec(load_yaml("input_shape: [8, 8, 1]\nlayers:\n  - {type: flatten}\n"
                                  "  - {type: dense, units: 3, l2: 1e-4}\n"))
    assert spec["layers"][1]["l2"] == 1e-4


def test_sweep_grid_values_and_ranges(tmp_path):
    from mnistlab.sweeps.grid import load_sweep
    (tmp_path / "r.yaml").write_text("model: nb000-cnn\noptimizer: {name: adam}\n")
    (tmp_path / "s.yaml").write_text("recipe: r.yaml\ngrid:\n  optimizer.lr: [1e-3, 2e-3]\n"
                                     "  optimizer.epsilon: {geomspace: [1e-8, 1e-6, 3]}\n")
    sweep = load_sweep(tmp_path / "s.yaml")
    assert sorted({c["optimizer.lr"] for c in sweep.configs}) == [0.001, 0.002]
    assert sorted({c["optimizer.epsilon"] for c in sweep.configs}) == [1e-8, 1e-7, 1e-6]


def test_tune_space_bounds(tmp_path):
    from mnistlab.sweeps.tuning import load_space
    (tmp_path / "space.yaml").write_text("optimizer.lr: {low: 1e-4, high: 1e-1, log: true}\n")
    assert load_space(tmp_path / "space.yaml")["optimizer.lr"] == {"type": "float", "low": 1e-4, "high": 0.1,
                                                                  "log": True}


def test_search_options_take_float_spellings_of_counts():
    args = build_parser().parse_args(["search", "--max-params", "6e3", "--epochs", "3", "--validation-split", "1e-1"])
    assert args.max_params == 6000 and args.validation_split == 0.1
    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "--max-params", "6.5e0"])
