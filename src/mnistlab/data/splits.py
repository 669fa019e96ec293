"""Train / validation / test splits with the semantics the notebooks relied on.

- validation_split=f   Keras `fit(validation_split=f)`: the LAST f of the training set, taken
                       before any shuffling (so it is not random, and not stratified). Image
                       folders, read class by class, are first shuffled with split_seed, as
                       Keras' image_dataset_from_directory(validation_split, seed) does; other
                       sources warn when validation lacks a class seen in training.
- split=[a, b] or [a, b, c]   seeded random train/val(/test) fractions, optionally stratified.
                       Three parts split the training set into train/val/test (notebook 004:
                       [0.9, 0.05, 0.05]); done like scikit-learn's train_test_split twice,
                       so split_seed=0 gives the same partition as notebook 004's random_state=0.
- validation="test"    the test set doubles as validation set (notebook 003). A warning says
                       that the test accuracy is then no longer an unbiased estimate.
- validation="none"    no validation set.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from mnistlab.errors import MnistlabError, as_number, option, warn

VALIDATION_MODES = ("split", "test", "none")
SPLIT_KEYS = ("validation_split", "split", "split_seed", "stratify", "validation")  # a recipe's data keys that SplitSpec holds


def check_validation_split(value, key: str = "validation_split") -> float | None:
    """The one bound on a validation fraction, for recipes and make_splits alike: Keras'
    fit(validation_split=f) takes a float in [0, 1). None (no split) passes through."""
    if value is None:
        return None
    f = as_number(value)
    if f is None or not 0 <= f < 1:
        raise MnistlabError(f"{key} must be a number in [0, 1), got {value!r}")
    return float(f)


@dataclass
class Splits:
    x_train: torch.Tensor = field(repr=False)
    y_train: torch.Tensor = field(repr=False)
    x_val: torch.Tensor | None = field(repr=False)
    y_val: torch.Tensor | None = field(repr=False)
    x_test: torch.Tensor | None = field(repr=False)
    y_test: torch.Tensor | None = field(repr=False)
    classes: list[str]
    val_is_test: bool = False

    def sizes(self) -> dict[str, int]:
        return {k: (0 if x is None else len(x))
                for k, x in (("train", self.x_train), ("val", self.x_val), ("test", self.x_test))}


@dataclass(frozen=True)
class SplitSpec:
    """How a dataset is split, validated once (`SplitSpec.check`): the recipe's data section
    builds one, and make_splits takes it without checking it again; only what needs the data
    (a test set to validate on, a fraction that leaves no image) waits for make_splits."""
    validation_split: float | None = None
    split: tuple[float, ...] | None = None
    split_seed: int = 0
    stratify: bool = False
    validation: str = "split"

    @classmethod
    def check(cls, *, validation_split=None, split=None, split_seed=0, stratify=False, validation="split",
              prefix: str = "") -> "SplitSpec":
        """The one set of split rules; `prefix` names the keys as the user wrote them
        ("data." in a recipe)."""
        def key(name):
            return f"'{prefix}{name}'"
        if validation not in VALIDATION_MODES:
            from mnistlab.errors import did_you_mean
            raise MnistlabError(f"{key('validation')} must be one of {', '.join(VALIDATION_MODES)}"
                                f"{did_you_mean(str(validation), VALIDATION_MODES)}, got {validation!r}")
        if not isinstance(stratify, bool):
            raise MnistlabError(f"{key('stratify')} must be true or false, got {stratify!r}")
        seed = as_number(split_seed)
        if seed is None or not float(seed).is_integer() or seed < 0:
            raise MnistlabError(f"{key('split_seed')} must be a whole number >= 0, got {split_seed!r}")
        validation_split = check_validation_split(validation_split, key("validation_split"))
        if split is not None:
            split = _fractions(split, key("split"), f"{prefix}split")
            if validation_split is not None:
                raise MnistlabError(f"set either {key('validation_split')} (Keras: the last fraction) or "
                                    f"{key('split')} (random fractions), not both")
        if validation == "test" and (validation_split is not None or split is not None):
            raise MnistlabError(f"'{prefix}validation: test' uses the test set as validation set; drop "
                                f"{prefix}validation_split / {prefix}split, or use validation: split")
        if validation == "none" and (validation_split or (split is not None and split[1] > 0)):
            raise MnistlabError(f"'{prefix}validation: none', but a validation fraction is given; remove it "
                                "or use validation: split")
        if stratify and validation_split is not None:
            raise MnistlabError(f"{key('stratify')} applies to {prefix}split: [...]; {prefix}validation_split "
                                "(Keras) always takes the last fraction unshuffled")
        return cls(validation_split, split, int(seed), stratify, validation)

    @classmethod
    def of(cls, data: dict) -> "SplitSpec":
        """The spec of a data section a Recipe validated (config.yaml's): taken as it is."""
        split = data.get("split")
        return cls(data.get("validation_split"), tuple(split) if split is not None else None,
                   int(data.get("split_seed") or 0), bool(data.get("stratify")), data.get("validation", "split"))


def _fractions(split, key: str, name: str) -> tuple[float, ...]:
    example = "like [0.9, 0.1] (train, val) or [0.9, 0.05, 0.05] (train, val, test)"
    if not isinstance(split, (list, tuple)) or len(split) not in (2, 3):
        raise MnistlabError(f"{key} must be a list of 2 or 3 fractions {example}, got {split!r}")
    fr = []
    for i, f in enumerate(split):
        n = as_number(f)
        if n is None or not math.isfinite(n) or not 0 <= n <= 1:
            raise MnistlabError(f"'{name}[{i}]' must be a number in [0, 1], got {f!r}")
        fr.append(float(n))
    if not math.isclose(sum(fr), 1.0, abs_tol=1e-6):
        raise MnistlabError(f"{key} fractions must sum to 1, got {list(split)!r} (sum {sum(fr):g}); {example}")
    if fr[0] == 0:
        raise MnistlabError(f"{key} {list(split)!r} leaves no training data")
    return tuple(fr)


def _random_split(y: np.ndarray, fr: list[float], seed: int, stratify: bool):
    """Indices (train, val, test) as train_test_split(test_size=val+test) then
    train_test_split(rest, test_size=val/(val+test)) -> (test, val), like notebook 004."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    held = fr[1] + (fr[2] if len(fr) == 3 else 0.0)
    if held == 0:
        return idx, idx[:0], idx[:0]
    try:
        train, rest = train_test_split(idx, test_size=held, random_state=seed,
                                       stratify=y if stratify else None)
        if len(fr) == 2 or fr[2] == 0:
            return train, rest, idx[:0]
        if fr[1] == 0:
            return train, idx[:0], rest
        test, val = train_test_split(rest, test_size=fr[1] / held, random_state=seed,
                                     stratify=y[rest] if stratify else None)
    except ValueError as err:  # e.g. a class with a single member under stratify
        raise MnistlabError(f"cannot split {len(y)} samples as {fr} (stratify={stratify}): {err}") from None
    return train, val, test


def make_splits(ds, spec: SplitSpec | None = None, **settings) -> Splits:
    """`ds` split as `spec` says (a SplitSpec, validated once), or as keyword settings
    (validation_split=, split=, split_seed=, stratify=, validation=) checked into one here.
    Only what needs the data is checked: two classes, a test set to validate on, a fraction
    that leaves no image."""
    if spec is None:
        spec = SplitSpec.check(**settings)
    elif settings:
        raise MnistlabError("give make_splits a SplitSpec or its settings, not both")
    validation_split, split = spec.validation_split, spec.split
    split_seed, stratify = spec.split_seed, spec.stratify
    x, y = ds.x_train, ds.y_train
    xt, yt = ds.x_test, ds.y_test
    present = torch.unique(y)
    if len(present) < 2:
        only = ds.classes[int(present[0])] if len(present) else "none"
        raise MnistlabError(f"{ds.name}: the training set holds one class ({only!r}); a classifier "
                            "needs at least two classes: add images of another class")

    if spec.validation == "test":
        if xt is None:
            raise MnistlabError(f"validation: test needs a test set, and {ds.name} has none; "
                                "use validation_split or split instead")
        warn("the test set is used as validation set (validation: test), so the test "
             "accuracy is no longer an unbiased estimate", stacklevel=2)
        return Splits(x, y, xt, yt, xt, yt, list(ds.classes), val_is_test=True)

    if validation_split is not None:
        f = validation_split
        at = int(len(x) * (1.0 - f))  # Keras: split_at = int(n * (1 - validation_split))
        if f > 0 and at == len(x):
            raise MnistlabError(f"validation_split={f} of {len(x)} samples leaves no validation data")
        if f == 0:
            return Splits(x, y, None, None, xt, yt, list(ds.classes))
        if getattr(ds, "ordered_by_class", False):
            # Class-sorted folders: the last fraction would be the last class(es) only.
            order = torch.from_numpy(np.random.default_rng(split_seed).permutation(len(x)))
            x, y = x[order], y[order]
        else:
            _warn_missing_classes(y[:at], y[at:], ds.classes)
        return Splits(x[:at], y[:at], x[at:], y[at:], xt, yt, list(ds.classes))

    if split is not None:
        fr = list(split)
        if len(fr) == 3 and xt is not None:
            raise MnistlabError(f"{ds.name} already has a test set; use split: [train, val] "
                                "(two fractions), or a source without one for [train, val, test]")
        tr, va, te = (torch.from_numpy(i) for i in _random_split(y.numpy(), fr, split_seed, stratify))
        x_val = x[va] if len(va) else None
        y_val = y[va] if len(va) else None
        if len(fr) == 3:
            xt, yt = (x[te], y[te]) if len(te) else (None, None)
        return Splits(x[tr], y[tr], x_val, y_val, xt, yt, list(ds.classes))

    return Splits(x, y, None, None, xt, yt, list(ds.classes))


def _warn_missing_classes(y_train: torch.Tensor, y_val: torch.Tensor, classes: list[str]) -> None:
    """Keras' last-fraction rule kept, but say so when it leaves classes out of validation."""
    missing = sorted(set(torch.unique(y_train).tolist()) - set(torch.unique(y_val).tolist()))
    if missing:
        names = ", ".join(repr(classes[i]) for i in missing[:5]) + (", ..." if len(missing) > 5 else "")
        warn(f"validation_split takes the last fraction of the training data (Keras), and it "
             f"lacks {len(missing)} of the {len(classes)} classes ({names}): the data is "
             f"probably sorted by class; shuffle it or split at random ({option('split', [0.9, 0.1], cli='split: [0.9, 0.1] in the recipe')})",
             stacklevel=3)
