"""Reading what a Keras model is made of from a live object or a file, without Keras.

A source gives three things: the model config (JSON), each layer's weights in Keras' order
(kernel, bias; gamma, beta, moving mean, moving variance), or None when there are none, and
the compile config (optimizer, loss), or None. Formats:
- Keras 3 `.keras`: a zip of config.json, metadata.json and model.weights.h5
  (keras/src/saving/saving_lib.py: each layer's variables at `layers/<name>/vars/<i>`);
- Keras 2 / tf.keras `.h5` (keras/src/legacy/saving/legacy_h5_format.py): the `model_config`
  and `training_config` attributes, weights under `model_weights/<layer>/` in the order of
  each group's `weight_names` attribute;
- `model.to_json()`: the config alone (a string or a .json file);
- a live keras.Model: its to_json(), each layer's get_weights() and get_compile_config().
Only json, zipfile and h5py read them: nothing in a file is unpickled or executed.
"""
from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from mnistlab.errors import MnistlabError


@dataclass
class KerasSource:
    config: dict                          # {"class_name": "Sequential", "config": {...}}
    weights: dict | None                  # layer name -> [np.ndarray, ...] in Keras' order
    compile: dict | None                  # {"optimizer": {...}, "loss": ...} or None
    origin: str                           # what it was read from, for messages


def is_keras_model(obj) -> bool:
    """A keras.Model object (checked by its class's module, so keras need not be imported)."""
    return any(c.__module__.split(".")[0] in ("keras", "tf_keras") and c.__name__ in ("Model", "Sequential",
               "Functional") for c in type(obj).__mro__) and hasattr(obj, "to_json")


def is_keras_file(obj) -> bool:
    """A path (or JSON text) mnistlab reads as a Keras model: .keras, .h5/.hdf5, or to_json()."""
    if not isinstance(obj, (str, Path)):
        return False
    text = str(obj)
    if text.lstrip().startswith("{") and '"class_name"' in text:
        return True
    path = Path(text).expanduser()
    if path.suffix.lower() == ".json":  # model.to_json() saved to a file (a spec in JSON has no class_name)
        try:
            return path.is_file() and '"class_name"' in path.read_text(errors="replace")[:4096]
        except OSError:
            return False
    return path.suffix.lower() in (".keras", ".h5", ".hdf5")


def read_source(source) -> KerasSource:
    if is_keras_model(source):
        return _from_object(source)
    text = str(source)
    if text.lstrip().startswith("{"):
        return KerasSource(_json(text, "the JSON text"), None, None, "model.to_json()")
    path = Path(text).expanduser()
    if not path.is_file():
        raise MnistlabError(f"{path}: no such Keras model file")
    suffix = path.suffix.lower()
    if suffix == ".keras":
        return _from_zip(path)
    if suffix in (".h5", ".hdf5"):
        return _from_h5(path)
    return KerasSource(_json(path.read_text(errors="replace"), str(path)), None, None, str(path))


def h5py():
    """h5py, or one line saying how to get it (the `keras` extra)."""
    try:
        import h5py
    except ImportError:
        raise MnistlabError("reading or writing Keras weights needs h5py: pip install 'mnistlab[keras]'") from None
    return h5py


def _json(text: str, where: str) -> dict:
    try:
        data = json.loads(text)
    except ValueError as err:
        raise MnistlabError(f"{where}: the Keras model config is not valid JSON ({err}); "
                            "save the model again with model.save('model.keras')") from None
    if not isinstance(data, dict):
        raise MnistlabError(f"{where}: the Keras model config is not a JSON object")
    return data


# ---------------------------------------------------------------- a live keras.Model

def _from_object(model) -> KerasSource:
    config = json.loads(model.to_json())
    weights = None
    if getattr(model, "built", False):
        weights = {layer.name: [_numpy(v) for v in layer.weights] for layer in model.layers}
    compile_config = None
    if getattr(model, "compiled", False) and hasattr(model, "get_compile_config"):
        compile_config = model.get_compile_config()
    return KerasSource(config, weights, compile_config, f"the Keras model '{model.name}'")


def _numpy(variable):
    import numpy as np
    value = variable.numpy() if hasattr(variable, "numpy") else variable
    if hasattr(value, "detach"):  # a torch tensor (KERAS_BACKEND=torch)
        value = value.detach().cpu().numpy()
    return np.asarray(value)


