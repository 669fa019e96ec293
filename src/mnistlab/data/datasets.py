"""Dataset (Contract 1) and load_dataset: built-in names or the user's own files.

Whatever the source, images end up as uint8 (N, H, W, C) tensors and labels as int64
0..K-1, with `classes[k]` the original name of label k, so results can be reported in
the user's labels (notebook 004's targets 1..5 -> classes ["1", ..., "5"]).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mnistlab.data import builtins, decoded, formats
from mnistlab.data.formats import Raw
from mnistlab.errors import MnistlabError


@dataclass
class Dataset:
    name: str
    x_train: torch.Tensor = field(repr=False)          # uint8, (N, H, W, C)
    y_train: torch.Tensor = field(repr=False)          # int64, 0..K-1
    x_test: torch.Tensor | None = field(repr=False)    # uint8 (M, H, W, C) or None
    y_test: torch.Tensor | None = field(repr=False)
    classes: list[str]                                  # classes[k] names label k
    source: str = ""                                    # file/folder it came from
    checksums: dict[str, str] = field(default_factory=dict)  # file -> status (built-ins)
    # Image folders are read class by class, so their order says nothing about the data:
    # validation_split shuffles them first (as Keras' image_dataset_from_directory does).
    ordered_by_class: bool = False
    # What load_dataset was given, resolved (a built-in's name or an absolute path, plus any
    # take() slice), so a run can record where to load its data again; "" for arrays in
    # memory. Read it through .reference / .identity (data/identity.py).
    loaded_as: str = ""

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def reference(self) -> str:
        """What load_dataset takes to load this data again (`mnist[:2000]`), or `memory:NAME`."""
        from mnistlab.data.identity import reference
        return reference(self)

    @property
    def identity(self):
        """DataIdentity: the reference and the sha256 of the content (what sweeps and studies
        compare, so results are never reused for other data)."""
        from mnistlab.data.identity import of
        return of(self)

    def take(self, train: int, test: int | None = None) -> "Dataset":
        """The first `train` training and `test` test images (all test images when None):
        a quick look at a big dataset, or a CI run of a notebook."""
        from dataclasses import replace

        from mnistlab.data.identity import sliced
        if int(train) < 1 or (test is not None and int(test) < 0):
            raise MnistlabError(f"take() needs train >= 1 and test >= 0, got {train}, {test}")
        cut = slice(None) if test is None else slice(0, int(test))
        tr = slice(0, int(train))
        n_train = min(int(train), len(self.x_train))  # the name says what was taken: load_dataset reads it back
        n_test = None if test is None or self.x_test is None else min(int(test), len(self.x_test))
        return replace(self, name=sliced(self.name, n_train, n_test),
                       loaded_as=sliced(self.loaded_as, n_train, n_test) if self.loaded_as else "",
                       x_train=self.x_train[tr], y_train=self.y_train[tr],
                       x_test=None if self.x_test is None else self.x_test[cut],
                       y_test=None if self.y_test is None else self.y_test[cut])

    def show(self, n: int = 40, split: str = "train", cols: int | None = None):
        """A matplotlib Figure with the first `n` images of a split and their labels."""
        from mnistlab.data.card import show
        return show(self, n, split, cols)

    def __repr__(self) -> str:
        from mnistlab.data.card import card_text
        return card_text(self)

    def _repr_html_(self) -> str:
        from mnistlab.data.card import card_html
        return card_html(self)


# ------------------------------------------------------------------- conversion


def to_uint8(arrays: list[np.ndarray], what: str) -> list[np.ndarray]:
    """Pixels as uint8 0..255. Integers must be 0..255; floats in 0..1 are scaled by 255
    (decided over all arrays together, so train and test are scaled alike)."""
    if not all(np.issubdtype(a.dtype, np.number) or a.dtype == bool for a in arrays):
        raise MnistlabError(f"{what}: pixels are not numbers (dtype {arrays[0].dtype})")
    if all(a.dtype == np.uint8 for a in arrays):
        return arrays
    nonempty = [a for a in arrays if a.size]
    if any(np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all() for a in nonempty):
        raise MnistlabError(f"{what}: pixels contain NaN or infinity; clean the data first")
    lo = min(float(a.min()) for a in nonempty)
    hi = max(float(a.max()) for a in nonempty)
    if lo < 0 or hi > 255:
        raise MnistlabError(f"{what}: pixel values range {lo:g}..{hi:g}; expected 0..255 or 0..1")
    floats = any(np.issubdtype(a.dtype, np.floating) for a in arrays)
    scale = 255.0 if floats and hi <= 1.0 else 1.0
    return [np.rint(a.astype(np.float32) * scale).astype(np.uint8) for a in arrays]


def _label_name(v) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def encode_labels(y_train: np.ndarray, y_test: np.ndarray | None, what: str,
                  classes: list[str] | None = None) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Map labels to 0..K-1. With `classes` (a built-in) the labels must already be indices
    into it; otherwise the classes are the sorted distinct labels (numbers in numeric order)."""
    ys = [y for y in (y_train, y_test) if y is not None]
    if any(y.ndim != 1 for y in ys):
        shapes = [y.shape for y in ys]
        raise MnistlabError(f"{what}: labels must be one value per image, got shapes {shapes}")
    numeric = all(np.issubdtype(y.dtype, np.number) for y in ys)
    if numeric:
        if any(np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all() for y in ys):
            raise MnistlabError(f"{what}: labels contain NaN or infinity")
        if any(np.issubdtype(y.dtype, np.floating) and not (y == np.round(y)).all() for y in ys):
            raise MnistlabError(f"{what}: labels have fractional values; expected class numbers or names")
    if classes is not None:
        for y in ys:
            if y.size and (int(y.min()) < 0 or int(y.max()) >= len(classes)):
                raise MnistlabError(f"{what}: label values {int(y.min())}..{int(y.max())} are beyond "
                                    f"the {len(classes)} stated classes (0..{len(classes) - 1}); the "
                                    "label file is corrupt or belongs to another dataset")
        return (y_train.astype(np.int64), None if y_test is None else y_test.astype(np.int64),
                list(classes))
    if not numeric:
        ys = [y.astype(str) for y in ys]
    values = np.unique(np.concatenate(ys)) if len(ys) > 1 else np.unique(ys[0])
    if not numeric:  # names: numeric order when they are all numbers ("2" < "10")
        try:
            values = np.array(sorted(values, key=float))
        except ValueError:
            pass
    if y_test is not None:
        unseen = np.setdiff1d(ys[1], ys[0])
        if unseen.size:
            raise MnistlabError(f"{what}: test labels {[_label_name(v) for v in unseen[:5]]} never "
                                "occur in the training set; the model could never predict them")
    lookup = {v: i for i, v in enumerate(values.tolist())}
    enc = [np.fromiter((lookup[v] for v in y.tolist()), np.int64, len(y)) for y in ys]
    return enc[0], enc[1] if y_test is not None else None, [_label_name(v) for v in values]


