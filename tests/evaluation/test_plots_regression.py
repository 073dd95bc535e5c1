"""Regression and uncertainty plots: the drawn data against NumPy/SciPy, and NaN/inf inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special, stats

from tests.evaluation._support import assert_png, line, points
from toolkit.evaluation import metrics, plots


@pytest.fixture
def data():
    """x, actual, predicted mean, predictive std of a heteroscedastic sine."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, size=300)
    std = 0.2 + 0.2 * np.abs(x)
    mean = np.sin(x)
    return x, mean + rng.normal(0, std), mean, std


def _with_non_finite(*arrays):
    """Copies with a NaN and an infinity in rows 3 and 7 of the first array, NaN in row 11 of the last."""
    copies = [np.array(a, dtype=float) for a in arrays]
    copies[0][3], copies[0][7], copies[-1][11] = np.nan, np.inf, np.nan
    return copies


def test_predicted_vs_actual_draws_every_pair_and_scores_it():
    rng = np.random.default_rng(1)
    actual = rng.normal(10, 3, size=80)
    predicted = actual + rng.normal(0, 1, size=80)
    ax = plots.predicted_vs_actual(actual, predicted).axes[0]
    np.testing.assert_allclose(points(ax), np.column_stack([actual, predicted]))
    rmse = np.sqrt(np.mean((predicted - actual) ** 2))
    r2 = 1 - np.sum((predicted - actual) ** 2) / np.sum((actual - actual.mean()) ** 2)
    assert ax.get_title() == f"R² = {r2:.3f}, RMSE = {rmse:.4g} (n = 80)"
    identity = ax.lines[0]
    np.testing.assert_allclose(identity.get_xdata(), identity.get_ydata())
    low, high = min(actual.min(), predicted.min()), max(actual.max(), predicted.max())
    assert identity.get_xdata()[0] < low and identity.get_xdata()[1] > high
    assert ax.get_aspect() == 1.0
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("actual", "predicted")


def test_residuals_scatter_and_histogram():
    rng = np.random.default_rng(2)
    actual = rng.normal(size=200)
    predicted = actual + rng.normal(0.3, 0.5, size=200)
    top, bottom = plots.residuals(actual, predicted).axes
    error = actual - predicted
    np.testing.assert_allclose(points(top), np.column_stack([predicted, error]))
    heights = [patch.get_height() for patch in bottom.patches]
    assert sum(heights) == 200
    counts, _ = np.histogram(error, bins=len(heights))
    assert heights == counts.tolist()
    assert bottom.get_title() == f"mean = {error.mean():.3g}, std = {error.std():.3g}"


def test_regression_plots_leave_out_nan_and_inf(tmp_path):
    # `toolkit train ... sgd learning_rate 1000` crashed here: "autodetected range of [nan, nan]"
    rng = np.random.default_rng(3)
    actual = rng.normal(size=50)
    predicted, actual = _with_non_finite(actual + 0.1, actual)
    finite = np.isfinite(predicted) & np.isfinite(actual)
    for build in (plots.predicted_vs_actual, plots.residuals):
        fig = build(actual, predicted)
        assert len(points(fig.axes[0])) == finite.sum() == 47
        assert "3 NaN/inf not drawn" in fig.axes[0].get_title()
        assert_png(plots.save(fig, tmp_path / f"{build.__name__}.png"))
    ax = plots.residuals(actual, predicted).axes[1]
    assert sum(p.get_height() for p in ax.patches) == 47
    nothing = plots.predicted_vs_actual([1.0, 2.0], [np.nan, np.inf])
    assert nothing.axes[0].texts[0].get_text() == "no finite prediction; 2 NaN/inf not drawn"
    assert_png(plots.save(plots.residuals([1.0], [np.nan]), tmp_path / "none.png"))


def test_intervals_sorted_by_std_with_their_half_widths(data):
    _, actual, mean, std = data
    ax = plots.intervals_sorted(actual, mean, std, interval=0.9, max_points=1000).axes[0]
    z = stats.norm.ppf(0.95)
    order = np.argsort(std, kind="stable")
    bars = ax.containers[0]
    np.testing.assert_allclose(bars.lines[0].get_ydata(), mean[order])
    segments = bars.lines[2][0].get_segments()
    np.testing.assert_allclose([s[1, 1] - s[0, 1] for s in segments], 2 * z * std[order])
    inside = np.abs(actual - mean) <= z * std
    assert len(points(ax, "actual (inside)")) == inside.sum()
    assert len(points(ax, "actual (outside)")) == (~inside).sum()
    assert f"observed coverage {inside.mean():.1%}, n = 300" in ax.get_title()
    subset = plots.intervals_sorted(actual, mean, std, max_points=50).axes[0]
    assert len(subset.containers[0].lines[0].get_xdata()) == 50


