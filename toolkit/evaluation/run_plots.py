"""The plots of a finished run, drawn from its held-out predictions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from toolkit.config.schema import ExperimentConfig
from toolkit.data.preprocessing import NUMERIC_INPUT, FeatureSpec
from toolkit.evaluation import plots
from toolkit.evaluation.predict import Predictions, predict
from toolkit.runs import RunDirectory


def plot_run(
    config: ExperimentConfig,
    run: RunDirectory,
    spec: FeatureSpec,
    history: pd.DataFrame,
    model: Any,
    split: str,
    frame: pd.DataFrame,
    predictions: Predictions,
    y: np.ndarray,
) -> list:
    """Write every plot that fits the task into ``run/plots``; returns their paths."""
    out = run.plots
    out.mkdir(exist_ok=True)
    monitor = config.callbacks.checkpoint.monitor if config.callbacks.checkpoint else "val_loss"
    written = []
    if len(history):
        written.append(plots.learning_curves(history, out, monitor=monitor))
    task = config.model.task
    if task == "regression":
        actual = y[:, 0]
        written += [
            plots.predicted_vs_actual(actual, predictions.mean, out),
            plots.residuals(actual, predictions.mean, out),
        ]
        if predictions.std is not None:
            interval = config.prediction.interval
            written += [
                plots.intervals_sorted(
                    actual, predictions.mean, predictions.std, out, interval=interval
                ),
                plots.interval_calibration(actual, predictions.mean, predictions.std, out),
            ]
            if len(spec.numeric) == 1 and not spec.categorical:
                feature = spec.numeric[0]
                x = frame[feature.name].to_numpy(dtype=float)
                span = x.max() - x.min()
                grid = np.linspace(x.min() - 0.5 * span, x.max() + 0.5 * span, 200)
                band = predict(
                    model, {NUMERIC_INPUT: grid.astype(np.float32).reshape(-1, 1)}, config
                )
                written.append(
                    plots.predictive_band(
                        x, actual, grid, band.mean, band.std, out, interval=interval
                    )
                )
        return written
    labels = y[:, 0].astype(int)
    from toolkit.evaluation.metrics import multiclass_metrics

    cm = multiclass_metrics(labels, predictions.mean, class_names=spec.target.classes)[
        "confusion_matrix"
    ]
    scores = predictions.mean[:, 1] if task == "binary" else predictions.mean
    written += [
        plots.confusion_matrix(cm, spec.target.classes, out),
        plots.roc_curve(labels, scores, out, class_names=spec.target.classes),
        plots.pr_curve(labels, scores, out, class_names=spec.target.classes),
        plots.reliability_diagram(labels, scores, out),
    ]
    return written
