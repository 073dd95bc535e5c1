"""Metric functions against scikit-learn, SciPy and known values."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import integrate, stats
from sklearn import metrics as skm

from toolkit.evaluation import metrics


def test_regression_metrics_match_sklearn_and_a_calibrated_gaussian_covers_its_level():
    rng = np.random.default_rng(0)
    y_pred = rng.normal(size=20000)
    std = np.full_like(y_pred, 0.5)
    y_true = y_pred + rng.normal(scale=0.5, size=y_pred.size)
    result = metrics.regression_metrics(y_true, y_pred, std=std, interval=0.95)
    assert result["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y_true, y_pred)))
    assert result["mae"] == pytest.approx(skm.mean_absolute_error(y_true, y_pred))
    assert result["r2"] == pytest.approx(skm.r2_score(y_true, y_pred))
    assert result["coverage"] == pytest.approx(0.95, abs=0.01)
    assert result["interval_width"] == pytest.approx(2 * 1.959964 * 0.5, rel=1e-4)
    assert result["nll"] == pytest.approx(-stats.norm(y_pred, std).logpdf(y_true).mean())


def test_crps_matches_numerical_integration():
    mean, std, y = 0.3, 1.7, -0.4
    cdf = stats.norm(mean, std).cdf
    integral = (
        integrate.quad(lambda t: cdf(t) ** 2, -40, y)[0]
        + integrate.quad(lambda t: (1 - cdf(t)) ** 2, y, 40)[0]
    )
    assert float(
        metrics.gaussian_crps(np.array([y]), np.array([mean]), np.array([std]))[0]
    ) == pytest.approx(integral, rel=1e-5)


def test_binary_metrics_match_sklearn_and_ece_separates_calibration():
    rng = np.random.default_rng(1)
    probability = rng.uniform(size=20000)
    y = (rng.uniform(size=probability.size) < probability).astype(int)
    result = metrics.binary_metrics(y, probability)
    assert result["roc_auc"] == pytest.approx(skm.roc_auc_score(y, probability))
    assert result["log_loss"] == pytest.approx(skm.log_loss(y, probability))
    assert result["brier"] == pytest.approx(skm.brier_score_loss(y, probability))
    assert result["ece"] < 0.02
    overconfident = np.where(probability > 0.5, 0.999, 0.001)
    assert metrics.binary_metrics(y, overconfident)["ece"] > 0.2


def test_single_class_split_gives_none_not_nan_and_serialises():
    result = metrics.binary_metrics(np.ones(10, dtype=int), np.linspace(0.5, 0.9, 10))
    assert result["roc_auc"] is None
    json.dumps(result, allow_nan=False)


def test_multiclass_metrics_and_confusion_matrix():
    probabilities = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    y = np.array([0, 1, 2, 1])
    result = metrics.multiclass_metrics(y, probabilities, class_names=["a", "b", "c"])
    assert result["accuracy"] == pytest.approx(0.75)
    assert result["confusion_matrix"] == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert result["log_loss"] == pytest.approx(skm.log_loss(y, probabilities))


def test_aggregate_repeats():
    summary = metrics.aggregate_repeats([{"rmse": 1.0, "name": "x"}, {"rmse": 3.0, "name": "x"}])
    assert summary["rmse"]["mean"] == pytest.approx(2.0)
    assert summary["rmse"]["values"] == [1.0, 3.0]
