"""Issue 17 item 17: small CLI papercuts a newcomer hits."""
import subprocess
import sys

from mnistlab.cli import build_parser, main
from mnistlab.errors import did_you_mean


def test_train_help_shows_a_single_percent_sign():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    text = sub.choices["train"].format_help()
    assert "10% of" in text and "%%" not in text


def test_did_you_mean_ties_go_to_the_first_listed_choice():
    zoo = ["nb000-cnn", "nb001-cnn", "nb002-cnn", "nb003-cnn", "nb004-bn-cnn"]
    assert did_you_mean("nb00-cnn", zoo) == " (did you mean 'nb000-cnn'?)"
    assert did_you_mean("nb03-cnn", zoo) == " (did you mean 'nb003-cnn'?)"


def test_summary_of_a_zoo_typo_suggests_nb000(capsys):
    assert main(["summary", "nb00-cnn"]) == 2
    assert "did you mean 'nb000-cnn'" in capsys.readouterr().err


def test_summary_and_budget_accept_a_recipe_file(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\ndata: {dataset: mnist}\nepochs: 1\nmodel:\n  input_shape: [28, 28, 1]\n"
                      "  layers:\n    - {type: flatten}\n    - {type: dense, units: 10, activation: softmax}\n")
    assert main(["summary", str(recipe), "--max-params", "7850"]) == 0
    assert "7,850" in capsys.readouterr().out
    assert main(["summary", str(recipe), "--max-params", "7849"]) == 2
    zoo_recipe = tmp_path / "z.yaml"
    zoo_recipe.write_text("model: nb000-cnn\nepochs: 1\n")
    assert main(["summary", str(zoo_recipe)]) == 0


def test_a_closed_pipe_ends_quietly():
    # The reader is gone before we write (like `mnistlab ... | head` after head exits).
    proc = subprocess.Popen([sys.executable, "-m", "mnistlab", "models", "list"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == 141
