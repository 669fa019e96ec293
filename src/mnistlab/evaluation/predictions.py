"""Evaluate a trained run on one split: predictions from the saved model, then the metrics."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistlab.errors import MnistlabError, did_you_mean, option
from mnistlab.evaluation.metrics import compute_metrics

# "train+val": every image the run learned or validated on (Keras' model.evaluate(x_train,
# y_train) after fit(validation_split=...): all of the dataset's training images)
SPLITS = ("test", "val", "train", "train+val")


@dataclass
class Predictions:
    """A model's outputs on one split, aligned sample by sample."""
    split: str
    y_true: np.ndarray            # int labels 0..K-1
    probs: np.ndarray             # (N, K) softmax outputs
    classes: list[str]
    images: np.ndarray | None = None   # uint8 NHWC, for the misclassified grid
    loss: float | None = None     # mean cross-entropy from the logits (more exact than from probs)

    def metrics(self) -> dict:
        m = compute_metrics(self.y_true, probs=self.probs, classes=self.classes, loss=self.loss)
        return {"split": self.split, **m}


def _split_arrays(splits, split: str):
    if split == "train+val":
        return _train_and_val(splits)
    x, y = getattr(splits, f"x_{split}", None), getattr(splits, f"y_{split}", None)
    if x is None or y is None:
        hint = {"test": f"this dataset has no test set; use {option('split', 'val')}",
                "val": f"this run had no validation set (validation: none); use {option('split', 'test')}"}
        raise MnistlabError(f"the run has no {split} split; {hint.get(split, 'use ' + option('split', 'test'))}")
    return x, y


def _train_and_val(splits):
    """The train and validation parts together; a run validated on the test set has no
    training images beyond its train split, and the test images are not training images."""
    import torch

    if getattr(splits, "val_is_test", False):
        raise MnistlabError("this run validated on the test set (validation: test), so train+val "
                            f"would count the test images as training images; use {option('split', 'train')}")
    x, y = _split_arrays(splits, "train")
    if getattr(splits, "x_val", None) is None:
        return x, y
    return torch.cat([torch.as_tensor(x), torch.as_tensor(splits.x_val)]), \
        torch.cat([torch.as_tensor(y), torch.as_tensor(splits.y_val)])


def split_predictions(run, split: str = "test", *, splits=None, batch_size: int = 2048) -> Predictions:
    """Run a loaded run's model (train.load_run) over one split, in inference mode.

    `splits` replaces run.splits() (the data the recipe names), e.g. when fit() was given a
    dataset in memory. The loss is the one training reports (metrics.json's test_loss):
    cross-entropy with the recipe's label smoothing plus the layers' L2 penalty, like Keras.
    """
    import torch

    from mnistlab.models.infer import keras_loss, l2_of, logits as model_logits

    if split not in SPLITS:
        raise MnistlabError(f"unknown split '{split}'{did_you_mean(split, SPLITS)}; use one of {', '.join(SPLITS)}")
    splits = splits if splits is not None else run.splits()
    x, y = _split_arrays(splits, split)
    model = run.model
    logits = model_logits(model, x, batch_size=batch_size)
    y = torch.as_tensor(y).long().cpu()
    smoothing = float((run.config.get("loss") or {}).get("label_smoothing") or 0.0)
    with torch.inference_mode():
        loss = keras_loss(logits, y, model=model, penalty=l2_of(model), label_smoothing=smoothing).item()
    images = x.cpu().numpy() if hasattr(x, "numpy") else np.asarray(x)
    return Predictions(split, y.numpy(), logits.softmax(dim=1).numpy(), list(run.classes), images=images, loss=loss)


def array_predictions(run, x, y, *, batch_size: int = 2048) -> Predictions:
    """The run's model on images `x` and labels `y`, as Keras' model.evaluate(x, y): x uint8
    0..255 or float 0..1 in any layout load_dataset takes; y the run's labels (what
    run.predict returns: its class names, e.g. 0..9) or one-hot rows (one column per class,
    in the run's class order). Split name "x, y"."""
    from types import SimpleNamespace

    import torch

    from mnistlab.data import load_dataset
    y_np = np.asarray(y.cpu() if hasattr(y, "cpu") else y)
    classes = [str(c) for c in run.classes]
    one_hot = y_np.ndim == 2 and y_np.shape[1] > 1
    if one_hot and y_np.shape[1] != len(classes):
        raise MnistlabError(f"y is one-hot with {y_np.shape[1]} columns but the run has {len(classes)} classes; "
                            "give one column per class, or the labels themselves")
    ds = load_dataset((x, y), classes=classes if one_hot else None)
    if one_hot:
        index = ds.y_train
    else:  # the arrays' own label names -> the run's class numbers
        unknown = [c for c in ds.classes if c not in classes]
        if unknown:
            raise MnistlabError(f"y holds the label {unknown[0]}, which is none of the run's classes "
                                f"({', '.join(classes)}); give labels as run.predict returns them, or one-hot rows")
        lookup = torch.tensor([classes.index(c) for c in ds.classes])
        index = lookup[ds.y_train]
    splits = SimpleNamespace(x_test=ds.x_train, y_test=index)
    try:
        p = split_predictions(run, "test", splits=splits, batch_size=batch_size)
    except RuntimeError as err:  # e.g. 8x8 images for a 28x28 model
        raise MnistlabError(f"the run's model cannot take images of shape {tuple(ds.x_train.shape[1:])} (H, W, C): "
                            f"{str(err).splitlines()[0]}; give images like those it was trained on") from None
    p.split = "x, y"
    return p


def run_metrics(run_dir, split: str = "test") -> dict:
    """Metrics of the run's saved model on a split (test, val or train), as plain data.

    Loads the dataset named in the run's config.yaml, split exactly as the run split it.
    """
    from mnistlab.runs import open_run

    return split_predictions(open_run(Path(run_dir)), split).metrics()
