"""Microcontroller figures from the spec: activation RAM, flash, MACs, and their budgets."""
import pytest

from mnistlab.cli import main
from mnistlab.errors import MnistlabError
from mnistlab.models import check_budget, summary


def test_peak_ram_worked_by_hand_for_nb000():
    # fully quantised: input 784; conv 26x26x10 = 6,760 (ReLU folded into its quantisation);
    # max pooling 13x13x10 = 1,690 while the conv output is still read: 6,760 + 1,690 = 8,450
    s = summary("nb000-cnn")
    assert s.ram_int8 == 8450 and s.c_export().row_ram[1] == 8450


def test_flash_is_int8_weights_plus_bias_and_scale_per_channel():
    # conv 3x3x1x10 + 8*10, conv 3x3x10x4 + 8*4, dense 144x35 + 8*35, dense 35x10 + 8*10
    assert summary("nb000-cnn").flash_int8 == (90 + 80) + (360 + 32) + (5040 + 280) + (350 + 80)


@pytest.mark.parametrize("key, limit, words", [
    ("max_macs", 100_000, "109,790 MACs (multiply-accumulates), over the budget of 100,000 by 9,790"),
    ("max_ram_bytes", 8_000, "8,450 bytes (int8 C export's RAM arena), over the budget of 8,000 by 450"),
    ("max_flash_bytes", 6_000, "6,312 bytes (int8 C export's flash), over the budget of 6,000 by 312"),
])
def test_each_budget_refuses_in_one_line(key, limit, words):
    check_budget("nb000-cnn", **{key: limit + 10_000})
    with pytest.raises(MnistlabError) as err:
        check_budget("nb000-cnn", **{key: limit})
    assert words in str(err.value) and f"raise {key}" in str(err.value) and "\n" not in str(err.value)


def test_summary_cli_shows_memory_and_checks_the_new_budgets(capsys):
    assert main(["summary", "nb000-cnn"]) == 0
    out = capsys.readouterr().out
    assert "Act. bytes" in out and "Peak RAM (C export arena, activations and input): 8,450 bytes int8, 33,800 bytes fp32" in out
    assert "Flash (int8 C export): 6,312 bytes" in out
    assert main(["summary", "nb000-cnn", "--max-ram-bytes", "8449"]) == 2
    assert "over the budget of 8,449 by 1" in capsys.readouterr().err


def test_train_refuses_before_training(tmp_path):
    from mnistlab.train import train_run
    from tinydata import tiny_recipe, write_tiny_data
    r = tiny_recipe(write_tiny_data(tmp_path / "d.npz"))
    r["max_ram_bytes"] = 70  # the C export: float input 256 + its float transpose (Flatten) 256 = 512 > 70
    with pytest.raises(MnistlabError, match="over the budget of 70"):
        train_run(r, out=tmp_path / "runs", quiet=True)
    assert not any((tmp_path / "runs").glob("*")) if (tmp_path / "runs").exists() else True
