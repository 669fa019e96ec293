"""Files in and out: YAML read the way users write numbers, and every write (atomic, with
file-system failures as one FileWriteError line).

PyYAML follows YAML 1.1, where a float needs a dot and a signed exponent: `1e-3`, `1E5` and
`1.0e3` come back as strings, so `lr: 1e-3` used to fail as "not a number". Our loader adds
one implicit resolver so every exponent spelling Python's float() reads is a float; plain
integers stay ints and everything else resolves as in yaml.safe_load.

Writes: write_atomic (temp file + rename: a file is always its old or its new version),
make_dirs, writable_dir (an output folder checked before any work), write_cache (never
fails). Each turns an OSError of the file system into FileWriteError: what failed, on which
file, and what to do.
"""
from __future__ import annotations

import errno
import re

import yaml

from mnistlab.errors import MnistlabError

# mantissa (1, 1., 1.5, .5, 1_000) with an exponent whose sign is optional (YAML 1.1 needs one)
_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$")


class Loader(yaml.SafeLoader):
    """yaml.SafeLoader plus floats like 1e-3 (safe: builds only plain Python types)."""


Loader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789."))


def load_yaml(text: str):
    """yaml.safe_load(text), but `1e-3`, `5E4`, `1.0e3` are floats (raises yaml.YAMLError)."""
    return yaml.load(text, Loader=Loader)  # noqa: S506 - Loader is a SafeLoader subclass


