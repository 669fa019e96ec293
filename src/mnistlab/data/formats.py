"""Readers for the file formats mnistlab accepts, each returning plain NumPy arrays.

Every reader returns a `Raw` (images as they are in the file, labels as they are in the
file); turning that into a clean uint8 Dataset happens once, in datasets.from_arrays.
Every way a file can be broken ends in a one-line MnistlabError naming the file.
"""
from __future__ import annotations

import csv
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistlab.errors import MnistlabError, option, warn

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass
class Raw:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    classes: list[str] | None = None  # set when the source names its classes (folders)


# ----------------------------------------------------------------------------- IDX

# IDX type byte -> big-endian NumPy dtype (http://yann.lecun.com/exdb/mnist/, bottom)
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_bytes(path: Path) -> bytes:
    """The file's content, decompressed when it is gzip (by magic bytes, not by name)."""
    data = Path(path).read_bytes()
    if data[:2] != b"\x1f\x8b":
        return data
    # zlib is about twice as fast as the gzip module; loop for multi-member files
    out, rest = [], data
    try:
        while rest[:2] == b"\x1f\x8b":
            d = zlib.decompressobj(wbits=31)
            out.append(d.decompress(rest))
            if not d.eof:
                raise MnistlabError(f"{path}: truncated gzip file (it ends before the end-of-stream "
                                    "marker); download or copy it again")
            rest = d.unused_data
    except zlib.error as err:
        raise MnistlabError(f"{path}: corrupt gzip data ({err}); download or copy it again") from None
    return b"".join(out)


