"""prediction.target_range: a regressor's mean and intervals clipped to the range the user
states for the target (counts, prices: [0, null]), coverage kept; a target outside the range
refused before a run exists. Checked against intervals computed here with SciPy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests.helpers import tiny_config
from toolkit.config.loading import validate_config
from toolkit.errors import ConfigError, DataError
from toolkit.evaluation.conformal import ConformalCalibration
from toolkit.evaluation.metrics import regression_metrics
from toolkit.evaluation.posthoc import PostHocCalibration
from toolkit.evaluation.predict import summarize_outputs


def _config(model: dict, target_range, **sections):
    return validate_config(
        tiny_config(
            "regression",
            model={"task": "regression", **model},
            prediction={"target_range": target_range, "interval": 0.9},
            **sections,
        )
    )


@pytest.mark.parametrize(
    ("task", "target_range", "expected"),
    [
        ("regression", [None, None], "bounds nothing"),
        ("regression", [3, 1], "low must be below high"),
        # Every config number refuses .inf (Strict's allow_inf_nan), a range's bounds too.
        ("regression", [0, float("inf")], "target_range.1: Input should be a finite number"),
        ("binary", [0, 1], "applies to regressors"),
    ],
)
def test_a_range_that_bounds_nothing_or_a_classifiers_is_a_one_line_error(
    task, target_range, expected
):
    raw = tiny_config(task, prediction={"target_range": target_range})
    with pytest.raises(ConfigError) as caught:
        validate_config(raw)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_a_count_models_mean_and_interval_are_clipped_at_zero_with_their_coverage_kept():
    """One Gaussian per row, means near 0 (a count model's), y drawn from it and censored
    at 0, so y >= 0 always: the clipped interval is max(mu -/+ z sd, 0) and covers every row
    the unclipped one covers, and also the y = 0 rows whose unclipped interval lies below 0."""
    rng = np.random.default_rng(5)
    rows = 4000
    mu, sd = rng.uniform(-1.0, 3.0, rows), rng.uniform(0.5, 2.0, rows)
    y = np.maximum(rng.normal(mu, sd), 0.0)
    raw = np.stack([mu, sd], axis=-1)[None, :, None, :]
    clipped = summarize_outputs(raw, _config({"head": "gaussian"}, [0, None]))
    unclipped = summarize_outputs(raw, _config({"head": "gaussian"}, None))

    z = stats.norm.ppf(0.95)
    np.testing.assert_allclose(clipped.mean, np.maximum(mu, 0.0))
    np.testing.assert_allclose(clipped.lower, np.maximum(mu - z * sd, 0.0), atol=1e-6)
    np.testing.assert_allclose(clipped.upper, np.maximum(mu + z * sd, 0.0), atol=1e-6)
    np.testing.assert_allclose(clipped.std, sd)  # the model's distribution's, unchanged
    assert (unclipped.lower < 0).mean() > 0.5  # what the clipping is for

    def covered(p):
        return (p.lower <= y) & (y <= p.upper)

    gained = covered(clipped) & ~covered(unclipped)
    assert not np.any(covered(unclipped) & ~covered(clipped))
    assert gained.any() and np.all(y[gained] == 0) and np.all(unclipped.upper[gained] < 0)
    scores = regression_metrics(
        y, clipped.mean, std=clipped.std, interval=0.9, mixture=clipped.mixture,
        bounds=(clipped.lower, clipped.upper),
    )  # fmt: skip
    assert scores["coverage"] == pytest.approx(np.mean(covered(clipped)))
    assert scores["interval_width"] == pytest.approx(np.mean(clipped.upper - clipped.lower))


def test_split_conformal_is_built_on_the_clipped_mean_and_clipped_after():
    """The scores |y - max(mu, 0)| / sd (fitted as predict applies them); the interval
    max(mu, 0) -/+ q sd, clipped at 0; q the conservative quantile computed here."""
    rng = np.random.default_rng(6)
    config = _config({"head": "gaussian"}, [0, None])

    def draw(rows):
        mu, sd = rng.uniform(-1.0, 3.0, rows), rng.uniform(0.5, 2.0, rows)
        return np.stack([mu, sd], axis=-1)[None, :, None, :], np.maximum(rng.normal(mu, sd), 0)

    raw, y = draw(199)
    calibration = ConformalCalibration.fit(
        summarize_outputs(raw, config), y, method="split", alpha=0.1, calibrated_on="validation"
    )
    center = np.maximum(raw[0, :, 0, 0], 0.0)
    scores = np.sort(np.abs(y - center) / raw[0, :, 0, 1])
    q = scores[int(np.ceil(200 * 0.9)) - 1]
    assert calibration.quantile == pytest.approx(q)

    new_raw, new_y = draw(20_000)
    p = summarize_outputs(new_raw, config, calibration=PostHocCalibration(conformal=calibration))
    new_center, new_sd = np.maximum(new_raw[0, :, 0, 0], 0.0), new_raw[0, :, 0, 1]
    np.testing.assert_allclose(p.conformal_lower, np.maximum(new_center - q * new_sd, 0.0))
    np.testing.assert_allclose(p.conformal_upper, new_center + q * new_sd)
    coverage = np.mean((p.conformal_lower <= new_y) & (new_y <= p.conformal_upper))
    assert coverage >= 0.9 - 4 * np.sqrt(0.09 / 20_000)


def test_point_components_are_scored_on_the_clipped_interval_predict_writes():
    """An ensemble without a Gaussian head: its interval is mean -/+ z spread, clipped; the
    coverage metrics.json reports is that interval's, not one around the clipped mean."""
    rng = np.random.default_rng(7)
    raw = rng.normal(loc=-0.5, scale=1.0, size=(1, 500, 3, 1))
    config = _config({"ensemble": {"members": 3}}, [0, None])
    p = summarize_outputs(raw, config)
    members = raw[0, :, :, 0]
    mean, spread = members.mean(axis=1), members.std(axis=1)
    z = stats.norm.ppf(0.95)
    np.testing.assert_allclose(p.lower, np.maximum(mean - z * spread, 0.0))
    np.testing.assert_allclose(p.upper, np.maximum(mean + z * spread, 0.0))
    y = np.abs(rng.normal(size=500))
    scores = regression_metrics(
        y, p.mean, std=p.std, interval=0.9, mixture=p.mixture, bounds=(p.lower, p.upper)
    )
    assert scores["coverage"] == pytest.approx(np.mean((p.lower <= y) & (y <= p.upper)))
    assert scores["interval_width"] == pytest.approx(np.mean(p.upper - p.lower))


def test_a_target_outside_the_stated_range_is_refused_before_a_run_exists(tmp_path):
    from toolkit.training.train import train

    rng = np.random.default_rng(8)
    frame = pd.DataFrame({"x": rng.normal(size=80), "y": rng.poisson(2.0, size=80) * 1.0})
    frame.loc[[3, 40], "y"] = [-1.0, -2.5]
    frame.to_csv(tmp_path / "counts.csv", index=False)
    raw = tiny_config(
        "regression",
        data={"source": str(tmp_path / "counts.csv"), "target": "y", "validation": 0.25},
        prediction={"target_range": [0, None]},
    )
    with pytest.raises(DataError) as caught:
        train(validate_config(raw), output_dir=tmp_path / "runs", verbose=0)
    message = str(caught.value)
    assert "prediction.target_range [0, null]" in message and "outside it" in message
    assert "\n" not in message
    assert not (tmp_path / "runs").exists()

    # Evaluating such rows scores them (as misses, the intervals never leave the range),
    # and says so: it said nothing.
    import warnings

    from toolkit.api.run import Run
    from toolkit.data.input_audit import InputWarning

    frame.drop(index=[3, 40]).to_csv(tmp_path / "counts.csv", index=False)
    run = Run(train(validate_config(raw), output_dir=tmp_path / "runs", verbose=0).run_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run.evaluate(frame)
    assert [str(w.message) for w in caught if w.category is InputWarning] == [
        "target column 'y': 2 of 80 rows lie outside prediction.target_range [0, null], which "
        "training refused; predictions and intervals stay inside it, so those rows are "
        "scored as misses"
    ]


def test_the_exported_endpoint_clips_as_predict_does():
    """ServingPlan's summary of a Gaussian ensemble's draws equals summarize_outputs', split
    and cqr conformal included, with a range clipping both sides."""
    import tensorflow as tf

    from toolkit.serving.outputs import ServingPlan, summarize

    rng = np.random.default_rng(9)
    rows = 300
    locations = rng.normal(loc=1.0, scale=1.5, size=(1, rows, 3))
    scales = rng.uniform(0.3, 1.5, size=(1, rows, 3))
    raw = np.stack([locations, scales], axis=-1)
    config = _config({"head": "gaussian", "ensemble": {"members": 3}}, [0, 3.0])
    y = np.clip(rng.normal(locations.mean(axis=2)[0], 1.0), 0.0, 3.0)
    draws = tf.constant(raw[0].transpose(1, 0, 2), dtype=tf.float32)  # (members, rows, 2)
    for method in ("split", "cqr"):
        conformal = ConformalCalibration.fit(
            summarize_outputs(raw, config), y, method=method, alpha=0.2, calibrated_on="v"
        )
        calibration = PostHocCalibration(conformal=conformal)
        expected = summarize_outputs(raw, config, calibration=calibration)
        plan = ServingPlan(
            task="regression", gaussian=True, passes=1, interval=0.9, classes=(), members=3,
            calibration=calibration, target_range=(0.0, 3.0),
        )  # fmt: skip
        got = summarize(plan, draws)
        for name, values in {
            "prediction": expected.mean,
            "lower": expected.lower,
            "upper": expected.upper,
            "conformal_lower": expected.conformal_lower,
            "conformal_upper": expected.conformal_upper,
        }.items():
            np.testing.assert_allclose(
                got[name].numpy(), values, rtol=1e-4, atol=1e-4, err_msg=f"{method} {name}"
            )
        assert float(tf.reduce_min(got["conformal_lower"])) >= 0.0
        assert float(tf.reduce_max(got["conformal_upper"])) <= 3.0
