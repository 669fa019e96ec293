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