# ---------------------------------------------------------------- .keras (zip)

def _from_zip(path: Path) -> KerasSource:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "config.json" not in names:
                raise MnistlabError(f"{path}: no config.json inside; it is not a Keras 3 .keras file")
            config = _json(zf.read("config.json").decode("utf-8", "replace"), f"{path}: config.json")
            if "model.weights.h5" not in names:
                raise MnistlabError(f"{path}: no model.weights.h5 inside (the weights are missing); "
                                    "save the model again with model.save('model.keras')")
            raw = zf.read("model.weights.h5")
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, OSError) as err:
        raise MnistlabError(f"{path}: not a readable .keras zip ({err}); the file is truncated or damaged, "
                            "save it again") from None
    import io
    try:
        with h5py().File(io.BytesIO(raw), "r") as f:
            weights = _keras3_weights(f, config)
    except OSError as err:
        raise MnistlabError(f"{path}: model.weights.h5 is not readable HDF5 ({err}); save the model again") from None
    compile_config = config.get("compile_config")
    return KerasSource(config, weights, compile_config, str(path))


def _keras3_weights(f, config: dict) -> dict:
    """layer name -> its variables in order, from a Keras 3 model.weights.h5. The file names
    a layer not by its name but by its class and place in model.layers (saving_lib:
    `_save_container_state`, `layers/conv2d_1` is the second Conv2D), so the names come from
    the config's layer order."""
    out = {}
    group = f.get("layers")
    if group is None:
        return out
    for name, key in saving_keys(config):
        layer = group.get(key)
        vars_ = layer.get("vars") if layer is not None else None
        if vars_ is None:
            continue
        keys = sorted(vars_.keys(), key=lambda k: int(k) if k.isdigit() else -1)
        out[name] = [vars_[k][()] for k in keys]
    return out


def snake_case(name: str) -> str:
    """keras.src.utils.naming.to_snake_case."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def saving_keys(config: dict) -> list[tuple[str, str]]:
    """(layer name, its group under layers/ in model.weights.h5), in model.layers order:
    a Sequential's layers leave out its InputLayer, a functional model's include it."""
    layers = (config.get("config") or {}).get("layers") or []
    if config.get("class_name") == "Sequential":
        layers = [layer for layer in layers if layer.get("class_name") != "InputLayer"]
    used: dict[str, int] = {}
    out = []
    for layer in layers:
        base = snake_case(str(layer.get("class_name")))
        used[base] = used.get(base, -1) + 1
        out.append(((layer.get("config") or {}).get("name"), base if used[base] == 0 else f"{base}_{used[base]}"))
    return out


# ---------------------------------------------------------------- legacy HDF5

def _from_h5(path: Path) -> KerasSource:
    try:
        with h5py().File(path, "r") as f:
            return _read_h5(f, path)
    except OSError as err:
        raise MnistlabError(f"{path}: not a readable HDF5 file ({err}); the file is truncated or damaged") from None


def _read_h5(f, path: Path) -> KerasSource:
    raw = f.attrs.get("model_config")
    if raw is None:
        raise MnistlabError(f"{path}: no model_config in this HDF5 file (it holds weights only, saved with "
                            "save_weights); save the whole model with model.save('model.h5' or 'model.keras')")
    config = _json(raw.decode() if isinstance(raw, bytes) else str(raw), f"{path}: model_config")
    training = f.attrs.get("training_config")
    compile_config = None
    if training is not None:
        t = _json(training.decode() if isinstance(training, bytes) else str(training), f"{path}: training_config")
        compile_config = {"optimizer": t.get("optimizer_config"), "loss": t.get("loss"),
                          "metrics": t.get("metrics")}
    group = f["model_weights"] if "model_weights" in f else f
    weights = {}
    for name in _names(group.attrs.get("layer_names", [])):
        g = group.get(name)
        if g is None:
            raise MnistlabError(f"{path}: the weights of layer '{name}' are missing; save the model again")
        try:
            weights[name] = [g[w][()] for w in _names(g.attrs.get("weight_names", []))]
        except KeyError as err:
            raise MnistlabError(f"{path}: layer '{name}' lacks a weight it lists ({err}); the file is damaged") from None
    return KerasSource(config, weights, compile_config, str(path))


def _names(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]
