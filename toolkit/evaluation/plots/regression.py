"""Regression plots: predictions against the truth, and the residuals.

Both figures are half a report row wide, so they sit side by side. Pairs with a NaN or infinite
value are left out and counted in the title.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from toolkit.evaluation.metrics import regression_metrics
from toolkit.evaluation.plots import canvas


def _finite_pairs(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray, str]:
    actual, predicted = canvas.column(y_true), canvas.column(y_pred)
    mask = canvas.finite_rows(actual, predicted)
    return actual[mask], predicted[mask], canvas.left_out(mask)


@canvas.styled
def predicted_vs_actual(y_true: Any, y_pred: Any) -> Figure:
    """Scatter of predictions against actual values with the identity line; R² and RMSE above."""
    actual, predicted, note = _finite_pairs(y_true, y_pred)
    fig, ax = canvas.single_axes(5.0, 4.8)
    if not actual.size:
        canvas.placeholder(ax, f"no finite prediction{note}")
        return fig
    shown = canvas.subsample(actual.size)
    alpha = 0.7 if shown.size < 500 else 0.35
    ax.scatter(
        actual[shown], predicted[shown], s=12, alpha=alpha, color=canvas.TRAIN, edgecolors="none"
    )
    lo = min(actual.min(), predicted.min())
    hi = max(actual.max(), predicted.max())
    pad = 0.03 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=canvas.GREY, ls="--", lw=1.0)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal", adjustable="box")
    scores = regression_metrics(actual, predicted)
    r2 = "n/a" if scores["r2"] is None else f"{scores['r2']:.3f}"
    ax.set_title(f"R² = {r2}, RMSE = {scores['rmse']:.4g} (n = {actual.size}{note})")
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    return fig


@canvas.styled
def residuals(y_true: Any, y_pred: Any) -> Figure:
    """Residuals (actual - predicted) against the predictions, and their histogram below."""
    actual, predicted, note = _finite_pairs(y_true, y_pred)
    fig = canvas.new_figure(5.0, 4.8)
    if not actual.size:
        canvas.placeholder(fig.add_subplot(1, 1, 1), f"no finite prediction{note}")
        return fig
    error = actual - predicted
    top, bottom = fig.subplots(2, 1, height_ratios=[3, 2])
    shown = canvas.subsample(actual.size)
    top.scatter(
        predicted[shown], error[shown], s=10, alpha=0.5, color=canvas.TRAIN, edgecolors="none"
    )
    top.axhline(0.0, color=canvas.GREY, ls="--", lw=1.0)
    top.set_xlabel("predicted")
    top.set_ylabel("actual - predicted")
    top.set_title(f"Residuals vs predicted (n = {actual.size}{note})")
    bottom.hist(
        error, bins=min(50, max(10, int(np.sqrt(error.size)))), color=canvas.TRAIN, alpha=0.8
    )
    bottom.axvline(0.0, color=canvas.GREY, ls="--", lw=1.0)
    bottom.set_xlabel("residual")
    bottom.set_ylabel("count")
    bottom.set_title(f"mean = {error.mean():.3g}, std = {error.std():.3g}")
    return fig
