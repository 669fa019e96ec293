"""What the five notebooks did and what they reported, as plain data.

Every number below is copied from the notebook text in ../shared/seeds/ (the printed cell
outputs), never from our own runs. One `Experiment` is one row of the reproduction table.

How an experiment runs (`kind`):
- "single": one recipe, trained `seeds` times from scratch.
- "chain":  notebook 001 keeps calling `model.fit` on the SAME model, one more epoch per
            swept value; each step resumes the previous step's run (weights + optimiser
            state, which a Keras re-`fit` also keeps) with the step's overrides.
- "grid":   a mnistlab.sweep grid (notebook 003's L2 sweep, 3 repeats).
`evaluated_on` says which split the notebook's "test" number was measured on; the loss is
measured on the same images unless `loss_from` is "history" (the last epoch's training loss
as Keras prints it, which is all notebook 004 reports).

Seeds per row (`seeds`): at least 3 everywhere; 5 where one seed of the row took about five
minutes or less in the full runs on the 2-core development machine (docs/reproduce.md lists
the estimate per row); notebook 003's L2 sweep runs the notebook's own 3 repeats.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Experiment:
    key: str                    # row label, e.g. "keras-cnn" or "batch-size=64"
    recipe: str                 # recipes/<file>.yaml
    params: int                 # the notebook's model.summary() total (or our count of its code)
    accuracy: float | None      # the notebook's reported accuracy
    loss: float | None = None   # the notebook's reported loss
    kind: str = "single"        # single | chain | grid
    overrides: dict = field(default_factory=dict)   # nested recipe keys set for this row
    evaluated_on: str = "test"  # test | train (001 evaluates on all 60,000 training images)
    seeds: int = 3              # seeds in a full run (3, or 5 for the cheap rows; see above)
    after: str | None = None    # chain: the row whose run this one continues
    note: str = ""
    loss_from: str | None = None  # None: same images as the accuracy; "history": last epoch's train loss
    compare_loss: bool = True   # False where the notebook's loss cannot be compared (note says why)
    reason: str = ""            # why a row lies outside the notebook's number, once investigated
    precision: str | None = None  # set by `reproduce --precision` (None: the recipe's own, auto)
    params_printed: bool = True   # False: the notebook printed no count; `params` is counted from its code
    accuracy_range: tuple[float, float] | None = None  # the notebook's prose gives a range, no number
    params_from: str = ""         # where an unprinted count comes from, when not the seed's code


def _row(**kw) -> Experiment:
    return Experiment(**kw)


# ---- 000: 5,899-parameter CNN under a 6,000 budget --------------------------------------
NB000 = [
    _row(key="cnn", recipe="recipes/nb000-cnn.yaml", params=5899,
         accuracy=0.986299991607666, loss=0.046000394970178604, seeds=3,
         note="75 epochs, RMSprop, batch 512, validation_split 0.2"),
]

# ---- 001: Keras MNIST CNN, its cumulative sweeps, the ELU CNN ---------------------------
# The notebook's "Test accuracy" cells all call model.evaluate(x_train, y_train): they are
# accuracies on the 60,000 TRAINING images (0.98538333 = 59123/60000), so ours are too.
# The batch-size cell's code reads `[2**i for i in range(4,9)]` but its printed output is for
# exponents 6, 7, 4, 5, 10 in that order (the cell was re-run with another list); we run what
# produced the printed numbers. "batch_size=210" in the validation-split cell is 2**10 = 1024
# with the `**` lost in the PDF export (the prose says "batch_size = 2^10").
_BS = [(64, 0.046622, 0.988417), (128, 0.040890, 0.988883), (16, 0.041469, 0.988217),
       (32, 0.035952, 0.989633), (1024, 0.036048, 0.989733)]
_VS = [(0.1, 0.046145, 0.988350), (0.2, 0.036753, 0.989450), (0.3, 0.035987, 0.990150),
       (0.4, 0.033452, 0.991167), (0.5, 0.037538, 0.990150)]

NB001 = [
    _row(key="keras-cnn", recipe="recipes/nb001-keras-cnn.yaml", params=1199882,
         accuracy=0.9853833333333334, loss=0.04938362797953499, evaluated_on="train",
         seeds=3, note="3 epochs, Adadelta lr 1.0, batch 256, validation_split 0.3"),
]
_prev = "keras-cnn"
# Why the chain's later steps lie outside: docs/reproduce.md, "001's chain: what was ruled out
# and what remains" (the one place; the numbers are there, with their commands).
_CHAIN_REASON = ("our losses are lower from the first step on and, from the first validation-split step, "
                 "our accuracy is 0.3-0.5 pp ahead where the seed's one run stalls, in fp32 as in bf16 "
                 "and at batch 210 as at 1024 (neither explains it). Not ruled out: a cell the "
                 "seed ran but does not show ([67], between its two sweeps). docs/reproduce.md, "
                 "\"001's chain\"")
for bs, loss, acc in _BS:
    key = f"batch-size={bs}"
    NB001.append(_row(key=key, recipe="recipes/nb001-batch-size-sweep.yaml", params=1199882,
                      accuracy=acc, loss=loss, kind="chain", after=_prev, seeds=3,
                      overrides={"batch_size": bs}, evaluated_on="train",
                      note="+1 epoch on the same model", reason=_CHAIN_REASON))
    _prev = key
for vs, loss, acc in _VS:
    key = f"validation-split={vs}"
    NB001.append(_row(key=key, recipe="recipes/nb001-validation-split-sweep.yaml",
                      params=1199882, accuracy=acc, loss=loss, kind="chain", after=_prev,
                      seeds=3, overrides={"data": {"validation_split": vs}},
                      evaluated_on="train", note="+1 epoch on the same model, batch 1024",
                      reason=_CHAIN_REASON))
    _prev = key
# The other reading of those five steps' batch size: the PDF's literal "batch_size=210". The same
# steps, forked from the batch-size=1024 step, so the two readings share everything before them.
_prev = "batch-size=1024"
for vs, loss, acc in _VS:
    key = f"validation-split={vs},batch-size=210"
    NB001.append(_row(key=key, recipe="recipes/nb001-validation-split-sweep.yaml",
                      params=1199882, accuracy=acc, loss=loss, kind="chain", after=_prev,
                      seeds=3, overrides={"data": {"validation_split": vs}, "batch_size": 210},
                      evaluated_on="train",
                      note="+1 epoch on the same model, batch 210 (the PDF's literal reading)",
                      reason=_CHAIN_REASON))
    _prev = key
NB001.append(_row(key="elu-cnn", recipe="recipes/nb001-elu-cnn.yaml", params=329962,
                  params_printed=False, accuracy=0.9906, loss=0.027130232962354783, seeds=3,
                  note="10 epochs, SGD lr 0.01 decay 1e-6 momentum 0.9 nesterov, batch 200; "
                       "params counted from the code (the notebook prints no summary)"))

# ---- 002: 6,722-parameter CNN under a 7,000 budget, EarlyStopping -----------------------
# Why the batch-normalised variant lies outside (2026-12-07, fp32, n=3): trained and tested as the
# seed's main model, it scores ~99%, like the model without BN. The seed's number fits test images
# fed at 0..255 while training saw 0..1 (BN's moving statistics then no longer fit the input).
_BN_REASON = ("trained and evaluated as nb002-cnn is, BN after each convolution scores 99.20% ± 0.05, "
              "not 50-60%. Fed the test images unscaled (0..255, while training saw 0..1), the same "
              "three runs score 68.7 / 70.4 / 90.5% (loss 5.02 / 4.74 / 1.51), where nb002-cnn keeps "
              "99.0-99.2% (loss 0.13-0.16): unscaled test images are the one reading found that brings "
              "the variant down to the seed's words (docs/reproduce.md, 002)")
NB002 = [
    _row(key="cnn", recipe="recipes/nb002-cnn.yaml", params=6722,
         accuracy=0.9909999966621399, loss=4.779223442077637, seeds=5, compare_loss=False,
         note="Adam, batch 128, <=150 epochs, EarlyStopping(val_loss, patience 5); the "
              "notebook's test loss 4.78 cannot come from the predictions behind its 99.1% "
              "accuracy (Keras clips probabilities at 1e-7: at most 0.009 x 16.12 + 0.991 x "
              "2.30 = 2.43) and is not compared"),
    _row(key="bn-cnn", recipe="recipes/nb002-bn-cnn.yaml", params=6914, params_printed=False,
         params_from="counted from the prose's description", reason=_BN_REASON,
         accuracy=None, accuracy_range=(0.50, 0.60), seeds=3,
         note="the prose's batch-normalised variant (no code shown): 'on the test set i had an "
              "accuracy around 50-60%'; BN after each convolution of nb002-cnn, trained the same"),
]

# ---- 003: MLPs, the L2 sweep, a CNN; validation on the TEST set as the notebook does ------
_L2 = {  # factor: (test accuracies of the 3 repeats, test losses)
    0.001: ([0.9815000295639038, 0.9807999730110168, 0.9815000295639038],
            [0.11776416003704071, 0.12149743735790253, 0.11831645667552948]),
    0.00075: ([0.9790999889373779, 0.98089998960495, 0.9818000197410583],
              [0.1224227324128151, 0.11858780682086945, 0.1115642562508583]),
    0.0005: ([0.9828000068664551, 0.9829999804496765, 0.9818000197410583],
             [0.10884205251932144, 0.10866054892539978, 0.11244098097085953]),
    0.00025: ([0.9830999970436096, 0.9817000031471252, 0.9810000061988831],
              [0.1211809441447258, 0.12106528133153915, 0.12313398718833923]),
    0.000001: ([0.9817000031471252, 0.9817000031471252, 0.9818999767303467],
               [0.06934043765068054, 0.06594930589199066, 0.06532236933708191]),
}
# The notebook's error-bar plot shows the max val_accuracy (= test accuracy per epoch) of each
# repeat; kept for the plot, the table compares the final test accuracy.
L2_MAX_VAL = {
    0.001: [0.9829000234603882, 0.9818000197410583, 0.9815000295639038],
    0.00075: [0.982699990272522, 0.9833999872207642, 0.9829999804496765],
    0.0005: [0.9828000068664551, 0.9836999773979187, 0.9825999736785889],
    0.00025: [0.983299970626831, 0.9835000038146973, 0.9828000068664551],
    0.000001: [0.982200026512146, 0.9824000000953674, 0.9825999736785889],
}


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


NB003 = [
    _row(key="mlp-64-64", recipe="recipes/nb003-mlp-64-64.yaml", params=55050,
         accuracy=0.9690999984741211, loss=0.09784173965454102, seeds=5,
         note="SGD 0.1, batch 128, 10 epochs"),
    _row(key="mlp-500-300", recipe="recipes/nb003-mlp-500-300.yaml", params=545810, params_printed=False,
         accuracy=0.9810000061988831, loss=0.06875218451023102, seeds=5,
         note="SGD 0.1, batch 128, 40 epochs"),
]
for l2, (accs, losses) in _L2.items():
    NB003.append(_row(key=f"l2={l2:g}", recipe="recipes/nb003-l2-sweep.yaml", params=545810, params_printed=False,
                      accuracy=_mean(accs), loss=_mean(losses), kind="grid", seeds=3,
                      overrides={"l2": l2},
                      note="notebook: mean of 3 repeats, std "
                           f"{(sum((a - _mean(accs)) ** 2 for a in accs) / 3) ** 0.5:.4f}"))
NB003.append(_row(key="cnn", recipe="recipes/nb003-cnn.yaml", params=121930,
                  accuracy=0.9919000267982483, loss=0.027781398966908455, seeds=5,
                  note="SGD 0.1, batch 64, 10 epochs"))

# ---- 004: 5-class Fashion-MNIST (.npy pickled dict), 90/5/5 split with seed 0 -----------
# The notebook prints no test loss; its closing cell compares the last epoch's training loss
# ("Loss for CNN model is 0.29", "Loss for Resnet architecture is 0.59"), logged as 0.2965
# and 0.5955 in epoch 25, so that is the loss compared (loss_from="history").
# Why 004's rows lie outside: the data (docs/reproduce.md, 004's candidate table).
_004_REASON = ("the data: the notebook's 5-class file is not rebuilt exactly. Binarised pixels (as its "
               "text describes them) on the closest pairing bring the BN-CNN within and the ResNet "
               "to a few points above the notebook, where every grayscale pairing stays 4-16 pp above "
               "(docs/reproduce.md, 004's candidate table)")
NB004 = [
    _row(key="bn-cnn", recipe="recipes/nb004-bn-cnn.yaml", params=33989, params_printed=False,
         accuracy=0.8513333333333334, loss=0.2965, loss_from="history", seeds=3,
         note="sigmoid + BatchNorm, SGD lr 0.01, batch 128, 25 epochs, EarlyStopping "
              "patience 10; params counted from the code (the notebook shows only a plot)",
         reason=_004_REASON),
    _row(key="resnet", recipe="recipes/nb004-resnet.yaml", params=62889, params_printed=False,
         accuracy=0.7346666666666667, loss=0.5955, loss_from="history", seeds=5,
         note="resnet_v1(depth=2): no residual blocks, BN-ReLU-Conv16-Dense; Adam, 25 epochs",
         reason=_004_REASON),
]

NOTEBOOKS: dict[str, list[Experiment]] = {
    "000": NB000, "001": NB001, "002": NB002, "003": NB003, "004": NB004,
}
