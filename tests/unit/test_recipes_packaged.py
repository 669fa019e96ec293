"""Packaged recipes: addressable by name from any folder, listed, copied; the top-level
recipes/ of the source tree is the same folder (a symlink)."""
from __future__ import annotations

from pathlib import Path

import pytest

from mnistlab import recipes
from mnistlab.cli import main
from mnistlab.errors import MnistlabError
from mnistlab.train.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[2]


def test_repository_recipes_folder_is_the_packaged_one():
    assert (ROOT / "recipes").resolve() == recipes.DIR
    assert "nb002-cnn" in recipes.names() and "records/mnist-6k" in recipes.names()


def test_name_resolves_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_recipe("nb002-cnn").model == load_recipe(recipes.DIR / "nb002-cnn.yaml").model
    # a repository path from outside the repository falls back to the packaged copy
    assert load_recipe("recipes/nb002-cnn.yaml").name == load_recipe("nb002-cnn").name
    # a local file of that name wins over the packaged one
    (tmp_path / "nb002-cnn").write_text("model: nb000-cnn\nname: mine\n")
    assert load_recipe("nb002-cnn").name == "mine"


def test_unknown_name_suggests(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MnistlabError, match="did you mean 'nb002-cnn'"):
        load_recipe("nb02-cnn")


def test_cli_list_and_copy(tmp_path, capsys):
    assert main(["recipes", "list"]) == 0
    assert "nb000-cnn" in capsys.readouterr().out.split()
    assert main(["recipes", "copy", "nb002-cnn", str(tmp_path / "mine")]) == 0
    copied = tmp_path / "mine" / "nb002-cnn.yaml"
    assert copied.read_text() == (recipes.DIR / "nb002-cnn.yaml").read_text()
    assert main(["recipes", "copy", "nb002-cnn", str(tmp_path / "mine")]) == 2  # never overwrites
    assert "exists" in capsys.readouterr().err
