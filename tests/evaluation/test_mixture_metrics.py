"""Gaussian-mixture scores against SciPy: densities, root finding and numerical integration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from toolkit.evaluation import metrics

RNG = np.random.default_rng(11)
LOC = RNG.normal(size=(6, 4)) * 2.0
SCALE = RNG.uniform(0.2, 1.5, size=(6, 4))
Y = RNG.normal(size=6) * 2.0


def _cdf(x: float, row: int) -> float:
    return float(np.mean(stats.norm.cdf(x, LOC[row], SCALE[row])))


def test_mixture_nll_is_minus_the_log_of_the_average_density():
    expected = [-np.log(np.mean(stats.norm.pdf(Y[i], LOC[i], SCALE[i]))) for i in range(6)]
    np.testing.assert_allclose(metrics.mixture_nll(Y, LOC, SCALE), expected, rtol=1e-12)


@pytest.mark.parametrize("level", [0.025, 0.5, 0.975])
def test_mixture_quantile_solves_the_mixture_cdf(level):
    expected = [
        optimize.brentq(lambda x, i=i: _cdf(x, i) - level, -50, 50, xtol=1e-12) for i in range(6)
    ]
    np.testing.assert_allclose(
        metrics.mixture_quantile(level, LOC, SCALE), expected, rtol=0, atol=1e-8
    )


def test_mixture_crps_is_the_integral_of_the_squared_cdf_difference():
    def crps(i: int) -> float:
        below, _ = integrate.quad(lambda x: _cdf(x, i) ** 2, -np.inf, Y[i], epsabs=1e-11)
        above, _ = integrate.quad(lambda x: (1 - _cdf(x, i)) ** 2, Y[i], np.inf, epsabs=1e-11)
        return below + above

    expected = [crps(i) for i in range(6)]
    np.testing.assert_allclose(metrics.mixture_crps(Y, LOC, SCALE), expected, rtol=1e-7)


def test_one_component_is_the_gaussian():
    loc, scale = LOC[:, :1], SCALE[:, :1]
    np.testing.assert_allclose(
        metrics.mixture_crps(Y, loc, scale), metrics.gaussian_crps(Y, loc[:, 0], scale[:, 0])
    )
    np.testing.assert_allclose(
        metrics.mixture_quantile(0.9, loc, scale),
        stats.norm.ppf(0.9, loc[:, 0], scale[:, 0]),
        atol=1e-12,
    )


def test_regression_metrics_score_a_mixture_as_a_mixture():
    result = metrics.regression_metrics(
        Y, LOC.mean(axis=1), std=np.ones(6), interval=0.9, mixture=(LOC, SCALE)
    )
    lower = metrics.mixture_quantile(0.05, LOC, SCALE)
    upper = metrics.mixture_quantile(0.95, LOC, SCALE)
    assert result["nll"] == pytest.approx(np.mean(metrics.mixture_nll(Y, LOC, SCALE)))
    inside = (lower <= Y) & (upper >= Y)
    assert result["coverage"] == pytest.approx(np.mean(inside))
    assert result["interval_width"] == pytest.approx(np.mean(upper - lower))
    assert result["crps"] == pytest.approx(np.mean(metrics.mixture_crps(Y, LOC, SCALE)))


def test_per_row_scores_kept_by_chunked_evaluation_give_the_same_metrics():
    whole = metrics.regression_metrics(Y, LOC.mean(axis=1), interval=0.8, mixture=(LOC, SCALE))
    bounds = (
        metrics.mixture_quantile(0.1, LOC, SCALE),
        metrics.mixture_quantile(0.9, LOC, SCALE),
    )
    chunked = metrics.scored_regression_metrics(
        Y,
        LOC.mean(axis=1),
        bounds=bounds,
        nll_rows=np.concatenate(
            [
                metrics.mixture_nll(Y[:3], LOC[:3], SCALE[:3]),
                metrics.mixture_nll(Y[3:], LOC[3:], SCALE[3:]),
            ]
        ),
        crps_rows=metrics.mixture_crps(Y, LOC, SCALE, chunk=2),
    )
    assert chunked == pytest.approx(whole)
