"""The seed notebooks' models written in Keras as the seeds wrote them: mnistlab.summary
equals the zoo entry (the seed's printed or counted parameters, row by row), the imported
spec is the zoo's transcription, and mnistlab.fit(model, x, y) trains it (one epoch on a few
random images). Keras 3 differences from the seeds' Keras 2 code are noted where made."""
from __future__ import annotations


import numpy as np
import pytest

import mnistlab
from mnistlab.models import ZOO, resolve_spec, summary




def seed_models(keras):
    from keras import layers
    from keras.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
    from keras.models import Sequential
    from keras.optimizers import SGD
    regularizers = keras.regularizers
    input_shape, num_classes = (28, 28, 1), 10

    def nb000():
        model = keras.Sequential(
            [
                keras.Input(shape=input_shape),

                layers.Conv2D(10, kernel_size=(3, 3), activation='relu', padding='valid'),
                layers.MaxPooling2D(pool_size=(2, 2), padding='same'),
                layers.Dropout(0.1),

                layers.Conv2D(4, kernel_size=(3, 3), activation='relu', padding='valid'),
                layers.MaxPooling2D(pool_size=(2, 2), padding='same'),

                layers.Flatten(),
                layers.Dense(35, activation='relu'),
                layers.Dropout(0.1),

                layers.Dense(num_classes, activation='softmax')
            ]
        )
        model.compile(loss='categorical_crossentropy', optimizer='RMSprop', metrics=['accuracy'])
        return model

    def nb001_keras_cnn():
        model = Sequential()
        model.add(Conv2D(32, kernel_size=(3, 3),
                         activation='relu',
                         input_shape=(28, 28, 1)))
        model.add(Conv2D(64, (3, 3), activation='relu'))
        model.add(MaxPooling2D(pool_size=(2, 2)))
        model.add(Dropout(0.25))
        model.add(Flatten())
        model.add(Dense(128, activation='relu'))
        model.add(Dropout(0.5))
        model.add(Dense(10, activation='softmax'))
        model.compile(loss=keras.losses.categorical_crossentropy,
                      optimizer=keras.optimizers.Adadelta(),
                      metrics=['accuracy'])
        return model

    def nb001_elu_cnn():
        model = Sequential()
        model.add(Conv2D(32, kernel_size=(3, 3), activation='elu', input_shape=(28, 28, 1)))
        model.add(Conv2D(32, (3, 3), activation='elu'))
        model.add(MaxPooling2D(pool_size=(2, 2)))
        model.add(Dropout(0.25))
        model.add(Conv2D(64, (3, 3), activation='elu'))
        model.add(Conv2D(64, (3, 3), activation='elu'))
        model.add(MaxPooling2D(pool_size=(2, 2)))
        model.add(Dropout(0.25))
        model.add(Flatten())
        model.add(Dense(256, activation='elu'))
        model.add(Dropout(0.5))
        model.add(Dense(10, activation='softmax'))
        # the seed: SGD(lr=0.01, decay=1e-6, momentum=0.9, nesterov=True); Keras 3 has no lr= or decay=
        sgd = SGD(learning_rate=0.01, momentum=0.9, nesterov=True)
        model.compile(loss='categorical_crossentropy', optimizer=sgd, metrics=['accuracy'])
        return model

    def nb002():
        model = keras.Sequential(
            [
                keras.Input(shape=input_shape),

                layers.Conv2D(8, kernel_size=(3, 3), activation='relu'),
                layers.Conv2D(8, kernel_size=(3, 3), activation='relu'),
                layers.MaxPool2D(pool_size=(2, 2)),

                layers.Conv2D(16, kernel_size=(3, 3), activation='relu'),
                layers.Conv2D(16, kernel_size=(3, 3), activation='relu'),
                layers.MaxPool2D(pool_size=(2, 2)),

                layers.Flatten(),
                layers.Dropout(0.3),
                layers.Dense(num_classes, activation='softmax'),
            ]
        )
        model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
        return model

    def nb002_bn():  # the prose's variant ("batch normalization in each hidden layer"; no code
        # shown): nb002's layers, fresh, with BatchNormalization after each convolution
        fresh = [type(layer).from_config(layer.get_config()) for layer in nb002().layers]
        model = keras.Sequential([keras.Input(shape=input_shape)] + [
            new for layer in fresh
            for new in [layer] + ([layers.BatchNormalization()] if isinstance(layer, layers.Conv2D) else [])])
        model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
        return model

    def nb003_mlp_64_64():  # never given an input shape: built by fit on the data
        model = Sequential()
        model.add(Flatten())
        model.add(Dense(64, activation='relu'))
        model.add(Dense(64, activation='relu'))
        model.add(Dense(num_classes, activation='softmax'))
        model.compile(loss=keras.losses.categorical_crossentropy,
                      optimizer=keras.optimizers.SGD(learning_rate=0.1), metrics=['accuracy'],)
        return model

    def nb003_mlp_500_300(i=0.001):  # model3 (model2 with l2(i)); l2 0 is model2
        model3 = Sequential()
        model3.add(Flatten())
        model3.add(Dense(500, activation='relu', kernel_regularizer=regularizers.l2(i)))
        model3.add(Dense(300, activation='relu', kernel_regularizer=regularizers.l2(i)))
        model3.add(Dense(num_classes, activation='softmax'))
        model3.compile(loss=keras.losses.categorical_crossentropy, optimizer=keras.optimizers.SGD(learning_rate=0.1),
                       metrics=['accuracy'],)
        return model3

    def nb003_cnn():
        model4 = Sequential()
        model4.add(Conv2D(32, kernel_size=(3, 3), activation='relu'))
        model4.add(MaxPooling2D(pool_size=(2, 2)))
        model4.add(Conv2D(64, kernel_size=(3, 3), activation='relu'))
        model4.add(MaxPooling2D(pool_size=(2, 2)))
        model4.add(Flatten())
        model4.add(Dense(64, activation='relu'))
        model4.add(Dense(num_classes, activation='softmax'))
        model4.compile(loss=keras.losses.categorical_crossentropy,
                       optimizer=keras.optimizers.SGD(learning_rate=0.1), metrics=['accuracy'],)
        return model4

    def nb004_bn_cnn():
        model_cnn5 = Sequential()
        model_cnn5.add(Conv2D(32, kernel_size=3, activation='sigmoid', input_shape=(28, 28, 1)))
        model_cnn5.add(BatchNormalization())
        model_cnn5.add(MaxPooling2D(pool_size=(2, 2)))
        model_cnn5.add(BatchNormalization())
        model_cnn5.add(Conv2D(64, kernel_size=3, activation='sigmoid'))
        model_cnn5.add(BatchNormalization())
        model_cnn5.add(MaxPooling2D(pool_size=(2, 2)))
        model_cnn5.add(BatchNormalization())
        model_cnn5.add(Flatten())
        model_cnn5.add(BatchNormalization())
        model_cnn5.add(Dense(5, activation='softmax'))
        model_cnn5.compile(optimizer='sgd', loss='categorical_crossentropy', metrics=['accuracy'])
        return model_cnn5

    def nb004_resnet():  # resnet_v1(input_shape=(28, 28, 1), depth=2), the seed's code (conv_first=False)
        from test_keras_bridge import _keras_models
        model = _keras_models(keras)["resnet_v1_depth2"]()
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss='categorical_crossentropy',
                      metrics=['accuracy'])
        return model

    return {"nb000-cnn": (nb000, "rmsprop"), "nb001-keras-cnn": (nb001_keras_cnn, "adadelta"),
            "nb001-elu-cnn": (nb001_elu_cnn, "sgd"), "nb002-cnn": (nb002, "adam"),
            "nb002-bn-cnn": (nb002_bn, "adam"), "nb003-mlp-64-64": (nb003_mlp_64_64, "sgd"), "nb003-mlp-500-300": (nb003_mlp_500_300, "sgd"),
            "nb003-cnn": (nb003_cnn, "sgd"), "nb004-bn-cnn": (nb004_bn_cnn, "sgd"),
            "nb004-resnet": (nb004_resnet, "adam")}


