"""The built-in datasets: where their files come from and what their content must be.

Checksums are sha256 of the *decompressed* IDX files, so a re-gzipped copy still verifies.
MNIST and Fashion-MNIST sums are the public ones (the same values torchvision-era loaders
and the copies in ../shared/data/*/SHA256SUMS.uncompressed pin). For KMNIST no published
decompressed sums were found: its files are verified against the sha256 of the official
.gz files as served by codh.rois.ac.jp (the values torchvision pins); a KMNIST copy that
was recompressed can only be checked for IDX structure, counts and label range, and
`data info` says so ("structure only").
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from mnistlab import settings
from mnistlab.errors import MnistlabError, did_you_mean
from mnistlab.io import write_cache


@dataclass(frozen=True)
class FileSpec:
    filename: str            # decompressed name, e.g. train-images-idx3-ubyte
    count: int               # images / labels in the file
    sha256: str | None       # of the decompressed content
    gz_sha256: str | None = None  # of the official .gz wrapper (used when sha256 is unknown)


@dataclass(frozen=True)
class Builtin:
    name: str
    classes: list[str]
    mirrors: list[str]       # base URLs, tried in order; file URL = mirror + filename + ".gz"
    files: dict[str, FileSpec] = field(default_factory=dict)  # train_images, train_labels, ...
    homepage: str = ""


def _mnist_like(train_img, train_lbl, test_img, test_lbl, gz=(None, None, None, None)):
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    keys = ["train_images", "train_labels", "test_images", "test_labels"]
    sums = [train_img, train_lbl, test_img, test_lbl]
    counts = [60000, 60000, 10000, 10000]
    return {k: FileSpec(n, c, s, g) for k, n, c, s, g in zip(keys, names, counts, sums, gz)}


BUILTINS: dict[str, Builtin] = {
    "mnist": Builtin(
        name="mnist",
        classes=[str(i) for i in range(10)],
        homepage="http://yann.lecun.com/exdb/mnist/",
        mirrors=["https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/",
                 "http://yann.lecun.com/exdb/mnist/"],
        files=_mnist_like(
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    ),
    "fashion-mnist": Builtin(
        name="fashion-mnist",
        classes=["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        mirrors=["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                 "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"],
        files=_mnist_like(
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    ),
    "kmnist": Builtin(
        name="kmnist",
        classes=["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
        homepage="http://codh.rois.ac.jp/kmnist/",
        mirrors=["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"],
        files=_mnist_like(
            None, None, None, None,
            gz=("51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
                "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
                "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
                "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c")),
    ),
}

ALIASES = {"fashion": "fashion-mnist", "fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
           "k-mnist": "kmnist", "kuzushiji-mnist": "kmnist"}


def builtin_name(name: str) -> str | None:
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    return key if key in BUILTINS else None


def unknown_name_error(name: str) -> MnistlabError:
    known = ", ".join(BUILTINS)
    return MnistlabError(f"unknown dataset '{name}'{did_you_mean(name.lower(), BUILTINS)}: not a "
                         f"built-in ({known}) and no such file or folder")


# ------------------------------------------------------------------- locating files


def find_file(ds: Builtin, spec: FileSpec) -> Path | None:
    """First match over the search dirs, each as DIR/<dataset>/ then DIR/; raw or .gz."""
    for base in settings.data_search_dirs():
        for folder in (base / ds.name, base):
            for fname in (spec.filename, spec.filename + ".gz"):
                if (folder / fname).is_file():
                    return folder / fname
    return None


# ------------------------------------------------------------- verification cache

# Hashing every file on every load is most of a load's time (docs/data.md); a stamp
# (size + mtime) per verified file lets later loads skip it. It lives in the user cache because data dirs may be read-only.


def _stamp_file() -> Path:
    return settings.cache_dir() / "verified.json"


def _stamp_key(path: Path) -> tuple[str, str]:
    st = path.stat()
    return str(path.resolve()), f"{st.st_size}:{st.st_mtime_ns}"


def stamped_ok(path: Path, expected: str) -> bool:
    try:
        stamps = json.loads(_stamp_file().read_text())
    except (OSError, ValueError):
        return False
    key, sig = _stamp_key(path)
    return stamps.get(key) == {"sig": sig, "sha256": expected}


def stamp(path: Path, digest: str) -> None:
    """Remember that this exact file (size + mtime) verified. Best effort: never fails a load."""
    f = _stamp_file()
    try:
        stamps = json.loads(f.read_text()) if f.exists() else {}
    except (OSError, ValueError):
        stamps = {}
    key, sig = _stamp_key(path)
    stamps[key] = {"sig": sig, "sha256": digest}
    write_cache(f, json.dumps(stamps, indent=0))


def verify(path: Path, spec: FileSpec, content: bytes) -> str:
    """Check one file; returns its status for `data info`, raises on a mismatch.

    'ok (sha256)': decompressed content matches; 'ok (gz sha256)': the official .gz file;
    'structure only': no usable checksum (structure and counts were still checked)."""
    if spec.sha256:
        expected, what = spec.sha256, "ok (sha256)"
    elif spec.gz_sha256 and path.name.endswith(".gz"):
        expected, what = spec.gz_sha256, "ok (gz sha256)"
    else:
        return "structure only"
    if stamped_ok(path, expected):
        return what + ", cached"
    data = content if spec.sha256 else path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        if spec.sha256 is None:   # a recompressed KMNIST copy: not provably wrong
            return "structure only"
        raise MnistlabError(f"checksum mismatch for {path}: sha256 of its content is {digest[:16]}..., "
                            f"expected {expected[:16]}... ({spec.filename}); the file is corrupt or "
                            "not this dataset: delete it so it is downloaded again, or replace it")
    stamp(path, expected)
    return what
