"""Serving latency: the exported SavedModel against ``toolkit predict`` and against Keras'
``model.predict`` on the run's ``.keras`` file, per call and per row, at batch 1 and 1024.

The model is configs/regression.yaml's MLP (diabetes, 10 numeric columns, [64, 64]) trained
for 5 epochs. Each contender gets the same raw rows; the median over repeated calls after a
warm-up is reported (the machines are shared: read the ratios).

- SavedModel: ``tf.saved_model.load(path).signatures["serving_default"](numeric=...)``, as a
  server calls it (preprocessing inside).
- ``toolkit predict``: ``Run.predict(frame)``, what the command does after start-up (column
  checks, the model called directly on the rows, as a table model without sampling is, and
  the output frame); the command's own start-up (Python, TensorFlow, loading the model:
  seconds) is not in the figure.
- ``model.predict``: Keras on the feature arrays, ``batch_size`` = the batch.

    .venv/bin/python benchmarks/export_latency.py [--repeats 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]


def median_seconds(call, repeats: int) -> float:
    for _ in range(5):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=200, help="timed calls per cell")
    args = parser.parse_args()

    import keras
    import numpy as np
    import pandas as pd
    import tensorflow as tf
    from sklearn.datasets import load_diabetes

    import toolkit
    import toolkit.custom_objects
    from toolkit.data.preprocessing import feature_arrays

    with tempfile.TemporaryDirectory() as scratch:
        run = toolkit.train(
            REPO / "configs" / "regression.yaml",
            overrides={"training.epochs": 5, "evaluation.plots": False},
            output_dir=scratch,
            verbose=0,
        )
        exported = run.export(Path(scratch) / "saved_model")
        serve = tf.saved_model.load(str(exported)).signatures["serving_default"]
        model = keras.saving.load_model(run.path / "model.keras")
        features = load_diabetes(as_frame=True).frame.drop(columns="target")
        rows = pd.concat([features] * 3, ignore_index=True)  # 1326 rows, enough for 1024
        table = []
        for batch in (1, 1024):
            frame = rows.head(batch)
            arrays = feature_arrays(frame, run.spec)
            numeric = tf.constant(arrays["numeric"])
            repeats = args.repeats if batch == 1 else max(20, args.repeats // 4)
            cells = {
                "exported SavedModel": median_seconds(lambda n=numeric: serve(numeric=n), repeats),
                "toolkit predict": median_seconds(lambda f=frame: run.predict(f), repeats),
                "model.predict (.keras)": median_seconds(
                    lambda a=arrays, b=batch: model.predict(a, batch_size=b, verbose=0), repeats
                ),
            }
            same = np.allclose(
                serve(numeric=numeric)["prediction"].numpy(),
                model.predict(arrays, batch_size=batch, verbose=0)[:, 0],
                rtol=1e-5,
            )
            assert same, "the SavedModel and the .keras model disagree"
            table.append((batch, cells))

    print("| batch | contender | ms per call | µs per row | vs SavedModel |")
    print("|---|---|---|---|---|")
    for batch, cells in table:
        base = cells["exported SavedModel"]
        for name, seconds in cells.items():
            print(
                f"| {batch} | {name} | {seconds * 1e3:.2f} | {seconds * 1e6 / batch:.1f} | "
                f"{seconds / base:.0f}x |"
            )


if __name__ == "__main__":
    main()
