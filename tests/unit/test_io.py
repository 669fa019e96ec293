"""mnistlab.io: one atomic write (one file mode) for bytes, text, streams and figures."""
import os
import stat

import pytest
from matplotlib.figure import Figure

from mnistlab.io import save_figure, write_atomic, write_atomic_stream


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_every_atomic_write_is_0644_and_leaves_no_temp_file(tmp_path):
    write_atomic(tmp_path / "a.txt", "text")
    write_atomic(tmp_path / "b.bin", b"\x00\x01")
    write_atomic_stream(tmp_path / "c.bin", (bytes([i]) * 3 for i in range(4)))
    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    out = save_figure(fig, tmp_path / "sub" / "f.png", dpi=50)
    assert (tmp_path / "a.txt").read_text() == "text"
    assert (tmp_path / "c.bin").read_bytes() == b"\x00" * 3 + b"\x01" * 3 + b"\x02" * 3 + b"\x03" * 3
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for p in (tmp_path / "a.txt", tmp_path / "b.bin", tmp_path / "c.bin", out):
        assert _mode(p) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin", "c.bin", "sub"]


def test_a_failed_stream_keeps_the_old_file(tmp_path):
    target = tmp_path / "keep.bin"
    write_atomic(target, b"old")

    def broken():
        yield b"new"
        raise OSError("connection reset")

    with pytest.raises(OSError):
        write_atomic_stream(target, broken())
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.bin"]
