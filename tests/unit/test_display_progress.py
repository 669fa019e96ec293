"""Progress bars in a notebook kernel (stderr is never a TTY there) and none when quiet."""
import importlib.machinery
import importlib.util
import sys
import types
import warnings

import torch

from mnistlab import display
from mnistlab.display import in_notebook, widgets_render
from mnistlab.train.loop import progress_bar


def _fake_kernel(monkeypatch, kernel):
    shell = types.SimpleNamespace(kernel=kernel)
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))


def test_plain_python_is_not_a_notebook(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert not in_notebook()
    _fake_kernel(monkeypatch, None)  # a terminal IPython has no kernel
    assert not in_notebook()


def _ipywidgets(monkeypatch, installed: bool):
    real = importlib.util.find_spec
    spec = importlib.machinery.ModuleSpec("ipywidgets", None)
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: (spec if installed else None) if name == "ipywidgets" else real(name, *a))


def test_a_kernel_with_widgets_gets_a_bar_and_quiet_gets_none(monkeypatch):
    _fake_kernel(monkeypatch, object())
    _ipywidgets(monkeypatch, installed=True)
    made = []
    monkeypatch.setattr(display, "notebook_bar", lambda total, desc: made.append((total, desc)) or
                        types.SimpleNamespace(total=total))
    assert in_notebook() and widgets_render()
    bar = progress_bar(1, 3, 10, quiet=False, device=torch.device("cpu"))
    assert bar is not None and made == [(10, "Epoch 1/3")]
    assert progress_bar(1, 3, 10, quiet=True, device=torch.device("cpu")) is None


def test_a_kernel_without_ipywidgets_gets_no_bar_and_no_tqdm_warning(monkeypatch):
    """Issue 23 item 3: plain JupyterLab / VS Code without ipywidgets. tqdm.auto would warn
    (TqdmWarning) and draw text bars; the per-epoch lines are the progress there."""
    _fake_kernel(monkeypatch, object())
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # unimportable
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert progress_bar(1, 3, 10, quiet=False, device=torch.device("cpu")) is None
    assert not caught


def test_qt_console_and_spyder_are_no_widget_frontends(monkeypatch):
    _fake_kernel(monkeypatch, object())
    _ipywidgets(monkeypatch, installed=True)
    monkeypatch.setenv("QT_API", "pyqt5")
    assert not widgets_render()


def test_a_log_file_gets_no_bar(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert progress_bar(1, 3, 10, quiet=False, device=torch.device("cpu")) is None