def _images(x: np.ndarray, what: str) -> np.ndarray:
    if x.ndim == 3:
        return x[..., None]  # gray (N, H, W) -> (N, H, W, 1)
    last, first = x.ndim == 4 and x.shape[-1] in (1, 3), x.ndim == 4 and x.shape[1] in (1, 3)
    if last and first:
        raise MnistlabError(f"{what}: images of shape {x.shape} may be (N, H, W, C) or (N, C, H, W); "
                            "transpose them to (N, H, W, C)")
    if last:
        return x
    if first:
        return np.moveaxis(x, 1, -1)  # torch's (N, C, H, W) -> (N, H, W, C)
    raise MnistlabError(f"{what}: images must be (N, H, W), (N, H, W, C) or (N, C, H, W) with C = 1 or 3, "
                        f"got shape {x.shape}")


def from_arrays(name: str, raw: Raw, *, classes: list[str] | None = None, source: str = "",
                checksums: dict[str, str] | None = None) -> Dataset:
    """Validate and convert raw arrays (any of the accepted pixel/label encodings)."""
    x_train, x_test = _images(np.asarray(raw.x_train), name), None
    if raw.x_test is not None:
        x_test = _images(np.asarray(raw.x_test), name)
        if x_test.shape[1:] != x_train.shape[1:]:
            raise MnistlabError(f"{name}: test images are {x_test.shape[1:]} but train images are "
                                f"{x_train.shape[1:]}; both must have one size")
    y_train = np.asarray(raw.y_train)
    y_test = None if raw.y_test is None else np.asarray(raw.y_test)
    for x, y, part in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if x is not None and (y is None or len(x) != len(y)):
            raise MnistlabError(f"{name}: {len(x):,} {part} images but "
                                f"{0 if y is None else len(y):,} labels; they must match")
    if len(x_train) == 0:
        raise MnistlabError(f"{name}: no training images")
    xs = to_uint8([x_train] + ([x_test] if x_test is not None else []), name)
    y_tr, y_te, names = encode_labels(y_train, y_test, name, classes or raw.classes)
    return Dataset(
        name=name,
        x_train=torch.from_numpy(np.ascontiguousarray(xs[0])),
        y_train=torch.from_numpy(y_tr),
        x_test=torch.from_numpy(np.ascontiguousarray(xs[1])) if x_test is not None else None,
        y_test=torch.from_numpy(y_te) if y_te is not None else None,
        classes=names,
        source=source,
        checksums=dict(checksums or {}),
    )


# ---------------------------------------------------------------------- loading


