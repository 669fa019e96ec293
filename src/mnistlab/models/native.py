"""The native kernels in models/kernels/*.c: built once with this machine's C compiler,
cached, loaded with ctypes. Never required: without a compiler, or when the build fails,
`library()` returns None and says why, and the caller runs torch's ops instead.

Why plain C through ctypes (not a torch C++ extension, Numba or inductor): the kernels
read and write tensor storage through data_ptr(), so they need no torch headers and no
ABI match with the installed torch. A build takes about a second with gcc, once per
machine, compiler and source (the cache key), and nothing at install time; a user of
another torch version uses the same cached library. A torch C++ extension would compile
against torch's headers (tens of seconds, again on every torch upgrade) and needs a C++
toolchain of the right ABI; Numba is a large dependency; inductor compiles the whole graph
and does not combine with batch split.

Cache: $XDG_CACHE_HOME/mnistlab/kernels/<name>-<key>.so, the key a hash of the source, the
compiler binary (resolved path, size, mtime), the flags and the CPU (-march=native code runs on this CPU
kind only). Written to a temporary name and renamed, so two processes building at once
both end with a whole file. `CC` picks the compiler (default: cc, then gcc, then clang).
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from mnistlab import settings
from mnistlab.hardware import _cpuinfo, machine

# no FMA contraction: torch rounds the product before the sum, and the results must be its bits
FLAGS = ["-O3", "-march=native", "-std=gnu11", "-fPIC", "-shared", "-fno-math-errno", "-ffp-contract=off"]
OPENMP = ["-fopenmp"]


def compiler() -> str | None:
    """The C compiler to use: $CC when set (None when it is not found), else cc/gcc/clang."""
    cc = os.environ.get("CC")
    if cc:
        return shutil.which(cc)
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _identity(cc: str) -> str:
    """The compiler binary as the cache key sees it: its resolved path, size and mtime (an
    upgrade changes them; cheaper than running `cc --version` in every process)."""
    real = os.path.realpath(cc)
    try:
        st = os.stat(real)
    except OSError:
        return real
    return f"{real} {st.st_size} {st.st_mtime_ns}"


def source(name: str) -> bytes:
    return (Path(__file__).parent / "kernels" / f"{name}.c").read_bytes()


@functools.lru_cache(maxsize=None)
def library(name: str) -> tuple[ctypes.CDLL | None, str]:
    """(the loaded library, how it was found) or (None, why not): built on first use."""
    cc = compiler()
    if cc is None:
        cc_env = os.environ.get("CC")
        return None, (f"the C compiler CC={cc_env} is not found" if cc_env else "no C compiler (cc, gcc or clang) on PATH")
    src = source(name)
    m = machine()
    for extra in (OPENMP, []):  # OpenMP when the compiler has it
        flags = FLAGS + extra
        key = hashlib.sha256(b"\0".join([src, _identity(cc).encode(), " ".join(flags).encode(),
                                         m.cpu.encode(), " ".join(sorted(_all_flags())).encode()])).hexdigest()[:16]
        path = settings.cache_dir() / "kernels" / f"{name}-{key}.so"
        how = f"cached {path}"
        if not path.is_file():
            err = _build(cc, flags, src, path)
            if err is not None:
                why = f"building {name}.c with {cc} failed: {err}"
                continue
            how = f"built {path}"
        try:
            return ctypes.CDLL(str(path)), how
        except OSError as e:
            why = f"loading {path} failed: {e}"
    return None, why


def _all_flags() -> set:
    return _cpuinfo()[1]  # every flag: -march=native code depends on all of them


def _build(cc: str, flags: list[str], src: bytes, path: Path) -> str | None:
    """Compile src into path (atomically); None on success, else the compiler's first error line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        c_file, so_file = Path(tmp) / path.with_suffix(".c").name, Path(tmp) / path.name
        c_file.write_bytes(src)
        try:
            r = subprocess.run([cc, *flags, str(c_file), "-o", str(so_file), "-lm"],
                               capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.SubprocessError) as e:
            return str(e)
        if r.returncode != 0:
            lines = [ln for ln in (r.stderr or r.stdout).splitlines() if "error" in ln] or (r.stderr or "?").splitlines()
            return lines[0].strip() if lines else f"exit {r.returncode}"
        os.chmod(so_file, 0o644)
        os.replace(so_file, path)
    return None
