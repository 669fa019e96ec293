"""The Keras bridge against real Keras 3 (KERAS_BACKEND=torch, no TensorFlow).

Both directions: every zoo model (and residual blocks, separable convolutions, BatchNorm
with non-trivial statistics) written to .keras by mnistlab and loaded by
keras.saving.load_model; models written in Keras' own style saved by Keras (.keras, legacy
.h5, to_json, the live object) read by mnistlab. Each compares parameter counts with
Keras' count_params, summary rows with Keras' layers, and softmax outputs with Keras'
predict on the same weights (max |difference| <= 1e-5, fp32).
"""
from __future__ import annotations

import json
import warnings
import zipfile

import numpy as np
import pytest
import torch

from mnistlab.errors import MnistlabError
from mnistlab.models import ZOO, build, summary
from mnistlab.models.keras import read_keras, write_keras

TOL = 1e-5




def _images(n=6, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28, 1)).astype(np.uint8)


def _ours(net, x_uint8):
    with torch.no_grad():
        x = torch.from_numpy(x_uint8).permute(0, 3, 1, 2).float() / 255
        return torch.softmax(net.eval()(x), 1).numpy()


def _keras_predict(model, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(model.predict(x, verbose=0))


def _perturb_batchnorm(net):
    """Trained-looking BatchNorm statistics, so that exporting them is checked."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=g) - 0.5)


# the activation layers import as the spec's `activation` layer, whose summary row says Activation
_AS_ACTIVATION = {"ReLU": "Activation", "ELU": "Activation", "LeakyReLU": "Activation", "Softmax": "Activation"}


def _rows(keras_model):
    """(class, output shape, params) per Keras layer, as Keras' summary lists them."""
    return [(_AS_ACTIVATION.get(layer.__class__.__name__, layer.__class__.__name__), tuple(layer.output.shape[1:]),
             layer.count_params())
            for layer in keras_model.layers if layer.__class__.__name__ != "InputLayer"]


def _our_rows(spec):
    return [(r.type, tuple(r.output_shape), r.params) for r in summary(spec).layers]


# ---------------------------------------------------------------- mnistlab -> Keras

EXTRA_SPECS = {
    "residual": {"input_shape": [28, 28, 1], "layers": [{"type": "resnet_v1", "depth": 8, "num_classes": 10}]},
    "separable-avg-gap": {"input_shape": [28, 28, 1], "layers": [
        {"type": "separable_conv2d", "filters": 6, "kernel": 3, "depth_multiplier": 2, "activation": "relu"},
        {"type": "avgpool2d", "pool": 2}, {"type": "batchnorm"},
        {"type": "conv2d", "filters": 5, "kernel": [3, 2], "strides": 2, "padding": "same", "activation": "leaky_relu"},
        {"type": "global_avg_pool"}, {"type": "dense", "units": 10, "activation": "softmax"}]},
    "rescaling-elu-dense-bn": {"input_shape": [28, 28, 1], "layers": [
        {"type": "rescaling", "scale": 1 / 127.5, "offset": -1.0},
        {"type": "conv2d", "filters": 3, "kernel": 5, "activation": "elu", "use_bias": False},
        {"type": "maxpool2d", "pool": 3, "strides": 2, "padding": "same"}, {"type": "flatten"},
        {"type": "dense", "units": 16}, {"type": "batchnorm"}, {"type": "activation", "activation": "tanh"},
        {"type": "dense", "units": 10, "activation": "softmax"}]},
}


@pytest.mark.parametrize("name", [*ZOO, *EXTRA_SPECS])
def test_export_loads_in_keras_with_equal_predictions(keras, tmp_path, name):
    spec = EXTRA_SPECS.get(name, name)
    torch.manual_seed(0)
    net = build(spec)
    _perturb_batchnorm(net)
    path = tmp_path / "model.keras"
    write_keras(path, spec, net)
    loaded = keras.saving.load_model(path)
    assert loaded.count_params() == summary(spec).total
    x = _images()
    raw = spec.get("layers", [{}])[0].get("type") == "rescaling" if isinstance(spec, dict) else False
    theirs = _keras_predict(loaded, x.astype(np.float32) if raw else x.astype(np.float32) / 255)
    assert np.abs(_ours(net, x) - theirs).max() <= TOL
    # and back: mnistlab reads its own export to the same spec and weights
    back = read_keras(path)
    assert summary(back.spec).total == summary(spec).total
    assert _our_rows(back.spec) == _rows(loaded)
    assert np.abs(_ours(back.build(), x) - theirs).max() <= TOL


def test_export_refuses_a_name_keras_will_not_load(tmp_path):
    with pytest.raises(MnistlabError, match="must end in .keras"):
        write_keras(tmp_path / "model.h5", "nb000-cnn", build("nb000-cnn"))
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- Keras -> mnistlab

def _keras_models(keras):
    """Models written the way Keras users write them (each builder makes a fresh model)."""
    L = keras.layers
    reg = keras.regularizers

    def seed000():  # notebook 000's Sequential as the seed wrote it
        return keras.Sequential([keras.Input(shape=(28, 28, 1)),
                                 L.Conv2D(10, kernel_size=(3, 3), activation="relu"),
                                 L.MaxPooling2D(pool_size=(2, 2), padding="same"), L.Dropout(0.1),
                                 L.Conv2D(4, kernel_size=(3, 3), activation="relu"),
                                 L.MaxPooling2D(pool_size=(2, 2), padding="same"), L.Flatten(),
                                 L.Dense(35, activation="relu"), L.Dropout(0.1), L.Dense(10, activation="softmax")])

    def functional_bn():  # functional, BatchNorm after conv and after dense
        i = keras.Input((28, 28, 1))
        x = L.Conv2D(8, 3, padding="same", kernel_regularizer=reg.l2(1e-4))(i)
        x = L.BatchNormalization()(x)
        x = L.Activation("relu")(x)
        x = L.MaxPooling2D()(x)
        x = L.Flatten()(x)
        x = L.Dense(12)(x)
        x = L.BatchNormalization(momentum=0.9, epsilon=1e-5)(x)
        x = L.ReLU()(x)
        return keras.Model(i, L.Dense(10, activation="softmax")(x))

    def separable():
        return keras.Sequential([keras.Input((28, 28, 1)), L.SeparableConv2D(8, 3, depth_multiplier=2, activation="relu"),
                                 L.SeparableConv2D(6, 3, strides=2, padding="same"), L.ELU(),
                                 L.GlobalAveragePooling2D(), L.Dense(10, activation="softmax")])

    def rescaling():  # takes uint8 pixels
        return keras.Sequential([keras.Input((28, 28, 1)), L.Rescaling(1 / 255), L.Conv2D(4, 3, activation="elu"),
                                 L.AveragePooling2D(pool_size=2), L.Flatten(), L.Dense(10, activation="softmax")])

    def rescaling_centred():
        return keras.Sequential([keras.Input((28, 28, 1)), L.Rescaling(1 / 127.5, offset=-1), L.Conv2D(4, 3),
                                 L.LeakyReLU(), L.AveragePooling2D(pool_size=3, strides=1, padding="same"), L.Flatten(),
                                 L.Dense(10, activation="softmax")])

    def mlp_l2():  # notebook 003's model3 style
        return keras.Sequential([keras.Input((28, 28, 1)), L.Flatten(),
                                 L.Dense(32, activation="relu", kernel_regularizer=reg.l2(1e-3)),
                                 L.Dense(16, activation="tanh", kernel_initializer="he_normal"),
                                 L.Dense(10, activation="softmax")])

    def resnet_v1_depth2():  # notebook 004's resnet_v1(input_shape=(28, 28, 1), depth=2), conv_first=False
        i = keras.Input(shape=(28, 28, 1))
        x = L.BatchNormalization()(i)
        x = L.Activation("relu")(x)
        x = L.Conv2D(16, kernel_size=3, strides=1, padding="same", kernel_initializer="he_normal",
                     kernel_regularizer=reg.l2(1e-4))(x)
        y = L.Flatten()(x)
        return keras.Model(inputs=i, outputs=L.Dense(5, activation="softmax", kernel_initializer="he_normal")(y))

    def strided_valid():
        return keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(6, (5, 3), strides=(2, 1), activation="sigmoid"),
                                 L.MaxPooling2D(pool_size=3, strides=2), L.Dropout(0.2), L.Flatten(),
                                 L.Dense(10), L.Softmax()])

    def resnet_layer(inputs, num_filters=16, kernel_size=3, strides=1, activation="relu",
                     batch_normalization=True, conv_first=False):  # notebook 004's code
        conv = L.Conv2D(num_filters, kernel_size=kernel_size, strides=strides, padding="same",
                        kernel_initializer="he_normal", kernel_regularizer=reg.l2(1e-4))
        x = inputs
        if conv_first:
            x = conv(x)
            if batch_normalization:
                x = L.BatchNormalization()(x)
            if activation is not None:
                x = L.Activation(activation)(x)
        else:
            if batch_normalization:
                x = L.BatchNormalization()(x)
            if activation is not None:
                x = L.Activation(activation)(x)
            x = conv(x)
        return x

    def resnet_v1(input_shape=(28, 28, 1), depth=8, num_classes=5):  # notebook 004's code
        num_filters = 16
        num_res_blocks = int((depth - 2) / 6)
        inputs = keras.Input(shape=input_shape)
        x = resnet_layer(inputs=inputs)
        for stack in range(3):
            for res_block in range(num_res_blocks):
                strides = 1
                if stack > 0 and res_block == 0:
                    strides = 2
                y = resnet_layer(inputs=x, num_filters=num_filters, strides=strides)
                y = resnet_layer(inputs=y, num_filters=num_filters, activation=None)
                if stack > 0 and res_block == 0:
                    x = resnet_layer(inputs=x, num_filters=num_filters, kernel_size=1, strides=strides,
                                     activation=None, batch_normalization=False)
                x = keras.layers.add([x, y])
                x = L.Activation("relu")(x)
            num_filters *= 2
        y = L.Flatten()(x)
        outputs = L.Dense(num_classes, activation="softmax", kernel_initializer="he_normal")(y)
        return keras.Model(inputs=inputs, outputs=outputs)

    def concat():  # two towers concatenated, then a global average pool
        i = keras.Input((28, 28, 1))
        a = L.Conv2D(4, 3, padding="same", activation="relu")(i)
        b = L.SeparableConv2D(6, 5, padding="same")(i)
        x = L.Concatenate()([a, b])
        x = L.MaxPooling2D()(x)
        x = L.add([L.Conv2D(10, 1)(x), x])
        return keras.Model(i, L.Dense(10, activation="softmax")(L.GlobalAveragePooling2D()(x)))

    return {"resnet_v1_depth8": resnet_v1, "concat": concat, "seed000": seed000, "functional_bn": functional_bn, "separable": separable, "rescaling": rescaling,
            "rescaling_centred": rescaling_centred, "mlp_l2": mlp_l2, "resnet_v1_depth2": resnet_v1_depth2,
            "strided_valid": strided_valid}


