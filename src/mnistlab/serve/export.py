"""Ship a trained model: ONNX export checked against PyTorch, and int8 quantisation.

The ONNX model takes `image`: float32 (N, C, H, W) in [0, 1] (pixels / 255, as in training)
and returns `probabilities`: (N, K) softmax outputs; N is dynamic. The int8 model is the
same graph after onnxruntime's static post-training quantisation (QDQ, weights int8 per
channel, activations uint8), calibrated on training images.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mnistlab.errors import MnistlabError, option
from mnistlab.io import FileWriteError, make_dirs, writable_dir, write_atomic, write_error

INPUT, OUTPUT = "image", "probabilities"

# The ONNX tools are the `export` extra (pip install 'mnistlab[export]', about 114 MB): only
# export needs them; predict and serve run the torch model.
EXPORT_PACKAGES = ("onnx", "onnxscript", "onnxruntime")


def require_export_extra() -> None:
    """One line naming what to install when the ONNX tools are missing (checked without
    importing them: onnxruntime alone takes a second to import)."""
    import importlib.util

    def missing(name):
        try:
            return importlib.util.find_spec(name) is None
        except (ImportError, ValueError):
            return True
    absent = [name for name in EXPORT_PACKAGES if missing(name)]
    if absent:
        raise MnistlabError(f"export needs {', '.join(absent)}, which this install lacks; "
                            "pip install 'mnistlab[export]'")


@contextlib.contextmanager
def _quiet_exporter():
    """The torch.export-based exporter logs progress and harmless warnings; keep them off."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with open(os.devnull, "w") as devnull, warnings.catch_warnings(), \
                contextlib.redirect_stdout(devnull):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _scratch(path: Path) -> tempfile.TemporaryDirectory:
    """A scratch folder beside `path` for a tool that writes only to a file name; one line on failure."""
    try:
        return tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.")
    except OSError as err:
        raise write_error(err, path) from None


@contextlib.contextmanager
def _write_errors(path: Path):
    """An OSError of a tool writing toward `path` (a full or read-only disk) as one line."""
    try:
        yield
    except OSError as err:
        raise write_error(err, path) from None


def _publish(tmp: Path, path: Path) -> None:
    """Copy a file a tool wrote into a scratch folder to `path` with mnistlab.io.write_atomic
    (same rename and file mode as every other file mnistlab writes). The ONNX tools write
    only to a file name, and their models are a few hundred KB, so the copy costs nothing."""
    write_atomic(path, Path(tmp).read_bytes())


def to_input(x_uint8: np.ndarray | torch.Tensor) -> np.ndarray:
    """uint8 (N, H, W, C) images -> float32 (N, C, H, W) in [0, 1], as the training loop does."""
    x = x_uint8 if isinstance(x_uint8, torch.Tensor) else torch.from_numpy(np.array(x_uint8))
    from mnistlab.data.tensors import to_model_input
    return to_model_input(x).numpy()


def export_onnx(model: nn.Module, path, input_shape=(28, 28, 1)) -> Path:
    """Write `model` (logits out) as a single-file ONNX model with probabilities out.

    Uses the torch.export-based exporter; a model it cannot trace falls back to the older
    TorchScript exporter, which handles more Python-level code.
    """
    require_export_extra()
    path = Path(path)
    make_dirs(path.parent)
    H, W, C = input_shape
    wrapped = nn.Sequential(model, nn.Softmax(dim=1)).eval()
    example = torch.rand(2, C, H, W)
    names = dict(input_names=[INPUT], output_names=[OUTPUT])
    scratch = _scratch(path)
    tmp = Path(scratch.name) / path.name
    try:
        with _quiet_exporter():
            try:
                torch.onnx.export(wrapped, (example,), str(tmp), dynamo=True, external_data=False,
                                  dynamic_shapes=({0: torch.export.Dim("batch")},), **names)
            except Exception as first:
                try:
                    torch.onnx.export(wrapped, (example,), str(tmp), dynamo=False,
                                      dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}}, **names)
                except Exception:
                    raise first from None
        _publish(tmp, path)
    except FileWriteError:
        raise
    except OSError as err:  # the exporter writing its scratch file on a full or read-only disk
        raise write_error(err, path) from None
    except Exception as err:
        reason = (str(err).strip().splitlines() or [""])[0]
        raise MnistlabError(f"ONNX export failed: {type(err).__name__}: {reason}") from err
    finally:
        scratch.cleanup()
    return path


