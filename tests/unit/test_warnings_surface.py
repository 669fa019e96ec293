"""mnistlab's warnings are one `mnistlab: warning:` line in a terminal (the notebook kernel:
test_notebook_output.py), other libraries' warnings keep Python's format, and messages name
settings the way the surface in use spells them (issue 23 item 3)."""
import subprocess
import sys
import warnings

import pytest

from mnistlab.errors import MnistlabWarning, option, surface, warn
from mnistlab.evaluation.predictions import _split_arrays


def test_a_terminal_shows_one_line_and_leaves_other_categories_alone():
    code = ("from mnistlab.errors import warn\nimport warnings\n"
            "warn('the test set is used as validation set')\nwarnings.warn('not ours')\n")
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stderr
    lines = err.splitlines()
    assert lines[0] == "mnistlab: warning: the test set is used as validation set", err
    assert "UserWarning: not ours" in lines[1] and "<string>:4" in lines[1], err  # Python's own format


def test_the_formatter_only_changes_mnistlab_warnings():
    assert warnings.formatwarning("x", MnistlabWarning, "/abs/path.py", 3) == "mnistlab: warning: x\n"
    assert warnings.formatwarning("x", UserWarning, "/abs/path.py", 3).startswith("/abs/path.py:3: UserWarning: x")


def test_warn_is_a_filterable_userwarning_pointing_at_the_caller():
    with pytest.warns(MnistlabWarning, match="careful") as caught:
        warn("careful")
    assert issubclass(MnistlabWarning, UserWarning) and caught[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", MnistlabWarning)
        warn("filtered")  # users silence the category like any other


def test_option_is_worded_for_the_surface():
    assert option("split", "test") == "split='test'"
    assert option("allow_pickle") == "allow_pickle=True"
    with surface("cli"):
        assert option("split", "test") == "--split test"
        assert option("allow_pickle") == "--allow-pickle"
        assert option("split", [0.9, 0.1], cli="split: [0.9, 0.1] in the recipe") == "split: [0.9, 0.1] in the recipe"
    assert option("split", "test") == "split='test'"  # the block restores it


class _NoVal:
    x_val = y_val = None
    x_test = y_test = None


def test_evaluate_hint_names_the_keyword_in_python_and_the_flag_on_the_cli():
    with pytest.raises(Exception, match=r"use split='test'$"):
        _split_arrays(_NoVal(), "val")
    with surface("cli"), pytest.raises(Exception, match=r"use --split test$"):
        _split_arrays(_NoVal(), "val")


def test_emulated_bf16_is_one_mnistlab_warning_in_the_surfaces_wording(tmp_path, monkeypatch):
    """A CPU without native bfloat16 given precision bf16: one MnistlabWarning naming the fix
    as the surface spells it (was a raw UserWarning with CLI wording in Python)."""
    import torch

    from mnistlab.train import train_run
    from tests.unit.tinydata import tiny_recipe, write_tiny_data
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    data = write_tiny_data(tmp_path / "tiny.npz")
    recipe = {**tiny_recipe(data), "epochs": 1, "precision": "bf16"}
    with pytest.warns(MnistlabWarning, match=r"emulated.*use precision='auto'"):
        train_run(recipe, out=tmp_path / "py", quiet=True)
    with surface("cli"), pytest.warns(MnistlabWarning, match=r"use --set precision=auto"):
        train_run(recipe, out=tmp_path / "cli", quiet=True)
