"""`mnistlab reproduce NB --quick` for every notebook: exact parameter counts, training runs,
the table is written. Also the notebook-004 data builder. Real data from MNISTLAB_DATA."""
from __future__ import annotations

import json

import numpy as np
import pytest
import sklearn  # noqa: F401  (imported here, not first inside a test: its import sets KMP_* variables)

from mnistlab.cli import main
from mnistlab.data import fashion5
from mnistlab.reproduce.notebooks import NOTEBOOKS

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("nb", sorted(NOTEBOOKS))
def test_reproduce_quick_writes_table_with_exact_params(nb, data_root, tmp_path, capsys):
    rc = main(["reproduce", nb, "--quick", "--out", str(tmp_path)])
    assert rc == 0
    table = (tmp_path / "quick" / "table.md").read_text()
    assert table == capsys.readouterr().out.split("table written to")[0].rstrip("\n") + "\n"
    rows = json.loads((tmp_path / "quick" / "results.json").read_text())
    assert [r["experiment"] for r in rows] == [e.key for e in NOTEBOOKS[nb]]
    for r in rows:
        assert r["params_ours"] == r["params_notebook"], r["experiment"]
        assert len(r["accuracies"]) == 1 and 0.0 <= r["accuracies"][0] <= 1.0
        assert f"| {r['experiment']} |" in table
    assert "diff" not in table and "ours acc" not in table  # a wiring check, not a result


def test_quick_001_chain_continues_the_same_model(data_root, tmp_path):
    """Each sweep step resumes the previous step: its history holds the earlier epochs."""
    assert main(["reproduce", "001", "--quick", "--out", str(tmp_path),
                 "--only", "batch-size=128"]) == 0
    rows = {r["experiment"]: r for r in
            json.loads((tmp_path / "quick" / "results.json").read_text())}
    assert list(rows) == ["keras-cnn", "batch-size=64", "batch-size=128"]
    assert [rows[k]["epochs"][0] for k in rows] == [1, 2, 3]


def test_fashion5_pairs_and_roundtrip(tmp_path):
    images = np.arange(10 * 28 * 28, dtype=np.int64).reshape(10, 28, 28, 1) % 256
    labels = np.arange(10)
    obj = fashion5.build_arrays(images.astype(np.uint8), labels, grouping="look-alike")
    assert obj["features"].shape == (10, 28, 28) and obj["features"].max() <= 1.0
    # T-shirt/Shirt, Trouser/Dress, Pullover/Coat, Sandal/Sneaker, Bag/Ankle boot
    assert obj["target"].tolist() == [1, 2, 3, 2, 3, 4, 1, 4, 5, 5]
    path = fashion5.write_npy_dict(obj, tmp_path / "f5.npy")
    with pytest.raises(ValueError):
        np.load(path)  # a pickled dict: refused without allow_pickle, like the notebook's file
    from mnistlab.data import load_dataset

    with pytest.warns(UserWarning):
        ds = load_dataset(str(path), allow_pickle=True)
    assert ds.classes == ["1", "2", "3", "4", "5"]
    assert ds.y_train.tolist() == [0, 1, 2, 1, 2, 3, 0, 3, 4, 4]
    assert ds.x_train.dtype.is_floating_point is False
    assert ds.x_train[1].flatten().tolist() == images[1].flatten().tolist()
