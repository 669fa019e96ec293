"""The ONNX tools are the `export` extra (issue 23 item 5): without them export says in one
line what to install, on the CLI and in Python; predict and serve never need them."""
import subprocess
import sys

import pytest

from mnistlab.cli import main
from mnistlab.errors import MnistlabError

BLOCK = ("onnx", "onnxruntime", "onnxscript")


@pytest.fixture
def no_onnx(monkeypatch):
    for name in BLOCK:  # None in sys.modules: unimportable, as in a core install
        monkeypatch.setitem(sys.modules, name, None)


def test_python_export_names_the_extra(no_onnx, tmp_path):
    from mnistlab.serve import export as E
    for call in (lambda: E.export_run(tmp_path), lambda: E.export_onnx(None, tmp_path / "m.onnx"),
                 lambda: E.session(tmp_path / "m.onnx")):
        with pytest.raises(MnistlabError) as err:
            call()
        msg = str(err.value)
        assert "\n" not in msg and msg.endswith("pip install 'mnistlab[export]'")
        assert "onnx, onnxscript, onnxruntime" in msg


@pytest.mark.parametrize("fmt", ["onnx", "c"])
def test_cli_export_names_the_extra_before_any_work(no_onnx, tmp_path, capsys, fmt):
    assert main(["export", str(tmp_path / "no-such-run"), "--format", fmt]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mnistlab: error: export needs onnx")
    assert "pip install 'mnistlab[export]'" in err


def test_only_the_missing_package_is_named(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    from mnistlab.serve.export import require_export_extra
    with pytest.raises(MnistlabError, match=r"^export needs onnxruntime, which"):
        require_export_extra()


def test_predict_and_serve_load_without_onnx():
    code = ("import sys\nfor n in ('onnx', 'onnxruntime', 'onnxscript'): sys.modules[n] = None\n"
            "import mnistlab.serve.web, mnistlab.serve.predict\n"
            "from mnistlab.cli import build_parser\nbuild_parser()\nprint('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "ok", proc.stderr
