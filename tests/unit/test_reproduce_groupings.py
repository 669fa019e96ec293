"""Issue 24: notebook 004's candidate groupings of Fashion-MNIST into 5 classes."""
from __future__ import annotations

import numpy as np
import pytest
import sklearn  # noqa: F401  (imported here, not first inside a test: its import sets KMP_* variables)

from mnistlab.errors import MnistlabError
from mnistlab.data import fashion5
from mnistlab.reproduce import groupings, probe


def ten_class_arrays(per_class: int = 12):
    """A synthetic 10-class set, `per_class` images each, labels shuffled."""
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.repeat(np.arange(10), per_class))
    images = rng.integers(0, 256, (len(labels), 28, 28, 1)).astype(np.uint8)
    return images, labels


@pytest.mark.parametrize("name", list(fashion5.GROUPINGS))
def test_every_grouping_makes_five_balanced_classes_of_two_labels(name):
    images, labels = ten_class_arrays(per_class=12)
    obj = fashion5.build_arrays(images, labels, name)
    assert obj["features"].shape == (120, 28, 28) and obj["features"].dtype == np.float32
    targets, counts = np.unique(obj["target"], return_counts=True)
    assert targets.tolist() == [1, 2, 3, 4, 5] and counts.tolist() == [24] * 5
    table = fashion5.target_of_label(name)
    # every label in exactly one class, two labels per class
    assert sorted(np.bincount(table)[1:].tolist()) == [2] * 5
    for t, pair in enumerate(fashion5.GROUPINGS[name], start=1):
        assert table[list(pair)].tolist() == [t, t]


