import pytest

import mnistlab
from mnistlab.cli import build_parser, main
from mnistlab.errors import did_you_mean


def test_every_command_is_registered():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"data", "summary", "models", "train", "eval", "report", "runs", "compare", "sweep",
            "tune", "search", "export", "predict", "serve", "reproduce"} <= set(sub.choices)


def test_python_api_mirrors_the_cli():
    for name in mnistlab.__all__:
        assert getattr(mnistlab, name) is not None
    with pytest.raises(AttributeError):
        mnistlab.no_such_thing  # noqa: B018


def test_user_errors_are_one_line_with_exit_2(capsys):
    assert main(["summary", "no-such-model"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mnistlab: error: ") and "\n" not in err and "Traceback" not in err


def test_did_you_mean():
    assert did_you_mean("conv2", ["conv2d", "dense"]) == " (did you mean 'conv2d'?)"
    assert did_you_mean("zzz", ["conv2d", "dense"]) == ""


_HEAVY = ("torch", "numpy", "optuna", "sklearn", "matplotlib", "onnxruntime")


def _modules_loaded_by(*argv: str) -> tuple[str, list[str]]:
    """Run `python -m mnistlab ARGV` in a fresh interpreter; return its stdout and which
    heavy modules it had imported when it exited."""
    import subprocess
    import sys

    probe = ("import runpy, sys\n"
             "sys.argv = ['mnistlab', *sys.argv[1:]]\n"
             "try:\n    runpy.run_module('mnistlab', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             f"print('HEAVY=' + ','.join(m for m in {_HEAVY!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    heavy = out.rsplit("HEAVY=", 1)[1].strip()
    return out, [m for m in heavy.split(",") if m]


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["train", "--help"],
                                  ["sweep", "--help"], ["data", "info", "--help"]])
def test_help_and_version_start_without_torch(argv):
    out, heavy = _modules_loaded_by(*argv)
    assert heavy == [], f"`mnistlab {' '.join(argv)}` imported {heavy}"
    assert "mnistlab" in out


def test_version_prints_the_package_version():
    out, _ = _modules_loaded_by("--version")
    assert out.splitlines()[0] == f"mnistlab {mnistlab.__version__}"