def load_builtin(name: str, *, quiet: bool = False) -> Dataset:
    from mnistlab.data.download import download

    ds = builtins.BUILTINS[name]
    paths = {k: builtins.find_file(ds, spec) for k, spec in ds.files.items()}
    missing = [k for k, p in paths.items() if p is None]
    if missing:
        paths.update(download(ds, missing, quiet=quiet))
    arrays, status = {}, {}
    for key, spec in ds.files.items():
        path = paths[key]
        # the decoded copy stands in for a .gz verified before, unchanged since (size + mtime);
        # a changed .gz is decoded and verified again
        cacheable = spec.sha256 is not None and path.name.endswith(".gz")
        fresh = cacheable and builtins.stamped_ok(path, spec.sha256)
        cached = decoded.read(spec.sha256) if fresh else None  # verified: hashes to spec.sha256
        content = cached if cached is not None else formats.read_bytes(path)
        arr = formats.parse_idx(content, path)
        want = (spec.count, 28, 28) if key.endswith("images") else (spec.count,)
        if arr.shape != want:
            raise MnistlabError(f"{path}: shape {arr.shape}, expected {want} for {ds.name}; the file is "
                                "corrupt or not this dataset: delete it so it is downloaded again")
        if key.endswith("labels") and arr.size and int(arr.max()) >= len(ds.classes):
            raise MnistlabError(f"{path}: label values up to {int(arr.max())} are beyond the "
                                f"{len(ds.classes)} classes of {ds.name}; the label file is corrupt")
        if cached is not None:
            status[path.name] = "ok (sha256), cached"
        else:
            status[path.name] = builtins.verify(path, spec, content)
            if cacheable:
                decoded.write(spec.sha256, content)
        arrays[key] = arr
    raw = Raw(arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"])
    folder = paths["train_images"].parent
    out = from_arrays(ds.name, raw, classes=ds.classes, source=str(folder), checksums=status)
    out.loaded_as = ds.name
    return out


def load_path(path: Path, *, allow_pickle: bool = False) -> Dataset:
    name = path.name
    if path.is_dir():
        if formats.find_idx_files(path):
            raw = formats.read_idx_folder(path)
        else:
            ds = from_arrays(name, formats.read_image_folders(path), source=str(path))
            ds.ordered_by_class = True
            ds.loaded_as = str(path.resolve())
            return ds
    else:
        suffix = path.name.lower().removesuffix(".gz").rsplit(".", 1)[-1] if "." in path.name else ""
        if suffix == "npz":
            raw = formats.read_npz(path)
        elif suffix == "npy":
            raw = formats.read_npy_dict(path, allow_pickle=allow_pickle)
        elif suffix == "csv":
            raw = formats.read_csv(path)
        elif "idx" in path.name.lower():
            raise MnistlabError(f"{path}: an IDX file alone has no labels; pass the folder holding "
                                "train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz]")
        else:
            raise MnistlabError(f"{path}: unknown format; use IDX files in a folder, .npz (x_train, "
                                "y_train, ...), .npy dict (features, target), .csv (label,pixel0..) "
                                "or image folders root/<class>/*.png")
    ds = from_arrays(name, raw, source=str(path))
    ds.loaded_as = str(path.resolve())
    return ds


def load_dataset(name_or_path, test=None, *, classes=None, name: str = "arrays",
                 allow_pickle: bool = False) -> Dataset:
    """A built-in name (mnist, fashion-mnist, kmnist) or a path to the user's own data; either
    may end in a take() slice, `mnist[:2000]` or `mnist[:2000,:500]` (train, test).
    Or arrays in memory, as Keras has them: `load_dataset((x_train, y_train), (x_test, y_test),
    classes=None)` (data/inmemory.py); `name` is then the dataset's name."""
    from mnistlab.data import inmemory
    if isinstance(name_or_path, (tuple, list)):
        raw, classes = inmemory.to_raw(name_or_path, test, classes=classes)
        return from_arrays(name, raw, classes=classes)
    if test is not None or classes is not None or name != "arrays":
        raise MnistlabError("test=, classes= and name= go with arrays, load_dataset((x_train, y_train), "
                            "(x_test, y_test)); a built-in or a file names its own splits and classes")
    key = builtins.builtin_name(str(name_or_path)) if not isinstance(name_or_path, Path) else None
    if key is not None:
        return load_builtin(key)
    path = Path(name_or_path).expanduser()
    if not path.exists():
        from mnistlab.data.identity import parse_slice, refuse_memory
        refuse_memory(str(name_or_path))
        cut = parse_slice(str(name_or_path))  # `mnist[:2000]`: what Dataset.take() records
        if cut is not None:
            return load_dataset(cut[0], allow_pickle=allow_pickle).take(cut[1], cut[2])
        raise builtins.unknown_name_error(str(name_or_path))
    return load_path(path, allow_pickle=allow_pickle)
