"""Every bad input the issue lists: a one-line MnistlabError, and from the CLI a non-zero
exit with that line on stderr and no traceback."""
import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from mnistlab.cli import main
from mnistlab.data import load_dataset
from mnistlab.errors import MnistlabError, MnistlabWarning


def idx_bytes(arr, dtype_code=0x08):
    arr = np.asarray(arr, dtype=np.uint8)
    return struct.pack(">BBBB", 0, 0, dtype_code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def idx_folder(root, x, y, gz=False):
    root.mkdir(parents=True, exist_ok=True)
    for name, arr in (("train-images-idx3-ubyte", x), ("train-labels-idx1-ubyte", y)):
        data = arr if isinstance(arr, bytes) else idx_bytes(arr)
        if gz:
            (root / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (root / name).write_bytes(data)
    return root


def images(n, h=4, w=4):
    return np.zeros((n, h, w), np.uint8)


def png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def pickled_npy(tmp_path):
    np.save(tmp_path / "p.npy", {"features": images(2), "target": np.array([1, 2])}, allow_pickle=True)
    return tmp_path / "p.npy"


def bad_magic(tmp_path):
    # written little-endian by mistake: 0x03080000 instead of 0x00000803
    return idx_folder(tmp_path / "d", b"\x03\x08\x00\x00" + idx_bytes(images(1))[4:], [0])


def labels_magic_in_images_file(tmp_path):
    return idx_folder(tmp_path / "d", idx_bytes([0, 1]), [0, 1])


def not_idx(tmp_path):
    return idx_folder(tmp_path / "d", b"PK\x03\x04 this is a zip, not idx", [0])


def truncated(tmp_path):
    return idx_folder(tmp_path / "d", idx_bytes(images(3))[:-5], [0, 1, 2])


def truncated_gzip(tmp_path):
    root = idx_folder(tmp_path / "d", images(3), [0, 1, 2], gz=True)
    f = root / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-12])
    return root


def count_mismatch(tmp_path):
    return idx_folder(tmp_path / "d", images(3), [0, 1])


def npz_count_mismatch(tmp_path):
    np.savez(tmp_path / "m.npz", x_train=images(3), y_train=np.array([0, 1]))
    return tmp_path / "m.npz"


def different_sizes(tmp_path):
    png(tmp_path / "f" / "a" / "1.png", np.zeros((28, 28), np.uint8))
    png(tmp_path / "f" / "b" / "1.png", np.zeros((32, 28), np.uint8))
    return tmp_path / "f"


def empty_class(tmp_path):
    png(tmp_path / "f" / "a" / "1.png", np.zeros((28, 28), np.uint8))
    (tmp_path / "f" / "b").mkdir()
    return tmp_path / "f"


def nan_pixels(tmp_path):
    x = np.zeros((2, 4, 4)); x[0, 1, 1] = np.nan
    np.savez(tmp_path / "n.npz", x_train=x, y_train=np.array([0, 1]))
    return tmp_path / "n.npz"


def out_of_range_pixels(tmp_path):
    x = np.zeros((2, 4, 4), np.int16); x[1, 0, 0] = 300
    np.savez(tmp_path / "o.npz", x_train=x, y_train=np.array([0, 1]))
    return tmp_path / "o.npz"


def negative_pixels(tmp_path):
    x = np.zeros((2, 4, 4), np.float32); x[1, 0, 0] = -0.5
    np.savez(tmp_path / "o.npz", x_train=x, y_train=np.array([0, 1]))
    return tmp_path / "o.npz"


def csv_nan_pixel(tmp_path):
    (tmp_path / "c.csv").write_text("label,pixel0,pixel1,pixel2,pixel3\n1,0,0,nan,0\n")
    return tmp_path / "c.csv"


def unseen_test_labels(tmp_path):
    np.savez(tmp_path / "u.npz", x_train=images(2), y_train=np.array([0, 1]), x_test=images(1), y_test=np.array([7]))
    return tmp_path / "u.npz"


