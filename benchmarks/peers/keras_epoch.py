"""Keras 3 seconds/epoch for a mnistlab spec (runs in the optional .venv-peers, no mnistlab).

    KERAS_BACKEND=tensorflow .venv-peers/bin/python benchmarks/peers/keras_epoch.py \
        --spec '<resolved spec JSON>' --batch-size 512 --optimizer rmsprop --epochs 4

Builds the same layers in Keras from the spec (conv2d, maxpool2d, dropout, flatten, dense),
trains with model.fit(validation_split=0.2) like the notebooks and prints JSON with each
epoch's wall seconds (training + validation, as Keras' progress line reports them).
"""
import argparse
import gzip
import json
import os
import time
from pathlib import Path

import numpy as np


def read_idx(path: Path) -> np.ndarray:
    data = gzip.decompress(path.read_bytes())
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_mnist(root: Path):
    x = read_idx(root / "train-images-idx3-ubyte.gz")[..., None].astype("float32") / 255
    y = read_idx(root / "train-labels-idx1-ubyte.gz").astype("int64")
    return x, y


def build(spec):
    import keras
    from keras import layers
    model = keras.Sequential([keras.Input(shape=tuple(spec["input_shape"]))])
    for L in spec["layers"]:
        t = L["type"]
        if t == "conv2d":
            model.add(layers.Conv2D(L["filters"], L["kernel"], strides=L["strides"], padding=L["padding"],
                                    activation=L["activation"]))
        elif t == "maxpool2d":
            model.add(layers.MaxPooling2D(L["pool"], strides=L["strides"], padding=L["padding"]))
        elif t == "dropout":
            model.add(layers.Dropout(L["rate"]))
        elif t == "flatten":
            model.add(layers.Flatten())
        elif t == "dense":
            model.add(layers.Dense(L["units"], activation=L["activation"]))
        else:
            raise SystemExit(f"layer type {t} not supported by this benchmark")
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    ap.add_argument("--batch-size", type=int, required=True)
    ap.add_argument("--optimizer", required=True)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--save", metavar="FILE.keras", help="save the compiled model before training (the Keras "
                    "bridge rows of epoch_speed.py --bridge hand this file to mnistlab.fit)")
    ap.add_argument("--train-images", type=int, metavar="N", help="the first N training images (default: all)")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: keras.mixed_precision policy mixed_bfloat16 (like mnistlab's bf16 autocast)")
    args = ap.parse_args()
    import keras
    if args.precision == "bf16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")

    class EpochTimes(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t)

    times = []
    keras.utils.set_random_seed(0)
    x, y = load_mnist(Path(os.environ.get("MNISTLAB_DATA", "../shared/data")) / "mnist")
    if args.train_images:
        x, y = x[:args.train_images], y[:args.train_images]
    model = build(json.loads(args.spec))
    model.compile(optimizer=args.optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if args.save:
        model.save(args.save)
    model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, validation_split=0.2, verbose=0,
              callbacks=[EpochTimes()])
    print(json.dumps({"backend": keras.backend.backend(), "keras": keras.__version__, "seconds": times}))


if __name__ == "__main__":
    main()