def session(path, threads: int | None = None):
    """An onnxruntime CPU session; `threads` pins intra-op threads (for fair latency)."""
    require_export_extra()
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def onnx_probabilities(sess, x_uint8, batch_size: int = 1000) -> np.ndarray:
    """(N, K) probabilities from an onnxruntime session for uint8 NHWC images."""
    out = [sess.run([OUTPUT], {INPUT: to_input(x_uint8[i:i + batch_size])})[0]
           for i in range(0, len(x_uint8), batch_size)]
    return np.concatenate(out)


def torch_probabilities(model: nn.Module, x_uint8, batch_size: int = 1000) -> np.ndarray:
    from mnistlab.models.infer import probabilities
    return probabilities(model, x_uint8, batch_size=batch_size)


@dataclass
class Parity:
    max_abs_diff: float     # largest |p_torch - p_onnx| over all images and classes
    agreement: float        # fraction of images with the same predicted class
    n: int
    ok: bool


def check_parity(model: nn.Module, onnx_path, x_uint8, *, atol: float = 1e-4,
                 min_agreement: float = 0.999) -> Parity:
    """Compare the ONNX model with the PyTorch model on the same images."""
    p_torch = torch_probabilities(model, x_uint8)
    p_onnx = onnx_probabilities(session(onnx_path), x_uint8)
    diff = float(np.abs(p_torch - p_onnx).max())
    agree = float((p_torch.argmax(1) == p_onnx.argmax(1)).mean())
    return Parity(diff, agree, len(x_uint8), diff <= atol and agree >= min_agreement)


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol: get_next() -> feed dict or None."""

    def __init__(self, x_uint8, batch_size: int = 100):
        self.batches = iter([{INPUT: to_input(x_uint8[i:i + batch_size])}
                             for i in range(0, len(x_uint8), batch_size)])

    def get_next(self):
        return next(self.batches, None)


def quantize_int8(fp32_path, out_path, calibration_x, *, samples: int = 1000, seed: int = 0) -> Path:
    """Static int8 quantisation (QDQ), calibrated on `samples` random training images."""
    require_export_extra()
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    out_path = Path(out_path)
    idx = np.random.default_rng(seed).permutation(len(calibration_x))[:samples]
    calib = np.asarray(calibration_x)[np.sort(idx)]
    with _scratch(out_path) as tmp, _write_errors(out_path):
        prepared = Path(tmp) / "prepared.onnx"
        with _quiet_exporter():
            quant_pre_process(str(fp32_path), str(prepared))  # shape inference + graph folding
            quantize_static(
                str(prepared), str(Path(tmp) / "int8.onnx"), _Calibration(calib),
                quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                # Softmax stays float: its output is what users read.
                op_types_to_quantize=["Conv", "MatMul", "Gemm", "Relu", "MaxPool",
                                      "AveragePool", "GlobalAveragePool", "Add", "Mul",
                                      "Flatten", "Reshape", "Transpose", "Concat"])
        _publish(Path(tmp) / "int8.onnx", out_path)
    return out_path


@dataclass
class Benchmark:
    name: str
    accuracy: float
    size_bytes: int
    latency_ms: float       # median, one image per call, one thread
    throughput: float       # images per second in batches of 1000, one thread


def benchmark(name: str, path, x_uint8, y, *, repeats: int = 200, batch_size: int = 1000) -> Benchmark:
    """Accuracy on (x, y), file size, single-image latency and batch throughput (one thread)."""
    sess = session(path, threads=1)
    inputs = [to_input(x_uint8[i:i + batch_size]) for i in range(0, len(x_uint8), batch_size)]
    probs, seconds = [], 0.0
    for xb in inputs:
        t = time.perf_counter()
        probs.append(sess.run([OUTPUT], {INPUT: xb})[0])
        seconds += time.perf_counter() - t
    acc = float((np.concatenate(probs).argmax(1) == np.asarray(y)).mean())
    one = {INPUT: inputs[0][:1]}
    for _ in range(10):  # warm-up
        sess.run([OUTPUT], one)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        sess.run([OUTPUT], one)
        times.append(time.perf_counter() - t)
    return Benchmark(name, acc, Path(path).stat().st_size, 1000 * float(np.median(times)),
                     len(x_uint8) / max(seconds, 1e-9))


def format_table(rows: list[Benchmark], eval_set: str = "test") -> str:
    head = (f"{'model':<6} {eval_set + ' accuracy':>14} {'size (bytes)':>13} "
            f"{'latency ms (batch 1)':>21} {'images/s (batch 1000)':>22}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.name:<6} {r.accuracy:>14.4f} {r.size_bytes:>13,d} "
                     f"{r.latency_ms:>21.3f} {r.throughput:>22,.0f}")
    if len(rows) == 2:
        a, b = rows
        lines.append(f"int8 vs fp32: accuracy {100 * (b.accuracy - a.accuracy):+.2f} points, "
                     f"size x{b.size_bytes / a.size_bytes:.2f}, latency x{b.latency_ms / a.latency_ms:.2f}, "
                     f"throughput x{b.throughput / a.throughput:.2f}")
    lines.append("(onnxruntime CPU, one thread; latency is the median of single-image calls)")
    return "\n".join(lines)


@dataclass
class ExportResult:
    onnx: Path
    parity: Parity
    eval_set: str
    int8: Path | None = None
    rows: list[Benchmark] | None = None


def eval_split(splits, run_dir) -> tuple[np.ndarray, np.ndarray, str]:
    """The images an export is checked on: the test set, else the validation set."""
    if splits.x_test is not None:
        return np.asarray(splits.x_test), np.asarray(splits.y_test), "test"
    if splits.x_val is not None:
        return np.asarray(splits.x_val), np.asarray(splits.y_val), "validation"
    raise MnistlabError(f"{run_dir}: the run's data has no test or validation set to check the export on")


def export_run(run_dir, out=None, *, int8: bool = False, log=print) -> ExportResult:
    """Export a run's model to ONNX, check it on the test set, optionally add int8."""
    require_export_extra()  # before the run and its data are loaded
    if out:  # its folder checked before the run and its data load
        writable_dir(Path(out).parent, option("out", str(out)), for_file=True)
    from mnistlab.runs import open_run
    run = open_run(run_dir)
    splits = run.splits()
    x_eval, y_eval, eval_set = eval_split(splits, run_dir)
    out = Path(out) if out else Path(run.dir) / "model.onnx"
    if out.suffix != ".onnx":
        raise MnistlabError(f"--out {out}: use a file name ending in .onnx")

    export_onnx(run.model, out, input_shape=tuple(splits.x_train.shape[1:]))
    parity = check_parity(run.model, out, x_eval)
    log(f"wrote {out} ({out.stat().st_size:,d} bytes)")
    log(f"parity with PyTorch on {parity.n:,d} {eval_set} images: max |dp| = {parity.max_abs_diff:.2e} "
        f"(limit 1e-04), same prediction on {parity.agreement:.4%} (limit 99.9%)"
        f" -> {'OK' if parity.ok else 'FAILED'}")
    result = ExportResult(out, parity, eval_set)
    if int8:
        q = out.with_name(out.stem + ".int8.onnx")
        quantize_int8(out, q, np.asarray(splits.x_train))
        log(f"wrote {q} (static int8, calibrated on 1,000 training images)")
        result.int8 = q
        result.rows = [benchmark("fp32", out, x_eval, y_eval), benchmark("int8", q, x_eval, y_eval)]
        log(format_table(result.rows, eval_set))
    return result
