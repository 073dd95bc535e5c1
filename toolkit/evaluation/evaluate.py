"""Metrics of a model on a split, in original units, from the same predictions users get."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from toolkit.config.schema import ExperimentConfig
from toolkit.data.preprocessing import FeatureSpec, encode_target, feature_arrays
from toolkit.evaluation import metrics
from toolkit.evaluation.predict import Predictions, predict


def score(
    predictions: Predictions, y: np.ndarray, spec: FeatureSpec, config: ExperimentConfig
) -> dict[str, Any]:
    """Task metrics for encoded targets ``y`` (as from ``encode_target``)."""
    task = config.model.task
    if task == "regression":
        return metrics.regression_metrics(
            y[:, 0], predictions.mean, std=predictions.std, interval=config.prediction.interval
        )
    labels = y[:, 0].astype(int)
    if task == "binary":
        return metrics.binary_metrics(labels, predictions.mean[:, 1])
    return metrics.multiclass_metrics(labels, predictions.mean, class_names=spec.target.classes)


def evaluate_frame(
    model, frame: pd.DataFrame, spec: FeatureSpec, config: ExperimentConfig, *, what: str = "data"
) -> tuple[dict[str, Any], Predictions, np.ndarray]:
    """Metrics, predictions and encoded targets of ``model`` on raw rows ``frame``."""
    features = feature_arrays(frame, spec, what=what)
    y = encode_target(frame, spec, what=what)
    predictions = predict(model, features, config)
    return score(predictions, y, spec, config), predictions, y
