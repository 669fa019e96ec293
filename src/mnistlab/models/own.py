"""The user's own torch module, as fit(model=...) and load_run(path, model=...) take it: an
instance, a class, or 'package.module:Class'."""
from __future__ import annotations

from mnistlab.errors import MnistlabError


def import_object(text: str):
    """'package.module:Name' -> the object (a user's own model class)."""
    import importlib
    module, _, name = text.partition(":")
    try:
        obj = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise MnistlabError(f"cannot import '{text}': {err}; give 'module:ClassName' importable "
                            "from the current folder or sys.path") from None
    return obj


def as_module(model):
    """An nn.Module instance from an instance, a class or 'module:Class'; one line otherwise."""
    import torch
    if isinstance(model, str):
        model = import_object(model)
    if isinstance(model, type):
        model = model()
    if not isinstance(model, torch.nn.Module):
        raise MnistlabError(f"model must be a torch nn.Module (instance or class) or 'module:Class', "
                            f"not {type(model).__name__}")
    return model