def test_interval_calibration_is_the_observed_coverage_per_level(data):
    _, actual, mean, std = data
    ax = plots.interval_calibration(actual, mean, std).axes[0]
    levels = np.arange(1, 20) * 0.05
    expected = [
        np.mean(np.abs(actual - mean) <= stats.norm.ppf(0.5 + level / 2) * std) for level in levels
    ]
    observed = line(ax, "observed")
    np.testing.assert_allclose(observed.get_xdata(), levels)
    np.testing.assert_allclose(observed.get_ydata(), expected)
    assert ax.get_xlim() == (0, 1) and ax.get_ylim() == (0, 1)


def _bimodal_mixture(rows: int, seed: int = 5):
    """Per row two equally weighted components at m - 3 and m + 3 (scale 0.5), and a target
    drawn from that mixture: calibrated, yet far from Gaussian."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(size=rows)
    locations = np.column_stack([centre - 3.0, centre + 3.0])
    scales = np.full_like(locations, 0.5)
    pick = rng.integers(0, 2, size=rows)
    actual = locations[np.arange(rows), pick] + rng.normal(0, 0.5, size=rows)
    return actual, locations, scales


def _mixture_interval(level, locations, scales):
    """The central ``level`` interval of each row's mixture, by SciPy root finding."""

    # The normal CDF as scipy.special.ndtr of the standardised value: stats.norm.cdf's
    # argument checks cost ~50x the computation, paid in every step of ~15,000 root finds.
    def quantile(q, loc, scale):
        return optimize.brentq(lambda v: special.ndtr((v - loc) / scale).mean() - q, -50, 50)

    tail = (1 - level) / 2
    return np.array(
        [
            [quantile(tail, loc, scale), quantile(1 - tail, loc, scale)]
            for loc, scale in zip(locations, scales, strict=True)
        ]
    )


def test_interval_calibration_of_a_mixture_counts_its_own_intervals():
    # predict's intervals of a mixture are its quantiles: the curve must count those, not
    # Gaussian mean -/+ z std ones, which on a bimodal mixture are far off the diagonal.
    actual, locations, scales = _bimodal_mixture(400)
    mean = locations.mean(axis=1)
    std = np.sqrt((scales**2).mean(axis=1) + locations.var(axis=1))
    pit = metrics.mixture_cdf(actual, locations, scales)
    ax = plots.interval_calibration(actual, mean, std, pit=pit).axes[0]
    levels = np.arange(1, 20) * 0.05
    expected = []
    for level in levels:
        bounds = _mixture_interval(level, locations, scales)
        expected.append(np.mean((bounds[:, 0] <= actual) & (actual <= bounds[:, 1])))
    observed = line(ax, "observed")
    np.testing.assert_allclose(observed.get_xdata(), levels)
    np.testing.assert_allclose(observed.get_ydata(), expected, atol=1 / 400)
    gaussian = line(plots.interval_calibration(actual, mean, std).axes[0], "observed")
    assert np.max(np.abs(gaussian.get_ydata() - levels)) > 0.2  # what was drawn before


def test_a_runs_calibration_plot_gets_the_mixtures_cdf_values(tmp_path):
    from toolkit.evaluation.predict import Predictions
    from toolkit.evaluation.run_plots import _pit

    actual, locations, scales = _bimodal_mixture(50)
    rows = zip(actual, locations, scales, strict=True)
    independent = np.array([stats.norm.cdf(y, loc, scale).mean() for y, loc, scale in rows])
    whole = Predictions("regression", locations.mean(1), locations=locations, scales=scales)
    np.testing.assert_allclose(_pit(whole, actual), independent)
    chunked = Predictions("regression", locations.mean(1), row_scores={"pit": independent})
    assert _pit(chunked, actual) is independent
    points_only = Predictions("regression", locations.mean(1), std=np.ones(50), locations=locations)
    assert _pit(points_only, actual) is None  # MC dropout without a Gaussian head: Gaussian


def test_predictive_band_covers_mean_plus_minus_z_std(data):
    x, actual, _, _ = data
    grid = np.linspace(4, -4, 100)  # unsorted on purpose
    mean, std = np.sin(grid), 0.1 + 0.05 * np.abs(grid)
    ax = plots.predictive_band(x, actual, grid, mean, std, interval=0.5).axes[0]
    order = np.argsort(grid)
    np.testing.assert_allclose(line(ax, "predictive mean").get_xdata(), grid[order])
    np.testing.assert_allclose(line(ax, "predictive mean").get_ydata(), mean[order])
    band = ax.collections[0].get_paths()[0].vertices
    z = stats.norm.ppf(0.75)
    assert band[:, 1].min() == pytest.approx(np.min(mean - z * std))
    assert band[:, 1].max() == pytest.approx(np.max(mean + z * std))
    np.testing.assert_allclose(points(ax, "data"), np.column_stack([x, actual]))


