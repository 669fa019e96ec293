"""`mnistlab` command line: thin commands over the Python API, no logic of its own.

Each package registers its commands from its own `commands.py` (a `register(sub, common)`
function), so this file only wires them up and turns MnistlabError into one clean line.
"""
from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of
# spinning, which matters when another process shares the cores (measured in
# docs/training.md, Speed). Nothing here imports torch: each command does, in its handler.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import errno  # noqa: E402
import importlib  # noqa: E402
import sys  # noqa: E402

from mnistlab import __version__, settings
from mnistlab.errors import MnistlabError, surface

# full disk, over quota, read-only, no permission, a path through a file: the user's to fix
FILE_SYSTEM_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR,
                      errno.EEXIST, errno.EISDIR, errno.ENAMETOOLONG}

COMMAND_MODULES = [
    "mnistlab.data.commands",
    "mnistlab.models.commands",
    "mnistlab.train.commands",
    "mnistlab.evaluation.commands",
    "mnistlab.sweeps.commands",
    "mnistlab.serve.commands",
    "mnistlab.reproduce",
]


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS,
                        help="where datasets are looked for first (then $MNISTLAB_DATA, then ~/.cache/mnistlab)")
    parser = argparse.ArgumentParser(
        prog="mnistlab", parents=[common],
        description="Design, train, sweep and evaluate small image classifiers on the MNIST family.")
    parser.add_argument("--version", action="version", version=f"mnistlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    # mnistlab's own warnings (MnistlabWarning) show as `mnistlab: warning: ...` lines by
    # themselves (errors.py); messages name settings as flags while a command runs
    with surface("cli"):
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings.set_data_dir(getattr(args, "data_dir", None))
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe (`| head`) shows up here, inside the handler below
        return status
    except BrokenPipeError:
        # The reader (e.g. `head`) has all it wants: stop quietly, as `cat` would, and keep
        # Python's exit-time flush from printing a second traceback to the closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # the shell's status for a process ended by SIGPIPE (128 + 13)
    except MnistlabError as err:
        print(f"mnistlab: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        # every write goes through mnistlab.io, which names the file and the fix; this is the
        # net under anything else the file system refuses (a tool's own scratch file)
        if err.errno not in FILE_SYSTEM_ERRNOS:
            raise
        from mnistlab.io import os_error_line
        print(f"mnistlab: error: {os_error_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mnistlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
