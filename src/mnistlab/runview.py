"""The notebook's views of a run: Run (mnistlab.runs' one reader plus what a notebook does
with a run) and Evaluation (its metrics on one split, or on arrays). What mnistlab.fit,
load_run and evaluate return; part of the notebook surface, beside api.py and sweepview.py."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mnistlab.errors import MnistlabError
from mnistlab.runs.run import Run as _RunReader


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


class Run(_RunReader):
    """A finished run folder, as a notebook holds it: mnistlab.runs' one reader (runs.Run:
    the same attributes, of the same types) plus what a notebook does with it. Every
    mnistlab function that takes a run folder takes a Run.

    .path (= .dir), .name, .config, .metrics, .classes, .history (History: dict of per-epoch
    lists), .model (the torch module, lazily loaded); .plot() -> Figure; .evaluate(x, y) or
    .evaluate(split) -> Evaluation; .predict(x) -> labels; .predict_proba(x) -> (N, K)
    probabilities; .report() -> path of report.html. Shows as a card with the learning curves."""

    _predictor = None

    def plot(self):
        return self.history.plot(self.name)

    def evaluate(self, x=None, y=None, *, split: str | None = None, dataset=None) -> Evaluation:
        """The run evaluated as Keras' model.evaluate(x, y) does: on images `x`
        and labels `y` (uint8 or 0..1; labels as run.predict gives them, or one-hot), or
        `dataset=(x, y)`; or on one of the run's splits: test (the default), val, train, or
        train+val (every training image, as Keras' model.evaluate(x_train, y_train) after
        fit(validation_split=)); `run.evaluate("val")` names the split positionally.

        `dataset` (a Dataset, a name or path, or ((x_train, y_train), (x_test, y_test))) gives
        the data back to a run trained on an in-memory Dataset; without it such a run uses the
        test split fit() saved beside it (test_data.npz). The loss is Keras' reported loss: the
        cross-entropy with the recipe's label smoothing plus the layers' L2 terms."""
        from mnistlab.data.inmemory import is_pairs
        from mnistlab.evaluation.predictions import array_predictions, split_predictions
        if isinstance(x, str):  # run.evaluate("val"): the split, as before Keras' (x, y)
            if split is not None:
                raise MnistlabError(f"the split is given twice ({x!r} and split={split!r}); give one")
            x, split = None, x
        if x is None and y is None and is_pairs(dataset) and hasattr(dataset[0], "shape"):
            (x, y), dataset = dataset, None  # dataset=(x, y): Keras' evaluate(x, y)
        if x is not None or y is not None:
            if x is None or y is None:
                raise MnistlabError("evaluate takes images and labels together: evaluate(run, x, y)")
            if split is not None or dataset is not None:
                raise MnistlabError("give the data as x, y or name a split= (with dataset=), not both")
            predictions = array_predictions(self, x, y)
        else:
            predictions = split_predictions(self, split or "test", splits=self.splits(dataset))
        return Evaluation(predictions.metrics(), self.name, predictions)

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
