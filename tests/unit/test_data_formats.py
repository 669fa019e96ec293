"""Every accepted format, built tiny on the fly, loads into the same uint8 NHWC Dataset."""
import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from mnistlab.data import load_dataset
from mnistlab.data.formats import parse_idx


def write_idx(path, arr, gz=False):
    arr = np.asarray(arr, dtype=np.uint8)
    data = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)
    return path


def rng_images(n, h=28, w=28, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w), dtype=np.uint8)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_gz_or_raw(tmp_path, gz):
    x, y = rng_images(5), np.array([3, 1, 3, 0, 1], np.uint8)
    xt, yt = rng_images(2, seed=1), np.array([1, 0], np.uint8)
    sfx = ".gz" if gz else ""
    write_idx(tmp_path / f"train-images-idx3-ubyte{sfx}", x, gz)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{sfx}", y, gz)
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{sfx}", xt, gz)
    write_idx(tmp_path / f"t10k-labels-idx1-ubyte{sfx}", yt, gz)
    ds = load_dataset(str(tmp_path))
    assert ds.x_train.dtype == torch.uint8 and ds.x_train.shape == (5, 28, 28, 1)
    assert torch.equal(ds.x_train[..., 0], torch.from_numpy(x))
    assert ds.classes == ["0", "1", "3"]          # only the labels that occur, numeric order
    assert ds.y_train.tolist() == [2, 1, 2, 0, 1]
    assert ds.y_test.tolist() == [1, 0] and ds.x_test.shape == (2, 28, 28, 1)
    assert ds.checksums == {}


def test_idx_dot_names_kaggle_style(tmp_path):
    write_idx(tmp_path / "train-images.idx3-ubyte", rng_images(2))
    write_idx(tmp_path / "train-labels.idx1-ubyte", [1, 2])
    ds = load_dataset(tmp_path)
    assert len(ds.x_train) == 2 and ds.x_test is None


def test_parse_idx_other_dtypes():
    arr = np.arange(6, dtype=">i2").reshape(2, 3)
    data = struct.pack(">BBBB", 0, 0, 0x0B, 2) + struct.pack(">2I", 2, 3) + arr.tobytes()
    out = parse_idx(data, "x")
    assert out.tolist() == [[0, 1, 2], [3, 4, 5]] and out.flags.writeable


def test_keras_npz(tmp_path):
    x, xt = rng_images(4), rng_images(2, seed=3)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.array([9, 7, 9, 7]), x_test=xt, y_test=np.array([7, 9]))
    ds = load_dataset(tmp_path / "d.npz")
    assert ds.classes == ["7", "9"] and ds.y_train.tolist() == [1, 0, 1, 0] and ds.y_test.tolist() == [0, 1]
    assert ds.x_train.shape == (4, 28, 28, 1) and torch.equal(ds.x_test[..., 0], torch.from_numpy(xt))


def test_npz_colour_images_keep_channels(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "c.npz", x_train=x, y_train=np.array([0, 1, 0]))
    ds = load_dataset(tmp_path / "c.npz")
    assert ds.x_train.shape == (3, 8, 8, 3) and torch.equal(ds.x_train, torch.from_numpy(x))


def test_npy_dict_like_notebook_004(tmp_path):
    """004: floats in 0..1 and float targets 1..5 -> uint8 0..255 and classes '1'..'5'."""
    feats = np.random.default_rng(0).random((10, 28, 28)).astype(np.float32)
    target = np.array([1, 2, 3, 4, 5, 5, 4, 3, 2, 1], dtype=np.float64)
    np.save(tmp_path / "f.npy", {"features": feats, "target": target}, allow_pickle=True)
    with pytest.warns(UserWarning, match="pickle can execute code"):
        ds = load_dataset(tmp_path / "f.npy", allow_pickle=True)
    assert ds.classes == ["1", "2", "3", "4", "5"]
    assert ds.y_train.tolist() == [0, 1, 2, 3, 4, 4, 3, 2, 1, 0] and ds.y_train.dtype == torch.int64
    assert ds.x_train.dtype == torch.uint8 and ds.x_train.shape == (10, 28, 28, 1)
    expected = np.rint(feats * 255).astype(np.uint8)
    assert torch.equal(ds.x_train[..., 0], torch.from_numpy(expected))
    assert ds.x_test is None


