"""Metrics of a model on a split, in original units, from the same predictions users get."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.config.schema import ExperimentConfig
from toolkit.data.preprocessing import FeatureSpec
from toolkit.evaluation import metrics
from toolkit.evaluation.blocks import array_blocks
from toolkit.evaluation.posthoc import PostHocCalibration
from toolkit.evaluation.predict import Predictions, concatenate, draws_at_prediction, predict
from toolkit.evaluation.running_metrics import RunningMetrics

if TYPE_CHECKING:
    from collections.abc import Iterable

    from toolkit.data.split import Split


def running_metrics(spec: FeatureSpec, config: ExperimentConfig) -> RunningMetrics:
    """The metrics of the run's task, to be given its rows chunk by chunk."""
    return RunningMetrics(
        config.model.task,
        interval=config.prediction.interval,
        class_names=spec.target.classes,
    )


def evaluate_chunks(
    model,
    chunks: Iterable[tuple[dict[str, np.ndarray], np.ndarray]],
    spec: FeatureSpec,
    config: ExperimentConfig,
    *,
    calibration: PostHocCalibration = PostHocCalibration.NONE,
    keep_rows: int = 0,
    running: RunningMetrics | None = None,
) -> tuple[dict[str, Any], int, tuple[Predictions, np.ndarray] | None]:
    """Exact metrics over ``(features, target)`` chunks read once, each chunk predicted,
    scored and dropped, so memory does not grow with the rows.

    Returns the metrics, the number of rows, and the predictions and targets of every row
    when there are at most ``keep_rows`` of them (for plots), else None. ``running``: the
    accumulator to use (new ``running_metrics`` when None), for a caller that reads more of
    the rows than the metrics (``negative_predictions``, ``target_low``).
    """
    running = running_metrics(spec, config) if running is None else running
    kept: list[tuple[Predictions, np.ndarray]] | None = []
    exact = draws_at_prediction(model, config)
    for first_row, (features, target) in array_blocks(chunks, exact=exact):
        predictions = predict(model, features, config, calibration=calibration, first_row=first_row)
        running.update(predictions, target)
        if kept is not None and running.rows <= keep_rows:
            kept.append((_row_scored(predictions, target), target))
        else:
            kept = None
    if running.rows == 0:
        raise ValueError("no rows to evaluate")
    if kept:
        kept_rows = (concatenate([p for p, _ in kept]), np.concatenate([y for _, y in kept]))
    else:
        kept_rows = None
    return running.result(), running.rows, kept_rows


def _row_scored(predictions: Predictions, target: np.ndarray) -> Predictions:
    """A mixture's predictive CDF at each row's target (what the calibration plot needs), its
    components dropped: kept rows hold a few numbers each, whatever the number of passes and
    members."""
    if predictions.mixture is None:
        return predictions
    y = np.asarray(target, dtype=np.float64)[:, 0]
    predictions.row_scores = {"pit": metrics.mixture_cdf(y, *predictions.mixture)}
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
    keep_rows: int = 0,
    running: RunningMetrics | None = None,
) -> tuple[dict[str, Any], int, tuple[Predictions, np.ndarray] | None]:
    """``evaluate_chunks`` on a split: every row in one streaming pass, or a seeded sample
    of ``max_rows`` rows when the split is larger."""
    if max_rows is not None and split.rows > max_rows:
        chunks = [split.sample(max_rows, seed=seed)]
    else:
        chunks = split.chunks()
    return evaluate_chunks(
        model, chunks, spec, config, calibration=calibration, keep_rows=keep_rows, running=running
    )
