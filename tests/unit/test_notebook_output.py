"""What a notebook reader sees (issue 23 item 3), in a real Jupyter kernel run headless:
an error is its one line (the traceback still there with %tb), a warning one
`mnistlab: warning:` line, and `fit` in a kernel without ipywidgets (plain JupyterLab,
VS Code) prints its per-epoch lines and nothing on stderr: no TqdmWarning, no blank bars.

One kernel for the whole file (starting one costs seconds); the cells' outputs are the
saved notebook's, as a reader would open it."""
import re
import textwrap

import pytest

nbformat = pytest.importorskip("nbformat")  # dev extras; the notebooks tier needs them too
nbclient = pytest.importorskip("nbclient")

from tinydata import tiny_recipe, write_tiny_data  # noqa: E402

CELLS = {
    "error": "from mnistlab.errors import MnistlabError\nraise MnistlabError('the thing is wrong; do this')",
    "tb": "%tb",
    "warning": "from mnistlab.errors import warn\nwarn('careful with this')",
    "other warning": "import warnings\nwarnings.warn('not ours', DeprecationWarning)",
    # a kernel without ipywidgets; set to None so the test holds where it is installed
    "fit": textwrap.dedent("""\
        import sys
        sys.modules['ipywidgets'] = None
        import mnistlab
        run = mnistlab.fit({RECIPE!r}, report=False)
        """),
    "api wording": "from mnistlab.evaluation.predictions import _split_arrays\n"
                   "_split_arrays(run.splits(), 'nope')",
}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    work = tmp_path_factory.mktemp("nb")
    recipe = tiny_recipe(write_tiny_data(work / "tiny.npz"), epochs=2)
    nb = nbformat.v4.new_notebook()
    for source in CELLS.values():
        nb.cells.append(nbformat.v4.new_code_cell(source.replace("{RECIPE!r}", repr(recipe))))
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(work)}})
    client.execute()
    return {name: cell.outputs for name, cell in zip(CELLS, nb.cells)}


def _text(outs, name=None):
    return "".join(o.get("text", "") for o in outs if o["output_type"] == "stream"
                   and (name is None or o["name"] == name))


def test_an_error_is_its_one_line(outputs):
    (err,) = outputs["error"]
    assert err["output_type"] == "error"
    assert err["traceback"] == ["MnistlabError: the thing is wrong; do this"]


def test_tb_still_shows_the_full_traceback(outputs):
    shown = "\n".join(line for o in outputs["tb"] for line in o.get("traceback", []) + [o.get("text", "")])
    shown = re.sub(r"\x1b\[[0-9;]*m", "", shown)  # IPython colours it
    assert "Traceback (most recent call last)" in shown
    assert "raise MnistlabError('the thing is wrong; do this')" in shown


def test_a_warning_is_one_line_and_others_are_untouched(outputs):
    assert _text(outputs["warning"]) == "mnistlab: warning: careful with this\n"
    other = _text(outputs["other warning"], "stderr")
    assert "DeprecationWarning: not ours" in other  # Python's own format for other categories


def test_fit_without_ipywidgets_prints_the_epoch_lines_only(outputs):
    outs = outputs["fit"]
    assert not [o for o in outs if o["output_type"] == "error"], outs
    assert _text(outs, "stderr") == "", "a TqdmWarning or a text bar reached the notebook"
    assert not [o for o in outs if o["output_type"] == "display_data"]
    out = _text(outs, "stdout")
    assert "Epoch 1/2 - " in out and "Epoch 2/2 - " in out


def test_api_errors_name_keywords_not_flags(outputs):
    (err,) = outputs["api wording"]
    assert err["traceback"] == ["MnistlabError: the run has no nope split; use split='test'"]
