"""Reading YAML the way users write numbers.

PyYAML follows YAML 1.1, where a float needs a dot and a signed exponent: `1e-3`, `1E5` and
`1.0e3` come back as strings, so `lr: 1e-3` used to fail as "not a number". Our loader adds
one implicit resolver so every exponent spelling Python's float() reads is a float; plain
integers stay ints and everything else resolves as in yaml.safe_load.
"""
from __future__ import annotations

import re

import yaml

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
    "<what> 'PATH' not found", "... is not valid YAML: ...", and with `mapping_of`,
    "... must be a YAML mapping of <mapping_of>"."""
    from pathlib import Path

    from mnistlab.errors import MnistlabError
    path = Path(path)
    if not path.is_file():
        raise MnistlabError(f"{what} '{path}' not found")
    try:
        data = load_yaml(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise MnistlabError(f"{what} '{path}' is not valid YAML: {str(err).splitlines()[0]}") from None
    if mapping_of is not None and not isinstance(data, dict):
        raise MnistlabError(f"{what} '{path}' must be a YAML mapping of {mapping_of}")
    return data


def write_atomic(path, data: bytes | str) -> None:
    """Write a temp file next to `path`, then rename it over `path`: never a torn file.

    Every file mnistlab writes gets the same mode, 0644 (readable like any tool's output):
    mkstemp makes its temp file 0600, which os.replace would otherwise carry over.
    """
    write_atomic_stream(path, [data.encode() if isinstance(data, str) else data])


def write_atomic_stream(path, chunks) -> None:
    """write_atomic for data that arrives in pieces (an iterable of bytes), never all in
    memory at once: a download streams into the temp file, then the rename publishes it."""
    import os
    import tempfile
    from pathlib import Path

    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_figure(fig, path, **savefig_kwargs):
    """Render a matplotlib Figure as PNG in memory, then write_atomic it to `path` (its folder
    created); savefig's keywords (dpi, bbox_inches, facecolor) pass through. Returns the Path.
    A figure made without pyplot (matplotlib.figure.Figure()) renders too: savefig picks the
    PNG canvas itself."""
    import io
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", **savefig_kwargs)
    write_atomic(path, buf.getvalue())
    return path
