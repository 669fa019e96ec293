"""`open_run(dir) -> Run`: a run folder read back (config, history, metrics, model, data); the one reader.

`build_model` and `make_run_splits` turn a run's (validated) config into its model and its
data split; training uses the same two, so a run reads back exactly as it was trained.
`load_run_dataset` is the one step from a config's data section to its Dataset.
"""
from __future__ import annotations

from pathlib import Path

from mnistlab.errors import MnistlabError
from mnistlab.runs.files import load_weights, read_config, read_history, read_metrics
from mnistlab.runs.history import History
from mnistlab.runs.layout import is_finished, require_run


def load_run_dataset(data: dict, *, quiet: bool = False):
    """The Dataset a (validated) recipe's data section names: the one step from a recipe to its
    data, which training (`mnistlab train`, mnistlab.fit), sweeps and tuning all take. A data
    file that a recipe names and mnistlab knows how to make is made first when it is missing:
    notebook 004's 5-class file (recipes/nb004-*.yaml, data/fashion5.py), with one line unless
    `quiet`, so that every recipe runs on its own from any folder."""
    from mnistlab.data import fashion5, load_dataset
    fashion5.ensure(data["dataset"], quiet=quiet)
    return load_dataset(data["dataset"], allow_pickle=data["allow_pickle"])


def make_run_splits(data: dict, dataset=None, *, quiet: bool = False):
    """The recipe's splits of `dataset` (or of the dataset the recipe names, load_run_dataset)."""
    from mnistlab.data.splits import SplitSpec, make_splits
    if dataset is None:
        dataset = load_run_dataset(data, quiet=quiet)
    return make_splits(dataset, SplitSpec.of(data))  # validated with the recipe, not again


def build_model(cfg: dict, splits=None):
    """(module, resolved spec) for a config's model, checked against its budgets and the data."""
    import torch

    from mnistlab.data.tensors import to_model_input
    from mnistlab.models import build, check_budget, resolve_spec
    if isinstance(cfg["model"], dict) and "torch_module" in cfg["model"]:
        raise MnistlabError(f"this run was trained on your own torch module {cfg['model']['torch_module']}; "
                            "load it with mnistlab.load_run(path, model=YourModule()) (the weights are "
                            "model.safetensors)")
    spec = resolve_spec(cfg["model"])
    check_budget(spec, cfg.get("max_params"), max_macs=cfg.get("max_macs"), max_ram_bytes=cfg.get("max_ram_bytes"),
                 max_flash_bytes=cfg.get("max_flash_bytes"))
    if splits is not None:
        shape = list(splits.x_train.shape[1:])
        if list(spec["input_shape"]) != shape:
            raise MnistlabError(f"the model expects input_shape {list(spec['input_shape'])} but the images "
                                f"are {shape} (H, W, C); change the spec's input_shape or the dataset")
    model = build(spec)
    if splits is not None:
        with torch.no_grad():
            k = model.eval()(to_model_input(splits.x_train[:1])).shape[-1]
        if k != len(splits.classes):
            raise MnistlabError(f"the model outputs {k} classes but the data has {len(splits.classes)}; "
                                f"make the last dense layer units: {len(splits.classes)}")
    return model, spec


TEST_DATA = "test_data.npz"  # an in-memory dataset's test split, kept by mnistlab.fit (api.py)


def save_test_split(run_dir: Path, splits) -> None:
    """Keep the test split an in-memory dataset gave the run (the dataset's test set, or the
    recipe's `split` of it) beside the run as TEST_DATA, so evaluate and the report need no
    dataset later: plain arrays (no pickle), written atomically."""
    import io

    import numpy as np

    from mnistlab.io import write_atomic
    if getattr(splits, "x_test", None) is None:
        return
    buf = io.BytesIO()
    np.savez_compressed(buf, x_test=np.asarray(splits.x_test), y_test=np.asarray(splits.y_test),
                        classes=np.array([str(c) for c in splits.classes]))
    write_atomic(Path(run_dir) / TEST_DATA, buf.getvalue())


