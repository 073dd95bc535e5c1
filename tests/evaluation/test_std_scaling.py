"""Std scaling against independent computations: the closed-form maximum-likelihood factor
of a Gaussian, a brute-force SciPy grid for a mixture, and (end to end) the saved model's own
outputs recombined in NumPy."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests.evaluation._support import count_calibration_predictions, trained_run_and_its_validation
from tests.helpers import tiny_config
from toolkit.config.loading import validate_config
from toolkit.evaluation.posthoc import PostHocCalibration
from toolkit.evaluation.predict import summarize_outputs
from toolkit.evaluation.std_scaling import fit_std_scale


def _config(model: dict):
    return validate_config(
        tiny_config("regression", model={"task": "regression", **model}, prediction={})
    )


def test_a_gaussian_twice_too_wide_is_halved_and_then_covers_its_level():
    """y ~ N(mu, 1) predicted as N(mu, 2): z = (y - mu) / 2 has variance 1/4, and the fitted
    s = sqrt(mean z^2) estimates 1/2 with standard error sqrt(Var(z^2) / n) / (2 * 1/2)
    = sqrt(2 / 16 / n) (delta method). Coverage of new rows is checked within 4 standard
    errors of a binomial proportion plus the spread s passes on to it."""
    rng = np.random.default_rng(3)
    n = 20_000
    config = _config({"head": "gaussian"})

    def outputs(rows: int) -> tuple[np.ndarray, np.ndarray]:
        mu = rng.normal(scale=5.0, size=rows)
        y = mu + rng.normal(size=rows)
        raw = np.stack([mu, np.full(rows, 2.0)], axis=-1)[None, :, None, :]
        return raw, y

    raw, y = outputs(n)
    predictions = summarize_outputs(raw, config)
    s = fit_std_scale(predictions.locations, predictions.scales, y)
    s_error = math.sqrt(2 / 16 / n)
    assert s == pytest.approx(0.5, abs=4 * s_error)

    new_raw, new_y = outputs(n)
    scaled = summarize_outputs(new_raw, config, calibration=PostHocCalibration(std_scale=s))
    np.testing.assert_allclose(scaled.std, 2.0 * s)
    np.testing.assert_allclose(scaled.mean, new_raw[0, :, 0, 0])
    coverage = np.mean((scaled.lower <= new_y) & (new_y <= scaled.upper))
    z = stats.norm.ppf(0.975)
    # an error e in s moves the half-width 2 z e, the coverage 2 phi(z) that much
    from_s = 2 * stats.norm.pdf(z) * 2 * z * s_error
    tolerance = 4 * math.sqrt(0.95 * 0.05 / n + from_s**2)
    assert coverage == pytest.approx(0.95, abs=tolerance)
    # unscaled, the interval covers P(|N(0, 1)| <= 2 z) = 0.9999...: the over-coverage fixed
    unscaled = summarize_outputs(new_raw, config)
    assert np.mean((unscaled.lower <= new_y) & (new_y <= unscaled.upper)) > 0.999


def test_point_components_scale_their_spread_by_the_closed_form_factor():
    """Without a Gaussian head the components are points, scored as N(mean, their spread):
    s is sqrt(mean z^2) with z = (y - mean) / spread, and the spread becomes s times it."""
    rng = np.random.default_rng(4)
    config = _config({"ensemble": {"members": 3}})
    raw = rng.normal(size=(1, 400, 3, 1))
    y = raw[0, :, :, 0].mean(axis=1) + rng.normal(scale=0.3, size=400)
    mean, spread = raw[0, :, :, 0].mean(axis=1), raw[0, :, :, 0].std(axis=1)
    expected = math.sqrt(np.mean(((y - mean) / spread) ** 2))
    p = summarize_outputs(raw, config)
    s = fit_std_scale(p.locations, p.scales, y)
    assert s == pytest.approx(min(max(expected, 0.25), 4.0), rel=1e-12)
    scaled = summarize_outputs(raw, config, calibration=PostHocCalibration(std_scale=s))
    np.testing.assert_allclose(scaled.std, s * spread)
    np.testing.assert_allclose(scaled.epistemic_std, s * spread)
    np.testing.assert_allclose(scaled.mean, mean)


def _grid_nll(y, locations, scales, s):
    """Mean NLL of the two-component equal-weight mixture after the transform, by SciPy."""
    mean = locations.mean(axis=1)
    density = sum(
        0.5 * stats.norm.pdf(y, loc=mean + s * (locations[:, k] - mean), scale=s * scales[:, k])
        for k in range(2)
    )
    return -np.mean(np.log(density))


def test_a_mixtures_factor_minimises_its_nll_on_a_brute_force_grid():
    """Two members whose means straddle y's and whose scales are too wide: the fitted s is
    the grid's minimiser (to the grid's spacing) and no grid point has a lower NLL."""
    rng = np.random.default_rng(5)
    rows = 600
    centre = rng.normal(scale=3.0, size=rows)
    offset = rng.uniform(0.2, 1.0, size=rows)
    locations = np.stack([centre - offset, centre + offset], axis=1)
    scales = rng.uniform(1.0, 2.0, size=(rows, 2))
    y = centre + rng.normal(scale=0.8, size=rows)
    raw = np.stack([locations, scales], axis=-1)[None]  # (1 pass, rows, 2 members, 2)

    config = _config({"head": "gaussian", "ensemble": {"members": 2}})
    p = summarize_outputs(raw, config)
    s = fit_std_scale(p.locations, p.scales, y)

    grid = np.exp(np.linspace(math.log(0.25), math.log(4.0), 2001))
    nll = np.array([_grid_nll(y, locations, scales, g) for g in grid])
    step = np.log(grid[1] / grid[0])
    assert abs(math.log(s) - math.log(grid[nll.argmin()])) <= step
    assert _grid_nll(y, locations, scales, s) <= nll.min() + 1e-9
    assert 0.3 < s < 0.9  # well inside the bounds: a real minimum, not a clipped one

    # every std scales by s: total, epistemic (spread of the means), aleatoric (RMS scale)
    scaled = summarize_outputs(raw, config, calibration=PostHocCalibration(std_scale=s))
    aleatoric = np.sqrt((scales**2).mean(axis=1))
    epistemic = locations.std(axis=1)
    np.testing.assert_allclose(scaled.aleatoric_std, s * aleatoric)
    np.testing.assert_allclose(scaled.epistemic_std, s * epistemic)
    np.testing.assert_allclose(scaled.std, s * np.sqrt(aleatoric**2 + epistemic**2))
    # the interval is the scaled mixture's: its CDF there is 0.025 and 0.975
    mean = locations.mean(axis=1)
    for bound, level in ((scaled.lower, 0.025), (scaled.upper, 0.975)):
        cdf = sum(
            0.5 * stats.norm.cdf(bound, mean + s * (locations[:, k] - mean), s * scales[:, k])
            for k in range(2)
        )
        np.testing.assert_allclose(cdf, level, atol=1e-6)


@pytest.mark.slow
def test_predict_and_evaluate_apply_the_runs_factor(cli, tmp_path):
    """A run trained with std scaling writes its block and std_scaling.json; ``toolkit
    predict`` gives s times the std of the saved model's raw outputs (recombined here in
    NumPy), and ``toolkit evaluate`` scores the scaled mixture (NLL by SciPy)."""
    from toolkit.models.saving import load_model
    from toolkit.training.train import train

    raw = tiny_config(
        "regression",
        model={"task": "regression", "hidden": [8], "head": "gaussian", "ensemble": {"members": 2}},
        prediction={"std_scaling": True},
    )
    raw["data"]["synthetic"] = {"samples": 240, "features": 3}
    raw["training"]["epochs"] = 4
    result = train(validate_config(raw), output_dir=tmp_path / "runs", verbose=0)
    assert result.status == "completed"
    block = result.metrics["std_scaling"]
    s = block["factor"]
    saved = json.loads((result.run_dir / "std_scaling.json").read_text())
    assert saved == {"factor": s, "fitted_on": "validation"}
    assert block["fitted_on"] == "validation"
    assert block["validation"]["nll_after"] <= block["validation"]["nll_before"]
    assert 0.25 <= s <= 4.0 and s != 1.0
    for split in ("validation", "test"):
        part = block.get(split)
        if part is not None:
            assert set(part) >= {"nll_before", "nll_after", "coverage_before", "coverage_after"}
            # metrics.json's own scores of the split are the scaled run's
            assert result.metrics[split]["nll"] == pytest.approx(part["nll_after"])

    rng = np.random.default_rng(1)
    rows = pd.DataFrame(rng.normal(size=(25, 3)), columns=["x0", "x1", "x2"])
    model = load_model(result.run_dir / "model.keras")
    out = np.asarray(model.predict({"numeric": rows.to_numpy("float32")}, verbose=0))
    locations, scales = out[..., 0].astype(float), out[..., 1].astype(float)  # (rows, members)
    assert locations.shape == (25, 2)
    unscaled_std = np.sqrt((scales**2).mean(axis=1) + locations.var(axis=1))

    rows.to_csv(tmp_path / "rows.csv", index=False)
    predicted_file = tmp_path / "predictions.csv"
    done = cli(
        "predict", result.run_dir, "--input", tmp_path / "rows.csv", "--output", predicted_file
    )
    assert done.returncode == 0, done.stderr
    predicted = pd.read_csv(predicted_file)
    np.testing.assert_allclose(predicted["prediction"], locations.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(predicted["std"], s * unscaled_std, rtol=1e-5)
    np.testing.assert_allclose(
        predicted["aleatoric_std"], s * np.sqrt((scales**2).mean(axis=1)), rtol=1e-5
    )
    np.testing.assert_allclose(predicted["epistemic_std"], s * locations.std(axis=1), rtol=1e-5)

    target = locations.mean(axis=1) + rng.normal(scale=unscaled_std)
    labelled = rows.assign(target=target)
    labelled.to_csv(tmp_path / "labelled.csv", index=False)
    done = cli("evaluate", result.run_dir, "--data", tmp_path / "labelled.csv")
    assert done.returncode == 0, done.stderr
    scores = json.loads(done.stdout)["metrics"]
    mean = locations.mean(axis=1)
    density = sum(
        0.5 * stats.norm.pdf(target, mean + s * (locations[:, k] - mean), s * scales[:, k])
        for k in range(2)
    )
    assert scores["nll"] == pytest.approx(-np.mean(np.log(density)), rel=1e-4)


@pytest.mark.slow
def test_std_scaling_and_conformal_scores_share_one_prediction_of_the_validation_rows(
    tmp_path, monkeypatch
):
    """Both are computed on the same validation rows of the same model: one pass of the model
    serves both (``model_outputs`` calls counted, the real model behind them), and s and the
    scores are those of its outputs, recomputed here in NumPy (one Gaussian: s = sqrt(mean
    z^2); split scores |y - mean| / (s std))."""
    from toolkit.evaluation.calibrate import CALIBRATION_ROWS, calibrate_run

    raw = tiny_config(
        "regression",
        model={"task": "regression", "hidden": [8], "head": "gaussian"},
        prediction={"std_scaling": True, "conformal": {"method": "split"}},
    )
    raw["data"]["synthetic"] = {"samples": 240, "features": 3}
    raw["training"]["epochs"] = 4
    run, data = trained_run_and_its_validation(raw, tmp_path / "runs")
    model = run.model

    features, y = data.validation.sample(CALIBRATION_ROWS, seed=run.config.seed)
    out = np.asarray(model.predict(features, verbose=0), dtype=np.float64)
    z = (y[:, 0] - out[:, 0]) / out[:, 1]
    s = float(np.clip(np.sqrt(np.mean(z**2)), 0.25, 4.0))

    calls = count_calibration_predictions(monkeypatch)
    calibration = calibrate_run(run.config, data, model)
    assert len(calls) == 1
    assert calibration.std_scaling["factor"] == pytest.approx(s, rel=1e-6)
    scores = np.sort(np.abs(y[:, 0] - out[:, 0]) / (s * out[:, 1]))
    np.testing.assert_allclose(calibration.conformal.scores, scores, rtol=1e-5)


def test_a_factor_stopped_at_its_bound_is_said_in_metrics_and_the_runs_warnings(tmp_path):
    """An ensemble of point networks (no noise model) has a spread far below the noise:
    sqrt(mean z^2) on the validation rows, computed here from the members' outputs, is above
    4, so s stops at 4 and the intervals still under-cover. metrics.json gave factor 4.0
    without a word (counts through ensemble.yaml with head default: coverage 0.34 for 0.95)."""
    import toolkit
    from toolkit.api.run import Run
    from toolkit.data.prepared import prepare_data

    raw = tiny_config(
        "regression",
        model={"task": "regression", "ensemble": {"members": 2}},
        prediction={"std_scaling": True},
    )
    trained = toolkit.train(raw, output_dir=tmp_path, verbose=0)
    run = Run(trained.path)
    features, y = prepare_data(run.config).validation.sample(None)
    members = np.asarray(run.model(features, training=False))[..., 0]  # (rows, members)
    z = (y[:, 0] - members.mean(axis=1)) / members.std(axis=1)
    assert math.sqrt(np.mean(z**2)) > 4.0
    report = run.metrics["std_scaling"]
    assert report["factor"] == pytest.approx(4.0)
    assert report["validation"]["coverage_after"] < 0.95
    assert report["bounded"].startswith("s stopped at its upper bound 4: the intervals are still")
    assert f"prediction.std_scaling: {report['bounded']}" in run.warnings


def test_a_gaussian_head_at_the_bound_is_not_told_to_use_a_gaussian_head(tmp_path):
    """A Gaussian head whose validation split holds a few gross outliers: sqrt(mean z^2),
    computed here from the model's own means and scales, is above 4, so s stops there. The
    warning told this run to 'use model.head gaussian', which it already had (messy.csv, 90
    rows, three targets off by 35-60 standard deviations of the noise)."""
    import toolkit
    from toolkit.api.run import Run
    from toolkit.data.prepared import prepare_data

    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 2))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": x @ [1.0, -1.0] + rng.normal(size=200)})
    frame.loc[170:172, "y"] += [80.0, -90.0, 100.0]  # three in the validation rows below
    frame.iloc[:160].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[160:].to_csv(tmp_path / "validation.csv", index=False)
    raw = tiny_config(
        "regression",
        data={
            "source": str(tmp_path / "train.csv"),
            "validation": str(tmp_path / "validation.csv"),
            "target": "y",
        },
        model={"task": "regression", "head": "gaussian", "hidden": [8]},
        training={"epochs": 20, "batch_size": 16},
        prediction={"std_scaling": True},
    )
    raw["data"].pop("synthetic")
    trained = toolkit.train(raw, output_dir=tmp_path / "runs", verbose=0)
    run = Run(trained.path)
    features, y = prepare_data(run.config).validation.sample(None)
    mean, std = np.asarray(run.model(features, training=False)).T
    assert math.sqrt(np.mean(((y[:, 0] - mean) / std) ** 2)) > 4.0
    report = run.metrics["std_scaling"]
    assert report["factor"] == pytest.approx(4.0)
    assert "model.head gaussian" not in report["bounded"]
    assert "prediction.conformal" in report["bounded"]
    assert "outlier" in report["bounded"]
