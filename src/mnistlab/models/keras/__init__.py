"""The Keras bridge: Keras 3 / Keras 2 models in, Keras 3 `.keras` files out, without Keras.

    read_keras(model_or_file, input_shape=None) -> KerasImport   .spec, .build(), .recipe_settings()
    write_keras(path, spec, net)                                  a .keras file keras.saving.load_model reads
    is_keras_model(obj), is_keras_file(path_or_text)

files.py reads a keras.Model, a .keras zip, a legacy .h5 or model.to_json() (json, zipfile
and h5py only: nothing is unpickled or executed); to_spec.py maps the config to a spec;
weights.py converts each layer's arrays; load.py puts them together; write.py exports.
"""
from __future__ import annotations

from mnistlab.models.keras.files import is_keras_file, is_keras_model
from mnistlab.models.keras.load import KerasImport, read_keras


def write_keras(path, spec, net) -> None:
    from mnistlab.models.keras.write import write_keras as _write
    _write(path, spec, net)


__all__ = ["KerasImport", "is_keras_file", "is_keras_model", "read_keras", "write_keras"]
