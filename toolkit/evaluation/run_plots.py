"""The plots of a finished run, drawn from its held-out predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix

from toolkit.config.schema import ExperimentConfig
from toolkit.data.preprocessing import NUMERIC_INPUT, FeatureSpec
from toolkit.evaluation import plots
from toolkit.evaluation.metrics import mixture_cdf
from toolkit.evaluation.posthoc import PostHocCalibration
from toolkit.evaluation.predict import Predictions, predict
from toolkit.evaluation.predict import interval as predicted_interval
from toolkit.runs import RunDirectory


def _band(
    model: Any,
    config: ExperimentConfig,
    x: np.ndarray,
    actual: np.ndarray,
    calibration: PostHocCalibration,
    labels: tuple[str, str] = ("x", "y"),
) -> Figure:
    """The predictive band of a model with one numeric input, over the data's range and half more."""
    finite = x[np.isfinite(x)]
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    grid = np.linspace(lo - 0.5 * (hi - lo), hi + 0.5 * (hi - lo), 200)
    features = {NUMERIC_INPUT: grid.astype(np.float32).reshape(-1, 1)}
    band = predict(model, features, config, calibration=calibration)
    return plots.predictive_band(
        x,
        actual,
        grid,
        band.mean,
        band.std,
        interval=config.prediction.interval,
        bounds=_bounds(band, config),
        x_label=labels[0],
        y_label=labels[1],
    )


def _bounds(p: Predictions, config: ExperimentConfig) -> tuple[np.ndarray, np.ndarray] | None:
    """The interval predict writes (a mixture's quantiles, clipped to a target range), for
    the plots to draw and count as metrics.json does."""
    return predicted_interval(p, config.prediction.interval)


def _pit(p: Predictions, actual: np.ndarray) -> np.ndarray | None:
    """Each row's predictive CDF at its target when the distribution is a Gaussian mixture
    (kept by chunked evaluation, or from the components), so the calibration curve counts
    the intervals predict writes; None for point components (Gaussian intervals)."""
    if p.row_scores is not None and "pit" in p.row_scores:
        return p.row_scores["pit"]
    if p.mixture is not None:
        return mixture_cdf(actual, *p.mixture)
    return None


def uses_model(config: ExperimentConfig, spec: FeatureSpec, predictions: Predictions) -> bool:
    """Whether ``plot_run`` runs the model (the predictive band of a one-feature regression
    with a spread): such plots cannot be drawn after the model's session is cleared."""
    return (
        config.model.task == "regression"
        and predictions.std is not None
        and len(spec.numeric) == 1
        and not spec.categorical
    )


def _regression_figures(
    config: ExperimentConfig,
    run: RunDirectory,
    spec: FeatureSpec,
    model: Any,
    frame: pd.DataFrame,
    p: Predictions,
    y: np.ndarray,
) -> dict[str, Figure]:
    actual = y[:, 0]
    figures = {
        "predicted_vs_actual.png": plots.predicted_vs_actual(actual, p.mean),
        "residuals.png": plots.residuals(actual, p.mean),
    }
    if p.std is None:
        return figures
    figures["intervals_sorted.png"] = plots.intervals_sorted(
        actual, p.mean, p.std, interval=config.prediction.interval, bounds=_bounds(p, config)
    )
    figures["interval_calibration.png"] = plots.interval_calibration(
        actual, p.mean, p.std, pit=_pit(p, actual)
    )
    if uses_model(config, spec, p):
        x = frame[spec.numeric[0].name].to_numpy(dtype=float)
        # The band of the predictions the run gives: its calibration, saved before the plots.
        calibration = PostHocCalibration.load(run.path)
        labels = (spec.numeric[0].name, spec.target.name)
        figures["predictive_band.png"] = _band(model, config, x, actual, calibration, labels)
    return figures


def _classification_figures(
    config: ExperimentConfig,
    spec: FeatureSpec,
    p: Predictions,
    y: np.ndarray,
    images: np.ndarray | None = None,
) -> dict[str, Figure]:
    labels = y[:, 0].astype(int)
    classes = spec.target.classes
    finite = np.isfinite(p.mean).all(axis=1)
    counts = confusion_matrix(
        labels[finite], p.mean[finite].argmax(axis=1), labels=list(range(len(classes)))
    )
    scores = p.mean[:, 1] if config.model.task == "binary" else p.mean
    figures = {
        "confusion_matrix.png": plots.confusion_matrix(counts, classes),
        "roc_curve.png": plots.roc_curve(labels, scores, class_names=classes),
        "pr_curve.png": plots.pr_curve(labels, scores, class_names=classes),
        "reliability_diagram.png": plots.reliability_diagram(labels, scores),
    }
    if images is not None and spec.image is not None:
        figures["confidently_wrong.png"] = plots.confidently_wrong(
            images, labels, p.mean, classes, value_range=spec.image.value_range
        )
    return figures


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
    images: np.ndarray | None = None,
) -> list[Path]:
    """Write every plot that fits the task into ``run/plots``; returns their paths.

    ``images``: the rows' images (image data), for the grid of confidently wrong ones.
    """
    figures: dict[str, Figure] = {}
    if len(history):
        monitor = config.callbacks.checkpoint.monitor if config.callbacks.checkpoint else "val_loss"
        figures["learning_curves.png"] = plots.learning_curves(history, monitor=monitor)
    if config.model.task == "regression":
        figures |= _regression_figures(config, run, spec, model, frame, predictions, y)
    else:
        figures |= _classification_figures(config, spec, predictions, y, images)
    return [plots.save(figure, run.plots / name) for name, figure in figures.items()]
