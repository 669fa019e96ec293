"""Execute example notebooks in full and stamp them with the code that made their outputs.

    python examples/execute.py 001 003          # execute these in full, then stamp them
    python examples/execute.py --stamp-only 001 --note "code cells as in ecf8ae3, executed 2026-12-03"

Executing runs each notebook with nbclient in examples/ (its working directory, so
`../reproduce` holds the runs `mnistlab reproduce NB` made and they are reused), writes it
back with its outputs, and records in its metadata (`mnistlab.executed`) a sha256 of every
code cell's source. tests/unit/test_examples_fresh.py fails when a committed notebook's code
cells differ from those hashes: its outputs were not made by the code it shows.

--stamp-only records the hashes without executing: only for a notebook whose code cells are
unchanged since its last full execution (check with git; say which commit in --note).
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
KEY = "mnistlab"


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def code_hashes(nb: dict) -> list[str]:
    """sha256 (first 16 hex digits) of each code cell's source, in order."""
    return [hashlib.sha256(_source(c).encode("utf-8")).hexdigest()[:16]
            for c in nb["cells"] if c.get("cell_type") == "code"]


def stamp(nb: dict, note: str) -> None:
    nb.setdefault("metadata", {}).setdefault(KEY, {})["executed"] = {
        "code_cells_sha256": code_hashes(nb), "note": note}


def stale_cells(nb: dict) -> list[str] | None:
    """None when the notebook carries no stamp; else what differs from the stamped code, one
    line per code cell ([] when the code is the code that made the outputs)."""
    executed = nb.get("metadata", {}).get(KEY, {}).get("executed")
    if not executed:
        return None
    then, now = executed["code_cells_sha256"], code_hashes(nb)
    positions = [i for i, c in enumerate(nb["cells"]) if c.get("cell_type") == "code"]
    out = [f"code cell {k + 1} (cell {positions[k] + 1} of the notebook) was edited after execution"
           for k in range(min(len(then), len(now))) if then[k] != now[k]]
    if len(now) != len(then):
        out.append(f"{len(now)} code cells now, {len(then)} when executed")
    return out


def find(names: list[str]) -> list[Path]:
    paths = []
    for name in names:
        hits = sorted(EXAMPLES.glob(f"{name}*.ipynb"))
        if len(hits) != 1:
            raise SystemExit(f"execute.py: {name!r} names {len(hits)} notebooks in {EXAMPLES}")
        paths.append(hits[0])
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("notebooks", nargs="+", metavar="NB", help="000 ... 004 (a name prefix)")
    p.add_argument("--stamp-only", action="store_true",
                   help="record the code hashes without executing (code unchanged since execution)")
    p.add_argument("--note", help="what the stamp rests on (required with --stamp-only)")
    args = p.parse_args(argv)
    if args.stamp_only and not args.note:
        p.error("--stamp-only needs --note saying which full execution the outputs come from")
    import nbformat

    for path in find(args.notebooks):
        nb = nbformat.read(path, as_version=4)
        if not args.stamp_only:
            from nbclient import NotebookClient

            NotebookClient(nb, timeout=None, kernel_name="python3",
                           resources={"metadata": {"path": str(EXAMPLES)}}).execute()
        note = args.note or f"executed in full by examples/execute.py on {datetime.date.today()}"
        stamp(nb, note)
        nbformat.write(nb, path)
        print(f"{path.name}: stamped {len(code_hashes(nb))} code cells ({note})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
