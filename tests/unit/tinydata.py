"""Tiny synthetic data and recipe shared by the sweep and tune tests (trains in a second)."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np


def tiny_arrays(n_train=240, n_test=60, seed=0):
    """((x_train, y_train), (x_test, y_test)): 3 classes of noisy 8x8 uint8 images, a bright
    band in rows 2k..2k+1 for class k."""
    rng = np.random.default_rng(seed)

    def make(n):
        y = rng.integers(0, 3, n)
        x = rng.integers(0, 120, (n, 8, 8)).astype(np.uint8)
        for k in range(3):
            x[y == k, 2 * k:2 * k + 2, :] += 80
        return x, y

    return make(n_train), make(n_test)


def write_tiny_data(path: Path, n_train=240, n_test=60, seed=0) -> Path:
    """tiny_arrays() as a Keras-style .npz."""
    (xt, yt), (xe, ye) = tiny_arrays(n_train, n_test, seed)
    np.savez(path, x_train=xt, y_train=yt, x_test=xe, y_test=ye)
    return path


def tiny_recipe(data: Path, epochs=2) -> dict:
    return {"name": "tiny", "data": {"dataset": str(data), "validation_split": 0.25},
            "model": {"input_shape": [8, 8, 1], "layers": [
                {"type": "flatten"},
                {"type": "dense", "units": 16, "activation": "relu", "l2": 0.0},
                {"type": "dense", "units": 3, "activation": "softmax"}]},
            "optimizer": {"name": "sgd", "lr": 0.1}, "batch_size": 32, "epochs": epochs,
            "seed": 0, "device": "cpu"}


# a tune space over tiny_recipe's keys
TINY_SPACE = {"optimizer.lr": {"low": 0.01, "high": 0.5, "log": True},
              "model.layers.*.l2": [0.0, 0.001],
              "batch_size": {"low": 16, "high": 64, "step": 16}}


def sweep_in_processes(sweep_file: Path, storage: str, outs: list[Path], timeout: int = 300) -> None:
    """`mnistlab sweep FILE --storage URL --out OUT` started at once for each OUT (one per
    "machine"); every process must exit 0."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "mnistlab", "sweep", str(sweep_file), "--storage", storage,
                               "--out", str(out), "--quiet"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for out in outs]
    for p in procs:
        _, stderr = p.communicate(timeout=timeout)
        assert p.returncode == 0, stderr


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
