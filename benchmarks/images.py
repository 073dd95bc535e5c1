"""Image training throughput: ``toolkit train`` against a plain Keras ``fit`` on NumPy arrays
and a hand-tuned tf.data script of the same model, side by side in one run.

Two workloads on generated data (nothing is downloaded):

* ``cnn``: a small CNN on 28x28x1 images (scikit-learn's digits scaled up to MNIST's size,
  shifted and noised), read by the toolkit through ``keras:mnist`` from a temporary Keras
  cache; the toolkit also runs with augmentation (rotation, zoom, translation);
* ``transfer``: a frozen MobileNetV3Small (``weights: none``, nothing to download) on 96x96x3
  images with a new dense top: phase 1 of transfer learning.

Contenders, timed in one process, interleaved and repeated:

* ``toolkit``: ``toolkit.training.train.train`` with its default callbacks (checkpoints,
  TensorBoard, CSV history, ...); samples/s per epoch from history.csv (training part of the
  epoch, validation excluded);
* ``plain``: ``model.fit(x, y)`` on NumPy arrays, pixels scaled by the model;
* ``hand-tuned``: ``tf.data`` from tensors, ``cache``, ``shuffle``, ``batch``, ``prefetch``,
  and ``steps_per_execution`` covering the epoch.

Each reports its best epoch after the first (the least disturbed on a shared machine).
"input pipeline" is the toolkit's own training dataset iterated alone for an epoch (gather,
batching, augmentation; no model), as samples/s and as a share of the toolkit's epoch time.

    .venv/bin/python benchmarks/images.py            # about 10 minutes on 2 cores
    .venv/bin/python benchmarks/images.py --quick    # about 3 minutes
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

WORKLOADS = {
    "cnn": {"rows": 24_000, "size": 28, "channels": 1, "batch": 128, "epochs": 4, "repeats": 2},
    "transfer": {"rows": 4_000, "size": 96, "channels": 3, "batch": 64, "epochs": 3, "repeats": 2},
}
CLASSES = 10
AUGMENTATION = {"random_rotation": 0.05, "random_zoom": 0.1, "random_translation": 0.1}


def mnist_like(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """28x28 uint8 digits: scikit-learn's 8x8 digits scaled up 3x, randomly shifted, noised."""
    import sklearn.datasets

    digits = sklearn.datasets.load_digits()
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(digits.images), rows)
    images = np.kron(digits.images[pick], np.ones((3, 3))) * (255.0 / 16.0)
    canvas = np.zeros((rows, 28, 28))
    shifts = rng.integers(0, 5, size=(rows, 2))
    for index, (dy, dx) in enumerate(shifts):
        canvas[index, dy : dy + 24, dx : dx + 24] = images[index]
    canvas += rng.normal(0, 12, canvas.shape)
    return np.clip(canvas, 0, 255).astype(np.uint8), digits.target[pick].astype(np.uint8)


