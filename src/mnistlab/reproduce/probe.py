"""A linear probe of notebook 004's candidate groupings: evidence that costs minutes, not hours.

The notebook's `resnet_v1(depth=2)` builds no residual block (docs/reproduce.md), so its
model is BatchNorm -> ReLU -> Conv2D(16) -> Flatten -> Dense(5) with nothing non-linear after
the ReLU: logits = W . relu(a*x + b) + c, a linear classifier on the pixels (one learned
brightness threshold aside). Its accuracy is therefore close to the best linear classifier's on
that 5-class task, which a multinomial logistic regression finds in a minute or two. A
grouping whose linear probe lands far from the notebook's ResNet (train 76.01%, validation
74.63%, test 73.47%) cannot be the notebook's file; the BN-CNN (85.13%) needs the real
training that `reproduce 004 --compare-groupings` does.
"""
from __future__ import annotations

import numpy as np

SEED_SPLIT = (0.10, 0.50)   # train_test_split(test_size=0.10), then the 10% halved, random_state 0


def seed_split(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) indices exactly as notebook 004 splits: train_test_split(test_size=0.10,
    random_state=0), then x_test, x_val = train_test_split(rest, test_size=0.5, random_state=0)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    train, rest = train_test_split(idx, test_size=SEED_SPLIT[0], random_state=0)
    test, val = train_test_split(rest, test_size=SEED_SPLIT[1], random_state=0)
    return train, val, test


def linear_probe(features: np.ndarray, target: np.ndarray, *, l2: float = 1e-4,
                 iterations: int = 300) -> dict:
    """Train/val/test accuracy of a multinomial logistic regression on the pixels
    (scikit-learn's LogisticRegression, L-BFGS, `l2` * |w|^2 added to the mean loss), on the
    notebook's split of (features, target 1..5)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    x = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    y = np.asarray(target).astype(np.int64)
    train, val, test = seed_split(len(x))
    # sklearn minimises C * sum(loss) + |w|^2 / 2, i.e. mean(loss) + |w|^2 / (2 C n)
    model = LogisticRegression(C=1.0 / (2 * l2 * len(train)), max_iter=iterations)
    with warnings.catch_warnings():  # a probe: a few digits of the optimum are enough
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x[train], y[train])
    out = {part: float(model.score(x[idx], y[idx]))
           for part, idx in (("train", train), ("val", val), ("test", test))}
    out["train_loss"] = float(log_loss(y[train], model.predict_proba(x[train]), labels=model.classes_))
    return out


def probe_grouping(grouping: str, images: np.ndarray, labels: np.ndarray, **kw) -> dict:
    """linear_probe on the 5-class file `grouping` makes from (images uint8, labels 0..9)."""
    from mnistlab.data import fashion5

    obj = fashion5.build_arrays(images, labels, grouping)
    return linear_probe(obj["features"], obj["target"], **kw)


def pairings(items: tuple[int, ...] = tuple(range(10))) -> list[list[tuple[int, int]]]:
    """Every way to split `items` into pairs (945 for ten labels), the smallest label first."""
    if not items:
        return [[]]
    first, rest = items[0], items[1:]
    out = []
    for i, other in enumerate(rest):
        for tail in pairings(rest[:i] + rest[i + 1:]):
            out.append([(first, other)] + tail)
    return out


def scan_pairings(images: np.ndarray, labels: np.ndarray, *, n_train: int = 10000,
                  n_test: int = 5000, components: int = 50, seed: int = 0,
                  candidates: list | None = None) -> list[dict]:
    """A coarse linear probe of all 945 pairings: logistic regression on the first `components`
    principal components of `n_train` random training images, scored on `n_test` others.
    Cheap (about a second a pairing) and coarser than linear_probe; it says which pairings
    are as hard for a linear model as the notebook's ResNet found its file. `candidates`: these
    pairings only (default: all of `pairings()`). Sorted hardest first."""
    import warnings

    from sklearn.decomposition import PCA
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    rng = np.random.RandomState(seed)
    idx = rng.permutation(len(labels))[:n_train + n_test]
    x = np.asarray(images, dtype=np.float32).reshape(len(images), -1)[idx] / 255.0
    y10 = np.asarray(labels, dtype=np.int64)[idx]
    z = PCA(n_components=components, random_state=seed).fit(x[:n_train]).transform(x)
    out = []
    for pairs in candidates if candidates is not None else pairings():
        table = np.zeros(10, dtype=np.int64)
        for t, pair in enumerate(pairs):
            table[list(pair)] = t
        y = table[y10]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = LogisticRegression(max_iter=200).fit(z[:n_train], y[:n_train])
        out.append({"pairs": pairs, "train": float(model.score(z[:n_train], y[:n_train])),
                    "test": float(model.score(z[n_train:], y[n_train:]))})
    return sorted(out, key=lambda r: r["test"])
