import numpy as np
import pytest
import torch
from PIL import Image

from mnistlab.cli import main
from mnistlab.data.images import save_grid
from mnistlab.errors import MnistlabError


def test_grid_200_in_10_rows_of_20(tmp_path):
    x = torch.randint(0, 256, (200, 28, 28, 1), dtype=torch.uint8)
    p = save_grid(x, [str(i % 10) for i in range(200)], tmp_path / "g.png", cols=20)
    w, h = Image.open(p).size
    assert p.exists() and 1.4 < w / h < 2.4        # 20 columns wider than 10 rows
    assert not list(tmp_path.glob("*.tmp"))


def test_grid_titles_colours_and_rgb(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    p = save_grid(x, None, tmp_path / "sub" / "m.png", cols=3, titles=[f"7 (pred {i})" for i in range(5)],
                  colors=["red"] * 5, title="misclassified")
    img = np.asarray(Image.open(p).convert("RGB"))
    assert (img[..., 0].astype(int) - img[..., 1] > 100).any()   # red captions were drawn


def test_grid_rejects_bad_input(tmp_path):
    with pytest.raises(MnistlabError, match="uint8"):
        save_grid(np.zeros((2, 4, 4, 1), np.float32), ["a", "b"], tmp_path / "x.png")
    with pytest.raises(MnistlabError, match="captions"):
        save_grid(np.zeros((2, 4, 4, 1), np.uint8), ["a"], tmp_path / "x.png")


def test_cli_show_and_info(tmp_path, capsys):
    x = np.random.default_rng(0).integers(0, 256, (30, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.arange(30) % 3, x_test=x[:6], y_test=np.arange(6) % 3)
    assert main(["data", "show", str(tmp_path / "d.npz"), "--n", "25", "--cols", "5",
                 "--out", str(tmp_path / "grid.png")]) == 0
    assert "wrote" in capsys.readouterr().out and Image.open(tmp_path / "grid.png").size[0] > 100
    assert main(["data", "info", str(tmp_path / "d.npz")]) == 0
    out = capsys.readouterr().out
    assert "30 train, 6 test, 28x28x1" in out
    mean = x.mean() / 255
    assert f"mean {mean:.4f}" in out
    assert "checksums: none" in out
