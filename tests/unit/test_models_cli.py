"""`mnistlab summary` and `mnistlab models list|show`."""
import json

import yaml

from mnistlab.cli import main


def test_summary_table(capsys):
    assert main(["summary", "nb000-cnn"]) == 0
    out = capsys.readouterr().out
    assert 'Model: "nb000-cnn"' in out and "(None, 6, 6, 4)" in out
    assert "Total params: 5,899" in out and "Non-trainable params: 0" in out
    assert "Weights: 23,596 bytes fp32, 5,899 bytes int8" in out


def test_summary_json(capsys):
    assert main(["summary", "nb004-bn-cnn", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["total"], d["trainable"], d["non_trainable"]) == (33989, 30405, 3584)
    assert d["layers"][0]["output_shape"] == [26, 26, 32] and d["macs"] == sum(r["macs"] for r in d["layers"])


def test_summary_over_budget_exits_2(capsys):
    assert main(["summary", "nb002-cnn", "--max-params", "7000"]) == 0
    assert main(["summary", "nb002-cnn", "--max-params", "6000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "over the budget of 6,000" in err


def test_summary_of_yaml_spec_and_bad_spec(tmp_path, capsys):
    path = tmp_path / "net.yaml"
    path.write_text("input_shape: [28, 28, 1]\nlayers:\n  - {type: flatten}\n  - {type: dense, unit: 10}\n")
    assert main(["summary", str(path)]) == 2
    assert "layers[1] (dense): unknown argument 'unit' (did you mean 'units'?)" in capsys.readouterr().err


def test_models_list_and_show(capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "nb003-cnn" in out and "121,930" in out
    assert main(["models", "show", "nb000-cnn"]) == 0
    spec = yaml.safe_load(capsys.readouterr().out)
    assert spec["input_shape"] == [28, 28, 1] and spec["layers"][0]["filters"] == 10
