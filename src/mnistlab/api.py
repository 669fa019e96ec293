"""The notebook surface: Keras-shaped calls that return objects which show themselves.

    ds = mnistlab.load_dataset("mnist")          # card: sizes, classes, per-class counts
    ds.show(40)                                  # Figure
    mnistlab.summary("nb000-cnn")                # Keras table (HTML in Jupyter)
    run = mnistlab.fit("nb000-cnn", dataset=ds, epochs=3)   # -> Run
    run.history["val_accuracy"]; run.plot(); run.evaluate(); run.predict(x)

This module composes the packages (data, models, train, evaluate, serve, sweep) and is
the only one besides the CLI allowed to; nothing below imports it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mnistlab.display import enable_notebook_figures
from mnistlab.errors import MnistlabError

enable_notebook_figures()  # returned Figures display as images in Jupyter/Colab

# ---------------------------------------------------------------- data and models


def summary(model, input_shape=None):
    """Keras-style summary of a zoo name, a recipe (file or dict), a spec (a mapping or a
    Keras-style layer list), a Keras model or file (.keras, .h5, to_json(); `input_shape`
    (H, W, C) for one never built), or any torch nn.Module (class or instance; `input_shape`
    (C, H, W))."""
    from mnistlab.models import summary as _summary
    if _is_keras(model):  # before the nn.Module test: on the torch backend a keras.Model is one
        from mnistlab.models.keras import read_keras
        return _summary(read_keras(model, input_shape=input_shape).spec)
    if isinstance(model, str) and ":" in model and not Path(model).exists():
        model = import_object(model)
    if isinstance(model, dict) and "model" in model and not _is_spec(model):  # a recipe dict: its model
        model = model["model"]
    return _summary(model, input_shape) if input_shape is not None else _summary(model)


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


# ---------------------------------------------------------------- history


class History(dict):
    """Keras' History.history: {'loss': [...], 'accuracy': [...], 'val_loss': ...} per epoch.

    `.epoch` lists the epochs (1-based, as the run's history.csv); `.rows` the raw rows.
    Shows as a table; `.plot()` -> Figure."""

    KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")

    def __init__(self, rows: list[dict]):
        self.rows = [dict(r) for r in rows]
        self.epoch = [int(r["epoch"]) for r in self.rows]
        super().__init__({k: [_num(r.get(k)) for r in self.rows] for k in self.KEYS
                          if any(r.get(k) not in (None, "") for r in self.rows)})

    def plot(self, title: str = ""):
        from mnistlab.evaluation.plots import history_figure
        return history_figure(self.rows, title)

    def _table(self):
        keys = list(self)
        rows = [[e] + [_fmt(self[k][i]) for k in keys] for i, e in enumerate(self.epoch)]
        return ["epoch", *keys], rows

    def __repr__(self) -> str:
        head, rows = self._table()
        cells = [head, *[[str(c) for c in r] for r in rows]]
        widths = [max(len(r[j]) for r in cells) for j in range(len(head))]
        return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells)

    def _repr_html_(self) -> str:
        from mnistlab.display import html_table
        return html_table(*self._table())


def _num(v):
    if v in (None, ""):
        return None
    return float(v)


def _fmt(v):
    return "" if v is None else (f"{v:.4g}" if isinstance(v, float) else v)


# ---------------------------------------------------------------- evaluation


class Evaluation:
    """A run's metrics on one split: .accuracy, .loss, .confusion_matrix (numpy), .report
    (sklearn's classification report text), .metrics (all of it as plain data).
    Shows as a card with the confusion-matrix figure; `.plot()` -> that Figure."""

    def __init__(self, metrics: dict, name: str = "", predictions=None):
        self.metrics = metrics
        self.predictions = predictions  # evaluate.evaluation.Predictions (images, probabilities)
        self.name = name
        self.split = metrics.get("split", "test")
        self.accuracy = float(metrics["accuracy"])
        self.loss = metrics.get("loss")
        self.classes = list(metrics["classes"])
        self.confusion_matrix = np.asarray(metrics["confusion_matrix"])
        self.report = metrics["classification_report_text"]

    def plot(self):
        from mnistlab.evaluation.plots import confusion_figure
        return confusion_figure(self.confusion_matrix, self.classes,
                                f"{self.name} ({self.split})" if self.name else "Confusion matrix")

    def show_errors(self, n: int = 36):
        """A Figure of the `n` most confident mistakes (true -> predicted, confidence), or None."""
        from mnistlab.evaluation.plots import misclassified_figure
        p = self.predictions
        if p is None or p.images is None:
            raise MnistlabError("this Evaluation has no images; get it from mnistlab.evaluate(run)")
        return misclassified_figure(p.images, p.y_true, p.probs, self.classes, n)

    def _headline(self) -> str:
        loss = f", loss {self.loss:.4f}" if self.loss is not None else ""
        return (f"{self.name + ' ' if self.name else ''}on {self.split}: accuracy "
                f"{self.accuracy:.4f}{loss} ({self.metrics['errors']:,} errors of {self.metrics['n']:,})")

    def __repr__(self) -> str:
        return f"Evaluation {self._headline()}\n{self.report}"

    def _repr_html_(self) -> str:
        import html

        from mnistlab.display import figure_img, pre
        return (f"<div><b>Evaluation</b> {html.escape(self._headline())}"
                f"<div style='display:flex;gap:1em;align-items:flex-start'>{pre(self.report)}"
                f"{figure_img(self.plot())}</div></div>")


def evaluate(run, split: str = "test", *, dataset=None) -> Evaluation:
    """Evaluate a run (a Run, or its folder) on a split: test, val, train, or train+val (every
    training image, as Keras' model.evaluate(x_train, y_train) after fit(validation_split=)).

    `dataset` gives the data back to a run trained on an in-memory Dataset; without it such
    a run uses the test split fit() saved beside it (test_data.npz)."""
    from mnistlab.evaluation.predictions import predict
    if not isinstance(run, Run):  # a folder, or the files of one (mnistlab.runs.read_run)
        run = load_run(getattr(run, "dir", run))
    predictions = predict(run, split, splits=run.splits(dataset))
    return Evaluation(predictions.metrics(), run.name, predictions)


# ---------------------------------------------------------------- runs

from mnistlab.runs.run import TEST_DATA, RunFolder  # noqa: E402  (TEST_DATA: an in-memory dataset's test split)


class Run(RunFolder):
    """A finished run folder, as a notebook holds it: mnistlab.runs' reader (RunFolder) plus
    what a notebook does with it. One class: every mnistlab function that takes a run folder
    takes a Run.

    .path (= .dir), .name, .config, .metrics, .classes, .history (History: dict of per-epoch
    lists), .model (the torch module, lazily loaded); .plot() -> Figure; .evaluate(split) ->
    Evaluation; .predict(x) -> labels; .predict_proba(x) -> (N, K) probabilities;
    .report() -> path of report.html. Shows as a card with the learning curves."""

    def __init__(self, path, model=None):
        super().__init__(Path(path))
        if model is not None:  # the user's own architecture: the weights go into it
            from mnistlab.runs.files import load_weights
            module = _module(model)
            try:
                load_weights(module, self.dir)
            except (RuntimeError, KeyError) as err:
                raise MnistlabError(f"the weights in {self.dir} do not fit {type(module).__name__}: "
                                    f"{str(err).splitlines()[0]}; pass the module the run was trained with") from None
            self._model = module.eval()
        self.path = self.dir
        self.name = self.dir.name
        self.history = History(self.history)
        self._predictor = None

    def splits(self, dataset=None):
        """The run's data splits: from `dataset` if given, else as the recipe names them, else
        (a run trained on an in-memory dataset) the test split saved beside the run."""
        from mnistlab.runs import make_run_splits
        if dataset is not None:
            return make_run_splits(self.config["data"], dataset)
        return super().splits()

    def plot(self):
        return self.history.plot(self.name)

    def evaluate(self, split: str = "test", *, dataset=None) -> Evaluation:
        return evaluate(self, split, dataset=dataset)

    def _pred(self):
        if self._predictor is None:
            from mnistlab.serve.predict import Predictor, run_input_shape
            own = _own_model(self.config)
            shape = own["input_shape"] if own else run_input_shape(self)
            self._predictor = Predictor(self.model, self.classes, shape)
        return self._predictor

    def predict_proba(self, x) -> np.ndarray:
        """(N, K) class probabilities; x: numpy or torch, a batch (N,28,28), (N,28,28,C) or
        torch's (N,C,28,28), or one image (28,28), (28,28,C) or (C,28,28), with C the model's
        channels; uint8 0..255 or float 0..1 (serve/arrays.py)."""
        return self._pred().probabilities(x)

    def predict(self, x) -> np.ndarray:
        """The predicted class of each image, in the dataset's own labels (ints when they are)."""
        idx = self.predict_proba(x).argmax(axis=1)
        names = np.array([int(c) if str(c).lstrip("-").isdigit() else c for c in self.classes])
        return names[idx]

    def to_keras(self, path) -> Path:
        """Write the model as a Keras 3 .keras file (no Keras needed) that keras.saving.load_model
        loads, its predictions the run's (`mnistlab export RUN --format keras`)."""
        from mnistlab.serve.export_keras import export_run_keras
        return export_run_keras(self.path, path, run=self)

    def report(self, dataset=None) -> Path:
        """The run's report.html (written when it is missing or `dataset` is given); its path.
        A run trained on an in-memory dataset got its report from fit(); pass the dataset to
        write it again."""
        from mnistlab.evaluation.report import write_report
        existing = self.path / "report.html"
        if dataset is None and existing.is_file():
            return existing
        return write_report(self.path, dataset=dataset) if dataset is not None else write_report(self.path)

    def _headline(self) -> str:
        m = self.metrics
        acc = m.get("test_accuracy")
        acc = f"test accuracy {acc:.4f}" if acc is not None else "no test set"
        return f"{self.name}: {len(self.history.epoch)} epochs, {acc}"

    def __repr__(self) -> str:
        return f"Run {self._headline()} ({self.path})\n{self.history!r}"

    def _repr_html_(self) -> str:
        import html

        from mnistlab.display import figure_img
        fig = figure_img(self.plot()) if self.history.epoch else ""
        return f"<div><b>Run</b> {html.escape(self._headline())}<br><code>{html.escape(str(self.path))}</code><br>{fig}</div>"


def load_run(path, model=None) -> Run:
    """A finished run folder as a Run; `model=` gives the architecture of a run trained on your own module."""
    return Run(path, model=model)


def _own_model(config) -> dict | None:
    """The record of a user's own module in config.yaml ({torch_module, input_shape}), or None."""
    m = config.get("model")
    return m if isinstance(m, dict) and "torch_module" in m else None


def _module(model):
    import torch
    if isinstance(model, str):
        model = import_object(model)
    if isinstance(model, type):
        model = model()
    if not isinstance(model, torch.nn.Module):
        raise MnistlabError(f"model must be a torch nn.Module (instance or class) or 'module:Class', "
                            f"not {type(model).__name__}")
    return model


def save_test_data(run_dir: Path, splits) -> None:
    """Keep the test split an in-memory dataset gave the run (the dataset's test set, or the
    recipe's `split` of it) beside the run, so evaluate and report need no dataset later."""
    if getattr(splits, "x_test", None) is None:
        return
    np.savez_compressed(run_dir / TEST_DATA, x_test=np.asarray(splits.x_test), y_test=np.asarray(splits.y_test),
                        classes=np.array([str(c) for c in splits.classes]))


# ---------------------------------------------------------------- fit

from mnistlab.train.hooks import Callback, TensorBoard  # noqa: E402  (re-exported; torch-free)


def fit(source=None, x=None, y=None, *, model=None, dataset=None, validation_data=None, resume=None,
        callbacks=None, out="runs", quiet=False, report=True, **overrides) -> Run:
    """Train and return the Run (history, plot, evaluate, predict); Keras-shaped keywords.

    source: a packaged recipe name or YAML path ("nb000-cnn", "recipe.yaml"), a recipe dict,
    a Recipe, a zoo model name, a model spec ({"input_shape": ..., "layers": [...]} or a
    Keras-style layer list), or your own model (a torch nn.Module instance or class, or
    "module:Class"); `model=` takes the same model forms. The data: `x, y` arrays as in
    Keras' model.fit(x, y) (with `validation_data=(x_val, y_val)`), or `dataset=`: a Dataset,
    a built-in name or a path (recorded in config.yaml as the recipe's data.dataset), or
    arrays as load_dataset takes them. A Dataset in memory has its test split kept beside the
    run for later evaluation. `resume=`: an interrupted run (a Run or its folder) continues
    where it stopped, or a finished one trains further with `epochs=N` (more than it ran).
    `callbacks`: objects with Keras' hooks (mnistlab.Callback, mnistlab.TensorBoard), and
    mnistlab.EarlyStopping / ReduceLROnPlateau / ModelCheckpoint (recorded in config.yaml). Any
    recipe key is a keyword: epochs=3, batch_size=512, optimizer="rmsprop", lr=1e-3,
    validation_split=0.2, seed=1, device="cuda", early_stopping={"patience": 5}, ...
    """
    from mnistlab.train import fit as train_fit

    dataset = _data_argument(x, y, dataset, validation_data, overrides)
    if resume is not None:
        return _resume(resume, source, model, dataset, callbacks, quiet, report, overrides)
    if _is_keras(source) or _is_keras(model):
        return _fit_keras(source, model, dataset, callbacks, out, quiet, report, overrides)
    module = None
    if _is_model(source) or _is_spec(source):
        source, model = None, source
    if _is_spec(model):  # a spec is the recipe's model entry, as a zoo name is
        overrides["model"], model = _spec_entry(model), None
    if model is not None and not (isinstance(model, str) and ":" not in model):
        module = _module(model)
        model = None
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
        base = source if source is not None else {}
        recipe = make_recipe(_with_own_model(base, module, shape), overrides)
    else:
        recipe = make_recipe(source, overrides)
    run_dir = _interruptible(lambda: train_fit(recipe, dataset=dataset, out=out, quiet=quiet,
                                               callbacks=callbacks, model=module), dataset)
    return _finish(run_dir, module, dataset, quiet, report)


def _finish(run_dir, module, dataset, quiet: bool, report: bool) -> Run:
    run = Run(run_dir, model=module)
    if dataset is not None:
        save_test_data(run_dir, run.splits(dataset))
    if report:
        _report(run, dataset, quiet)
    return run


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
        taken = [k for k in ("validation_split", "split", "validation") if overrides.get(k) is not None]
        if taken:
            raise MnistlabError(f"give validation_data or {taken[0]}, not both")
        overrides["validation"] = "test"  # Keras scores validation_data each epoch: it is the held-out set
        return load_dataset(dataset, validation_data)
    if isinstance(dataset, (tuple, list)):
        return load_dataset(dataset)
    if dataset is not None and not isinstance(dataset, (str, Path)) and not hasattr(dataset, "x_train"):
        raise MnistlabError(f"dataset= takes a Dataset, a built-in name, a path or arrays ((x_train, y_train), "
                            f"(x_test, y_test)), not {type(dataset).__name__}")
    return dataset


def _resume(resume, source, model, dataset, callbacks, quiet: bool, report: bool, overrides: dict) -> Run:
    """fit(resume=RUN_OR_PATH): train.fit's resume, from Python (the run's config.yaml is the recipe)."""
    from mnistlab.train import fit as train_fit
    if source is not None or (model is not None and not _is_model(model)):
        raise MnistlabError("resume= continues a run as its config.yaml says; drop the recipe/model "
                            "(model= only gives back your own nn.Module)")
    extra = sorted(set(overrides) - {"epochs", "threads", "device"})
    if extra:
        raise MnistlabError(f"resume= continues a run as its config.yaml says, so '{extra[0]}' cannot change; "
                            "only epochs= (to train further), threads= and device= apply")
    module = _module(model) if model is not None else None
    if isinstance(dataset, (str, Path)):
        from mnistlab.data import load_dataset
        dataset = load_dataset(dataset)
    path = Path(getattr(resume, "path", None) or getattr(resume, "dir", None) or resume)
    run_dir = _interruptible(lambda: train_fit(resume=path, dataset=dataset, quiet=quiet, callbacks=callbacks,
                                               model=module, **overrides), dataset)
    return _finish(run_dir, module, dataset, quiet, report)


def _interruptible(train, dataset):
    """Run `train()`; when it is interrupted after a checkpoint (the kernel's stop button),
    say the Python call that continues it, below training's CLI line."""
    import sys
    try:
        return train()
    except KeyboardInterrupt as err:
        run_dir = getattr(err, "run_dir", None)
        if run_dir is not None:
            again = ", dataset=..." if dataset is not None and not isinstance(dataset, (str, Path)) else ""
            note = "  (the same data again)" if again else ""
            print(f"In Python: mnistlab.fit(resume={str(run_dir)!r}{again}){note}", file=sys.stderr)
        raise


def _is_keras(obj) -> bool:
    from mnistlab.models.keras import is_keras_file, is_keras_model
    return is_keras_model(obj) or is_keras_file(obj)


def _fit_keras(source, model, dataset, callbacks, out, quiet: bool, report: bool, overrides: dict) -> Run:
    """fit(keras_model_or_file, ...): the run records the imported spec (config.yaml trains it
    again without Keras) and starts from the Keras weights when the model has them."""
    from mnistlab.train import fit as train_fit
    keras_model, base = (source, None) if _is_keras(source) else (model, source)
    shaped = dataset
    if isinstance(dataset, (str, Path)):  # the recipe's data.dataset (config.yaml loads it again by name)
        from mnistlab.data import load_dataset
        shaped = load_dataset(dataset, allow_pickle=bool(overrides.get("allow_pickle")))
        overrides["dataset"], dataset = str(dataset), None
    module = keras_recipe(keras_model, shaped, overrides)
    if base is None:
        overrides.setdefault("name", overrides["model"]["name"])  # the Keras model's name names the run
    recipe = make_recipe(base, overrides)
    run_dir = _interruptible(lambda: train_fit(recipe, dataset=dataset, out=out, quiet=quiet,
                                               callbacks=callbacks, model=module), dataset)
    return _finish(run_dir, module, dataset, quiet, report)


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


def _is_spec(obj) -> bool:
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


def _report(run: Run, dataset, quiet: bool) -> None:
    """report.html with the run's own predictions (so an own module or in-memory data work)."""
    from mnistlab.evaluation.predictions import predict
    from mnistlab.evaluation.report import write_report
    try:
        splits = run.splits(dataset)
        if getattr(splits, "x_test", None) is None:
            return
        path = write_report(run.path, predictions=predict(run, "test", splits=splits))
    except MnistlabError as err:
        if not quiet:
            print(f"Report not written: {err}")
        return
    if not quiet:
        print(f"Report: {path}")


# ---------------------------------------------------------------- recipes from fit() keywords

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
    updates = {_SHORTCUTS.get(k, k): v for k, v in overrides.items()}
    # whole sections first, so that optimizer={...} and lr=... together both apply
    updates = dict(sorted(updates.items(), key=lambda kv: "." in kv[0]))
    return load_recipe(apply_overrides(config, {}, updates))


# ---------------------------------------------------------------- sweeps and tuning


def sweep(source, *, grid: dict | None = None, repeats: int | None = None, metrics=None, dataset=None,
          workers: int = 1, out=None, quiet: bool = False, **overrides):
    """Run (or resume) a sweep; returns a SweepResult (table + error-bar figure).

    source: a sweep file or packaged sweep ("nb003-l2-sweep"), or, with `grid=`, any recipe
    fit() takes: mnistlab.sweep("nb003-mlp-500-300", grid={"model.layers.*.l2": [1e-3, 1e-6]},
    repeats=3, epochs=5). Keywords are recipe overrides as in fit()."""
    from mnistlab.sweeps.grid import run_sweep
    from mnistlab.sweepview import SweepResult
    if grid is not None:
        spec = {"recipe": make_recipe(source, overrides).to_dict(), "grid": grid, "repeats": repeats or 1}
        if metrics:
            spec["metrics"] = list(metrics)
        path = run_sweep(spec, out=out, workers=workers, dataset=dataset, quiet=quiet)
    else:
        if repeats is not None or metrics is not None:
            raise MnistlabError("repeats= and metrics= go with grid=; a sweep file sets its own")
        updates = {_SHORTCUTS.get(k, k): v for k, v in overrides.items()}
        make_recipe({"model": "nb000-cnn"}, overrides)  # the same keyword check as fit()
        path = run_sweep(source, out=out, workers=workers, dataset=dataset, quiet=quiet, overrides=updates or None)
    return SweepResult(path)


def tune(source, space, *, trials: int, metric: str = "max_val_accuracy", dataset=None, out=None,
         storage=None, study=None, sampler: str = "tpe", pruner: str = "median", seed=None,
         quiet: bool = False, **overrides):
    """Optuna tuning of a recipe over `space` (a dict or YAML file); returns a TuneResult
    (trials table + best-so-far figure; .best_recipe is the best trial's recipe file)."""
    from mnistlab.sweeps.tuning import OBJECTIVES, run_tune
    from mnistlab.sweepview import TuneResult
    recipe = make_recipe(source, overrides).to_dict()
    path = run_tune(recipe, space, trials=trials, storage=storage, study=study, out=out, dataset=dataset,
                    metric=metric, sampler=sampler, pruner=pruner, seed=seed, quiet=quiet)
    return TuneResult(path, metric, OBJECTIVES[metric][1])
