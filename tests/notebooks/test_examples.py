"""Every examples/*.ipynb runs headless in quick mode (MNISTLAB_QUICK=1: a few thousand
images, one epoch); a failing cell fails the test. Reads the real datasets, like the
integration tier (fails, never skips, when they are missing)."""
import os
import shutil
from pathlib import Path

import pytest

import nbformat  # dev extras (make install); missing -> the tier fails, never skips
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))

pytestmark = pytest.mark.notebooks


def test_there_is_one_notebook_per_seed():
    seeds = [p.name[:3] for p in NOTEBOOKS if p.name[0].isdigit()]
    assert seeds == ["000", "001", "002", "003", "004"]
    assert [p.name for p in NOTEBOOKS if not p.name[0].isdigit()] == ["keras-in-and-out.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(path, tmp_path, monkeypatch, data_root):
    monkeypatch.setenv("MNISTLAB_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    work = tmp_path / "work"
    work.mkdir()
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}})
    client.execute()  # raises CellExecutionError, naming the cell, when one fails
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    shown = [o for o in outputs if o.get("output_type") in ("display_data", "execute_result")]
    assert any("image/png" in o.get("data", {}) for o in shown), "no figure was displayed"
    assert any("text/html" in o.get("data", {}) for o in shown), "no object showed itself as HTML"
    shutil.rmtree(work, ignore_errors=True)
