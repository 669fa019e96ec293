"""Progress bars in a notebook kernel (stderr is never a TTY there) and none when quiet."""
import sys
import types

import torch

from mnistlab.display import in_notebook
from mnistlab.train.loop import progress_bar


def _fake_kernel(monkeypatch, kernel):
    shell = types.SimpleNamespace(kernel=kernel)
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))


def test_plain_python_is_not_a_notebook(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert not in_notebook()
    _fake_kernel(monkeypatch, None)  # a terminal IPython has no kernel
    assert not in_notebook()


def test_a_kernel_gets_a_bar_and_quiet_gets_none(monkeypatch):
    _fake_kernel(monkeypatch, object())
    assert in_notebook()
    bar = progress_bar(1, 3, 10, quiet=False, device=torch.device("cpu"))
    assert bar is not None and bar.total == 10
    bar.close()
    assert progress_bar(1, 3, 10, quiet=True, device=torch.device("cpu")) is None


def test_a_log_file_gets_no_bar(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert progress_bar(1, 3, 10, quiet=False, device=torch.device("cpu")) is None