def read_yaml_file(path, what: str, *, mapping_of: str | None = None):
    """The YAML in a file (load_yaml's numbers), or one MnistlabError in one wording:
    "<what> 'PATH' not found", "... is a folder / not a regular file", "... is not valid
    YAML: ...", and with `mapping_of`, "... must be a YAML mapping of <mapping_of>"."""
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise MnistlabError(f"{what} '{path}' not found")
    if path.is_dir():
        raise MnistlabError(f"{what} '{path}' is a folder; pass the YAML file itself")
    if not path.is_file():  # /dev/null, a pipe, a socket: it exists, but it holds no YAML file
        raise MnistlabError(f"{what} '{path}' is not a regular file; pass a YAML file")
    try:
        data = load_yaml(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise MnistlabError(f"{what} '{path}' is not valid YAML: {str(err).splitlines()[0]}") from None
    except OSError as err:
        raise MnistlabError(f"{what} '{path}' cannot be read ({err.strerror}); check its permissions") from None
    if mapping_of is not None and not isinstance(data, dict):
        raise MnistlabError(f"{what} '{path}' must be a YAML mapping of {mapping_of}")
    return data


# ---------------------------------------------------------------- file-system failures
#
# Every file mnistlab writes goes through write_atomic / write_atomic_stream / make_dirs, so
# this is the one place an OSError of the file system (a full disk, a read-only mount, a
# path through a file) becomes one line: what failed, on which file, and what to do.

# errno -> (what is wrong, what to do, the short remedy a caller puts before "then ...")
_REASONS = {
    errno.ENOSPC: ("no space left on the device", "free some space (or choose another folder) and run it again",
                   "free some space"),
    errno.EDQUOT: ("disk quota exceeded", "free some space (or choose another folder) and run it again",
                   "free some space"),
    errno.EROFS: ("the file system is read-only", "choose a folder on a writable file system",
                  "make the folder writable"),
    errno.EACCES: ("permission denied", "choose a folder you can write to, or change its permissions",
                   "give yourself write permission"),
    errno.EPERM: ("operation not permitted", "choose a folder you can write to, or change its permissions",
                  "give yourself write permission"),
    errno.EEXIST: ("it is a file, not a folder", "remove the file or choose another path", "remove the file"),
    errno.EISDIR: ("it is a folder, not a file", "choose a file name", "remove the folder"),
    errno.ENAMETOOLONG: ("the name is too long", "choose a shorter path", "shorten the path"),
}


class FileWriteError(MnistlabError):
    """A file or folder mnistlab writes could not be written: `problem` names it and what
    went wrong, `fix` what to do; `remedy` is the fix as a short clause ("free some space")
    for callers that know more (fit adds which checkpoint is intact and how to resume)."""

    def __init__(self, problem: str, fix: str, *, path=None, errno_: int | None = None, remedy: str = ""):
        super().__init__(f"{problem}; {fix}")
        self.problem, self.fix, self.path, self.errno, self.remedy = problem, fix, path, errno_, remedy or fix

    def __reduce__(self):  # crosses process boundaries whole (sweep workers)
        return (_rebuild, (type(self), self.problem, self.fix, self.path, self.errno, self.remedy))

    @property
    def no_space(self) -> bool:
        return self.errno in (errno.ENOSPC, errno.EDQUOT)


def _rebuild(cls, problem, fix, path, errno_, remedy):
    return cls(problem, fix, path=path, errno_=errno_, remedy=remedy)


def _reason(err: OSError, path) -> tuple[str, str, str]:
    from pathlib import Path
    if err.errno == errno.ENOTDIR:  # somewhere up the path is a file
        for parent in [Path(path), *Path(path).parents]:
            if parent.exists() and not parent.is_dir():
                return (f"{parent} is a file, not a folder" if parent != Path(path) else "it is a file, not a folder",
                        "choose another path", "remove the file")
        return "a part of the path is not a folder", "choose another path", "fix the path"
    if err.errno in _REASONS:
        return _REASONS[err.errno]
    text = err.strerror[:1].lower() + err.strerror[1:] if err.strerror else (str(err) or type(err).__name__)
    return text, "check the folder and run it again", "fix the folder"


def write_error(err: OSError, path, verb: str = "write") -> FileWriteError:
    """The one-line FileWriteError for an OSError raised while writing `path`."""
    reason, fix, remedy = _reason(err, path)
    return FileWriteError(f"cannot {verb} {path}: {reason}", fix, path=str(path), errno_=err.errno, remedy=remedy)


def os_error_line(err: OSError) -> str:
    """One line for an OSError that did not pass through this module (the CLI's net): a full
    or read-only disk is a write that failed; anything else may have been a read too."""
    path = err.filename or "a file"
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return str(write_error(err, path))
    reason, _, _ = _reason(err, path)
    return f"{path}: {reason}; check the path and its permissions"


def _fault_point(path, op: str) -> None:
    """Test-only seam: every write and folder creation passes here first (op "write" or
    "mkdir"); tests monkeypatch it to raise OSError(ENOSPC, ...) at the Nth call
    (tests/unit/faults.py). It does nothing otherwise: no environment variable switches it."""


def make_dirs(path):
    """`path` and its parents, created as needed (exist_ok); a file-system failure is one line."""
    from pathlib import Path
    path = Path(path)
    try:
        if not path.is_dir():
            _fault_point(path, "mkdir")
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise write_error(err, path, "create the folder") from None
    return path


def make_temp_dir(parent, prefix: str):
    """A new, empty, uniquely named folder in `parent` (tempfile.mkdtemp); one line on failure."""
    import tempfile
    from pathlib import Path
    try:
        _fault_point(Path(parent) / prefix, "mkdir")
        return Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    except OSError as err:
        raise write_error(err, parent, "create a folder in") from None


def writable_dir(path, what: str, *, for_file: bool = False):
    """`path` as a folder that takes files, checked before any work starts: created when
    missing; one line naming `what` (e.g. "--out runs") when it is a file, lies below a file,
    cannot be created or cannot be written (read-only, no permission, no space). `for_file`:
    `what` names a file that goes in `path` (the line then names `path` itself)."""
    import os
    import tempfile
    from pathlib import Path
    path = Path(path)
    try:
        if path.exists() and not path.is_dir():
            raise FileExistsError(errno.EEXIST, "File exists", str(path))
        if not path.is_dir():
            _fault_point(path, "mkdir")
        path.mkdir(parents=True, exist_ok=True)
        _fault_point(path / ".mnistlab-probe", "write")
        fd, probe = tempfile.mkstemp(dir=path, prefix=".mnistlab-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        reason, fix, remedy = _reason(err, path)
        if err.errno == errno.EEXIST:
            fix = "pass a folder (it is created when missing)"
            if for_file:  # `what` names a file to go in that folder (export --out FILE)
                reason = f"{path} is a file, not a folder"
        raise FileWriteError(f"cannot use {what}: {reason}", fix, path=str(path), errno_=err.errno,
                             remedy=remedy) from None
    return path


def write_atomic(path, data: bytes | str) -> None:
    """Write a temp file next to `path`, then rename it over `path`: never a torn file.

    Every file mnistlab writes gets the same mode, 0644 (readable like any tool's output):
    mkstemp makes its temp file 0600, which os.replace would otherwise carry over.
    A file-system failure (full disk, read-only, no permission) raises FileWriteError
    naming `path`; `path` then still holds its previous content (or does not exist).
    """
    write_atomic_stream(path, [data.encode() if isinstance(data, str) else data])


def write_atomic_stream(path, chunks) -> None:
    """write_atomic for data that arrives in pieces (an iterable of bytes), never all in
    memory at once: a download streams into the temp file, then the rename publishes it."""
    import os
    import tempfile
    from pathlib import Path

    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise write_error(err, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:  # an error of the source (a download) passes through as it is
                try:
                    f.write(chunk)
                except OSError as err:
                    raise write_error(err, path) from None
            try:
                _fault_point(path, "write")  # after some bytes went to the temp file, as a full disk does
                f.flush()  # a full disk shows here at the latest, still inside this handler
            except OSError as err:
                raise write_error(err, path) from None
        try:
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except OSError as err:
            raise write_error(err, path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_cache(path, data: bytes | str) -> bool:
    """write_atomic for a cache (its folder created): a cache that cannot be written never
    fails the command, it only costs the next one the work again. True when written."""
    from pathlib import Path
    try:
        make_dirs(Path(path).parent)
        write_atomic(path, data)
    except (FileWriteError, OSError):
        return False
    return True


def save_figure(fig, path, **savefig_kwargs):
    """Render a matplotlib Figure as PNG in memory, then write_atomic it to `path` (its folder
    created); savefig's keywords (dpi, bbox_inches, facecolor) pass through. Returns the Path.
    A figure made without pyplot (matplotlib.figure.Figure()) renders too: savefig picks the
    PNG canvas itself."""
    import io
    from pathlib import Path

    path = Path(path)
    make_dirs(path.parent)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", **savefig_kwargs)
    write_atomic(path, buf.getvalue())
    return path
