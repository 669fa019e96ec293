"""Spec validation: every invalid case gets one line naming the layer index."""
import pytest
import yaml

from mnistlab.errors import MnistlabError
from mnistlab.models import check_budget, resolve_spec, summary


def spec(*layers, shape=(28, 28, 1)):
    return {"input_shape": list(shape), "layers": list(layers)}


def error(s) -> str:
    with pytest.raises(MnistlabError) as err:
        resolve_spec(s)
    msg = str(err.value)
    assert "\n" not in msg
    return msg


CONV = {"type": "conv2d", "filters": 4, "kernel": 3}
FLAT = {"type": "flatten"}
DENSE = {"type": "dense", "units": 10, "activation": "softmax"}


def test_unknown_layer_type_with_did_you_mean():
    msg = error(spec(CONV, {"type": "conv2", "filters": 4, "kernel": 3}))
    assert msg.startswith("layers[1]:") and "conv2" in msg and "did you mean 'conv2d'" in msg


def test_unknown_argument_with_did_you_mean():
    msg = error(spec({"type": "conv2d", "filter": 4, "kernel": 3}))
    assert msg.startswith("layers[0] (conv2d): unknown argument 'filter'") and "did you mean 'filters'" in msg


def test_unknown_activation_and_padding():
    assert "did you mean 'relu'" in error(spec({**CONV, "activation": "relux"}))
    assert "did you mean 'same'" in error(spec({**CONV, "padding": "sam"}))


def test_feature_map_below_1x1_shows_shapes():
    msg = error(spec({"type": "conv2d", "filters": 4, "kernel": 3},             # 26
                     {"type": "maxpool2d", "pool": 4},                          # 6
                     {"type": "maxpool2d", "pool": 4},                          # 1
                     {"type": "maxpool2d", "pool": 2}, FLAT, DENSE))             # 0 -> error
    assert msg.startswith("layers[3] (maxpool2d): the feature map shrinks below 1x1")
    assert "1x1x4 -> 0x0x4" in msg and "28x28x1 -> 26x26x4 -> 6x6x4 -> 1x1x4" in msg


def test_dense_on_4d_without_flatten():
    msg = error(spec(CONV, DENSE))
    assert msg.startswith("layers[1] (dense): input is 4-D (26x26x4)") and "flatten" in msg


def test_conv_after_flatten_is_refused():
    assert error(spec(FLAT, CONV)).startswith("layers[1] (conv2d): needs an image")


def test_kernel_larger_than_input():
    msg = error(spec({"type": "conv2d", "filters": 4, "kernel": 7}, shape=(5, 5, 1)))
    assert msg.startswith("layers[0] (conv2d): kernel 7x7 is larger than its input 5x5x1")
    # with `same` padding Keras accepts it, and so do we
    assert summary(spec({"type": "conv2d", "filters": 4, "kernel": 7, "padding": "same"},
                        shape=(5, 5, 1))).output_shape == (5, 5, 4)


@pytest.mark.parametrize("layer, text", [
    ({"type": "conv2d", "filters": 0, "kernel": 3}, "filters is 0"),
    ({"type": "conv2d", "filters": 4, "kernel": [3, 0]}, "kernel is [3, 0]"),
    ({"type": "conv2d", "filters": 4, "kernel": 3, "strides": -1}, "strides is -1"),
    ({"type": "maxpool2d", "pool": 0}, "pool is 0"),
    ({"type": "dense", "units": -5}, "units is -5"),
    ({"type": "dropout", "rate": 1.5}, "rate is 1.5"),
])
def test_non_positive_size(layer, text):
    layers = [CONV, layer] if layer["type"] != "dense" else [CONV, FLAT, layer]
    msg = error(spec(*layers))
    assert msg.startswith(f"layers[{len(layers) - 1}] ({layer['type']}): ") and text in msg


def test_non_positive_input_shape():
    assert "non-positive" in error(spec(FLAT, DENSE, shape=(28, 0, 1)))


@pytest.mark.parametrize("depth", [3, 10, 0, -4])
def test_resnet_depth_not_6n_plus_2(depth):
    msg = error(spec(FLAT, {"type": "resnet_v1", "depth": depth}))
    assert msg.startswith("layers[1] (resnet_v1): depth") and "6n+2" in msg


def test_resnet_valid_depths():
    s = summary(spec({"type": "resnet_v1", "depth": 8, "num_classes": 3}))
    assert s.output_shape == (3,)
    # depth 8: one block per stack; the 2nd and 3rd stacks stride 2 and project the shortcut
    assert sum(r.type == "Add" for r in s.layers) == 3
    assert [r.output_shape for r in s.layers if r.type == "Add"] == [(28, 28, 16), (14, 14, 32), (7, 7, 64)]


def test_missing_required_argument_and_wrong_types():
    assert "missing required argument 'units'" in error(spec(FLAT, {"type": "dense"}))
    assert "must be an integer" in error(spec({"type": "conv2d", "filters": 4.5, "kernel": 3}))
    assert "must be true or false" in error(spec({**CONV, "use_bias": "yes"}))


def test_top_level_errors():
    assert "did you mean 'layers'" in error({"input_shape": [28, 28, 1], "layer": [FLAT]})
    assert "no input_shape" in error({"layers": [FLAT]})
    assert "did you mean 'nb000-cnn'" in error("nb000_cnn")


def test_defaults_are_filled_and_aliases_accepted():
    s = resolve_spec(spec({"type": "conv2d", "filters": 4, "kernel_size": 3},
                          {"type": "maxpool2d", "pool_size": [2, 2]}, FLAT, DENSE))
    conv, pool = s["layers"][0], s["layers"][1]
    assert conv["kernel"] == 3 and conv["padding"] == "valid" and conv["kernel_initializer"] == "glorot_uniform"
    assert pool["pool"] == 2 and pool["strides"] == 2  # Keras: strides default to pool_size
    assert resolve_spec(s) == s  # idempotent: a saved spec resolves to itself


def test_keras_list_form_and_yaml_file(tmp_path):
    layers = [{"type": "input", "shape": [28, 28, 1]}, CONV, FLAT, DENSE]
    assert summary(layers).total == summary(spec(CONV, FLAT, DENSE)).total
    # errors name the index in the list the user wrote
    assert error([{"type": "input", "shape": [28, 28, 1]}, CONV, DENSE]).startswith("layers[2] (dense)")
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(spec(CONV, FLAT, DENSE)))
    assert summary(str(path)).total == 4 * 10 + 26 * 26 * 4 * 10 + 10
    path.write_text("layers: [")
    assert "not valid YAML" in error(str(path))


def test_same_padding_odd_sizes():
    # Keras `same`: ceil(size / strides); 11 -> 6 (notebook 000), 28 stride 3 -> 10
    s = summary(spec({"type": "maxpool2d", "pool": 2, "padding": "same"}, shape=(11, 11, 2)))
    assert s.output_shape == (6, 6, 2)
    s = summary(spec({"type": "conv2d", "filters": 2, "kernel": 5, "strides": 3, "padding": "same"}))
    assert s.output_shape == (10, 10, 2)


def test_check_budget():
    assert check_budget("nb000-cnn", 6000).total == 5899
    with pytest.raises(MnistlabError) as err:
        check_budget("nb002-cnn", 6000)
    msg = str(err.value)
    assert "6,722 parameters" in msg and "budget of 6,000" in msg
    assert "dense (Dense) 2,570, conv2d_3 (Conv2D) 2,320, conv2d_2 (Conv2D) 1,168" in msg