def _plain(spec):
    return [{k: v for k, v in layer.items() if k not in ("name", "l2")} for layer in resolve_spec(spec)["layers"]]


@pytest.mark.parametrize("name", list(ZOO))
def test_seed_model_in_keras_is_the_zoo_model_and_trains(keras, tmp_path, name):
    build, optimizer = seed_models(keras)[name]
    model = build()
    classes = 5 if name.startswith("nb004") else 10
    zoo = summary(name)
    ours = mnistlab.summary(model, input_shape=(28, 28, 1))
    assert ours.total == zoo.total
    assert [(r.type, r.output_shape, r.params) for r in ours.layers] == \
        [(r.type, r.output_shape, r.params) for r in zoo.layers]
    if name != "nb004-resnet":  # the zoo writes 004's net as one resnet_v1 layer
        assert _plain(ours.spec) == _plain(name)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (48, 28, 28, 1)).astype(np.uint8)
    y = np.eye(classes)[rng.integers(0, classes, 48)]  # one-hot, as categorical_crossentropy wants
    run = mnistlab.fit(model, x, y, batch_size=16, epochs=1, validation_split=0.25, quiet=True, report=False,
                       out=tmp_path)
    assert run.config["optimizer"]["name"] == optimizer
    assert run.metrics["params"] == zoo.total and np.isfinite(run.history["loss"][0])


def test_keras_cross_entropy_caps_one_image_at_minus_ln_1e7(keras):
    """docs/reproduce.md bounds notebook 002's test loss with Keras' clipping: a wrong image costs
    at most -ln(1e-7) = 16.12, a right one (true class >= 1/10) at most ln 10; checked in Keras."""
    import math

    y = np.array([[1.0] + [0.0] * 9])
    wrong = np.array([[0.0, 1.0] + [0.0] * 8])
    right = np.full((1, 10), 0.1)
    loss = lambda p: float(keras.ops.convert_to_numpy(keras.losses.categorical_crossentropy(y, p))[0])
    assert abs(loss(wrong) - (-math.log(1e-7))) < 1e-3
    assert abs(loss(right) - math.log(10)) < 1e-4
