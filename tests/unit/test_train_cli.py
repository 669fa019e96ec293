"""`mnistlab train` argument handling (training itself is covered by test_train_run.py)."""
import pytest

from mnistlab.cli import build_parser, main


def test_help_states_the_model_defaults(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    out = capsys.readouterr().out
    assert "adam (lr 0.001), batch size 128, 5 epochs" in out and "--resume RUN_DIR" in out


@pytest.mark.parametrize("argv,message", [
    (["train"], "give a recipe"),
    (["train", "--model", "nb000-cnn", "--set", "optimiser.lr=1"], "did you mean 'optimizer'"),
    (["train", "missing.yaml"], "recipe file not found"),
    (["train", "--resume", "nowhere"], "not a run directory"),
    (["train", "--model", "nb000-cnn", "--set", "kernels=fast"], "'kernels' must be one of auto, torch, fused, got 'fast'"),
    (["train", "--resume", "nowhere", "--kernels", "fused"], "drop --kernels"),
])
def test_user_mistakes_exit_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