def saved_test_split(path):
    """Splits with only the test part, from TEST_DATA (no pickle: plain arrays)."""
    from types import SimpleNamespace

    import numpy as np
    import torch
    with np.load(path, allow_pickle=False) as z:
        x, y, classes = torch.from_numpy(z["x_test"]), torch.from_numpy(z["y_test"]).long(), [str(c) for c in z["classes"]]
    return SimpleNamespace(x_test=x, y_test=y, classes=classes, x_val=None, y_val=None, x_train=None,
                           y_train=None, val_is_test=False)


class Run:
    """A run folder read back: the one reader of a run (every command, the report, sweeps and
    the notebook's mnistlab.Run, which adds only methods). Attributes have one type whatever
    made the Run: .dir = .path (Path), .name (str), .config (dict: config.yaml), .history
    (History), .metrics (dict; {} while unfinished), .classes (list), .model (built on first
    use, weights loaded, eval mode) and .splits(dataset=None) (the data as the run saw it).

    `model=` gives the weights to the user's own nn.Module (a run trained on one);
    `finished=False` reads an unfinished run too (the listing, compare), which has no model."""

    def __init__(self, run_dir, *, model=None, finished: bool = True):
        self.dir = self.path = require_run(Path(getattr(run_dir, "dir", run_dir)))
        self.name = self.dir.name
        if finished and not is_finished(self.dir):
            raise MnistlabError(f"{self.dir} is unfinished (no metrics.json); continue it with "
                                f"`mnistlab train --resume {self.dir}` (in Python: "
                                f"mnistlab.fit(resume={str(self.dir)!r}))")
        self.config = read_config(self.dir)
        self.history = History(read_history(self.dir))
        self.metrics = read_metrics(self.dir)
        self.classes = [str(c) for c in self.metrics.get("classes") or []]
        self._model = None if model is None else _own_weights(model, self.dir)
        self._splits = None

    @property
    def model(self):
        """The evaluated weights in the config's architecture, on the CPU, in eval mode."""
        if self._model is None:
            model, _ = build_model(self.config)
            load_weights(model, self.dir)
            self._model = model.eval()
        return self._model

    def splits(self, dataset=None):
        """The data split exactly as the run saw it: of `dataset` when given (a Dataset, or a
        name, path or arrays as load_dataset takes them), else of the dataset config.yaml
        names, else (a run trained on a dataset in memory) the test split saved beside it."""
        if dataset is not None:
            return make_run_splits(self.config["data"], _as_dataset(dataset, self.config["data"]))
        if self._splits is None:
            saved = self.dir / TEST_DATA
            try:
                self._splits = make_run_splits(self.config["data"])
            except MnistlabError:
                if not saved.is_file():
                    raise
                self._splits = saved_test_split(saved)
        return self._splits

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.dir)!r})"


def open_run(run_dir, *, model=None, finished: bool = True) -> Run:
    """The one way to read a run folder (mnistlab.load_run gives the notebook's view of it)."""
    return Run(run_dir, model=model, finished=finished)


# The old names of the reader (runs.RunFolder/open_run, runs.RunFiles/read_run), kept so that
# code written against them runs: each is Run.
RunFolder = Run


def _as_dataset(dataset, data: dict):
    from mnistlab.data import load_dataset
    if isinstance(dataset, (tuple, list)):
        return load_dataset(dataset)
    if isinstance(dataset, (str, Path)):
        return load_dataset(dataset, allow_pickle=data["allow_pickle"])
    if not hasattr(dataset, "x_train"):
        raise MnistlabError(f"dataset= takes a Dataset, a built-in name, a path or arrays ((x_train, y_train), "
                            f"(x_test, y_test)), not {type(dataset).__name__}")
    return dataset


def _own_weights(model, run_dir: Path):
    """The user's own module (an instance, a class, or 'module:Class') with the run's weights."""
    from mnistlab.models.own import as_module
    model = as_module(model)
    try:
        load_weights(model, run_dir)
    except (RuntimeError, KeyError) as err:
        raise MnistlabError(f"the weights in {run_dir} do not fit {type(model).__name__}: "
                            f"{str(err).splitlines()[0]}; pass the module the run was trained with") from None
    return model.eval()
