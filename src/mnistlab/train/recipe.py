"""Recipe: one YAML file (plus `--set a.b=c` overrides) validated into plain data.

Every key has a default here, so `Recipe.to_dict()` is the fully resolved recipe that is
written to a run's config.yaml: re-running that file gives the same run. Unknown keys fail
early with a did-you-mean naming the full dotted key.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml

from mnistlab.data.splits import SPLIT_KEYS, SplitSpec
from mnistlab.errors import MnistlabError, did_you_mean, unknown_key_error
from mnistlab.io import load_yaml
from mnistlab.train.early_stopping import EarlyStopping
from mnistlab.train.model_checkpoint import ModelCheckpoint
from mnistlab.train.schedules import check_schedule
from mnistlab.train.checks import flag, known_keys, number, section_name
from mnistlab.train.optim import DEFAULTS as OPTIMIZER_DEFAULTS
from mnistlab.train.optim import check_optimizer

DEFAULTS: dict[str, Any] = {
    "name": None,                 # defaults to the model's zoo name, or "run"
    "data": {
        "dataset": "mnist",       # built-in name or a path to a file/folder
        "allow_pickle": False,
        "validation_split": None,  # Keras: the LAST fraction of train, before shuffling
        "split": None,            # e.g. [0.9, 0.05, 0.05] (train, val, test)
        "split_seed": 0,
        "stratify": False,
        "validation": "split",    # split | test | none
    },
    "model": None,                # zoo name or inline spec (Contract 2)
    "max_params": None,
    "max_macs": None,             # microcontroller budgets (models/memory.py), checked like max_params
    "max_ram_bytes": None,
    "max_flash_bytes": None,
    "optimizer": {"name": "rmsprop"},
    "loss": {"label_smoothing": 0.0},
    "batch_size": 32,             # Keras' fit() default
    "epochs": 1,
    "seed": 0,
    "device": "auto",             # auto | cpu | cuda | mps
    "compile": False,             # torch.compile the model (off: docs/training.md, Speed)
    # Speed settings: `auto` is resolved per machine by mnistlab.hardware.resolve_speed, and
    # config.yaml records the resolved value. Shipped recipes leave them at auto.
    "precision": "auto",          # auto | fp32 | bf16 (autocast: bfloat16 matmuls/convs, fp32 weights)
    "kernels": "auto",            # auto | torch | fused: the CPU max-pool/ReLU/dropout tail (models/fused.py)
    "threads": None,              # torch intra-op threads for this run (None: torch's default)
    "batch_split": "auto",        # CPU: N chunks per batch on N threads at once; auto: one per thread, 1: off
    "channels_last": "auto",      # auto | true | false: NHWC memory format for conv models
    "eval_batch": "auto",         # auto | N: batch size of evaluation passes
    # each checked by its class (train/early_stopping.py, schedules.py, model_checkpoint.py) (the classes mnistlab.EarlyStopping etc. are)
    "callbacks": {"early_stopping": None, "lr_schedule": None, "model_checkpoint": None},
    "augment": None,              # on-device augmentation, checked by train.augment.validate_augment
    "quantize_aware": False,      # train with int8 rounding in the forward pass (train/qat.py)
}

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")
KERNELS = ("auto", "torch", "fused")


class Recipe:
    """A validated, immutable recipe: `Recipe(config)` checks `config` once (unknown keys,
    types, bounds) and fills every default; nothing downstream checks it again.

    Sections read as attributes (`r.epochs`, `r.data["validation_split"]`) and come back as
    copies, so changing one never changes the recipe; `to_dict()` is a copy of the whole
    resolved recipe (what config.yaml holds); `replace({"optimizer.lr": 0.01}, epochs=3)`
    returns a new Recipe with those dotted keys set, validated.
    """

    __slots__ = ("_cfg",)

    def __init__(self, config):
        cfg = config.to_dict() if isinstance(config, Recipe) else validate(config)
        object.__setattr__(self, "_cfg", cfg)

    @classmethod
    def _of_valid(cls, cfg: dict) -> "Recipe":
        """A Recipe around a dict that validate() returned (unpickling, copying)."""
        r = object.__new__(cls)
        object.__setattr__(r, "_cfg", cfg)
        return r

    def __getattr__(self, key: str):
        if key.startswith("__"):  # copy/pickle probes: not recipe keys
            raise AttributeError(key)
        cfg = object.__getattribute__(self, "_cfg")
        if key in cfg:
            return copy.deepcopy(cfg[key])
        raise AttributeError(f"a Recipe has no key {key!r}")

    def __setattr__(self, key, value):
        raise AttributeError(f"a Recipe is immutable; use recipe.replace({{{key!r}: ...}}) for a changed copy")

    def __delattr__(self, key):
        raise AttributeError("a Recipe is immutable")

    def __reduce__(self):
        return (Recipe._of_valid, (self._cfg,))

    def to_dict(self) -> dict:
        return copy.deepcopy(self._cfg)

    def replace(self, updates: dict | None = None, **keywords) -> "Recipe":
        """A new, validated Recipe: this one with dotted keys set, e.g.
        replace({"optimizer.lr": 0.01}, epochs=3). `updates` apply as given (like --set, so
        None sets a key to null); keywords that are None are skipped (unset CLI flags)."""
        config = self.to_dict()
        apply_overrides(config, dict(updates or {}), keywords)
        return Recipe(config)

    def _repr_html_(self) -> str:
        """In Jupyter: the resolved recipe as the YAML config.yaml will hold."""
        from mnistlab.display import pre
        return pre(yaml.safe_dump(self.to_dict(), sort_keys=False))

    def __repr__(self) -> str:
        return f"Recipe({self._cfg!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Recipe) and self._cfg == other._cfg

    __hash__ = None  # equal recipes compare equal; a dict inside is not hashable


def load_recipe(source, overrides: list[str] | None = None, **updates) -> Recipe:
    """A Recipe from a Recipe, a dict, a YAML path or a packaged recipe's name, with
    `key=value` overrides applied.

    `updates` are dotted keys set directly (the CLI's --epochs/--seed/--device), e.g.
    load_recipe("r.yaml", ["optimizer.lr=0.01"], epochs=3).
    """
    if isinstance(source, Recipe):
        if not overrides and not any(v is not None for v in updates.values()):
            return source  # validated when it was made; immutable, so shared as it is
        return source.replace(parse_set(overrides), **updates)
    if isinstance(source, dict):
        config = copy.deepcopy(source)
    elif isinstance(source, (str, os.PathLike)):
        from mnistlab.recipes import find
        config = read_yaml(find(source))
    else:
        raise MnistlabError(f"a recipe must be a YAML path, a dict or a Recipe, not {type(source).__name__}")
    apply_overrides(config, parse_set(overrides), updates)
    return Recipe(config)


def parse_set(items) -> dict:
    """`--set KEY=VALUE` strings -> {key: value}, each value read as YAML (1e-3 a number)."""
    out = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise MnistlabError(f"--set expects key=value (e.g. --set optimizer.lr=0.01), got '{item}'")
        try:
            value = load_yaml(text)
        except yaml.YAMLError:
            value = text
        out[key.strip()] = value
    return out


def apply_overrides(config: dict, sets: dict, updates: dict | None = None) -> dict:
    """`--set` values then keyword updates (None = not given) into a recipe dict, in place;
    the one way train, sweep and tune apply their command-line overrides."""
    for key, value in sets.items():
        set_dotted(config, key, value)
    for key, value in (updates or {}).items():
        if value is not None:
            set_dotted(config, key, value)
    return config


def read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise MnistlabError(f"recipe file not found: {path}")
    try:
        config = load_yaml(path.read_text())
    except yaml.YAMLError as err:
        raise MnistlabError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(config, dict):
        raise MnistlabError(f"{path} must be a YAML mapping of recipe keys (name, model, optimizer, ...)")
    return config


def set_dotted(config: dict, key: str, value) -> None:
    """config['a']['b'] = value for key 'a.b', creating missing (or null) sections."""
    node = config
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            # e.g. --set model.layers=... when model is a zoo name: replace it wholesale
            raise MnistlabError(f"cannot set '{key}': '{'.'.join(parts[:i + 1])}' is {child!r}, not a section")
        node = child
    node[parts[-1]] = value


# ---------------------------------------------------------------- validation

def _named(section, defaults_by_name: dict, where: str, default_name=None) -> dict | None:
    """A section like {name: adam, lr: ...} whose allowed keys depend on its name."""
    if section is None:
        return None
    name, settings = section_name(section, defaults_by_name, where, default_name)
    if "learning_rate" in settings:  # Keras' spelling of lr
        settings["lr"] = settings.pop("learning_rate")
    return {"name": name, **known_keys(defaults_by_name[name], settings, where)}


def validate(config: dict) -> dict:
    """The whole schema, checked once: every section, the model spec (layers, arguments,
    shapes), the split fractions, callbacks, schedules and augmentation. Each failure is one
    MnistlabError line; what passes is the resolved recipe (every default filled in)."""
    if not isinstance(config, dict):
        raise MnistlabError("a recipe must be a mapping of keys (name, model, optimizer, ...)")
    cfg = known_keys(DEFAULTS, config, "")
    cfg["data"] = _check_data(known_keys(DEFAULTS["data"], cfg["data"], "data"))
    cfg["model"] = _check_model(cfg["model"])
    if cfg["name"] is None:
        cfg["name"] = cfg["model"] if isinstance(cfg["model"], str) else "run"
    cfg["name"] = str(cfg["name"])
    for key in ("max_params", "max_macs", "max_ram_bytes", "max_flash_bytes"):
        cfg[key] = number(cfg[key], key, lo=1, integer=True, allow_none=True)
    cfg["optimizer"] = check_optimizer(_named(cfg["optimizer"], OPTIMIZER_DEFAULTS, "optimizer",
                                              DEFAULTS["optimizer"]["name"]))
    cfg["loss"] = known_keys(DEFAULTS["loss"], cfg["loss"], "loss")
    cfg["loss"]["label_smoothing"] = number(cfg["loss"]["label_smoothing"], "loss.label_smoothing", lo=0.0, hi=1.0)
    cfg["batch_size"] = number(cfg["batch_size"], "batch_size", lo=1, integer=True)
    cfg["epochs"] = number(cfg["epochs"], "epochs", lo=1, integer=True)
    cfg["seed"] = number(cfg["seed"], "seed", lo=0, integer=True)
    if cfg["device"] not in DEVICES:
        raise MnistlabError(f"'device' must be one of {', '.join(DEVICES)}{did_you_mean(cfg['device'], DEVICES)}, got {cfg['device']!r}")
    flag(cfg["compile"], "compile")
    if cfg["precision"] not in PRECISIONS:
        raise MnistlabError(f"'precision' must be one of {', '.join(PRECISIONS)}, got {cfg['precision']!r}")
    if cfg["kernels"] not in KERNELS:
        raise MnistlabError(f"'kernels' must be one of {', '.join(KERNELS)}{did_you_mean(cfg['kernels'], KERNELS)}, "
                            f"got {cfg['kernels']!r}")
    cfg["threads"] = number(cfg["threads"], "threads", lo=1, integer=True, allow_none=True)
    if cfg["batch_split"] != "auto":
        if isinstance(cfg["batch_split"], bool) or not isinstance(cfg["batch_split"], int) or cfg["batch_split"] < 1:
            raise MnistlabError(f"'batch_split' must be auto or an integer >= 1, got {cfg['batch_split']!r}")
    if cfg["channels_last"] != "auto" and not isinstance(cfg["channels_last"], bool):
        raise MnistlabError(f"'channels_last' must be auto, true or false, got {cfg['channels_last']!r}")
    if cfg["eval_batch"] != "auto":
        cfg["eval_batch"] = number(cfg["eval_batch"], "eval_batch", lo=1, integer=True)
    cfg["callbacks"] = _check_callbacks(cfg["callbacks"], has_validation(cfg["data"]))
    flag(cfg["quantize_aware"], "quantize_aware")
    from mnistlab.train.augment import validate_augment
    cfg["augment"] = validate_augment(cfg["augment"])
    return cfg


def _check_callbacks(section, has_val: bool) -> dict:
    """Each callback by its own class's check (train/callbacks.py); monitored names must be
    ones the run logs, val_* only when it has validation data."""
    cb = known_keys(DEFAULTS["callbacks"], section, "callbacks")
    if cb["early_stopping"] is not None:
        cb["early_stopping"] = EarlyStopping.check(cb["early_stopping"], "callbacks.early_stopping.", has_val)
    cb["lr_schedule"] = check_schedule(cb["lr_schedule"], "callbacks.lr_schedule.", has_val)
    if cb["model_checkpoint"] is not None:
        cb["model_checkpoint"] = ModelCheckpoint.check(cb["model_checkpoint"], "callbacks.model_checkpoint.", has_val)
    return cb


def has_validation(data: dict) -> bool:
    """Whether a run with this (validated) `data` section has validation data, so logs val_*.
    (A random split too small to hold a validation image is found only with the data.)"""
    if data["validation"] != "split":
        return data["validation"] == "test"
    if data["validation_split"]:
        return True
    return data["split"] is not None and data["split"][1] > 0


def _check_data(d: dict) -> dict:
    if isinstance(d["dataset"], os.PathLike):
        d["dataset"] = os.fspath(d["dataset"])
    if not isinstance(d["dataset"], str) or not d["dataset"].strip():
        raise MnistlabError(f"'data.dataset' must be a built-in name (mnist, fashion-mnist, ...) or a path, got {d['dataset']!r}")
    flag(d["allow_pickle"], "data.allow_pickle")
    # the split rules have one owner, data.splits.SplitSpec (make_splits takes what it made)
    spec = SplitSpec.check(**{k: d[k] for k in SPLIT_KEYS}, prefix="data.")
    d.update(validation_split=spec.validation_split, split=list(spec.split) if spec.split else None,
             split_seed=spec.split_seed, stratify=spec.stratify, validation=spec.validation)
    if spec.split is not None and len(spec.split) == 3:
        from mnistlab.data.builtins import builtin_name
        if builtin_name(d["dataset"]) is not None:
            raise MnistlabError(f"'data.split' has three parts, but {d['dataset']} already has a test set; "
                                "use [train, val] (two fractions)")
    return d


def _check_model(model):
    """A zoo name, a spec file's path or an inline spec, checked by models.spec (layers,
    arguments, shapes); or the record of a user's own torch module (api.fit)."""
    if model is None:
        raise MnistlabError("the recipe has no 'model': give a zoo name (see `mnistlab models list`) or an inline spec")
    if isinstance(model, dict) and "torch_module" in model:
        for key in model:
            if key not in ("torch_module", "input_shape"):
                raise unknown_key_error(key, ("torch_module", "input_shape"), "recipe key", name=f"model.{key}")
        shape = model.get("input_shape")
        if not isinstance(model["torch_module"], str) or not (
                isinstance(shape, list) and len(shape) == 3 and all(isinstance(d, int) and d > 0 for d in shape)):
            raise MnistlabError(f"'model' of your own module records torch_module: 'module:Class' and "
                                f"input_shape: [H, W, C], got {model!r}")
        return model
    if not isinstance(model, (str, dict, list)):
        raise MnistlabError(f"'model' must be a zoo name or a spec mapping, got {model!r}")
    from mnistlab.models.spec import fmt, plan, resolve_spec
    try:
        spec = resolve_spec(model)
    except MnistlabError as err:  # "layers[3] (dense): ..." names its place in the recipe
        raise MnistlabError(f"model.{err}" if str(err).startswith("layers[") else str(err)) from None
    out = plan(spec)[-1].out_shape
    if len(out) != 1:
        raise MnistlabError(f"model: the last layer outputs {fmt(out)} (H x W x C), not one score per class; "
                            "end the model with flatten (or global_avg_pool) and dense(units: classes)")
    return model