KERAS_MODELS = ["seed000", "functional_bn", "separable", "rescaling", "rescaling_centred", "mlp_l2",
                "resnet_v1_depth2", "strided_valid", "resnet_v1_depth8", "concat"]


def _trained_batchnorm(keras, model):
    """A few training steps in Keras, so BatchNorm's moving statistics are not their initial 0/1."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (64, 28, 28, 1)).astype(np.float32)
    x = x if model.layers[0].__class__.__name__ == "Rescaling" else x / 255
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, rng.integers(0, model.layers[-1].output.shape[-1], 64), batch_size=16, epochs=1, verbose=0)


@pytest.mark.parametrize("name", KERAS_MODELS)
@pytest.mark.parametrize("form", ["object", "keras", "h5"])
def test_keras_model_imports_with_equal_counts_rows_and_predictions(keras, tmp_path, name, form):
    model = _keras_models(keras)[name]()
    _trained_batchnorm(keras, model)
    if form == "keras":
        source = tmp_path / "m.keras"
        model.save(source)
    elif form == "h5":
        source = tmp_path / "m.h5"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.save(source)  # the legacy HDF5 format, written by Keras itself
    else:
        source = model
    imported = read_keras(source)
    assert summary(imported.spec).total == model.count_params()
    assert _our_rows(imported.spec) == _rows(model)
    x = _images()
    raw = model.layers[0].__class__.__name__ == "Rescaling"
    theirs = _keras_predict(model, x if raw else x.astype(np.float32) / 255)
    assert np.abs(_ours(imported.build(), x) - theirs).max() <= TOL
    assert imported.recipe_settings()["optimizer"]["name"] == "adam"


def test_notebook_004_resnet_imports_with_its_62889_parameters(keras):
    imported = read_keras(_keras_models(keras)["resnet_v1_depth2"]())
    assert summary(imported.spec).total == 62889
    assert imported.spec["input_shape"] == [28, 28, 1]
    deeper = _keras_models(keras)["resnet_v1_depth8"]()  # with residual blocks: add, 1x1 projections
    assert summary(read_keras(deeper).spec).total == deeper.count_params()


def test_two_inputs_are_refused(keras):
    L = keras.layers
    a, b = keras.Input((28, 28, 1)), keras.Input((28, 28, 1))
    model = keras.Model([a, b], L.Dense(3)(L.Flatten()(L.add([a, b]))))
    with pytest.raises(MnistlabError) as err:
        read_keras(model)
    assert "has 2 inputs" in _one_line(err)


def test_to_json_gives_the_spec_and_no_weights(keras, tmp_path):
    model = _keras_models(keras)["separable"]()
    text = model.to_json()
    (tmp_path / "m.json").write_text(text)
    for source in (text, tmp_path / "m.json"):
        imported = read_keras(source)
        assert not imported.has_weights
        assert summary(imported.spec).total == model.count_params()


def test_compile_settings_become_the_recipe(keras):
    model = _keras_models(keras)["mlp_l2"]()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1), metrics=["accuracy"])
    settings = read_keras(model).recipe_settings()
    assert settings == {"optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True},
                        "label_smoothing": 0.1}
    model.compile(optimizer=keras.optimizers.RMSprop(clipnorm=1.0), loss="sparse_categorical_crossentropy")
    with pytest.raises(MnistlabError, match="clipnorm"):
        read_keras(model).recipe_settings()
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(MnistlabError, match="from_logits=True"):
        read_keras(model).recipe_settings()


# ---------------------------------------------------------------- refusals: one line each

def _one_line(err) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def test_unsupported_layers_are_refused_naming_layer_and_position(keras, tmp_path):
    L = keras.layers
    cases = {
        "lambda": (keras.Sequential([keras.Input((28, 28, 1)), L.Flatten(), L.Lambda(lambda t: t * 2, name="lambda"),
                                     L.Dense(10)]), "Keras layer 1 'lambda' (Lambda): a Lambda layer holds Python code"),
        "lstm": (keras.Sequential([keras.Input((28, 28)), L.LSTM(4, name="lstm"), L.Dense(10)]),
                 "Keras layer 0 'lstm' (LSTM): this layer type is not supported"),
        "channels_first": (keras.Sequential([keras.Input((1, 28, 28)), L.Conv2D(2, 3, data_format="channels_first"),
                                             L.Flatten(), L.Dense(10)]), "channels_first"),
        "l1": (keras.Sequential([keras.Input((28, 28, 1)), L.Flatten(),
                                 L.Dense(10, kernel_regularizer=keras.regularizers.l1(0.01))]), "l1"),
    }
    i = keras.Input((28, 28, 1))
    x = L.Conv2D(2, 3, padding="same")(i)
    cases["multiply"] = (keras.Model(i, L.Dense(3)(L.Flatten()(L.Multiply(name="multiply")([x, L.Conv2D(2, 1)(x)])))),
                         "Keras layer 3 'multiply' (Multiply): this layer type is not supported")
    frozen = L.Dense(10)
    frozen.trainable = False
    cases["frozen"] = (keras.Sequential([keras.Input((28, 28, 1)), L.Flatten(), frozen]), "trainable=False")
    shared = L.Conv2D(1, 3, padding="same")
    cases["shared"] = (keras.Model(i, L.Dense(3)(L.Flatten()(shared(shared(i))))), "more than once (shared weights)")
    for name, (model, expected) in cases.items():
        with pytest.raises(MnistlabError) as err:
            read_keras(model)
        text = _one_line(err)
        assert "Keras layer" in text and "supported" in text, (name, text)
        if expected:
            assert expected in text, (name, text)


def test_lstm_is_refused_by_name(keras):
    L = keras.layers
    model = keras.Sequential([keras.Input((28, 28, 1)), L.Reshape((28, 28)), L.LSTM(4), L.Dense(10)])
    with pytest.raises(MnistlabError) as err:
        read_keras(model)
    assert "Keras layer 0 'reshape' (Reshape)" in _one_line(err)
    config = json.loads(model.to_json())
    config["config"]["layers"].pop(1)  # the Reshape: the LSTM is then the first layer
    with pytest.raises(MnistlabError) as err:
        read_keras(json.dumps(config))
    assert "(LSTM): this layer type is not supported" in _one_line(err)


def test_a_custom_class_is_refused_without_running_it(keras, tmp_path):
    @keras.saving.register_keras_serializable(package="evil")
    class Doubler(keras.layers.Layer):
        def call(self, x):  # pragma: no cover - never called by mnistlab
            return x * 2

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), Doubler(), keras.layers.Dense(10)])
    model.save(tmp_path / "m.keras")
    with pytest.raises(MnistlabError) as err:
        read_keras(tmp_path / "m.keras")
    assert "a custom class (evil>Doubler)" in _one_line(err)


def _saved(keras, tmp_path):
    model = _keras_models(keras)["seed000"]()
    path = tmp_path / "m.keras"
    model.save(path)
    return path


def _rezip(src, dst, change):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            data = change(item, zin.read(item))
            if data is not None:
                zout.writestr(item, data)


def test_damaged_keras_files_are_one_line_each(keras, tmp_path):
    path = _saved(keras, tmp_path)
    raw = path.read_bytes()
    (tmp_path / "truncated.keras").write_bytes(raw[: len(raw) // 2])
    _rezip(path, tmp_path / "noweights.keras", lambda n, d: None if n == "model.weights.h5" else d)
    _rezip(path, tmp_path / "notjson.keras", lambda n, d: b"{not json" if n == "config.json" else d)

    def wider(name, data):  # the first conv gets 12 filters in the config, the weights still have 10
        if name != "config.json":
            return data
        config = json.loads(data)
        config["config"]["layers"][1]["config"]["filters"] = 12
        return json.dumps(config)
    _rezip(path, tmp_path / "mismatch.keras", wider)
    expected = {"truncated": "truncated or damaged", "noweights": "no model.weights.h5",
                "notjson": "not valid JSON", "mismatch": "weight 0 has shape (3, 3, 1, 10) but the config implies "
                                                          "(3, 3, 1, 12)"}
    for name, words in expected.items():
        with pytest.raises(MnistlabError) as err:
            read_keras(tmp_path / f"{name}.keras").build()
        assert words in _one_line(err), name


def test_a_missing_input_shape_asks_for_one(keras):
    model = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    with pytest.raises(MnistlabError) as err:
        read_keras(model)
    assert "never built" in _one_line(err)
    assert summary(read_keras(model, input_shape=(28, 28, 1)).spec).total == 7850


def test_damaged_h5_files_are_one_line_each(keras, tmp_path):
    model = _keras_models(keras)["seed000"]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(tmp_path / "m.h5")
    model.save_weights(tmp_path / "only.weights.h5")
    raw = (tmp_path / "m.h5").read_bytes()
    (tmp_path / "truncated.h5").write_bytes(raw[: len(raw) // 3])
    for name, words in {"truncated.h5": "truncated or damaged", "only.weights.h5": "no model_config"}.items():
        with pytest.raises(MnistlabError) as err:
            read_keras(tmp_path / name)
        assert words in _one_line(err), name


def test_a_layer_missing_from_the_weights_file_is_one_line(keras, tmp_path):
    import io

    import h5py
    path = _saved(keras, tmp_path)

    def drop_dense(name, data):
        if name != "model.weights.h5":
            return data
        buf = io.BytesIO(data)
        with h5py.File(buf, "a") as f:
            del f["layers/dense_1"]
        return buf.getvalue()
    _rezip(path, tmp_path / "lost.keras", drop_dense)
    with pytest.raises(MnistlabError) as err:
        read_keras(tmp_path / "lost.keras").build()
    assert "the weights of layer 'dense_" in _one_line(err) and "are missing" in _one_line(err)


def test_a_keras_2_era_h5_reads(tmp_path):
    """The layout tf.keras 2.x wrote (legacy_h5_format.py): a functional config with Keras 2's
    inbound_nodes lists and batch_input_shape, L1L2 with l1 = 0, weights named 'kernel:0' under
    model_weights/<layer>/<layer>/, an optimizer_config with decay. Written here with h5py: no
    Keras 2 is installed, so this checks the reader against that documented layout."""
    import h5py
    rng = np.random.default_rng(0)
    kernel, bias = rng.normal(size=(3, 3, 1, 4)).astype("f4"), rng.normal(size=4).astype("f4")
    dense_k, dense_b = rng.normal(size=(26 * 26 * 4, 10)).astype("f4"), rng.normal(size=10).astype("f4")
    reg = {"class_name": "L1L2", "config": {"l1": 0.0, "l2": 9.999999747378752e-05}}
    config = {"class_name": "Functional", "config": {"name": "model", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 28, 28, 1], "dtype": "float32",
                                                "name": "input_1"}, "name": "input_1", "inbound_nodes": []},
        {"class_name": "Conv2D", "config": {"name": "conv2d", "trainable": True, "dtype": "float32", "filters": 4,
                                            "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid",
                                            "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1,
                                            "activation": "relu", "use_bias": True,
                                            "kernel_initializer": {"class_name": "HeNormal", "config": {"seed": None}},
                                            "bias_initializer": {"class_name": "Zeros", "config": {}},
                                            "kernel_regularizer": reg},
         "name": "conv2d", "inbound_nodes": [[["input_1", 0, 0, {}]]]},
        {"class_name": "Flatten", "config": {"name": "flatten", "trainable": True, "dtype": "float32",
                                             "data_format": "channels_last"},
         "name": "flatten", "inbound_nodes": [[["conv2d", 0, 0, {}]]]},
        {"class_name": "Dense", "config": {"name": "dense", "trainable": True, "dtype": "float32", "units": 10,
                                           "activation": "softmax", "use_bias": True},
         "name": "dense", "inbound_nodes": [[["flatten", 0, 0, {}]]]}],
        "input_layers": [["input_1", 0, 0]], "output_layers": [["dense", 0, 0]]},
        "keras_version": "2.8.0", "backend": "tensorflow"}
    training = {"loss": "categorical_crossentropy", "metrics": ["accuracy"],
                "optimizer_config": {"class_name": "SGD", "config": {"name": "SGD", "learning_rate": 0.009999999776482582,
                                                                     "decay": 1e-06, "momentum": 0.8999999761581421,
                                                                     "nesterov": True}}}
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["training_config"] = json.dumps(training)
        w = f.create_group("model_weights")
        w.attrs["layer_names"] = [b"input_1", b"conv2d", b"flatten", b"dense"]
        for name, arrays in {"input_1": {}, "conv2d": {"kernel:0": kernel, "bias:0": bias}, "flatten": {},
                             "dense": {"kernel:0": dense_k, "bias:0": dense_b}}.items():
            g = w.create_group(name)
            g.attrs["weight_names"] = [f"{name}/{k}".encode() for k in arrays]
            for k, a in arrays.items():
                g.create_dataset(f"{name}/{k}", data=a)
    imported = read_keras(tmp_path / "m.h5")
    assert [layer["type"] for layer in imported.spec["layers"]] == ["conv2d", "flatten", "dense"]
    assert imported.spec["layers"][0]["l2"] == pytest.approx(1e-4) and imported.spec["layers"][0]["kernel_initializer"] == "he_normal"
    assert imported.recipe_settings() == {"optimizer": {"name": "sgd", "lr": 0.01, "decay": 1e-6, "momentum": 0.9,
                                                        "nesterov": True}}
    x = _images(3)
    xin = x.astype(np.float64).transpose(0, 3, 1, 2)[:, 0] / 255  # a numpy reference of the Keras model
    conv = np.stack([sum(xin[:, i:i + 26, j:j + 26, None] * kernel[i, j, 0] for i in range(3) for j in range(3))],
                    0)[0] + bias
    logits = np.maximum(conv, 0).reshape(3, -1) @ dense_k + dense_b
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    assert np.abs(_ours(imported.build(), x) - expected).max() <= 1e-5
