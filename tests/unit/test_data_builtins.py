"""Built-in datasets on tiny stand-ins: search order, checksums, stamp cache, download."""
import functools
import gzip
import hashlib
import http.server
import struct
import threading

import numpy as np
import pytest

from mnistlab import settings
from mnistlab.cli import main
from mnistlab.data import builtins, load_dataset
from mnistlab.data.builtins import Builtin, FileSpec
from mnistlab.errors import MnistlabError

KEYS = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
        "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


def idx_bytes(arr):
    arr = np.asarray(arr, dtype=np.uint8)
    return struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def tiny_content(label_max=2):
    rng = np.random.default_rng(0)
    y = np.array([0, 1, 2, 0, 1, label_max], np.uint8)
    return {"train_images": idx_bytes(rng.integers(0, 256, (6, 28, 28))),
            "train_labels": idx_bytes(y),
            "test_images": idx_bytes(rng.integers(0, 256, (3, 28, 28))),
            "test_labels": idx_bytes([2, 1, 0])}


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """Register a 3-class built-in 'tiny' whose pinned checksums match tiny_content()."""
    content = tiny_content()
    files = {k: FileSpec(KEYS[k], 6 if k.startswith("train") else 3, hashlib.sha256(content[k]).hexdigest())
             for k in KEYS}
    ds = Builtin("tiny", ["a", "b", "c"], ["http://127.0.0.1:9/"], files)
    monkeypatch.setitem(builtins.BUILTINS, "tiny", ds)
    monkeypatch.delenv("MNISTLAB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))   # a fresh cache per test
    settings.set_data_dir(None)
    yield ds, content
    settings.set_data_dir(None)


def write(folder, content, gz=True, only=None):
    folder.mkdir(parents=True, exist_ok=True)
    for k, data in content.items():
        if only is None or k in only:
            name = KEYS[k] + (".gz" if gz else "")
            (folder / name).write_bytes(gzip.compress(data, mtime=0) if gz else data)


def test_loads_from_data_dir_subfolder_and_verifies(tiny, tmp_path):
    ds, content = tiny
    write(tmp_path / "d" / "tiny", content)
    settings.set_data_dir(tmp_path / "d")
    d = load_dataset("tiny")
    assert d.x_train.shape == (6, 28, 28, 1) and d.classes == ["a", "b", "c"]
    assert d.y_train.tolist() == [0, 1, 2, 0, 1, 2] and d.y_test.tolist() == [2, 1, 0]
    assert set(d.checksums.values()) == {"ok (sha256)"}
    # a second load reuses the verification stamp (same size + mtime)
    assert set(load_dataset("tiny").checksums.values()) == {"ok (sha256), cached"}


def test_files_directly_in_dir_raw_and_env_var(tiny, tmp_path, monkeypatch):
    ds, content = tiny
    write(tmp_path / "e", content, gz=False)
    monkeypatch.setenv("MNISTLAB_DATA", str(tmp_path / "e"))
    assert load_dataset("TINY").source == str(tmp_path / "e")


def test_data_dir_takes_precedence_over_env(tiny, tmp_path, monkeypatch):
    ds, content = tiny
    write(tmp_path / "env" / "tiny", content)
    write(tmp_path / "flag" / "tiny", content)
    monkeypatch.setenv("MNISTLAB_DATA", str(tmp_path / "env"))
    settings.set_data_dir(tmp_path / "flag")
    assert load_dataset("tiny").source == str(tmp_path / "flag" / "tiny")


def test_recompressed_file_still_verifies(tiny, tmp_path):
    ds, content = tiny
    folder = tmp_path / "d" / "tiny"
    write(folder, content)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(content["train_images"], compresslevel=1, mtime=123))
    settings.set_data_dir(tmp_path / "d")
    assert load_dataset("tiny").checksums["train-images-idx3-ubyte.gz"] == "ok (sha256)"


