"""fit()'s arguments, read once: `fit_request(...)` turns the many forms mnistlab.fit takes
(a recipe name, dict or Recipe; a zoo name, a spec or the user's own module; arrays, a
Dataset, a name or a path; validation_data; resume=) into one validated `FitRequest`, so
that fit reads top to bottom. Part of the notebook surface (it composes data, models,
train); errors speak Python's keywords.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mnistlab.errors import MnistlabError
from mnistlab.models.own import as_module

RESUME_KEYS = ("epochs", "threads", "device")  # what a resumed run may change (recipe keys, checked by Recipe)


@dataclass(frozen=True)
class FitRequest:
    """What train_run gets: a validated Recipe (None on resume: the run's config.yaml is it),
    the data (a Dataset in memory, or None: the recipe names it), the user's own module or
    None, and for resume= the run folder and the keys it may change."""
    recipe: object = None
    dataset: object = None
    module: object = None
    resume: Path | None = None
    resume_keys: dict = field(default_factory=dict)

    @property
    def in_memory(self) -> bool:
        """Data given in memory: a resume needs it again (the interrupted-run hint says so)."""
        return self.dataset is not None


def fit_request(source=None, x=None, y=None, *, model=None, dataset=None, validation_data=None, resume=None,
                overrides: dict | None = None) -> FitRequest:
    """fit()'s arguments as one FitRequest, each form checked here once (one line each)."""
    overrides = dict(overrides or {})
    dataset = _data_argument(x, y, dataset, validation_data, overrides)
    if resume is not None:
        return _resume_request(resume, source, model, dataset, overrides)
    if is_keras(source) or is_keras(model):  # before the nn.Module test: on torch a keras.Model is one
        return _keras_request(source, model, dataset, overrides)
    module = None
    if _is_model(source) or is_spec(source):
        source, model = None, source
    if is_spec(model):  # a spec is the recipe's model entry, as a zoo name is
        overrides["model"], model = _spec_entry(model), None
    if model is not None and not (isinstance(model, str) and ":" not in model):
        module, model = as_module(model), None
    if model is not None:  # a zoo name as model=
        overrides["model"] = model
    if isinstance(dataset, (str, Path)):
        if module is None:  # the recipe's data.dataset: loaded by training, recorded in config.yaml
            overrides["dataset"], dataset = str(dataset), None
        else:  # an own module's recorded input shape comes from the data
            from mnistlab.data import load_dataset
            dataset = load_dataset(dataset, allow_pickle=bool(overrides.get("allow_pickle")))
    if module is not None:
        shape = tuple(dataset.image_shape) if dataset is not None else None
        recipe = make_recipe(_with_own_model(source if source is not None else {}, module, shape), overrides)
    else:
        recipe = make_recipe(source, overrides)
    return FitRequest(recipe=recipe, dataset=dataset, module=module)


def is_keras(obj) -> bool:
    """A Keras model object, or a .keras / .h5 / model.to_json() file (models/keras)."""
    from mnistlab.models.keras import is_keras_file, is_keras_model
    return is_keras_model(obj) or is_keras_file(obj)


def _keras_request(source, model, dataset, overrides: dict) -> FitRequest:
    """fit(keras_model_or_file, ...): the run records the imported spec (config.yaml trains it
    again without Keras) and starts from the Keras weights when the model has them."""
    keras_model, base = (source, None) if is_keras(source) else (model, source)
    shaped = dataset
    if isinstance(dataset, (str, Path)):  # the recipe's data.dataset (config.yaml loads it again by name)
        from mnistlab.data import load_dataset
        shaped = load_dataset(dataset, allow_pickle=bool(overrides.get("allow_pickle")))
        overrides["dataset"], dataset = str(dataset), None
    module = keras_recipe(keras_model, shaped, overrides)
    if base is None:
        overrides.setdefault("name", overrides["model"]["name"])  # the Keras model's name names the run
    return FitRequest(recipe=make_recipe(base, overrides), dataset=dataset, module=module)


def keras_recipe(keras_model, dataset, overrides: dict):
    """A Keras model or file as fit()'s model: its spec becomes the recipe's model and its
    compile() the optimizer and loss (unless the call sets them), in `overrides`; returns the
    built network carrying its weights (None when it has none: the spec trains from a fresh
    Keras-style initialisation)."""
    from mnistlab.models.keras import read_keras
    shape = tuple(dataset.image_shape) if dataset is not None and hasattr(dataset, "image_shape") else None
    imported = read_keras(keras_model, input_shape=shape)
    settings = imported.recipe_settings()
    overrides["model"] = imported.spec
    if "optimizer" in settings and "optimizer" not in overrides:
        overrides["optimizer"] = settings["optimizer"]
    if "label_smoothing" in settings and not {"label_smoothing", "loss"} & set(overrides):
        overrides["label_smoothing"] = settings["label_smoothing"]
    return imported.build() if imported.has_weights else None


def _resume_request(resume, source, model, dataset, overrides: dict) -> FitRequest:
    """fit(resume=RUN_OR_PATH): the run's config.yaml is the recipe; only RESUME_KEYS change."""
    if source is not None or (model is not None and not _is_model(model)):
        raise MnistlabError("resume= continues a run as its config.yaml says; drop the recipe/model "
                            "(model= only gives back your own nn.Module)")
    extra = sorted(set(overrides) - set(RESUME_KEYS))
    if extra:
        raise MnistlabError(f"resume= continues a run as its config.yaml says, so '{extra[0]}' cannot change; "
                            "only epochs= (to train further), threads= and device= apply")
    if isinstance(dataset, (str, Path)):
        from mnistlab.data import load_dataset
        dataset = load_dataset(dataset)
    path = Path(getattr(resume, "path", None) or getattr(resume, "dir", None) or resume)
    return FitRequest(dataset=dataset, module=as_module(model) if model is not None else None, resume=path,
                      resume_keys=overrides)


def _data_argument(x, y, dataset, validation_data, overrides: dict):
    """fit()'s data as one `dataset`: a Dataset, a name or path, or None (the recipe's own).
    Arrays (`x, y` or `dataset=(x, y)`) become a Dataset here, through load_dataset."""
    from mnistlab.data import load_dataset
    if x is not None:
        if dataset is not None:
            raise MnistlabError("the data is given twice (x and dataset=); pass fit(model, x, y) or "
                                "fit(model, dataset=...)")
        if y is None and hasattr(x, "shape"):
            raise MnistlabError("fit(model, x, y) needs y, the labels, after the images x")
        dataset = x if y is None else (x, y)  # model.fit(dataset), or Keras' model.fit(x, y)
    elif y is not None:
        raise MnistlabError("y is given without x; pass fit(model, x, y)")
    if validation_data is not None:
        if not (isinstance(dataset, (tuple, list)) and len(dataset) == 2 and hasattr(dataset[0], "shape")):
            raise MnistlabError("validation_data=(x_val, y_val) goes with training arrays, fit(model, x, y, "
                                "validation_data=...); a Dataset's test set is validation with validation='test'")
        # validation_data replaces the recipe's validation choice (its validation_split, split
        # or validation); a user's own non-empty choice beside it is refused, not ignored
        taken = [k for k in ("validation_split", "split") if overrides.get(k)]
        if overrides.get("validation") not in (None, "test"):
            taken.append("validation")
        if taken:
            raise MnistlabError(f"give validation_data= or {taken[0]}=, not both; validation_data replaces "
                                "the recipe's validation choice")
        # Keras scores validation_data each epoch: it is the held-out set, recorded in config.yaml
        overrides.update(validation="test", validation_split=None, split=None, stratify=False)
        return load_dataset(dataset, validation_data)
    if isinstance(dataset, (tuple, list)):
        return load_dataset(dataset)
    if dataset is not None and not isinstance(dataset, (str, Path)) and not hasattr(dataset, "x_train"):
        raise MnistlabError(f"dataset= takes a Dataset, a built-in name, a path or arrays ((x_train, y_train), "
                            f"(x_test, y_test)), not {type(dataset).__name__}")
    return dataset


def is_spec(obj) -> bool:
    """A model spec: a Keras-style layer list, or a mapping of input_shape/layers (not a recipe)."""
    if isinstance(obj, list):
        return True
    return isinstance(obj, dict) and "model" not in obj and ("layers" in obj or "input_shape" in obj)


def _spec_entry(spec):
    """What a recipe's `model:` holds for a spec: the mapping (a layer list becomes one)."""
    if isinstance(spec, list):
        from mnistlab.models import resolve_spec
        return resolve_spec(spec)
    return spec


def _is_model(obj) -> bool:
    if isinstance(obj, str):
        return ":" in obj and not Path(obj).exists()
    if isinstance(obj, type):
        return hasattr(obj, "forward")
    return hasattr(obj, "forward") and hasattr(obj, "parameters")


def _with_own_model(base, module, shape):
    """The recipe of a run on the user's own module: config.yaml records its class and input."""
    from mnistlab.train.recipe import load_recipe
    config = load_recipe(base).to_dict() if base else {}
    cls = type(module)
    config["model"] = {"torch_module": f"{cls.__module__}:{cls.__qualname__}",
                       "input_shape": list(shape or (28, 28, 1))}
    config.setdefault("name", cls.__name__)
    if not base:
        config["name"] = cls.__name__
    return config


# fit() keywords that reach into a recipe section, besides the recipe's own top-level keys
_DATA_KEYS = ("dataset", "allow_pickle", "validation_split", "split", "split_seed", "stratify", "validation")
_SHORTCUTS = {"model": "model", "lr": "optimizer.lr", "learning_rate": "optimizer.lr", "label_smoothing": "loss.label_smoothing",
              "early_stopping": "callbacks.early_stopping", "lr_schedule": "callbacks.lr_schedule",
              "model_checkpoint": "callbacks.model_checkpoint",
              **{k: f"data.{k}" for k in _DATA_KEYS}}


def fit_keywords() -> list[str]:
    """Every recipe keyword fit() takes (the recipe's top-level keys and the shortcuts)."""
    from mnistlab.train.recipe import DEFAULTS
    return sorted({k for k in DEFAULTS if k != "data"} | set(_SHORTCUTS))


def make_recipe(source=None, overrides: dict | None = None):
    """A validated Recipe from fit()'s first argument and its keyword overrides.

    source: a packaged recipe's name or a YAML path ("nb000-cnn", "recipe.yaml"), a zoo model
    name that is no recipe, a dict, a Recipe, or None (then `model=` must name a zoo model).
    A wrong keyword fails like a wrong --set key: one line with a did-you-mean."""
    from mnistlab.errors import did_you_mean, unknown_key_error
    from mnistlab.recipes import packaged
    from mnistlab.train.recipe import apply_overrides, load_recipe

    overrides = dict(overrides or {})
    allowed = fit_keywords()
    for key in overrides:
        if key.split(".")[0] not in allowed and key not in allowed:
            raise unknown_key_error(key, allowed, "recipe key")
    if source is None:
        config = {}
    elif isinstance(source, (str, Path)) and not Path(source).exists() and packaged(str(source)) is None:
        from mnistlab.models import ZOO
        if str(source) not in ZOO:
            from mnistlab.recipes import names
            raise MnistlabError(f"'{source}' is no recipe file, packaged recipe or zoo model"
                                f"{did_you_mean(str(source), [*names(), *ZOO])}; see `mnistlab recipes list`")
        config = {"model": str(source)}
    elif not overrides:
        return load_recipe(source)  # a Recipe comes back as it is: validated once already
    else:
        config = load_recipe(source).to_dict()
    if isinstance(overrides.get("optimizer"), str):  # Keras' optimizer="adam"
        name = overrides.pop("optimizer").lower()
        current = config.get("optimizer") or {}
        same = isinstance(current, dict) and str(current.get("name", "")).lower() == name
        config["optimizer"] = current if same else {"name": name}  # same name: keep its settings
    updates = recipe_keys(overrides)
    # whole sections first, so that optimizer={...} and lr=... together both apply
    updates = dict(sorted(updates.items(), key=lambda kv: "." in kv[0]))
    # a keyword passed as None sets the key to null (validation_split=None: no split), as --set does
    return load_recipe(apply_overrides(config, updates))


def recipe_keys(overrides: dict) -> dict:
    """fit() keywords as the recipe's dotted keys (lr -> optimizer.lr, validation_split -> data.validation_split)."""
    return {_SHORTCUTS.get(k, k): v for k, v in overrides.items()}
