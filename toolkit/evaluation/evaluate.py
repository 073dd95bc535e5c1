"""Metrics of a model on a split, in original units, from the same predictions users get."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from toolkit.config.schema import ExperimentConfig
from toolkit.data.preprocessing import FeatureSpec, encode_target, feature_arrays
from toolkit.evaluation import metrics
from toolkit.evaluation.conformal import conformal_metrics
from toolkit.evaluation.posthoc import PostHocCalibration
from toolkit.evaluation.predict import Predictions, concatenate, predict

if TYPE_CHECKING:
    from collections.abc import Iterable

    from toolkit.data.split import Split


def score(
    predictions: Predictions, y: np.ndarray, spec: FeatureSpec, config: ExperimentConfig
) -> dict[str, Any]:
    """Task metrics for encoded targets ``y`` (as from ``encode_target``), plus the coverage
    and size of conformal intervals or sets when the predictions carry them."""
    task = config.model.task
    if task == "regression":
        bounds = None
        if (
            predictions.lower is not None
            and predictions.interval_level == config.prediction.interval
        ):
            bounds = (predictions.lower, predictions.upper)
        if predictions.row_scores is not None and bounds is not None:
            result = metrics.scored_regression_metrics(
                y[:, 0],
                predictions.mean,
                bounds=bounds,
                nll_rows=predictions.row_scores["nll"],
                crps_rows=predictions.row_scores["crps"],
            )
            return {**result, **metrics.json_safe(conformal_metrics(predictions, y[:, 0]))}
        result = metrics.regression_metrics(
            y[:, 0],
            predictions.mean,
            std=predictions.std,
            interval=config.prediction.interval,
            mixture=predictions.mixture,
            bounds=bounds,
        )
    else:
        labels = y[:, 0].astype(int)
        if task == "binary":
            result = metrics.binary_metrics(labels, predictions.mean[:, 1])
        else:
            result = metrics.multiclass_metrics(
                labels, predictions.mean, class_names=spec.target.classes
            )
        result["per_class_accuracy"] = per_class_accuracy(labels, predictions.mean, spec)
    return {**result, **metrics.json_safe(conformal_metrics(predictions, y[:, 0]))}


def per_class_accuracy(
    labels: np.ndarray, probabilities: np.ndarray, spec: FeatureSpec
) -> dict[str, float | None]:
    """For each class, the share of its examples predicted as it (its recall); None for a
    class the split does not hold or when a probability is not finite."""
    finite = bool(np.isfinite(probabilities).all())
    predicted = probabilities.argmax(axis=1)
    result: dict[str, float | None] = {}
    for index, name in enumerate(spec.target.classes):
        mine = labels == index
        result[name] = float((predicted[mine] == index).mean()) if finite and mine.any() else None
    return result


def evaluate_frame(
    model,
    frame: pd.DataFrame,
    spec: FeatureSpec,
    config: ExperimentConfig,
    *,
    what: str = "data",
    calibration: PostHocCalibration = PostHocCalibration.NONE,
) -> tuple[dict[str, Any], Predictions, np.ndarray]:
    """Metrics, predictions and encoded targets of ``model`` on raw rows ``frame``."""
    features = feature_arrays(frame, spec, what=what, finite=True)
    y = encode_target(frame, spec, what=what)
    predictions = predict(model, features, config, calibration=calibration)
    return score(predictions, y, spec, config), predictions, y


def evaluate_chunks(
    model,
    chunks: Iterable[tuple[dict[str, np.ndarray], np.ndarray]],
    spec: FeatureSpec,
    config: ExperimentConfig,
    *,
    calibration: PostHocCalibration = PostHocCalibration.NONE,
) -> tuple[dict[str, Any], Predictions, np.ndarray]:
    """Exact metrics over ``(features, target)`` chunks read once: each chunk is predicted and
    dropped; only the predictions and targets (a few numbers a row) are kept for scoring."""
    predicted, targets = [], []
    for features, target in _regrouped(chunks):
        predictions = predict(model, features, config, calibration=calibration)
        predicted.append(_row_scored(predictions, target))
        targets.append(target)
    if not predicted:
        raise ValueError("no rows to evaluate")
    predictions, y = concatenate(predicted), np.concatenate(targets)
    return score(predictions, y, spec, config), predictions, y


def _regrouped(chunks, rows: int = 65_536):
    """``chunks`` joined into groups of at least ``rows`` rows: a split spread thinly over many
    shards comes in small chunks, and each call to the model has a fixed cost."""
    group: list[tuple[dict[str, np.ndarray], np.ndarray]] = []
    count = 0
    for features, target in chunks:
        group.append((features, target))
        count += len(target)
        if count >= rows:
            yield _joined(group)
            group, count = [], 0
    if group:
        yield _joined(group)


def _joined(group):
    if len(group) == 1:
        return group[0]
    features = {name: np.concatenate([g[0][name] for g in group]) for name in group[0][0]}
    return features, np.concatenate([g[1] for g in group])


def _row_scored(predictions: Predictions, target: np.ndarray) -> Predictions:
    """A mixture's per-row NLL, CRPS and CDF value at ``target``, its components dropped: a chunk
    keeps a few numbers a row, whatever the number of passes and members."""
    if predictions.mixture is None:
        return predictions
    y = np.asarray(target, dtype=np.float64)[:, 0]
    locations, scales = predictions.mixture
    predictions.row_scores = {
        "nll": metrics.mixture_nll(y, locations, scales),
        "crps": metrics.mixture_crps(y, locations, scales),
        "pit": metrics.mixture_cdf(y, locations, scales),  # the calibration plot's
    }
    predictions.locations = predictions.scales = None
    return predictions


def evaluate_split(
    model,
    split: Split,
    spec: FeatureSpec,
    config: ExperimentConfig,
    *,
    max_rows: int | None = None,
    seed: int = 0,
    calibration: PostHocCalibration = PostHocCalibration.NONE,
) -> tuple[dict[str, Any], Predictions, np.ndarray]:
    """Metrics of ``model`` on a split: every row in one streaming pass, or a seeded sample
    of ``max_rows`` rows when the split is larger."""
    if max_rows is not None and split.rows > max_rows:
        chunks = [split.sample(max_rows, seed=seed)]
    else:
        chunks = split.chunks()
    return evaluate_chunks(model, chunks, spec, config, calibration=calibration)
