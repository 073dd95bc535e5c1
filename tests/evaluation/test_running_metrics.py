"""Metrics accumulated chunk by chunk against scikit-learn, SciPy and numpy on all rows at
once: streamed evaluation must report what the whole arrays give."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from toolkit.evaluation import metrics
from toolkit.evaluation.predict import Predictions
from toolkit.evaluation.running_metrics import RunningMetrics

RNG = np.random.default_rng(5)
N = 1_000
CUTS = [0, 7, 8, 400, 613, N]  # uneven chunks, one of a single row


def _chunks(predictions: Predictions, y: np.ndarray):
    for start, stop in itertools.pairwise(CUTS):
        part = {}
        for name, value in vars(predictions).items():
            part[name] = value[start:stop] if isinstance(value, np.ndarray) else value
        yield Predictions(**part), y[start:stop]


def _streamed(predictions: Predictions, y: np.ndarray, task: str, **kwargs) -> dict:
    running = RunningMetrics(task, **kwargs)
    for chunk, target in _chunks(predictions, y):
        running.update(chunk, target)
    assert running.rows == len(y)
    return running.result()


# ---------------------------------------------------------------------------- regression


def test_gaussian_regression_metrics_match_the_whole_arrays():
    # A target far from zero: the variance behind r2 must not cancel.
    y = 1e6 + RNG.normal(size=N) * 3.0
    mean = y + RNG.normal(size=N) * 2.0
    std = RNG.uniform(1.0, 3.0, size=N)
    lower, upper = mean - 1.5 * std, mean + 2.5 * std  # the conformal interval
    predictions = Predictions(
        "regression", mean, std=std, conformal_lower=lower, conformal_upper=upper
    )
    result = _streamed(predictions, y[:, None], "regression", interval=0.9)

    assert result["rmse"] == pytest.approx(skm.root_mean_squared_error(y, mean), rel=1e-12)
    assert result["mae"] == pytest.approx(skm.mean_absolute_error(y, mean), rel=1e-12)
    assert result["r2"] == pytest.approx(skm.r2_score(y, mean), rel=1e-9)
    assert result["nll"] == pytest.approx(-np.mean(stats.norm.logpdf(y, mean, std)), rel=1e-12)
    z = stats.norm.ppf(0.95)
    assert result["coverage"] == np.mean(np.abs(y - mean) <= z * std)
    assert result["interval_width"] == pytest.approx(np.mean(2 * z * std), rel=1e-12)
    crps = metrics.gaussian_crps(y, mean, std)
    assert result["crps"] == pytest.approx(np.mean(crps), rel=1e-12)
    assert result["conformal_coverage"] == pytest.approx(np.mean((lower <= y) & (y <= upper)))
    assert result["conformal_interval_width"] == pytest.approx(4.0 * np.mean(std), rel=1e-12)


def test_a_mixture_is_scored_as_the_whole_array_function_scores_it():
    locations = RNG.normal(size=(N, 3)) * 2.0
    scales = RNG.uniform(0.3, 1.5, size=(N, 3))
    y = RNG.normal(size=N) * 2.0
    predictions = Predictions(
        "regression", locations.mean(axis=1), std=scales.mean(axis=1),
        locations=locations, scales=scales,
    )  # fmt: skip
    result = _streamed(predictions, y[:, None], "regression", interval=0.8)
    whole = metrics.regression_metrics(
        y, locations.mean(axis=1), interval=0.8, mixture=(locations, scales)
    )
    assert result == pytest.approx(whole, rel=1e-9)


def test_the_interval_predict_wrote_is_the_one_counted_at_its_level():
    y = RNG.normal(size=N)
    mean, std = np.zeros(N), np.ones(N)
    written = (np.full(N, -0.5), np.full(N, 0.5))
    predictions = Predictions(
        "regression", mean, std=std, lower=written[0], upper=written[1], interval_level=0.95
    )
    assert _streamed(predictions, y[:, None], "regression")["coverage"] == np.mean(np.abs(y) <= 0.5)
    # At another level the Gaussian's own central interval is counted instead.
    other = _streamed(predictions, y[:, None], "regression", interval=0.5)
    assert other["coverage"] == np.mean(np.abs(y) <= stats.norm.ppf(0.75))


def test_a_constant_target_has_no_r2_and_a_nan_blanks_every_metric():
    y = np.full((N, 1), 0.1)
    predictions = Predictions("regression", RNG.normal(size=N), std=np.ones(N))
    result = _streamed(predictions, y, "regression")
    assert result["r2"] is None and result["rmse"] is not None

    mean = RNG.normal(size=N)
    mean[650] = np.nan  # in the last chunk, after the others were summed
    result = _streamed(Predictions("regression", mean), RNG.normal(size=(N, 1)), "regression")
    assert result == {"rmse": None, "mae": None, "r2": None}


# --------------------------------------------------------------------------- classifiers


def test_binary_metrics_match_scikit_learn_on_all_rows():
    labels = RNG.integers(0, 2, N)
    positive = np.clip(stats.norm.cdf(RNG.normal(size=N) + 1.5 * (labels - 0.5)), 0, 1)
    positive[:5] = [0.0, 1.0, 0.5, 1e-20, 1 - 1e-17]  # clipped log loss, threshold ties
    sets = np.stack([positive < 0.9, positive > 0.1], axis=1)
    predictions = Predictions(
        "binary", np.stack([1 - positive, positive], axis=1), prediction_sets=sets
    )
    result = _streamed(predictions, labels[:, None].astype(float), "binary", class_names=["a", "b"])

    predicted = (positive >= 0.5).astype(int)
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(labels, predicted))
    assert result["precision"] == pytest.approx(skm.precision_score(labels, predicted))
    assert result["recall"] == pytest.approx(skm.recall_score(labels, predicted))
    assert result["f1"] == pytest.approx(skm.f1_score(labels, predicted))
    assert result["roc_auc"] == pytest.approx(skm.roc_auc_score(labels, positive))
    assert result["pr_auc"] == pytest.approx(skm.average_precision_score(labels, positive))
    assert result["log_loss"] == pytest.approx(skm.log_loss(labels, positive), rel=1e-12)
    assert result["brier"] == pytest.approx(skm.brier_score_loss(labels, positive))
    assert result["ece"] == pytest.approx(metrics.expected_calibration_error(labels, positive))
    recall = skm.recall_score(labels, predicted, average=None)
    assert list(result["per_class_accuracy"].values()) == pytest.approx(recall)
    assert result["confusion_matrix"] == skm.confusion_matrix(labels, predicted).tolist()
    assert result["set_coverage"] == pytest.approx(np.mean(sets[np.arange(N), labels]))
    assert result["mean_set_size"] == pytest.approx(np.mean(sets.sum(axis=1)))


def test_binary_ranking_metrics_are_none_for_one_class():
    positive = RNG.uniform(size=N)
    predictions = Predictions("binary", np.stack([1 - positive, positive], axis=1))
    result = _streamed(predictions, np.zeros((N, 1)), "binary", class_names=["a", "b"])
    assert result["roc_auc"] is None and result["pr_auc"] is None
    assert result.pop("per_class_accuracy") == {"a": 1.0 * (positive < 0.5).mean(), "b": None}
    assert result.pop("class_names") == ["a", "b"]
    negatives = int((positive < 0.5).sum())
    assert result.pop("confusion_matrix") == [[negatives, N - negatives], [0, 0]]
    assert result == pytest.approx(metrics.binary_metrics(np.zeros(N), positive))


def test_multiclass_metrics_match_scikit_learn_on_all_rows():
    names = ["a", "b", "c", "d", "e"]  # "e" is neither in the rows nor ever predicted
    labels = RNG.integers(0, 4, N)
    logits = RNG.normal(size=(N, 5)) + 1.5 * np.eye(5)[labels]
    logits[:, 4] -= 30.0
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probabilities = (probabilities * 1.0001).astype(np.float32)  # rows that do not sum to 1
    result = _streamed(
        Predictions("multiclass", probabilities),
        labels[:, None].astype(float),
        "multiclass",
        class_names=names,
    )

    normalised = probabilities / probabilities.sum(axis=1, keepdims=True, dtype=np.float64)
    predicted = normalised.argmax(axis=1)
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(labels, predicted))
    assert result["f1_macro"] == pytest.approx(
        skm.f1_score(labels, predicted, labels=[0, 1, 2, 3], average="macro")
    )
    assert result["f1_weighted"] == pytest.approx(
        skm.f1_score(labels, predicted, average="weighted")
    )
    assert result["log_loss"] == pytest.approx(
        skm.log_loss(labels, normalised, labels=range(5)), rel=1e-9
    )
    brier = np.mean(np.sum((normalised - np.eye(5)[labels]) ** 2, axis=1))
    assert result["brier"] == pytest.approx(brier, rel=1e-9)
    assert result["top_k"] == 3
    assert result["top_k_accuracy"] == pytest.approx(
        skm.top_k_accuracy_score(labels, normalised, k=3, labels=range(5))
    )
    assert result["ece"] == pytest.approx(
        metrics.expected_calibration_error(labels, normalised), rel=1e-9
    )
    np.testing.assert_array_equal(
        result["confusion_matrix"], skm.confusion_matrix(labels, predicted, labels=range(5))
    )
    recall = skm.recall_score(labels, predicted, average=None, labels=range(4))
    per_class = result["per_class_accuracy"]
    assert [per_class[c] for c in "abcd"] == pytest.approx(recall)
    assert per_class["e"] is None
    assert result["class_names"] == names


def test_a_nan_probability_blanks_a_classifier_like_the_whole_array_function():
    probabilities = RNG.dirichlet(np.ones(3), size=N)
    probabilities[900, 1] = np.nan
    labels = RNG.integers(0, 3, N)
    result = _streamed(
        Predictions("multiclass", probabilities),
        labels[:, None].astype(float),
        "multiclass",
        class_names=["a", "b", "c"],
    )
    whole = metrics.multiclass_metrics(labels, probabilities, class_names=["a", "b", "c"])
    assert result == {**whole, "per_class_accuracy": {"a": None, "b": None, "c": None}}
