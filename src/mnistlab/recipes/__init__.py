"""The recipes shipped inside the package, addressable by name from any folder.

`mnistlab train nb002-cnn` and `fit("nb002-cnn")` read `recipes/nb002-cnn.yaml` from here
when no such file exists in the working directory. In the source tree the top-level
`recipes/` is a symlink to this folder, so repository paths like `recipes/nb002-cnn.yaml`
keep working; from an installed wheel such a path falls back to the packaged copy too.
"""
from __future__ import annotations

from pathlib import Path

from mnistlab.errors import MnistlabError, did_you_mean
from mnistlab.io import make_dirs, write_atomic

DIR = Path(__file__).resolve().parent


def names() -> list[str]:
    """Recipe names (file stems; records/ as 'records/NAME'), sorted."""
    return sorted(str(p.relative_to(DIR).with_suffix("")) for p in DIR.rglob("*.yaml"))


def packaged(name: str) -> Path | None:
    """The packaged recipe file for `name`, 'name.yaml' or 'recipes/name.yaml', else None."""
    text = str(name).replace("\\", "/")
    if text.startswith("recipes/"):
        text = text[len("recipes/"):]
    if text.endswith((".yaml", ".yml")):
        text = text.rsplit(".", 1)[0]
    if not text or ".." in text.split("/"):
        return None
    path = DIR / f"{text}.yaml"
    return path if path.is_file() else None


def find(source) -> Path:
    """A recipe file: `source` as a path if it exists, else the packaged recipe of that name."""
    path = Path(source)
    if path.is_file():
        return path
    found = packaged(str(source))
    if found is not None:
        return found
    raise MnistlabError(f"recipe file not found: {source} is no file and no packaged recipe"
                        f"{did_you_mean(str(source), names())}; see `mnistlab recipes list`")


def copy(name: str, dest) -> Path:
    """Copy a packaged recipe into folder `dest` (created) to edit it; returns the new file."""
    src = packaged(name)
    if src is None:
        raise MnistlabError(f"no packaged recipe '{name}'{did_you_mean(str(name), names())}; "
                            "see `mnistlab recipes list`")
    dest = Path(dest)
    target = dest / src.name if dest.suffix not in (".yaml", ".yml") else dest
    if target.exists():
        raise MnistlabError(f"{target} exists; remove it or copy into another folder")
    make_dirs(target.parent)
    write_atomic(target, src.read_bytes())
    return target
