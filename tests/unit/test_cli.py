from mnistlab.cli import build_parser, main
from mnistlab.errors import MnistlabError, did_you_mean


def test_help_lists_commands(capsys):
    parser = build_parser()
    assert parser.prog == "mnistlab"


def test_did_you_mean():
    assert did_you_mean("conv2", ["conv2d", "dense"]) == " (did you mean 'conv2d'?)"
    assert did_you_mean("zzz", ["conv2d", "dense"]) == ""