def parse_idx(data: bytes, path: Path | str) -> np.ndarray:
    """An IDX file's array (shape from its header), checking magic number and length."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES or data[3] == 0:
        magic = "0x" + data[:4].hex().upper() if len(data) >= 4 else f"only {len(data)} bytes"
        raise MnistlabError(f"{path}: not an IDX file (magic number {magic}; expected 0x00000801 for "
                            "labels or 0x00000803 for images)")
    dtype, ndim = np.dtype(IDX_DTYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise MnistlabError(f"{path}: truncated IDX header ({len(data)} bytes); copy the file again")
    dims = tuple(int(v) for v in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = int(np.prod(dims)) * dtype.itemsize
    got = len(data) - header
    if got != expected:
        what = "truncated" if got < expected else "longer than its header says"
        raise MnistlabError(f"{path}: {what}: header says shape {dims} ({expected:,} bytes of data), "
                            f"file has {got:,}; download or copy it again")
    arr = np.frombuffer(data, dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)  # native order, writable


def read_idx(path: Path) -> np.ndarray:
    return parse_idx(read_bytes(path), path)


def idx_pair(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    x, y = read_idx(images), read_idx(labels)
    if x.ndim not in (3, 4):
        raise MnistlabError(f"{images}: expected an image file (N, H, W), got IDX shape {x.shape}")
    if y.ndim != 1:
        raise MnistlabError(f"{labels}: expected a label file (N,), got IDX shape {y.shape}")
    if len(x) != len(y):
        raise MnistlabError(f"{images.name} holds {len(x):,} images but {labels.name} holds "
                            f"{len(y):,} labels; they must come in matching pairs")
    return x, y


def find_idx_files(folder: Path) -> dict[str, Path]:
    """IDX files in a folder by role: train/test x images/labels ('train-images-idx3-ubyte.gz',
    'train-images.idx3-ubyte', 't10k-labels-idx1-ubyte', ...)."""
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        n = p.name.lower()
        if not p.is_file() or ("idx3" not in n and "idx1" not in n):
            continue
        split = "train" if n.startswith("train") else "test" if n.startswith(("t10k", "test")) else None
        kind = "images" if "idx3" in n else "labels"
        if split:
            found.setdefault(f"{split}_{kind}", p)
    return found


def read_idx_folder(folder: Path) -> Raw:
    f = find_idx_files(folder)
    if "train_images" not in f or "train_labels" not in f:
        raise MnistlabError(f"{folder}: no train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz] "
                            "pair found")
    x, y = idx_pair(f["train_images"], f["train_labels"])
    xt = yt = None
    if "test_images" in f and "test_labels" in f:
        xt, yt = idx_pair(f["test_images"], f["test_labels"])
    return Raw(x, y, xt, yt)


# ------------------------------------------------------------------ NumPy files


def read_npz(path: Path) -> Raw:
    """Keras-style .npz (x_train, y_train and optionally x_test, y_test); never unpickles."""
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            if not {"x_train", "y_train"} <= keys:
                raise MnistlabError(f"{path}: expected arrays x_train, y_train (and x_test, y_test) "
                                    f"like keras.datasets, found {sorted(keys)}")
            arrays = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test") if k in keys}
    except ValueError as err:
        raise MnistlabError(f"{path}: cannot read as .npz ({err})") from None
    except (OSError, EOFError) as err:
        raise MnistlabError(f"{path}: not a readable .npz file ({err})") from None
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise MnistlabError(f"{path}: has only one of x_test / y_test; give both or neither")
    return Raw(arrays["x_train"], arrays["y_train"], arrays.get("x_test"), arrays.get("y_test"))


# on the command line the opt-in is a flag (data info/show) or a recipe key (train)
PICKLE_FLAG = "--allow-pickle (a recipe: allow_pickle: true)"


def read_npy_dict(path: Path, allow_pickle: bool = False) -> Raw:
    """A .npy holding a pickled dict {'features': X, 'target': y} (notebook 004).

    Unpickling runs code from the file, so it is refused unless the user opts in."""
    try:
        arr = np.load(path, allow_pickle=allow_pickle)
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise MnistlabError(f"{path} holds a pickled Python object, and unpickling can execute "
                                f"arbitrary code; pass {option('allow_pickle', cli=PICKLE_FLAG)} only if you "
                                "trust where this file came from") from None
        raise MnistlabError(f"{path}: cannot read as .npy ({err})") from None
    except (OSError, EOFError) as err:
        raise MnistlabError(f"{path}: not a readable .npy file ({err})") from None
    if allow_pickle and arr.dtype == object:
        warn(f"{path}: unpickled because {option('allow_pickle', cli=PICKLE_FLAG)} was given; pickle can execute code, "
             "so only load files you trust", stacklevel=3)
    obj = arr[()] if arr.dtype == object and arr.shape == () else None
    if not isinstance(obj, dict):
        raise MnistlabError(f"{path}: expected a dict with 'features' and 'target' (like notebook 004), "
                            f"got an array of shape {arr.shape} and dtype {arr.dtype}")
    if "features" in obj and "target" in obj:
        return Raw(np.asarray(obj["features"]), np.asarray(obj["target"]))
    if "x_train" in obj and "y_train" in obj:
        xt, yt = obj.get("x_test"), obj.get("y_test")
        return Raw(np.asarray(obj["x_train"]), np.asarray(obj["y_train"]),
                   None if xt is None else np.asarray(xt), None if yt is None else np.asarray(yt))
    raise MnistlabError(f"{path}: the dict has keys {sorted(map(str, obj))}; expected 'features' and "
                        "'target' (or x_train, y_train)")


# ------------------------------------------------------------------------- CSV


def read_csv(path: Path) -> Raw:
    """Kaggle digit-recognizer style: a header 'label,pixel0,...,pixel783', one image per row."""
    with open(path, newline="") as f:
        header = next(csv.reader(f), None)
    if not header:
        raise MnistlabError(f"{path}: empty CSV file")
    cols = [c.strip().lower() for c in header]
    if "label" not in cols:
        raise MnistlabError(f"{path}: no 'label' column in the header; expected label,pixel0,...,pixel783 "
                            "(Kaggle digit-recognizer train.csv)")
    li = cols.index("label")
    try:
        # strings first: labels may be names, pixels are parsed (and checked) below
        table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=str, ndmin=2)
    except ValueError as err:
        raise MnistlabError(f"{path}: rows have different numbers of columns ({err})") from None
    if table.shape[0] == 0:
        raise MnistlabError(f"{path}: no data rows under the header")
    if table.shape[1] != len(cols):
        raise MnistlabError(f"{path}: header has {len(cols)} columns but rows have {table.shape[1]}")
    labels = np.char.strip(table[:, li])
    try:
        pixels = np.delete(table, li, axis=1).astype(np.float64)
    except ValueError:
        raise MnistlabError(f"{path}: some pixel values are not numbers") from None
    side = int(round(np.sqrt(pixels.shape[1])))
    if side * side != pixels.shape[1]:
        raise MnistlabError(f"{path}: {pixels.shape[1]} pixel columns is not a square image "
                            "(28x28 needs 784)")
    return Raw(pixels.reshape(-1, side, side), _numeric_if_possible(labels))


def _numeric_if_possible(labels: np.ndarray) -> np.ndarray:
    try:
        return labels.astype(np.float64)
    except ValueError:
        return labels


# ---------------------------------------------------------------- image folders


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _read_class_folders(root: Path) -> tuple[list[np.ndarray], list[str], list[Path]]:
    from PIL import Image, UnidentifiedImageError

    images, labels, paths = [], [], []
    for d in _class_dirs(root):
        files = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise MnistlabError(f"{d}: empty class folder (no .png/.jpg images); add images or "
                                "remove the folder")
        for p in files:
            try:
                with Image.open(p) as im:
                    gray = im.mode in ("1", "L", "LA", "I", "I;16", "F")
                    images.append(np.asarray(im.convert("L" if gray else "RGB")))
            except (UnidentifiedImageError, OSError) as err:
                raise MnistlabError(f"{p}: cannot read image ({err})") from None
            labels.append(d.name)
            paths.append(p)
    return images, labels, paths


def _stack(images: list[np.ndarray], paths: list[Path], root: Path) -> np.ndarray:
    first = images[0].shape[:2]
    for im, p in zip(images, paths):
        if im.shape[:2] != first:
            raise MnistlabError(f"{root}: images are not all the same size ({paths[0].name} is "
                                f"{first[1]}x{first[0]}, {p} is {im.shape[1]}x{im.shape[0]}); "
                                "resize them to one size")
    if any(im.ndim == 3 for im in images):
        images = [np.repeat(im[..., None], 3, axis=2) if im.ndim == 2 else im for im in images]
        x = np.stack(images)
        # colour files holding gray pictures (R == G == B everywhere) stay one channel
        return x[..., :1] if (x == x[..., :1]).all() else x
    return np.stack(images)


def read_image_folders(root: Path) -> Raw:
    """root/<class>/*.png, or root/train/<class>/*.png (+ root/test/<class>/*.png)."""
    subdirs = {d.name.lower(): d for d in _class_dirs(root)}
    split_layout = "train" in subdirs and bool(_class_dirs(subdirs["train"]))
    parts = {"train": subdirs["train"], "test": subdirs.get("test")} if split_layout else {"train": root}
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, folder in parts.items():
        if folder is None:
            continue
        if not _class_dirs(folder):
            raise MnistlabError(f"{folder}: no class folders; expected {folder}/<class>/*.png")
        images, labels, paths = _read_class_folders(folder)
        out[split] = (_stack(images, paths, folder), np.array(labels))  # names kept as written
    xt, yt = out.get("test", (None, None))
    return Raw(out["train"][0], out["train"][1], xt, yt)