def test_uncertainty_plots_leave_out_nan_and_inf(data, tmp_path):
    x, actual, mean, std = data
    mean, std = _with_non_finite(mean, std)
    keep = np.isfinite(mean) & np.isfinite(std)
    figures = {
        "intervals": plots.intervals_sorted(actual, mean, std, max_points=1000),
        "calibration": plots.interval_calibration(actual, mean, std),
        "band": plots.predictive_band(x, actual, x, mean, std),
    }
    for name, fig in figures.items():
        assert "3 NaN/inf not drawn" in fig.axes[0].get_title(), name
        assert_png(plots.save(fig, tmp_path / f"{name}.png"))
    drawn = figures["intervals"].axes[0].containers[0].lines[0].get_ydata()
    assert len(drawn) == keep.sum() and np.isfinite(drawn).all()
    z = stats.norm.ppf(0.975)  # the last level, 95%
    calibrated = np.mean(np.abs(actual - mean)[keep] <= z * std[keep])
    observed = line(figures["calibration"].axes[0], "observed").get_ydata()
    assert observed[-1] == pytest.approx(calibrated)


def test_a_mixtures_intervals_plot_draws_and_counts_the_interval_predict_writes():
    """Two members far apart: the 90% interval of their mixture is not mean -/+ z std, and
    the plot drew and counted the latter, so its coverage disagreed with metrics.json's. Its
    bounds and count are checked against the mixture's quantiles found here by root finding."""
    from scipy import optimize

    from tests.helpers import tiny_config
    from toolkit.config.loading import validate_config
    from toolkit.data.preprocessing import FeatureSpec, NumericFeature, TargetSpec
    from toolkit.evaluation.predict import summarize_outputs
    from toolkit.evaluation.run_plots import _regression_figures

    rng = np.random.default_rng(11)
    rows = 120
    centre = rng.normal(size=rows)
    locations = np.stack([centre - 2.0, centre + 2.0], axis=-1)  # (rows, members)
    scales = np.full((rows, 2), 0.5)
    raw = np.stack([locations, scales], axis=-1)[None]  # (1, rows, 2 members, 2)
    y = centre + rng.choice([-2.0, 2.0], size=rows) + rng.normal(0, 0.5, size=rows)
    y[:10] = centre[:10]  # between the modes: inside mean -/+ z std, outside the mixture's band
    config = validate_config(
        tiny_config(
            "regression",
            model={"task": "regression", "head": "gaussian", "ensemble": {"members": 2}},
            prediction={"interval": 0.9},
        )
    )
    p = summarize_outputs(raw, config)

    def quantile(row: int, level: float) -> float:
        def cdf(v):
            return stats.norm.cdf((v - locations[row]) / scales[row]).mean() - level

        return optimize.brentq(cdf, -20.0, 20.0, xtol=1e-10)

    lower = np.array([quantile(i, 0.05) for i in range(rows)])
    upper = np.array([quantile(i, 0.95) for i in range(rows)])
    inside = (lower <= y) & (y <= upper)
    gaussian = np.abs(y - p.mean) <= stats.norm.ppf(0.95) * p.std
    assert inside.mean() != gaussian.mean()  # the case the plot got wrong
    spec = FeatureSpec(
        [NumericFeature("a", 0.0, 1.0), NumericFeature("b", 0.0, 1.0)],
        [],
        TargetSpec("target", "regression"),
    )
    figures = _regression_figures(config, None, spec, None, None, p, y[:, None])
    ax = figures["intervals_sorted.png"].axes[0]
    assert f"observed coverage {inside.mean():.1%}, n = {rows}" in ax.get_title()
    assert len(points(ax, "actual (inside)")) == inside.sum()
    order = np.argsort(p.std, kind="stable")
    segments = ax.containers[0].lines[2][0].get_segments()
    np.testing.assert_allclose([s[0, 1] for s in segments], lower[order], atol=1e-6)
    np.testing.assert_allclose([s[1, 1] for s in segments], upper[order], atol=1e-6)


def test_the_predictive_band_names_the_feature_and_the_target(tmp_path):
    """A run on one numeric column: the band's axes are that column and the target, in
    their units. They read 'x' and 'y' whatever the columns (engel's income and foodexp)."""
    import pandas as pd

    import toolkit
    from tests.helpers import tiny_config
    from toolkit.api.run import Run
    from toolkit.data.prepared import prepare_data
    from toolkit.evaluation.predict import predict
    from toolkit.evaluation.run_plots import _regression_figures
    from toolkit.runs import RunDirectory

    rng = np.random.default_rng(4)
    income = rng.uniform(400, 4000, 160)
    frame = pd.DataFrame({"income": income, "foodexp": 0.5 * income + rng.normal(0, 50, 160)})
    frame.to_csv(tmp_path / "engel.csv", index=False)
    raw = tiny_config(
        "regression",
        data={"source": str(tmp_path / "engel.csv"), "target": "foodexp"},
        model={"task": "regression", "head": "gaussian", "hidden": [8]},
    )
    raw["data"].pop("synthetic")
    run = Run(toolkit.train(raw, output_dir=tmp_path / "runs", verbose=0).path)
    features, y = prepare_data(run.config, spec=run.spec).validation.sample(None)
    p = predict(run.model, features, run.config)
    rows = pd.DataFrame({"income": features["numeric"][:, 0]})
    figures = _regression_figures(
        run.config, RunDirectory(run.path), run.spec, run.model, rows, p, y
    )
    ax = figures["predictive_band.png"].axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("income", "foodexp")