def test_groupings_are_the_stated_pairings():
    labels = np.arange(10)
    images = np.zeros((10, 28, 28), np.uint8)
    target = {g: fashion5.build_arrays(images, labels, g)["target"].astype(int).tolist()
              for g in fashion5.GROUPINGS}
    assert target["look-alike"] == [1, 2, 3, 2, 3, 4, 1, 4, 5, 5]
    assert target["k+5"] == [k % 5 + 1 for k in range(10)]
    assert target["2k+1"] == [k // 2 + 1 for k in range(10)]
    assert len({tuple(t) for t in target.values()}) == len(target)  # all different
    assert fashion5.TARGET_OF_LABEL.tolist() == fashion5.target_of_label(fashion5.DEFAULT_GROUPING).tolist()
    assert fashion5.describe("k+5").startswith("T-shirt/top+Sandal, Trouser+Shirt")


def test_full_size_grouping_has_12000_per_class():
    labels = np.repeat(np.arange(10), 6000)  # Fashion-MNIST's training set: 6,000 per label
    for name in fashion5.GROUPINGS:
        counts = np.bincount(fashion5.target_of_label(name)[labels])[1:]
        assert counts.tolist() == [12000] * 5, name


def test_unknown_grouping_is_one_clear_error(tmp_path):
    with pytest.raises(MnistlabError, match="unknown grouping 'pairs'.*look-alike"):
        fashion5.build(tmp_path / "x.npy", grouping="pairs")
    assert not (tmp_path / "x.npy").exists()


def test_each_grouping_has_its_own_file_name():
    names = {fashion5.file_name(g) for g in fashion5.GROUPINGS}
    assert len(names) == len(fashion5.GROUPINGS)


def test_seed_split_is_notebook_004s_train_test_split():
    """54,000 / 3,000 / 3,000 as train_test_split(0.10, random_state=0) then
    x_test, x_val = train_test_split(rest, test_size=0.5, random_state=0)."""
    from sklearn.model_selection import train_test_split

    train, val, test = probe.seed_split(60000)
    assert (len(train), len(val), len(test)) == (54000, 3000, 3000)
    idx = np.arange(60000)
    x_train, x_test1 = train_test_split(idx, test_size=0.10, random_state=0)
    x_test, x_val = train_test_split(x_test1, test_size=0.50, random_state=0)
    assert (train == x_train).all() and (val == x_val).all() and (test == x_test).all()


def test_linear_probe_separates_a_linear_task_and_not_an_xor():
    """The probe is a linear classifier: near 100% where a pixel decides the class, near chance
    where the class is the XOR of two pixels (what merging unlike classes does)."""
    rng = np.random.default_rng(1)
    n = 2000
    a, b = rng.integers(0, 2, n), rng.integers(0, 2, n)
    feats = rng.normal(0, 0.05, (n, 4, 4)).astype(np.float32)
    feats[:, 0, 0] += a
    feats[:, 0, 1] += b
    easy = probe.linear_probe(feats, a + 1)
    xor = probe.linear_probe(feats, (a ^ b) + 1)
    assert easy["test"] > 0.97 and xor["test"] < 0.7


def test_candidate_distance_ranks_and_formats():
    assert groupings.distance([3.0, 4.0]) == pytest.approx(5.0)
    assert groupings.distance([None, 1.0]) is None
    rows = [{"grouping": g, "classes": fashion5.describe(g), "bn_cnn_mean": m1, "bn_cnn_std": 0.002,
             "bn_cnn_n": 3, "bn_cnn_delta_pp": 100 * (m1 - 0.8513333), "resnet_mean": m2, "resnet_std": None,
             "resnet_n": 1, "resnet_delta_pp": 100 * (m2 - 0.7346667), "probe_test": 0.8, "probe_train": 0.81,
             "distance_pp": groupings.distance([100 * (m1 - 0.8513333), 100 * (m2 - 0.7346667)])}
            for g, m1, m2 in (("look-alike", 0.937, 0.886), ("k+5", 0.85, 0.74))]
    text = groupings.markdown(rows, machine="machine: test", command="mnistlab reproduce 004 "
                              "--compare-groupings", runs_line="Runs: x", quick=False)
    body = text.split("|---|")[-1]
    assert body.index("| k+5 |") < body.index("| look-alike |")  # closest first
    assert "93.70% ± 0.20 (n=3)" in text and "88.60% (n=1)" in text and "88.60% ±" not in text
    assert "Command: `mnistlab reproduce 004 --compare-groupings`" in text
    csv_text = groupings.to_csv(rows, machine="machine: test", command="cmd")
    assert csv_text.startswith("# Command: cmd\n# Machine: test\ngrouping,")


def test_pairings_are_every_perfect_matching_of_ten_labels():
    every = probe.pairings()
    assert len(every) == 945 == len({tuple(p) for p in every})   # 9 * 7 * 5 * 3 * 1
    for pairs in every:
        assert sorted(a for pair in pairs for a in pair) == list(range(10))
        assert all(a < b for a, b in pairs)
    named = {tuple(sorted(tuple(sorted(p)) for p in v)) for v in fashion5.GROUPINGS.values()}
    assert named <= {tuple(sorted(p)) for p in every}


def test_scan_pairings_scores_hardest_first():
    """Label k lights pixel k, and label pairs (0,1), (2,3), ... also share pixel 10 + k // 2:
    pairing 2k with 2k+1 has a pixel per class and is easy, k with k+5 needs an XOR-like rule."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 60)
    images = rng.integers(0, 30, (600, 4, 4)).astype(np.uint8)
    flat = images.reshape(600, 16)
    flat[np.arange(600), labels] += 40
    flat[np.arange(600), 10 + labels // 2] += 200
    rows = probe.scan_pairings(images, labels, n_train=400, n_test=200, components=16,
                               candidates=[fashion5.GROUPINGS["k+5"], fashion5.GROUPINGS["2k+1"]])
    assert [r["pairs"] for r in rows] == [fashion5.GROUPINGS["k+5"], fashion5.GROUPINGS["2k+1"]]
    assert rows[1]["test"] > 0.95 and rows[0]["test"] < rows[1]["test"]


# ---- issue 30: binarised candidates, the probe without unpickling, the recipes on their own

def test_binarised_candidates_round_each_pixel_to_0_or_1_after_dividing_by_255():
    images = np.array([[0, 1, 127, 128, 200, 255]], np.uint8).reshape(1, 1, 6).repeat(10, 0)
    labels = np.arange(10)
    grey = fashion5.build_arrays(images, labels, "probe-hardest")
    binary = fashion5.build_arrays(images, labels, "probe-hardest-binary")
    assert binary["features"][0, 0].tolist() == [0, 0, 0, 1, 1, 1]
    assert binary["features"].dtype == np.float32
    assert (binary["target"] == grey["target"]).all()            # the same pairing
    assert not np.array_equal(binary["features"], grey["features"])
    assert fashion5.describe("k+5-binary") == fashion5.describe("k+5") + "; pixels 0/1"
    assert fashion5.CANDIDATES[-2:] == ["probe-hardest-binary", "k+5-binary"]
    assert set(fashion5.CANDIDATES) <= set(fashion5.names())
    names = {fashion5.file_name(g) for g in fashion5.names()}
    assert len(names) == len(fashion5.names()) == 2 * len(fashion5.GROUPINGS)
    assert fashion5.grouping_of_file("x/fashion-mnist-5class-k+5-binary.npy") == "k+5-binary"
    assert fashion5.grouping_of_file("fashion-mnist-5class.npy") == fashion5.DEFAULT_GROUPING
    assert fashion5.grouping_of_file("mnist.npz") is None
    with pytest.raises(MnistlabError, match=r"unknown grouping 'pairs-binary'.*\+ '-binary'"):
        fashion5.target_of_label("pairs-binary")


def test_the_probe_reads_no_file_and_never_unpickles(tmp_path, monkeypatch):
    images, labels = ten_class_arrays(per_class=30)
    monkeypatch.setattr(fashion5, "fashion_train",
                        lambda limit=None: (images[:limit], labels[:limit]))

    def no_pickle(*args, **kw):
        raise AssertionError("np.load called")
    monkeypatch.setattr(np, "load", no_pickle)
    first = groupings.probe(tmp_path, "k+5")        # no 5-class file exists in tmp_path
    assert set(first) >= {"train", "val", "test", "data"} and first["data"]["binary"] is False
    monkeypatch.setattr(probe, "linear_probe", no_pickle)
    assert groupings.probe(tmp_path, "k+5") == first   # cached beside the file
    monkeypatch.undo()
    monkeypatch.setattr(fashion5, "fashion_train", lambda limit=None: (images[:limit], labels[:limit]))
    binary = groupings.probe(tmp_path, "k+5-binary", limit=200)
    assert binary["data"] == {"grouping": "k+5-binary", "pairs": [[k, k + 5] for k in range(5)],
                              "binary": True, "limit": 200}


NB004_FILE = "reproduce/004/full/fashion-mnist-5class-probe-hardest-binary.npy"   # what recipes/nb004-*.yaml name
BUILT = f"built notebook 004's 5-class file {NB004_FILE}"


@pytest.fixture
def tiny_fashion(monkeypatch):
    """Fashion-MNIST's training images replaced by 300 synthetic ones (the 5-class file is built
    from them instead of the 60,000); counts the builds."""
    images, labels = ten_class_arrays(per_class=30)
    calls = []

    def fashion_train(limit=None):
        calls.append(limit)
        return images[:limit], labels[:limit]
    monkeypatch.setattr(fashion5, "fashion_train", fashion_train)
    return calls


def test_an_nb004_recipe_trains_on_its_own_from_a_fresh_folder(tmp_path, monkeypatch, capsys, tiny_fashion):
    """`mnistlab train nb004-bn-cnn --epochs 1` where no `reproduce 004` ran: the recipe's file
    is built first, once, with one line."""
    from mnistlab.cli import main
    from mnistlab.errors import MnistlabWarning

    monkeypatch.chdir(tmp_path)
    with pytest.warns(MnistlabWarning, match="unpickled"):
        assert main(["train", "nb004-bn-cnn", "--epochs", "1", "--device", "cpu", "--no-report"]) == 0
    made = tmp_path / NB004_FILE
    assert made.is_file()
    assert capsys.readouterr().out.count(BUILT) == 1 and len(tiny_fashion) == 1
    run, = (tmp_path / "runs").glob("*/metrics.json")
    assert run.parent.name.endswith("nb004-bn-cnn")
    before = made.stat().st_mtime_ns    # a second run reuses the file
    with pytest.warns(MnistlabWarning, match="unpickled"):
        assert main(["train", "nb004-resnet", "--epochs", "1", "--device", "cpu", "--no-report", "--quiet"]) == 0
    assert made.stat().st_mtime_ns == before and len(tiny_fashion) == 1


def test_an_nb004_recipe_fits_from_python_in_a_fresh_folder(tmp_path, monkeypatch, capsys, tiny_fashion):
    """mnistlab.fit on an nb004 recipe, by name or by its repository path, from a folder where no
    `reproduce 004` ran: the file is built by the step every recipe's data goes through
    (runs.load_run_dataset), not by the command line; quiet=True builds it without the line."""
    import mnistlab
    from mnistlab.errors import MnistlabWarning

    monkeypatch.chdir(tmp_path)
    with pytest.warns(MnistlabWarning, match="unpickled"):
        run = mnistlab.fit("nb004-bn-cnn", epochs=1, device="cpu", report=False)
    assert (tmp_path / NB004_FILE).is_file()
    assert capsys.readouterr().out.count(BUILT) == 1 and len(tiny_fashion) == 1
    assert run.config["data"]["dataset"] == NB004_FILE and run.metrics["epochs_run"] == 1
    assert run.classes == ["1", "2", "3", "4", "5"]

    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    with pytest.warns(MnistlabWarning, match="unpickled"):
        mnistlab.fit("recipes/nb004-resnet.yaml", epochs=1, device="cpu", report=False, quiet=True)
    assert (other / NB004_FILE).is_file() and len(tiny_fashion) == 2
    assert BUILT not in capsys.readouterr().out


def test_a_sweep_of_an_nb004_recipe_runs_from_a_fresh_folder(tmp_path, monkeypatch, tiny_fashion):
    """mnistlab.sweep reads each trial's data (its identity) before training anything, through
    the same step as training, so a sweep of an nb004 recipe from a fresh folder runs too."""
    import mnistlab
    from mnistlab.errors import MnistlabWarning
    from mnistlab.runs import load_run_dataset

    monkeypatch.chdir(tmp_path)
    with pytest.warns(MnistlabWarning, match="unpickled"):
        result = mnistlab.sweep("nb004-resnet", grid={"optimizer.lr": [0.001]}, epochs=1, device="cpu",
                                quiet=True)
    assert (tmp_path / NB004_FILE).is_file() and len(tiny_fashion) == 1
    assert [r["status"] for r in result.results] == ["done"]
    with pytest.warns(MnistlabWarning, match="unpickled"):   # there now: loaded, not built again
        ds = load_run_dataset({"dataset": NB004_FILE, "allow_pickle": True})
    assert ds.classes == ["1", "2", "3", "4", "5"] and len(tiny_fashion) == 1

