"""Issue 22 item 2: sweeps and tuning are keyed to the data. The same call in the same folder
(or on the same storage, or the same study) with other data, or another slice of it, is
refused in one line, never answered with the first data's results; the files name the data
so that it loads again."""
from __future__ import annotations

import pytest
import sklearn  # noqa: F401 - its first import sets KMP_* variables; here, not inside a test (tune's plots import it)
import yaml

from mnistlab.data import load_dataset
from mnistlab.errors import MnistlabError
from mnistlab.sweeps.grid import run_sweep
from mnistlab.sweeps.tuning import run_tune
from tinydata import read_rows, tiny_recipe, write_tiny_data


@pytest.fixture()
def two(tmp_path):
    return (load_dataset(write_tiny_data(tmp_path / "a.npz")),
            load_dataset(write_tiny_data(tmp_path / "b.npz", seed=1)))


def spec(data_path, name="d"):
    return {"name": name, "recipe": tiny_recipe(data_path, epochs=1), "grid": {"batch_size": [16, 32]}}


def test_sweep_on_other_data_or_a_slice_is_refused(tmp_path, two):
    a, b = two
    out = run_sweep(spec(a.loaded_as), out=tmp_path / "sw", dataset=a, quiet=True)
    info = yaml.safe_load((out / "sweep.yaml").read_text())
    assert info["data"] == [a.identity.record()] and info["base_recipe"]["data"]["dataset"] == a.reference
    for other in (b, a.take(200)):
        with pytest.raises(MnistlabError, match=r"was trained on .*a\.npz.*use a new out= folder for other data"):
            run_sweep(spec(a.loaded_as), out=tmp_path / "sw", dataset=other, quiet=True)
    run_sweep(spec(a.loaded_as), out=tmp_path / "sw", dataset=a, quiet=True)  # the same data: fine
    assert all(r["status"] == "done" for r in read_rows(out / "results.csv"))


def test_a_changed_data_file_is_refused_from_the_cli_path(tmp_path):
    data = write_tiny_data(tmp_path / "tiny.npz")
    run_sweep(spec(data), out=tmp_path / "sw", quiet=True)
    write_tiny_data(data, seed=3)  # the file the recipe names now holds other images
    with pytest.raises(MnistlabError, match="was trained on"):
        run_sweep(spec(data), out=tmp_path / "sw", quiet=True)


def test_shared_storage_refuses_other_data(tmp_path, two):
    a, b = two
    url = f"sqlite:///{tmp_path / 'study.db'}"
    run_sweep(spec(a.loaded_as), out=tmp_path / "x", storage=url, dataset=a, quiet=True)
    with pytest.raises(MnistlabError, match=r"was run on .*a\.npz.*this data is .*b\.npz"):
        run_sweep(spec(a.loaded_as), out=tmp_path / "y", storage=url, dataset=b, quiet=True)
    # the same content from another place (another machine's copy) shares the grid
    copy = tmp_path / "copy.npz"
    copy.write_bytes((tmp_path / "a.npz").read_bytes())
    run_sweep(spec(a.loaded_as), out=tmp_path / "z", storage=url, dataset=load_dataset(copy), quiet=True)
    assert not list((tmp_path / "z").glob("trials/*/*/metrics.json"))  # nothing trained again


def test_tune_refuses_other_data_and_best_recipe_names_it(tmp_path, two):
    a, b = two
    space = {"optimizer.lr": [0.05, 0.1]}
    base = tiny_recipe(tmp_path / "nowhere.npz", epochs=1)  # the dataset= given is what trains
    out = run_tune(base, space, trials=1, out=tmp_path / "st", dataset=a.take(200), quiet=True)
    best = (out / "best_recipe.yaml").read_text()
    recipe = yaml.safe_load(best)
    assert recipe["data"]["dataset"] == a.take(200).reference
    assert load_dataset(recipe["data"]["dataset"]).identity == a.take(200).identity
    assert "mnistlab train best_recipe.yaml" in best
    for other in (b, a):  # other data, or the whole of the sliced file
        with pytest.raises(MnistlabError, match="was run on .*use another study= name or out= folder"):
            run_tune(base, space, trials=1, out=tmp_path / "st", dataset=other, quiet=True)


def test_in_memory_data_says_it_must_be_passed_back(tmp_path, two):
    from mnistlab.data import from_arrays
    from mnistlab.data.formats import Raw
    from tinydata import tiny_arrays

    (xt, yt), (xe, ye) = tiny_arrays()
    mem = from_arrays("mine", Raw(xt, yt, xe, ye))
    out = run_tune(tiny_recipe(tmp_path / "nowhere.npz", epochs=1), {"optimizer.lr": [0.1]}, trials=1,
               out=tmp_path / "st", dataset=mem, quiet=True)
    best = (out / "best_recipe.yaml").read_text()
    assert "dataset: memory:mine" in best and "dataset=<the same dataset>" in best
    sw = run_sweep(spec(tmp_path / "nowhere.npz"), out=tmp_path / "sw", dataset=mem, quiet=True)
    assert "pass the same dataset=" in yaml.safe_load((sw / "sweep.yaml").read_text())["data_note"]


def test_an_architecture_search_on_other_data_is_refused(tmp_path, two):
    from mnistlab.sweeps.search import SearchConfig, run_search
    a, b = two
    cfg = SearchConfig(max_params=800, epochs=1, trials=1, validation_split=0.25, seed=0, quiet=True,
                       base={"batch_size": 32})
    out_dir = run_search(cfg, out=tmp_path, study="s", dataset=a)
    import csv
    front = list(csv.DictReader((out_dir / "pareto.csv").open()))
    assert front
    for row in front:  # the front's recipes name data that loads again (was the display name)
        assert yaml.safe_load(open(row["recipe"]).read())["data"]["dataset"] == a.reference
    for other in (b, a.take(200)):
        with pytest.raises(MnistlabError, match=r"search study 's' was run on .*a\.npz.*use another --study"):
            run_search(cfg, out=tmp_path, study="s", dataset=other)
    run_search(cfg, out=tmp_path, study="s", dataset=a)  # the same data joins the study