def test_float_pixels_0_255_are_not_rescaled(tmp_path):
    x = np.array([[[0.0, 128.0], [255.0, 3.0]]] * 2)
    np.savez(tmp_path / "f.npz", x_train=x, y_train=np.array([0, 1]))
    ds = load_dataset(tmp_path / "f.npz")
    assert ds.x_train[0, :, :, 0].tolist() == [[0, 128], [255, 3]]


def test_csv_kaggle_style(tmp_path):
    x = rng_images(3)
    rows = ["label," + ",".join(f"pixel{i}" for i in range(784))]
    rows += [f"{lab}," + ",".join(map(str, img.reshape(-1))) for lab, img in zip([4, 2, 4], x)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    ds = load_dataset(tmp_path / "train.csv")
    assert ds.x_train.shape == (3, 28, 28, 1) and torch.equal(ds.x_train[..., 0], torch.from_numpy(x))
    assert ds.classes == ["2", "4"] and ds.y_train.tolist() == [1, 0, 1]


def test_csv_string_labels(tmp_path):
    (tmp_path / "s.csv").write_text("pixel0,pixel1,pixel2,pixel3,label\n0,1,2,3,cat\n4,5,6,7,dog\n0,0,0,0,cat\n")
    ds = load_dataset(tmp_path / "s.csv")
    assert ds.classes == ["cat", "dog"] and ds.y_train.tolist() == [0, 1, 0]
    assert ds.x_train.shape == (3, 2, 2, 1) and ds.x_train[1, :, :, 0].tolist() == [[4, 5], [6, 7]]


def _png(path, arr, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode=mode).save(path)


def test_image_folders_gray(tmp_path):
    imgs = rng_images(3, 12, 10)
    _png(tmp_path / "10" / "a.png", imgs[0])
    _png(tmp_path / "2" / "b.png", imgs[1])
    _png(tmp_path / "2" / "c.png", imgs[2])
    ds = load_dataset(tmp_path)
    assert ds.classes == ["2", "10"]              # numeric names in numeric order
    assert ds.x_train.shape == (3, 12, 10, 1)
    assert ds.y_train.tolist() == [1, 0, 0]
    assert torch.equal(ds.x_train[0, :, :, 0], torch.from_numpy(imgs[0]))


def test_image_folders_rgb_and_train_test_layout(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    _png(tmp_path / "train" / "cat" / "1.png", rgb, "RGB")
    _png(tmp_path / "train" / "dog" / "1.png", rgb[::-1].copy(), "RGB")
    _png(tmp_path / "test" / "dog" / "1.png", rgb, "RGB")
    ds = load_dataset(tmp_path)
    assert ds.x_train.shape == (2, 6, 6, 3) and ds.classes == ["cat", "dog"]
    assert ds.y_test.tolist() == [1] and torch.equal(ds.x_test[0], torch.from_numpy(rgb))


def test_rgb_files_with_gray_content_become_one_channel(tmp_path):
    g = rng_images(1, 5, 5)[0]
    _png(tmp_path / "a" / "x.png", np.stack([g] * 3, -1), "RGB")
    _png(tmp_path / "b" / "x.png", g, "L")
    ds = load_dataset(tmp_path)
    assert ds.x_train.shape == (2, 5, 5, 1)


def test_builtin_names_are_case_and_alias_insensitive():
    from mnistlab.data.builtins import builtin_name
    assert builtin_name("MNIST") == "mnist"
    assert builtin_name("fashion_mnist") == "fashion-mnist"
    assert builtin_name("KMNIST") == "kmnist"
    assert builtin_name("emnist") is None


def test_public_api_reexports():
    import mnistlab
    import mnistlab.data as d
    assert mnistlab.load_dataset is d.load_dataset and mnistlab.Dataset is d.Dataset
    from mnistlab.data.splits import Splits, make_splits
    assert d.Splits is Splits and d.make_splits is make_splits
