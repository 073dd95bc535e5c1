"""The in-model scaling pieces against NumPy and SciPy: ImputeStandardize, TargetScale,
StandardizedLoss and the location metric of a Gaussian head; whole-config round trips."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
from scipy import stats

from tests.helpers import assert_same_config
from toolkit.models.layers.impute_standardize import ImputeStandardize
from toolkit.models.layers.target_scale import TargetScale
from toolkit.models.location_metric import LocationMetric
from toolkit.models.standardized_loss import StandardizedLoss

RNG = np.random.default_rng(0)
MEAN, STD = 50.0, 20.0  # a target of scale 100, as the toolkit's regression targets may be


def _round_trip(obj, cls):
    config = json.loads(json.dumps(obj.get_config()))  # as model.keras stores it
    clone = cls.from_config(config)
    assert_same_config(clone.get_config(), obj.get_config())
    return clone


# ImputeStandardize ------------------------------------------------------------------------


def test_impute_standardize_fills_missing_with_the_mean_then_standardises():
    x = RNG.normal(3.0, 2.0, size=(12, 3)).astype("float32")
    x[::4, 0] = np.nan
    x[1, 2] = np.nan
    mean, std = [3.0, -1.0, 0.5], [2.0, 0.5, 4.0]
    layer = ImputeStandardize(mean, std)

    expected = (np.where(np.isnan(x), np.array(mean), x) - np.array(mean)) / np.array(std)
    actual = np.asarray(layer(x))
    np.testing.assert_allclose(actual, expected, rtol=1e-6)
    assert np.isfinite(actual).all()
    assert (actual[np.isnan(x)] == 0.0).all()  # a missing value is exactly average

    clone = _round_trip(layer, ImputeStandardize)
    np.testing.assert_array_equal(np.asarray(clone(x)), actual)


def test_impute_standardize_keeps_working_inside_a_saved_model(tmp_path):
    x = np.array([[1.0, np.nan], [np.nan, 4.0]], dtype="float32")
    inputs = keras.Input((2,))
    model = keras.Model(inputs, ImputeStandardize([2.0, 3.0], [0.5, 2.0])(inputs))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(loaded(x)), [[-2.0, 0.0], [0.0, 0.5]], rtol=1e-6)


# TargetScale ------------------------------------------------------------------------------


def test_target_scale_maps_standard_outputs_to_target_units():
    z = RNG.normal(size=(8, 1)).astype("float32")
    layer = TargetScale(MEAN, STD)
    np.testing.assert_allclose(np.asarray(layer(z)), z * STD + MEAN, rtol=1e-6)
    _round_trip(layer, TargetScale)


def test_target_scale_of_a_gaussian_head_shifts_the_mean_and_only_scales_the_scale():
    units = 2
    location = RNG.normal(size=(6, units)).astype("float32")
    scale = RNG.uniform(0.1, 1.0, size=(6, units)).astype("float32")
    layer = TargetScale(MEAN, STD, gaussian=True)
    out = np.asarray(layer(np.concatenate([location, scale], axis=-1)))
    np.testing.assert_allclose(out[:, :units], location * STD + MEAN, rtol=1e-6)
    np.testing.assert_allclose(out[:, units:], scale * STD, rtol=1e-6)
    _round_trip(layer, TargetScale)


def test_target_scale_outputs_float32_under_float16():
    z = np.array([[0.5], [-1.0]], dtype="float16")
    out = TargetScale(MEAN, STD, dtype="mixed_float16")(z)
    assert out.dtype == "float32"
    np.testing.assert_allclose(np.asarray(out), [[60.0], [30.0]], rtol=1e-3)


# StandardizedLoss -------------------------------------------------------------------------


def _targets(rows: int = 32) -> tuple[np.ndarray, np.ndarray]:
    y = RNG.normal(MEAN, STD, size=(rows, 1)).astype("float32")
    prediction = (y + RNG.normal(0.0, 5.0, size=y.shape)).astype("float32")
    return y, prediction


@pytest.mark.parametrize(
    ("base", "from_plain"),
    [
        ("mse", lambda y, p: np.mean((y - p) ** 2) / STD**2),
        ("mae", lambda y, p: np.mean(np.abs(y - p)) / STD),
    ],
)
def test_standardized_loss_is_the_plain_loss_in_standard_units(base, from_plain):
    y, prediction = _targets()
    loss = StandardizedLoss(base, MEAN, STD)
    assert float(loss(y, prediction)) == pytest.approx(from_plain(y, prediction), rel=1e-5)


def test_standardized_huber_applies_its_threshold_on_the_standard_scale():
    y, prediction = _targets()
    error = np.abs((y - prediction) / STD)  # Keras' Huber: delta 1.0
    expected = np.mean(np.where(error <= 1.0, 0.5 * error**2, error - 0.5))
    value = float(StandardizedLoss("huber", MEAN, STD)(y, prediction))
    assert value == pytest.approx(expected, rel=1e-5)


def test_standardized_gaussian_nll_is_the_target_nll_plus_log_std():
    # y = mean + std * z: the density of z is std times that of y, so its NLL is lower by
    # log(std) -- the same optimum, at the scale of unit-variance targets.
    y, location = _targets()
    scale = RNG.uniform(2.0, 10.0, size=y.shape).astype("float32")
    value = float(StandardizedLoss("gaussian_nll", MEAN, STD)(y, np.hstack([location, scale])))
    plain = -stats.norm.logpdf(y, loc=location, scale=scale).mean()
    assert value == pytest.approx(plain - np.log(STD), rel=1e-5)


def test_standardized_loss_round_trips_with_its_reduction():
    y, prediction = _targets()
    loss = StandardizedLoss("mse", MEAN, STD, reduction="sum", name="scaled")
    clone = _round_trip(loss, StandardizedLoss)
    expected = np.sum((y - prediction) ** 2) / STD**2
    assert float(clone(y, prediction)) == pytest.approx(expected, rel=1e-5)
    assert float(loss(y, prediction)) == pytest.approx(expected, rel=1e-5)


# LocationMetric ---------------------------------------------------------------------------


def test_location_metric_scores_the_mean_column_only_and_accumulates():
    y, location = _targets()
    scale = np.full_like(y, 1.0e6)  # would dominate any metric that looked at it
    metric = LocationMetric(keras.metrics.MeanAbsoluteError(), units=1)
    assert metric.name == "mean_absolute_error"
    for part in (slice(0, 10), slice(10, 32)):  # two batches: a running mean over both
        metric.update_state(y[part], np.hstack([location, scale])[part])
    assert float(metric.result()) == pytest.approx(np.mean(np.abs(y - location)), rel=1e-5)
    metric.reset_state()
    assert float(metric.result()) == 0.0

    clone = _round_trip(metric, LocationMetric)
    clone.update_state(y, np.hstack([location, scale]))
    assert float(clone.result()) == pytest.approx(np.mean(np.abs(y - location)), rel=1e-5)


def test_location_metric_of_two_target_units():
    y = RNG.normal(size=(16, 2)).astype("float32")
    location = y + RNG.normal(0.0, 0.3, size=y.shape).astype("float32")
    metric = LocationMetric(keras.metrics.RootMeanSquaredError(name="rmse"), units=2)
    metric.update_state(y, np.hstack([location, np.ones_like(y)]))
    assert metric.name == "rmse"
    assert float(metric.result()) == pytest.approx(np.sqrt(np.mean((y - location) ** 2)), 1e-5)