def test_checksum_mismatch(tiny, tmp_path, capsys):
    ds, content = tiny
    bad = dict(content)
    bad["train_images"] = content["train_images"][:-1] + b"\x07"   # one pixel changed
    write(tmp_path / "d" / "tiny", bad)
    settings.set_data_dir(tmp_path / "d")
    with pytest.raises(MnistlabError, match="checksum mismatch for .*train-images-idx3-ubyte.gz"):
        load_dataset("tiny")
    assert main(["data", "info", "tiny", "--data-dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "checksum mismatch" in err and err.count("\n") == 1 and "Traceback" not in err


def test_stamp_is_invalidated_when_file_changes(tiny, tmp_path):
    ds, content = tiny
    folder = tmp_path / "d" / "tiny"
    write(folder, content)
    settings.set_data_dir(tmp_path / "d")
    load_dataset("tiny")
    f = folder / "train-images-idx3-ubyte.gz"
    f.write_bytes(gzip.compress(content["train_images"][:-1] + b"\x01", mtime=0))
    with pytest.raises(MnistlabError, match="checksum mismatch"):
        load_dataset("tiny")


def test_label_beyond_stated_classes(tiny, tmp_path, monkeypatch):
    ds, _ = tiny
    content = tiny_content(label_max=7)   # 3 classes stated, a label 7 in the file
    files = dict(ds.files, train_labels=FileSpec(KEYS["train_labels"], 6, hashlib.sha256(content["train_labels"]).hexdigest()))
    monkeypatch.setitem(builtins.BUILTINS, "tiny", Builtin("tiny", ds.classes, ds.mirrors, files))
    write(tmp_path / "d" / "tiny", content)
    settings.set_data_dir(tmp_path / "d")
    with pytest.raises(MnistlabError, match="label values up to 7 are beyond the 3 classes"):
        load_dataset("tiny")


def test_wrong_count_for_builtin(tiny, tmp_path):
    ds, content = tiny
    content = dict(content, test_images=idx_bytes(np.zeros((2, 28, 28))))
    write(tmp_path / "d" / "tiny", content)
    settings.set_data_dir(tmp_path / "d")
    with pytest.raises(MnistlabError, match=r"shape \(2, 28, 28\), expected \(3, 28, 28\)"):
        load_dataset("tiny")


# ------------------------------------------------------------------------ download


def _serve(folder):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_download_from_local_http_server(tiny, tmp_path, monkeypatch):
    ds, content = tiny
    write(tmp_path / "mirror", content)
    server = _serve(tmp_path / "mirror")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        # first mirror refuses connections, second 404s, third has the files
        mirrors = ["http://127.0.0.1:9/", url + "nothing-here/", url]
        monkeypatch.setitem(builtins.BUILTINS, "tiny", Builtin("tiny", ds.classes, mirrors, ds.files))
        d = load_dataset("tiny")
    finally:
        server.shutdown()
    cache = settings.cache_dir() / "tiny"
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == sorted(k + ".gz" for k in KEYS.values())
    assert d.source == str(cache) and set(d.checksums.values()) == {"ok (sha256)"}
    assert d.y_train.tolist() == [0, 1, 2, 0, 1, 2]


def test_download_file_url_only_missing_files(tiny, tmp_path, monkeypatch):
    ds, content = tiny
    write(tmp_path / "mirror", content)
    write(tmp_path / "d" / "tiny", content, only={"train_images", "train_labels"})
    settings.set_data_dir(tmp_path / "d")
    monkeypatch.setitem(builtins.BUILTINS, "tiny",
                        Builtin("tiny", ds.classes, [(tmp_path / "mirror").as_uri() + "/"], ds.files))
    d = load_dataset("tiny")
    assert len(d.x_test) == 3
    assert sorted(p.name for p in (settings.cache_dir() / "tiny").iterdir()) == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def test_downloaded_file_with_wrong_checksum_is_discarded(tiny, tmp_path, monkeypatch):
    ds, content = tiny
    bad = dict(content, test_labels=idx_bytes([0, 0, 0]))
    write(tmp_path / "mirror", bad)
    monkeypatch.setitem(builtins.BUILTINS, "tiny",
                        Builtin("tiny", ds.classes, [(tmp_path / "mirror").as_uri() + "/"], ds.files))
    with pytest.raises(MnistlabError, match="t10k-labels-idx1-ubyte.gz.*checksum mismatch"):
        load_dataset("tiny")
    assert not (settings.cache_dir() / "tiny" / "t10k-labels-idx1-ubyte.gz").exists()
    assert not list((settings.cache_dir() / "tiny").glob("*.download"))


def test_offline_error_names_files_urls_and_place(tiny, capsys):
    assert main(["data", "info", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    for piece in ["missing train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "http://127.0.0.1:9/",
                  str(settings.cache_dir() / "tiny"), "--data-dir DIR", "MNISTLAB_DATA"]:
        assert piece in err


def test_gz_sha_only_builtin_like_kmnist(tiny, tmp_path, monkeypatch):
    """KMNIST pins only the official .gz sha256: the official wrapper verifies, a recompressed
    copy is accepted as 'structure only'."""
    ds, content = tiny
    folder = tmp_path / "d" / "tiny"
    write(folder, content)
    gz_sums = {k: hashlib.sha256((folder / (KEYS[k] + ".gz")).read_bytes()).hexdigest() for k in KEYS}
    files = {k: FileSpec(s.filename, s.count, None, gz_sums[k]) for k, s in ds.files.items()}
    monkeypatch.setitem(builtins.BUILTINS, "tiny", Builtin("tiny", ds.classes, ds.mirrors, files))
    settings.set_data_dir(tmp_path / "d")
    assert set(load_dataset("tiny").checksums.values()) == {"ok (gz sha256)"}
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(content["train_labels"], mtime=99))
    assert load_dataset("tiny").checksums["train-labels-idx1-ubyte.gz"] == "structure only"


def test_pinned_public_checksums():
    """The sums cross-checked against ../shared/data/*/SHA256SUMS.uncompressed and public code."""
    m = builtins.BUILTINS["mnist"].files
    assert m["train_images"].sha256 == "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
    f = builtins.BUILTINS["fashion-mnist"].files
    assert f["train_images"].sha256 == "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
    k = builtins.BUILTINS["kmnist"]
    assert all(s.gz_sha256 and len(s.gz_sha256) == 64 for s in k.files.values())
    assert k.mirrors == ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"]


def test_decoded_copy_in_the_cache_is_used_and_verified(tiny, tmp_path, monkeypatch):
    """The second load reads the verified decoded copy from the user cache, not the .gz; a
    corrupt copy is thrown away and rebuilt from the .gz; the data folder is never written."""
    from mnistlab.data import decoded, formats
    ds, content = tiny
    folder = tmp_path / "d" / "tiny"
    write(folder, content)
    folder.chmod(0o555)  # read-only, like ../shared/data in CI
    settings.set_data_dir(tmp_path / "d")
    first = load_dataset("tiny")
    sha = ds.files["train_images"].sha256
    assert decoded.cache_path(sha).read_bytes() == content["train_images"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(k + ".gz" for k in KEYS.values())

    def no_gunzip(path):
        raise AssertionError(f"{path} was decompressed again")
    with monkeypatch.context() as m:
        m.setattr(formats, "read_bytes", no_gunzip)
        second = load_dataset("tiny")
    assert (second.x_train == first.x_train).all() and second.y_test.tolist() == [2, 1, 0]

    decoded.cache_path(sha).write_bytes(content["train_images"][:-1] + b"\x07")  # corrupt copy
    third = load_dataset("tiny")
    assert (third.x_train == first.x_train).all()
    assert decoded.cache_path(sha).read_bytes() == content["train_images"]  # rebuilt from the .gz
    folder.chmod(0o755)
