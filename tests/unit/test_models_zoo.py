"""Every zoo entry against the notebook it came from (../shared/seeds)."""
import pytest
import torch

from mnistlab.models import ZOO, build, count_params, list_models, summary

# (output shape, params) per row of the notebooks' printed model.summary() tables
PRINTED = {
    "nb000-cnn": [((26, 26, 10), 100), ((13, 13, 10), 0), ((13, 13, 10), 0), ((11, 11, 4), 364),
                  ((6, 6, 4), 0), ((144,), 0), ((35,), 5075), ((35,), 0), ((10,), 360)],
    "nb001-keras-cnn": [((26, 26, 32), 320), ((24, 24, 64), 18496), ((12, 12, 64), 0), ((12, 12, 64), 0),
                        ((9216,), 0), ((128,), 1179776), ((128,), 0), ((10,), 1290)],
    # 002 printed its own table: C1 80, C2 584, p1, C3 1168, C4 2320, p2, flatten 256, (dropout), D1 2570
    "nb002-cnn": [((26, 26, 8), 80), ((24, 24, 8), 584), ((12, 12, 8), 0), ((10, 10, 16), 1168),
                  ((8, 8, 16), 2320), ((4, 4, 16), 0), ((256,), 0), ((256,), 0), ((10,), 2570)],
    "nb003-mlp-64-64": [((784,), 0), ((64,), 50240), ((64,), 4160), ((10,), 650)],
    "nb003-cnn": [((26, 26, 32), 320), ((13, 13, 32), 0), ((11, 11, 64), 18496), ((5, 5, 64), 0),
                  ((1600,), 0), ((64,), 102464), ((10,), 650)],
}
NAMES_000 = ["conv2d", "max_pooling2d", "dropout", "conv2d_1", "max_pooling2d_1", "flatten",
             "dense", "dropout_1", "dense_1"]

# entries whose notebook printed no table: totals counted by hand from the notebook's code
COUNTED = {
    "nb001-elu-cnn": (329962, 0, (10,)),      # 320+9248+18496+36928+262400+2570
    "nb003-mlp-500-300": (545810, 0, (10,)),  # 392500+150300+3010
    "nb004-bn-cnn": (33989, 3584, (5,)),      # convs 320+18496, BN 4*(32+32+64+64+1600), dense 8005
    "nb004-resnet": (62889, 2, (5,)),         # BN(1) 4, conv 160, dense 12544*5+5
    "nb002-bn-cnn": (6914, 96, (10,)),        # nb002-cnn's 6722 + BN 4*(8+8+16+16), half not trained
}


def test_zoo_has_every_notebook_network():
    assert set(ZOO) == set(PRINTED) | set(COUNTED)
    assert {e.notebook for e in ZOO.values()} == {"000", "001", "002", "003", "004"}


@pytest.mark.parametrize("name", sorted(PRINTED))
def test_summary_matches_printed_table(name):
    s = summary(name)
    assert [(r.output_shape, r.params) for r in s.layers] == PRINTED[name]
    assert s.total == s.trainable == ZOO[name].printed_params == count_params(name)
    assert s.non_trainable == 0


def test_keras_layer_names_match_notebook_000():
    assert [r.name for r in summary("nb000-cnn").layers] == NAMES_000
    assert [r.type for r in summary("nb000-cnn").layers][:2] == ["Conv2D", "MaxPooling2D"]


@pytest.mark.parametrize("name", sorted(COUNTED))
def test_counted_entries(name):
    total, frozen, out = COUNTED[name]
    s = summary(name)
    assert (s.total, s.non_trainable, s.output_shape) == (total, frozen, out)
    assert ZOO[name].printed_params is None and f"{total:,}" in ZOO[name].note


def test_resnet_depth2_is_stem_flatten_dense():
    # notebook 004's plot: (28,28,1) -> (28,28,16) -> flatten -> 5
    rows = summary("nb004-resnet").layers
    assert [r.type for r in rows] == ["BatchNormalization", "Activation", "Conv2D", "Flatten", "Dense"]
    assert rows[2].output_shape == (28, 28, 16)


def test_001_prose_code_disagreement_is_noted():
    assert "prose" in ZOO["nb001-elu-cnn"].note


@pytest.mark.parametrize("name", sorted(ZOO))
def test_built_module_matches_summary(name):
    s = summary(name)
    model = build(name)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))
    assert (trainable, frozen) == (s.trainable, s.non_trainable)
    model.eval()
    with torch.no_grad():
        logits = model(torch.rand(2, 1, 28, 28))
    assert tuple(logits.shape) == (2, *s.output_shape)
    # logits, not probabilities: the final softmax is left to the loss
    assert not torch.allclose(logits.sum(1), torch.ones(2))


def test_list_models():
    rows = {r["name"]: r for r in list_models()}
    assert rows["nb000-cnn"]["params"] == 5899 and rows["nb000-cnn"]["printed_params"] == 5899
    assert rows["nb004-resnet"]["params"] == 62889
