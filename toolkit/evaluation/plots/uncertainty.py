"""Uncertainty plots of a predictive distribution: intervals, their calibration, a band.

The intervals and the band are the ones ``toolkit predict`` writes when given (``bounds``),
else the Gaussian mean -/+ z std; the calibration curve counts, per level, the intervals of
the predictive distribution given by each row's CDF value at its target (``pit``), else
Gaussian intervals.

Rows with a NaN or infinite value (truth, mean or std) are left out and counted in the title.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure
from scipy import special

from toolkit.evaluation.metrics import interval_coverage_curve, pit_coverage_curve
from toolkit.evaluation.plots import canvas


def _z(interval: float) -> float:
    """Half-width of the central ``interval`` of a standard normal."""
    return float(special.ndtri(0.5 + interval / 2.0))


def _finite(*arrays: Any) -> tuple[list[np.ndarray], str]:
    columns = [canvas.column(a) for a in arrays]
    mask = canvas.finite_rows(*columns)
    return [c[mask] for c in columns], canvas.left_out(mask)


def _bounds_or_gaussian(
    mean: Any, std: Any, interval: float, bounds: tuple[Any, Any] | None
) -> tuple[Any, Any]:
    """``bounds`` when given, else the central Gaussian interval mean -/+ z std."""
    if bounds is not None:
        return bounds
    z = _z(interval)
    mean, std = canvas.column(mean), canvas.column(std)
    return mean - z * std, mean + z * std


@canvas.styled
def intervals_sorted(
    y_true: Any,
    y_pred: Any,
    std: Any,
    *,
    interval: float = 0.95,
    max_points: int = 200,
    bounds: tuple[Any, Any] | None = None,
) -> Figure:
    """Predictions with central ``interval`` error bars, sorted by predictive std.

    ``bounds``: (lower, upper), the interval ``toolkit predict`` writes and metrics.json
    scores (a mixture's quantiles, clipped to a target range); without them, mean -/+ z std.
    Actual values inside the interval are green, outside red; above ``max_points`` samples an
    evenly spaced subset (over the std ranking) is drawn.
    """
    low, high = _bounds_or_gaussian(y_pred, std, interval, bounds)
    (actual, predicted, sd, lower, upper), note = _finite(y_true, y_pred, std, low, high)
    fig, ax = canvas.single_axes(10.0, 3.8)
    if not actual.size:
        canvas.placeholder(ax, f"no finite prediction{note}")
        return fig
    order = np.argsort(sd, kind="stable")
    if order.size > max_points:
        order = order[np.linspace(0, order.size - 1, max_points).round().astype(int)]
    rank = np.arange(order.size)
    t, p, lo, hi = actual[order], predicted[order], lower[order], upper[order]
    inside = (lo <= t) & (t <= hi)
    ax.errorbar(
        rank,
        p,
        # Distances from the prediction; a clipped mean can sit on a clipped bound (0 there).
        yerr=np.stack([np.maximum(p - lo, 0.0), np.maximum(hi - p, 0.0)]),
        fmt="o",
        ms=3,
        color=canvas.TRAIN,
        ecolor="#9ecae1",
        elinewidth=1.2,
        label=f"prediction ± {interval:.0%} interval",
    )
    ax.scatter(rank[inside], t[inside], s=14, color=canvas.GOOD, zorder=3, label="actual (inside)")
    ax.scatter(
        rank[~inside],
        t[~inside],
        s=18,
        color=canvas.BAD,
        marker="x",
        zorder=3,
        label="actual (outside)",
    )
    coverage = float(np.mean((lower <= actual) & (actual <= upper)))
    ax.set_title(
        f"{interval:.0%} intervals sorted by predictive std "
        f"(observed coverage {coverage:.1%}, n = {actual.size}{note})"
    )
    ax.set_xlabel("samples ranked by predictive std (low → high)")
    ax.set_ylabel("value")
    ax.legend(loc="upper left", ncols=3)
    return fig


@canvas.styled
def interval_calibration(y_true: Any, y_pred: Any, std: Any, *, pit: Any = None) -> Figure:
    """Expected vs observed coverage of central intervals at levels 0.05..0.95.

    ``pit``: each row's predictive CDF at its target (a mixture's, as predict's intervals
    are its quantiles); without it, Gaussian intervals mean -/+ z std. Points above the
    diagonal mean under-confident (too wide), below over-confident.
    """
    if pit is None:
        (actual, predicted, sd), note = _finite(y_true, y_pred, std)
    else:
        (actual, predicted, sd, pit), note = _finite(y_true, y_pred, std, pit)
    fig, ax = canvas.single_axes(5.2, 5.0)
    if not actual.size:
        canvas.placeholder(ax, f"no finite prediction{note}")
        return fig
    if pit is None:
        curve = interval_coverage_curve(actual, predicted, sd)
    else:
        curve = pit_coverage_curve(pit)
    expected, observed = np.asarray(curve["expected"]), np.asarray(curve["observed"])
    ax.plot([0, 1], [0, 1], color=canvas.GREY, ls="--", lw=1.0, label="perfect calibration")
    ax.fill_between(expected, expected, observed, color=canvas.BAD, alpha=0.15, label="gap")
    ax.plot(expected, observed, marker="o", ms=4, color=canvas.TRAIN, lw=1.6, label="observed")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("expected coverage (nominal interval level)")
    ax.set_ylabel("observed coverage")
    gap = float(np.mean(np.abs(observed - expected)))
    ax.set_title(f"Interval calibration (mean abs. gap {gap:.3f}{note})")
    ax.legend(loc="upper left")
    return fig


@canvas.styled
def predictive_band(
    x: Any,
    y_true: Any,
    x_grid: Any,
    mean_grid: Any,
    std_grid: Any,
    *,
    interval: float = 0.95,
    bounds: tuple[Any, Any] | None = None,
    x_label: str = "x",
    y_label: str = "y",
) -> Figure:
    """Data, predictive mean and central ``interval`` band over a grid for a single-input
    problem; ``bounds``: the band's (lower, upper) as predict gives them, else mean -/+ z std.
    ``x_label``, ``y_label``: the feature's and the target's column names, so the axes say
    which columns (and units) they show."""
    (xs, ys), data_note = _finite(x, y_true)
    low, high = _bounds_or_gaussian(mean_grid, std_grid, interval, bounds)
    (grid, mean, lower, upper), grid_note = _finite(x_grid, mean_grid, low, high)
    order = np.argsort(grid)
    grid, mean, lower, upper = grid[order], mean[order], lower[order], upper[order]
    fig, ax = canvas.single_axes(6.4, 4.6)
    ax.fill_between(
        grid,
        lower,
        upper,
        color=canvas.TRAIN,
        alpha=0.2,
        label=f"{interval:.0%} interval",
    )
    ax.plot(grid, mean, color=canvas.TRAIN, lw=2.0, label="predictive mean")
    shown = canvas.subsample(xs.size)
    ax.scatter(
        xs[shown], ys[shown], s=10, color="black", alpha=0.5, edgecolors="none", label="data"
    )
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(f"Predictive distribution{data_note}{grid_note}")
    ax.legend(loc="best")
    return fig
