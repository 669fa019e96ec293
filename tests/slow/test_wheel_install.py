"""The wheel as a user gets it: built from this tree, installed into a fresh venv that
reuses this interpreter's torch (no download), then `mnistlab reproduce 002 --quick` from a
folder outside the repository, which needs the recipes shipped inside the package."""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_wheel_installs_and_reproduces_from_any_folder(tmp_path, data_root):
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
          str(ROOT)])
    (wheel,) = wheels.glob("mnistlab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("mnistlab/recipes/nb002-cnn.yaml", "mnistlab/recipes/records/mnist-6k.yaml",
                   "mnistlab/models/zoo.py", "mnistlab/api.py", "mnistlab/display.py"):
        assert needed in names, f"{needed} missing from {wheel.name}"
    assert any(n.startswith("mnistlab/serve/") and n.endswith(".html") for n in names), "web page missing"
    for needed in ("mnistlab/serve/c/kernels.c", "mnistlab/serve/c/harness.c"):  # the C export reads them
        assert needed in names, f"{needed} missing from the wheel"

    # A fresh venv that sees this interpreter's packages (torch, numpy, pip...) through a .pth
    # line: a plain path entry, so the editable mnistlab's own .pth there is not processed.
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    shared = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "shared-torch.pth").write_text("\n".join(sorted(shared)) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["MNISTLAB_DATA"] = str(data_root)
    _run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], env=env)

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run([str(py), "-c", "import mnistlab, torch; print(mnistlab.__file__); print(torch.__file__)"],
                 cwd=work, env=env).stdout.split()
    assert where[0].startswith(str(site)), f"mnistlab imported from {where[0]}, not the installed wheel"
    assert not where[1].startswith(str(site)), "torch was installed into the venv instead of reused"
    _run([str(env_dir / "bin" / "mnistlab"), "recipes", "list"], cwd=work, env=env)
    api = _run([str(py), "-c", "import mnistlab; print(mnistlab.summary('nb002-cnn').total); "
                "print(mnistlab.fit.__module__)"], cwd=work, env=env).stdout.split()
    assert api == ["6722", "mnistlab.api"]
    proc = _run([str(env_dir / "bin" / "mnistlab"), "reproduce", "002", "--quick", "--out", str(work / "repro")],
                cwd=work, env=env, timeout=900)
    tables = list((work / "repro").rglob("table.md"))
    assert tables, f"no table.md written:\n{proc.stdout[-2000:]}"
    assert "MISMATCH" not in tables[0].read_text()