CASES = {
    "wrong IDX magic": (bad_magic, "not an IDX file (magic number 0x03080000"),
    "labels where images belong": (labels_magic_in_images_file, "expected an image file (N, H, W), got IDX shape (2,)"),
    "not an IDX file at all": (not_idx, "not an IDX file"),
    "truncated IDX": (truncated, "truncated: header says shape (3, 4, 4)"),
    "truncated gzip": (truncated_gzip, "truncated gzip"),
    "image/label count mismatch (IDX)": (count_mismatch, "holds 3 images but train-labels-idx1-ubyte holds 2 labels"),
    "image/label count mismatch (npz)": (npz_count_mismatch, "3 train images but 2 labels"),
    "images of different sizes": (different_sizes, "images are not all the same size"),
    "empty class folder": (empty_class, "empty class folder"),
    "NaN pixels": (nan_pixels, "NaN"),
    "out-of-range pixels": (out_of_range_pixels, "pixel values range 0..300"),
    "negative pixels": (negative_pixels, "pixel values range -0.5..0"),
    "CSV NaN pixel": (csv_nan_pixel, "NaN"),
    "test labels beyond the training classes": (unseen_test_labels, "never occur in the training set"),
    "pickle without allow_pickle": (pickled_npy, "only if you trust where this file came from"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_api(tmp_path, case):
    make, msg = CASES[case]
    with pytest.raises(MnistlabError) as err:
        load_dataset(str(make(tmp_path)))
    assert msg in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("case", CASES)
def test_bad_input_cli(tmp_path, capsys, case):
    make, msg = CASES[case]
    code = main(["data", "info", str(make(tmp_path))])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("mnistlab: error: ") and msg in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unknown_dataset_name_lists_known_names(capsys):
    with pytest.raises(MnistlabError, match=r"unknown dataset 'mnsit' \(did you mean 'mnist'\?\).*mnist, fashion-mnist, kmnist"):
        load_dataset("mnsit")
    assert main(["data", "show", "mnsit"]) == 2
    err = capsys.readouterr().err
    assert "fashion-mnist" in err and "Traceback" not in err


def test_pickle_refused_then_allowed_with_warning(tmp_path):
    """Issue 23 item 3: in Python the messages name the keyword, not the CLI flag."""
    path = pickled_npy(tmp_path)
    with pytest.raises(MnistlabError, match="unpickling can execute arbitrary code") as err:
        load_dataset(path)
    assert "pass allow_pickle=True only" in str(err.value) and "--" not in str(err.value)
    with pytest.warns(MnistlabWarning, match="pickle can execute code") as caught:
        ds = load_dataset(path, allow_pickle=True)
    assert "unpickled because allow_pickle=True was given" in str(caught[0].message)
    assert ds.classes == ["1", "2"]


def test_cli_allow_pickle_flag(tmp_path, capsys):
    """On the command line the same messages name the flag."""
    path = pickled_npy(tmp_path)
    assert main(["data", "info", str(path)]) == 2
    assert "pass --allow-pickle (" in capsys.readouterr().err
    with pytest.warns(MnistlabWarning) as caught:
        assert main(["data", "info", str(path), "--allow-pickle"]) == 0
    assert "unpickled because --allow-pickle (" in str(caught[0].message)
    assert "2 train" in capsys.readouterr().out


def test_unknown_file_format(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(MnistlabError, match="unknown format"):
        load_dataset(tmp_path / "x.txt")


def test_fractional_labels(tmp_path):
    np.savez(tmp_path / "l.npz", x_train=images(2), y_train=np.array([0.5, 1.0]))
    with pytest.raises(MnistlabError, match="fractional"):
        load_dataset(tmp_path / "l.npz")


def test_show_without_test_set(tmp_path, capsys):
    np.savez(tmp_path / "a.npz", x_train=images(2), y_train=np.array([0, 1]))
    assert main(["data", "show", str(tmp_path / "a.npz"), "--split", "test", "--out", str(tmp_path / "g.png")]) == 2
    assert "no test set" in capsys.readouterr().err