def colour_images(rows: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """size x size RGB images whose class sets a bright band's position and colour."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, rows)
    images = rng.integers(0, 100, size=(rows, size, size, 3)).astype(np.uint8)
    band = size // CLASSES
    for index, label in enumerate(labels):
        images[index, label * band : (label + 1) * band, :, label % 3] += 150
    return images, labels.astype(np.uint8)


# ------------------------------------------------------------------ the model, by hand


def cnn_layers(keras, size: int, channels: int):
    """The toolkit's conv body for the cnn workload's config, written out in Keras."""
    inputs = keras.Input((size, size, channels))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    for filters in (32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=True)(x)
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.MaxPooling2D(2, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(CLASSES)(x))


def transfer_layers(keras, size: int, channels: int):
    """A frozen MobileNetV3Small under a pooled dense top (phase 1 of transfer learning)."""
    inputs = keras.Input((size, size, channels))
    backbone = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(size, size, 3)
    )
    backbone.trainable = False
    x = backbone(inputs)  # MobileNetV3 rescales [0, 255] inputs itself
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(CLASSES)(x))


def toolkit_config(name: str, spec: dict, source: str, *, augment: bool) -> dict:
    model = (
        {
            "task": "multiclass",
            "body": "conv",
            "conv": {"blocks": [32, 64]},
            "hidden": [64],
        }
        if name == "cnn"
        else {
            "task": "multiclass",
            "body": "backbone",
            "backbone": {"name": "MobileNetV3Small", "weights": "none"},
            "hidden": [64],
        }
    )
    data = {"source": source, "validation": 0.1}
    if name == "transfer":
        data["kind"] = "image"
    if augment:
        data["augmentation"] = AUGMENTATION
    return {
        "name": f"bench-{name}",
        "seed": 1,
        "data": data,
        "model": model,
        "training": {"epochs": spec["epochs"], "batch_size": spec["batch"]},
        "callbacks": {"early_stopping": False},
        "evaluation": {"plots": False, "baselines": False},
    }


class EpochClock:
    """Seconds of each epoch's training part (a Keras callback, made lazily)."""

    def __new__(cls):
        import keras

        class Clock(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.seconds = []

            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self.start)

        return Clock()


def plain(name: str, spec: dict, x: np.ndarray, y: np.ndarray) -> list[float]:
    import keras

    keras.utils.set_random_seed(1)
    build = cnn_layers if name == "cnn" else transfer_layers
    model = build(keras, spec["size"], spec["channels"])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    clock = EpochClock()
    model.fit(
        x.astype("float32"),
        y,
        batch_size=spec["batch"],
        epochs=spec["epochs"],
        verbose=0,
        callbacks=[clock],
    )
    return [len(x) / s for s in clock.seconds[1:]]


def hand_tuned(name: str, spec: dict, x: np.ndarray, y: np.ndarray) -> list[float]:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(1)
    build = cnn_layers if name == "cnn" else transfer_layers
    model = build(keras, spec["size"], spec["channels"])
    steps = -(-len(x) // spec["batch"])
    model.compile(
        "adam",
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=steps,
    )
    dataset = (
        tf.data.Dataset.from_tensor_slices((x.astype("float32"), y))
        .cache()
        .shuffle(len(x), seed=1)
        .batch(spec["batch"])
        .prefetch(tf.data.AUTOTUNE)
    )
    clock = EpochClock()
    model.fit(dataset, epochs=spec["epochs"], verbose=0, callbacks=[clock])
    return [len(x) / s for s in clock.seconds[1:]]


def toolkit(name: str, spec: dict, source: str, out: Path, *, augment: bool):
    """(samples/s of each epoch after the first, input pipeline samples/s, epoch seconds)."""
    from toolkit.config.loading import validate_config
    from toolkit.data.prepared import prepare_data
    from toolkit.training.train import train

    config = validate_config(toolkit_config(name, spec, source, augment=augment))
    data = prepare_data(config)
    result = train(config, output_dir=out, data=data, verbose=0)
    history = pd.read_csv(result.run_dir / "history.csv")
    rates = list(history["samples_per_second"].iloc[1:])
    # The input pipeline alone: one epoch of the training dataset, no model.
    dataset = data.train.training_dataset(batch_size=spec["batch"], shuffle_seed=1, start_epoch=5)
    steps = -(-data.train.rows // spec["batch"])
    iterator = iter(dataset)
    next(iterator)  # start-up, as Keras' first step
    start = time.perf_counter()
    for _ in range(steps):
        next(iterator)
    pipeline = data.train.rows / (time.perf_counter() - start)
    return rates, pipeline, data.train.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the rows, 1 round")
    parser.add_argument("--only", choices=sorted(WORKLOADS))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for name, spec in WORKLOADS.items():
            if args.only and name != args.only:
                continue
            spec = dict(spec)
            if args.quick:
                spec.update(rows=spec["rows"] // 4, repeats=1, epochs=3)
            if name == "cnn":
                x, y = mnist_like(spec["rows"])
                home = scratch / "keras-home" / "datasets"
                home.mkdir(parents=True, exist_ok=True)
                cut = int(spec["rows"] * 0.9)
                np.savez(
                    home / "mnist.npz",
                    x_train=x[:cut],
                    y_train=y[:cut],
                    x_test=x[cut:],
                    y_test=y[cut:],
                )
                os.environ["KERAS_HOME"] = str(home.parent)
                source = "keras:mnist"
                # The toolkit trains on 90% of keras' training part; the scripts on as many rows.
                train_rows = cut - round(cut * 0.1)
                x, y = x[:train_rows], y[:train_rows]
            else:
                x, y = colour_images(spec["rows"], spec["size"])
                source = str(scratch / "transfer.npz")
                np.savez(source, x=x, y=y)
                train_rows = spec["rows"] - round(spec["rows"] * 0.1)
                x, y = x[:train_rows], y[:train_rows]
            results: dict[str, list[float]] = {}
            pipeline: dict[str, float] = {}
            for repeat in range(spec["repeats"]):
                out = scratch / f"runs-{name}-{repeat}"
                rates, rate, _ = toolkit(name, spec, source, out, augment=False)
                results.setdefault("toolkit", []).extend(rates)
                pipeline["toolkit"] = max(pipeline.get("toolkit", 0.0), rate)
                if name == "cnn":
                    rates, rate, _ = toolkit(name, spec, source, out, augment=True)
                    results.setdefault("toolkit + augmentation", []).extend(rates)
                    key = "toolkit + augmentation"
                    pipeline[key] = max(pipeline.get(key, 0.0), rate)
                results.setdefault("plain", []).extend(plain(name, spec, x, y))
                results.setdefault("hand-tuned", []).extend(hand_tuned(name, spec, x, y))
            best = {k: max(v) for k, v in results.items()}
            for contender, rate in best.items():
                share = rate / pipeline[contender] if contender in pipeline else None
                rows.append(
                    {
                        "workload": name,
                        "contender": contender,
                        "samples/s (best epoch)": round(rate),
                        "vs plain": round(rate / best["plain"], 2),
                        "vs hand-tuned": round(rate / best["hand-tuned"], 2),
                        "input pipeline alone, samples/s": (
                            round(pipeline[contender]) if contender in pipeline else ""
                        ),
                        "input pipeline share of the epoch": (
                            f"{share:.1%}" if share is not None else ""
                        ),
                    }
                )
    columns = list(rows[0]) if rows else []
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")
    print("\nTargets: toolkit >= 1.0x plain and >= 0.95x hand-tuned")
    for row in rows:
        if row["contender"] == "toolkit":
            ok = row["vs plain"] >= 1.0 and row["vs hand-tuned"] >= 0.95
            print(f"  {'PASS' if ok else 'MISS'}  {row['workload']}")


if __name__ == "__main__":
    main()
