"""Headless evaluation plots written as PNG files.

Every function builds a :class:`matplotlib.figure.Figure` directly (no pyplot global state, so
it is safe in threads and never opens a window), renders it with the Agg backend, writes it
atomically (``toolkit.runs.atomic_write``) under a fixed file name
and returns the path. No TensorFlow or Keras import: inputs are numpy arrays and DataFrames.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy import stats
from sklearn import metrics as skm

from toolkit.evaluation.metrics import (
    calibration_bins,
    expected_calibration_error,
    interval_coverage_curve,
    metric_direction,
)
from toolkit.runs import atomic_write

__all__ = [
    "comparison_curves",
    "confusion_matrix",
    "interval_calibration",
    "intervals_sorted",
    "learning_curves",
    "pr_curve",
    "predicted_vs_actual",
    "predictive_band",
    "reliability_diagram",
    "residuals",
    "roc_curve",
    "sweep_plots",
]

_DPI = 110
_MAX_POINTS = 5000  # scatter plots subsample above this many points (deterministically)
_MAX_TARGETS = 6  # regression plots show at most this many target panels
_MAX_CURVES = 10  # one-vs-rest curves drawn per class up to this many classes
_C_TRAIN = "#1f77b4"
_C_VAL = "#ff7f0e"
_C_GOOD = "#2ca02c"
_C_BAD = "#d62728"
_C_GREY = "#7f7f7f"
_RC = {
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 9.5,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8.5,
    "legend.framealpha": 0.85,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _styled(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run a plotting function under the module's local rcParams (global state is untouched)."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with matplotlib.rc_context(_RC):
            return func(*args, **kwargs)

    return wrapper


def _figure(width: float, height: float) -> Figure:
    """A new Agg-backed figure with constrained layout."""
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically and return ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda temporary: fig.savefig(temporary, format="png", dpi=_DPI))


def _placeholder(ax: Axes, text: str) -> None:
    """Show a centred message on an otherwise empty axis."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, color=_C_GREY, wrap=True)


def _as_2d(y: Any) -> np.ndarray:
    arr = np.asarray(y, dtype=np.float64)
    return arr[:, None] if arr.ndim == 1 else arr.reshape(arr.shape[0], -1)


def _regression_inputs(
    y_true: Any, y_pred: Any, std: Any | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    yt, yp = _as_2d(y_true), _as_2d(y_pred)
    if yt.shape[1] != yp.shape[1]:
        yt, yp = np.broadcast_arrays(yt, yp)
    sd = None if std is None else np.broadcast_to(_as_2d(std), yt.shape)
    return yt, yp, sd


def _target_label(index: int, count: int, names: Sequence[str] | None) -> str:
    if names is not None and index < len(names):
        return str(names[index])
    return "target" if count == 1 else f"target {index}"


def _subsample(n: int, limit: int = _MAX_POINTS) -> np.ndarray:
    """Deterministic subset of ``range(n)`` of at most ``limit`` indices."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size=limit, replace=False))


def _grid(n_panels: int, max_cols: int = 3) -> tuple[int, int]:
    cols = max(1, min(max_cols, n_panels))
    return math.ceil(n_panels / cols), cols


def _integer_ticks(ax: Axes, values: Any) -> None:
    """Integer x ticks for epochs and trial numbers (each value itself when there are few)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = np.unique(finite[np.isfinite(finite)])
    if 0 < finite.size <= 12:
        ax.set_xticks(finite)
        ax.set_xticklabels([f"{v:g}" for v in finite])
        if finite.size == 1:
            ax.set_xlim(finite[0] - 1, finite[0] + 1)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _safe_name(text: str) -> str:
    """File-name-safe version of a hyperparameter name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("._") or "hp"


# --------------------------------------------------------------------------------------------
# training curves
# --------------------------------------------------------------------------------------------


def _epochs(history: pd.DataFrame) -> np.ndarray:
    if "epoch" in history.columns:
        return pd.to_numeric(history["epoch"], errors="coerce").to_numpy(dtype=np.float64)
    return np.arange(len(history), dtype=np.float64)


def _best_index(values: np.ndarray, mode: str) -> int | None:
    finite = np.isfinite(values)
    if not finite.any():
        return None
    masked = np.where(finite, values, np.inf if mode == "min" else -np.inf)
    return int(np.argmin(masked) if mode == "min" else np.argmax(masked))


@_styled
def learning_curves(
    history: pd.DataFrame, out_dir: Path, *, monitor: str = "val_loss", mode: str = "auto"
) -> Path:
    """Train vs validation curves for the loss and every metric, best ``monitor`` epoch marked.

    Columns ``x`` and ``val_x`` share a panel; a learning-rate column (``lr``/``learning_rate``)
    gets its own log-scale panel. ``mode`` is ``"min"``, ``"max"`` or ``"auto"`` (from the name).
    Writes ``learning_curves.png``.
    """
    out = Path(out_dir) / "learning_curves.png"
    df = history.apply(pd.to_numeric, errors="coerce") if len(history) else history
    numeric = [c for c in df.columns if c != "epoch" and df[c].notna().any()]
    lr_cols = [c for c in numeric if c in ("lr", "learning_rate")]
    bases: list[str] = []
    for col in numeric:
        if col in lr_cols:
            continue
        base = col.removeprefix("val_")
        if base not in bases:
            bases.append(base)
    if "loss" in bases:
        bases.remove("loss")
        bases.insert(0, "loss")
    panels = bases + lr_cols
    rows, cols = _grid(max(len(panels), 1))
    fig = _figure(4.6 * cols, 3.3 * rows)
    if not panels:
        _placeholder(fig.add_subplot(1, 1, 1), "no training history recorded")
        return _save(fig, out)
    epochs = _epochs(df)
    if mode == "auto":
        mode = metric_direction(monitor) or "min"
    best = _best_index(df[monitor].to_numpy(dtype=np.float64), mode) if monitor in df else None
    best_epoch = epochs[best] if best is not None else None
    for i, base in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        if base in lr_cols:
            ax.plot(epochs, df[base], color=_C_GREY, lw=1.6)
            if (df[base] > 0).all():
                ax.set_yscale("log")
            ax.set_title("learning rate")
        else:
            if base in df:
                ax.plot(epochs, df[base], color=_C_TRAIN, lw=1.6, label="train")
            if f"val_{base}" in df:
                ax.plot(epochs, df[f"val_{base}"], color=_C_VAL, lw=1.6, label="validation")
            ax.set_title(base.replace("_", " "))
            ax.legend(loc="best")
        if best_epoch is not None:
            ax.axvline(best_epoch, color=_C_GREY, ls="--", lw=1.0)
            if base == monitor.removeprefix("val_") and monitor in df:
                value = float(df[monitor].iloc[best])
                ax.plot([best_epoch], [value], marker="*", ms=13, color=_C_BAD, zorder=5)
                ax.annotate(
                    f"best epoch {best_epoch:g}\n{monitor} = {value:.4g}",
                    xy=(best_epoch, value),
                    # to the left of a best epoch in the right half, so the box stays inside
                    xytext=(-8, 12) if best_epoch > np.nanmean(epochs) else (8, 12),
                    ha="right" if best_epoch > np.nanmean(epochs) else "left",
                    textcoords="offset points",
                    fontsize=8.5,
                    bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": _C_GREY, "alpha": 0.9},
                )
        ax.set_xlabel("epoch")
        _integer_ticks(ax, epochs)
    return _save(fig, out)


@_styled
def comparison_curves(
    histories: Mapping[str, pd.DataFrame], out_path: Path, *, metric: str = "val_loss"
) -> Path:
    """Overlay ``metric`` per epoch for several runs (best point of each marked); writes ``out_path``."""
    out = Path(out_path)
    fig = _figure(8.0, 4.6)
    ax = fig.add_subplot(1, 1, 1)
    mode = metric_direction(metric) or "min"
    drawn = 0
    missing: list[str] = []
    for name, history in histories.items():
        if history is None or metric not in history.columns:
            missing.append(str(name))
            continue
        values = pd.to_numeric(history[metric], errors="coerce").to_numpy(dtype=np.float64)
        epochs = _epochs(history)
        (line,) = ax.plot(epochs, values, lw=1.6, label=str(name))
        best = _best_index(values, mode)
        if best is not None:
            ax.plot([epochs[best]], [values[best]], marker="o", ms=6, color=line.get_color())
        drawn += 1
    if drawn == 0:
        _placeholder(ax, f"no run recorded {metric!r}")
        return _save(fig, out)
    ax.set_xlabel("epoch")
    _integer_ticks(ax, np.concatenate([_epochs(h) for h in histories.values() if h is not None]))
    ax.set_ylabel(metric)
    title = f"{metric} per epoch (dot = best epoch)"
    if missing:
        title += f"\nnot recorded by: {', '.join(missing)}"
    ax.set_title(title)
    ax.legend(loc="best")
    return _save(fig, out)


# --------------------------------------------------------------------------------------------
# regression
# --------------------------------------------------------------------------------------------


@_styled
def predicted_vs_actual(
    y_true: Any, y_pred: Any, out_dir: Path, *, target_names: Sequence[str] | None = None
) -> Path:
    """Scatter of predictions against actual values with the identity line, one panel per target.

    Writes ``predicted_vs_actual.png``.
    """
    yt, yp, _ = _regression_inputs(y_true, y_pred)
    k = min(yt.shape[1], _MAX_TARGETS)
    rows, cols = _grid(k)
    fig = _figure(4.6 * cols, 4.3 * rows)
    idx = _subsample(yt.shape[0])
    alpha = 0.7 if idx.size < 500 else 0.35
    for j in range(k):
        ax = fig.add_subplot(rows, cols, j + 1)
        t, p = yt[:, j], yp[:, j]
        ax.scatter(t[idx], p[idx], s=12, alpha=alpha, color=_C_TRAIN, edgecolors="none")
        lo = float(np.nanmin([t.min(), p.min()]))
        hi = float(np.nanmax([t.max(), p.max()]))
        pad = 0.03 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=_C_GREY, ls="--", lw=1.0)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_aspect("equal", adjustable="box")
        rmse = float(np.sqrt(np.mean((p - t) ** 2)))
        ss_tot = float(np.sum((t - t.mean()) ** 2))
        r2 = 1.0 - float(np.sum((p - t) ** 2)) / ss_tot if ss_tot > 0 else float("nan")
        label = _target_label(j, yt.shape[1], target_names)
        ax.set_title(f"{label}: R² = {r2:.3f}, RMSE = {rmse:.4g}")
        ax.set_xlabel("actual")
        ax.set_ylabel("predicted")
    return _save(fig, Path(out_dir) / "predicted_vs_actual.png")


@_styled
def residuals(
    y_true: Any, y_pred: Any, out_dir: Path, *, target_names: Sequence[str] | None = None
) -> Path:
    """Residuals (actual - predicted) against predictions, and their histogram, per target.

    Writes ``residuals.png``.
    """
    yt, yp, _ = _regression_inputs(y_true, y_pred)
    k = min(yt.shape[1], _MAX_TARGETS)
    fig = _figure(10.0, 3.6 * k)
    idx = _subsample(yt.shape[0])
    for j in range(k):
        res = yt[:, j] - yp[:, j]
        label = _target_label(j, yt.shape[1], target_names)
        ax = fig.add_subplot(k, 2, 2 * j + 1)
        ax.scatter(yp[idx, j], res[idx], s=10, alpha=0.5, color=_C_TRAIN, edgecolors="none")
        ax.axhline(0.0, color=_C_GREY, ls="--", lw=1.0)
        ax.set_xlabel("predicted")
        ax.set_ylabel("residual (actual - predicted)")
        ax.set_title(f"{label}: residuals vs predicted")
        ax2 = fig.add_subplot(k, 2, 2 * j + 2)
        ax2.hist(res, bins=min(50, max(10, int(np.sqrt(res.size)))), color=_C_TRAIN, alpha=0.8)
        ax2.axvline(0.0, color=_C_GREY, ls="--", lw=1.0)
        ax2.set_xlabel("residual")
        ax2.set_ylabel("count")
        ax2.set_title(f"mean = {res.mean():.3g}, std = {res.std():.3g}")
    return _save(fig, Path(out_dir) / "residuals.png")


@_styled
def intervals_sorted(
    y_true: Any,
    y_pred: Any,
    std: Any,
    out_dir: Path,
    *,
    interval: float = 0.95,
    max_points: int = 200,
    target_names: Sequence[str] | None = None,
) -> Path:
    """Predictions with central ``interval`` error bars, sorted by predictive std.

    Actual values inside the interval are green, outside red; above ``max_points`` samples an
    evenly spaced subset (over the std ranking) is drawn. Writes ``intervals_sorted.png``.
    """
    yt, yp, sd = _regression_inputs(y_true, y_pred, std)
    assert sd is not None
    z = float(stats.norm.ppf(0.5 + interval / 2.0))
    k = min(yt.shape[1], _MAX_TARGETS)
    fig = _figure(10.0, 3.8 * k)
    for j in range(k):
        ax = fig.add_subplot(k, 1, j + 1)
        order = np.argsort(sd[:, j], kind="stable")
        if order.size > max_points:
            order = order[np.linspace(0, order.size - 1, max_points).round().astype(int)]
        rank = np.arange(order.size)
        t, p, s = yt[order, j], yp[order, j], sd[order, j]
        inside = np.abs(t - p) <= z * s
        ax.errorbar(
            rank,
            p,
            yerr=z * s,
            fmt="o",
            ms=3,
            color=_C_TRAIN,
            ecolor="#9ecae1",
            elinewidth=1.2,
            label=f"prediction ± {interval:.0%} interval",
        )
        ax.scatter(rank[inside], t[inside], s=14, color=_C_GOOD, zorder=3, label="actual (inside)")
        ax.scatter(
            rank[~inside],
            t[~inside],
            s=18,
            color=_C_BAD,
            marker="x",
            zorder=3,
            label="actual (outside)",
        )
        coverage = float(np.mean(np.abs(yt[:, j] - yp[:, j]) <= z * sd[:, j]))
        label = _target_label(j, yt.shape[1], target_names)
        ax.set_title(
            f"{label}: {interval:.0%} intervals sorted by predictive std "
            f"(observed coverage {coverage:.1%}, n = {yt.shape[0]})"
        )
        ax.set_xlabel("samples ranked by predictive std (low → high)")
        ax.set_ylabel("value")
        ax.legend(loc="upper left", ncols=3)
    return _save(fig, Path(out_dir) / "intervals_sorted.png")


@_styled
def interval_calibration(y_true: Any, y_pred: Any, std: Any, out_dir: Path) -> Path:
    """Expected vs observed coverage of central Gaussian intervals at levels 0.05..0.95.

    Points above the diagonal mean under-confident (too wide), below over-confident.
    Writes ``interval_calibration.png``.
    """
    curve = interval_coverage_curve(y_true, y_pred, std)
    expected = np.asarray(curve["expected"])
    observed = np.asarray(curve["observed"])
    fig = _figure(5.2, 5.0)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color=_C_GREY, ls="--", lw=1.0, label="perfect calibration")
    ax.fill_between(expected, expected, observed, color=_C_BAD, alpha=0.15, label="gap")
    ax.plot(expected, observed, marker="o", ms=4, color=_C_TRAIN, lw=1.6, label="observed")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("expected coverage (nominal interval level)")
    ax.set_ylabel("observed coverage")
    mace = float(np.mean(np.abs(observed - expected)))
    ax.set_title(f"Interval calibration (mean abs. gap {mace:.3f})")
    ax.legend(loc="upper left")
    return _save(fig, Path(out_dir) / "interval_calibration.png")


@_styled
def predictive_band(
    x: Any,
    y_true: Any,
    x_grid: Any,
    mean_grid: Any,
    std_grid: Any,
    out_dir: Path,
    *,
    interval: float = 0.95,
) -> Path:
    """Data, predictive mean and central ``interval`` band over a grid for a single-input problem.

    Writes ``predictive_band.png``.
    """
    xs = np.asarray(x, dtype=np.float64).reshape(-1)
    ys = np.asarray(y_true, dtype=np.float64).reshape(-1)
    grid = np.asarray(x_grid, dtype=np.float64).reshape(-1)
    mean = np.asarray(mean_grid, dtype=np.float64).reshape(-1)
    sd = np.asarray(std_grid, dtype=np.float64).reshape(-1)
    order = np.argsort(grid)
    grid, mean, sd = grid[order], mean[order], sd[order]
    z = float(stats.norm.ppf(0.5 + interval / 2.0))
    fig = _figure(8.0, 4.6)
    ax = fig.add_subplot(1, 1, 1)
    ax.fill_between(
        grid,
        mean - z * sd,
        mean + z * sd,
        color=_C_TRAIN,
        alpha=0.2,
        label=f"{interval:.0%} predictive interval",
    )
    ax.plot(grid, mean, color=_C_TRAIN, lw=2.0, label="predictive mean")
    idx = _subsample(xs.size)
    ax.scatter(xs[idx], ys[idx], s=10, color="black", alpha=0.5, edgecolors="none", label="data")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("Predictive distribution")
    ax.legend(loc="best")
    return _save(fig, Path(out_dir) / "predictive_band.png")


# --------------------------------------------------------------------------------------------
# classification
# --------------------------------------------------------------------------------------------


@_styled
def confusion_matrix(cm: Any, class_names: Sequence[str], out_dir: Path) -> Path:
    """Confusion matrix coloured by row-normalised rate (recall), annotated with counts and %.

    Rows are true classes, columns predicted ones. Writes ``confusion_matrix.png``.
    """
    mat = np.asarray(cm, dtype=np.float64)
    n = mat.shape[0]
    names = [str(c) for c in class_names] if class_names is not None else [str(i) for i in range(n)]
    rows = mat.sum(axis=1, keepdims=True)
    rate = np.divide(mat, rows, out=np.zeros_like(mat), where=rows > 0)
    size = min(14.0, max(4.8, 0.6 * n + 3.0))
    fig = _figure(size + 1.0, size)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(rate, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.grid(False)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    ax.set_xticks(
        range(n),
        labels=names,
        rotation=45 if max(map(len, names)) > 4 else 0,
        ha="right" if max(map(len, names)) > 4 else "center",
    )
    ax.set_yticks(range(n), labels=names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if n <= 25:
        for i in range(n):
            for j in range(n):
                colour = "white" if rate[i, j] > 0.55 else "black"
                ax.text(
                    j,
                    i,
                    f"{int(mat[i, j])}\n{rate[i, j]:.0%}",
                    ha="center",
                    va="center",
                    fontsize=8 if n > 10 else 9,
                    color=colour,
                )
    total = mat.sum()
    acc = float(np.trace(mat) / total) if total > 0 else float("nan")
    ax.set_title(f"Confusion matrix (accuracy {acc:.1%}, n = {int(total)})")
    return _save(fig, Path(out_dir) / "confusion_matrix.png")


def _curve_inputs(
    y_true: Any, scores: Any, class_names: Sequence[str] | None
) -> tuple[list[tuple[str, np.ndarray, np.ndarray]], bool]:
    """Split classification inputs into (label, binary truth, score) one-vs-rest pairs."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y_true).reshape(-1)
    if y.dtype.kind in "OUS" and class_names is not None:
        lookup = {str(c): i for i, c in enumerate(class_names)}
        y = np.array([lookup[str(v)] for v in y])
    y = y.astype(np.int64)
    if s.ndim == 1 or (s.ndim == 2 and s.shape[1] <= 2):
        score = s.reshape(-1) if s.ndim == 1 or s.shape[1] == 1 else s[:, 1]
        label = (
            str(class_names[1]) if class_names is not None and len(class_names) == 2 else "positive"
        )
        return [(label, y, score)], True
    names = list(class_names) if class_names is not None else [str(i) for i in range(s.shape[1])]
    return [(str(names[c]), (y == c).astype(np.int64), s[:, c]) for c in range(s.shape[1])], False


@_styled
def roc_curve(
    y_true: Any, scores: Any, out_dir: Path, *, class_names: Sequence[str] | None = None
) -> Path:
    """ROC curve with AUC: a single curve for binary scores, one-vs-rest per class for (n, C).

    Classes absent from (or making up all of) the split have no ROC and are listed as such;
    with more than 10 classes only the micro-average is drawn. Writes ``roc_curve.png``.
    """
    pairs, binary = _curve_inputs(y_true, scores, class_names)
    fig = _figure(5.8, 5.2)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color=_C_GREY, ls="--", lw=1.0, label="chance")
    undefined = []
    draw_each = binary or len(pairs) <= _MAX_CURVES
    for label, truth, score in pairs:
        if np.unique(truth).size < 2:
            undefined.append(label)
            continue
        if draw_each:
            fpr, tpr, _ = skm.roc_curve(truth, score)
            auc = skm.auc(fpr, tpr)
            ax.plot(fpr, tpr, lw=1.8 if binary else 1.3, label=f"{label} (AUC {auc:.3f})")
    if not binary:
        truth = np.concatenate([t for _, t, _ in pairs])
        score = np.concatenate([s for _, _, s in pairs])
        if np.unique(truth).size == 2:
            fpr, tpr, _ = skm.roc_curve(truth, score)
            ax.plot(
                fpr,
                tpr,
                color="black",
                lw=2.2,
                ls=":",
                label=f"micro-average (AUC {skm.auc(fpr, tpr):.3f})",
            )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    title = "ROC curve" if binary else "ROC curves (one-vs-rest)"
    if undefined:
        title += f"\nundefined (one class only): {', '.join(undefined[:5])}"
    ax.set_title(title)
    ax.legend(loc="lower right")
    return _save(fig, Path(out_dir) / "roc_curve.png")


@_styled
def pr_curve(
    y_true: Any, scores: Any, out_dir: Path, *, class_names: Sequence[str] | None = None
) -> Path:
    """Precision-recall curve with average precision (AP); one-vs-rest per class for (n, C).

    The dashed line of each class is its prevalence (the AP of a random classifier).
    Writes ``pr_curve.png``.
    """
    pairs, binary = _curve_inputs(y_true, scores, class_names)
    fig = _figure(5.8, 5.2)
    ax = fig.add_subplot(1, 1, 1)
    undefined = []
    draw_each = binary or len(pairs) <= _MAX_CURVES
    for label, truth, score in pairs:
        if truth.sum() == 0:
            undefined.append(label)
            continue
        if draw_each:
            precision, recall, _ = skm.precision_recall_curve(truth, score)
            ap = skm.average_precision_score(truth, score)
            (line,) = ax.plot(
                recall,
                precision,
                lw=1.8 if binary else 1.3,
                drawstyle="steps-post",
                label=f"{label} (AP {ap:.3f})",
            )
            ax.axhline(truth.mean(), color=line.get_color(), ls="--", lw=0.8, alpha=0.7)
    if not binary:
        truth = np.concatenate([t for _, t, _ in pairs])
        score = np.concatenate([s for _, _, s in pairs])
        if truth.sum() > 0:
            precision, recall, _ = skm.precision_recall_curve(truth, score)
            ap = skm.average_precision_score(truth, score)
            ax.plot(
                recall,
                precision,
                color="black",
                lw=2.2,
                ls=":",
                drawstyle="steps-post",
                label=f"micro-average (AP {ap:.3f})",
            )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    title = "Precision-recall curve" if binary else "Precision-recall curves (one-vs-rest)"
    if undefined:
        title += f"\nundefined (no positives): {', '.join(undefined[:5])}"
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower left")
    return _save(fig, Path(out_dir) / "pr_curve.png")


@_styled
def reliability_diagram(
    y_true: Any, probabilities: Any, out_dir: Path, *, n_bins: int = 10
) -> Path:
    """Reliability diagram (observed frequency vs predicted probability) with a count histogram.

    1-D probabilities are P(y = 1) of a binary task; (n, C) uses the top-label confidence vs
    accuracy. Writes ``reliability_diagram.png``.
    """
    bins = calibration_bins(y_true, probabilities, n_bins=n_bins)
    ece = expected_calibration_error(y_true, probabilities, n_bins=n_bins)
    p = np.asarray(probabilities)
    multiclass = p.ndim == 2 and p.shape[1] > 2
    edges = np.asarray(bins["edges"])
    centres = (edges[:-1] + edges[1:]) / 2
    width = edges[1] - edges[0]
    count = np.asarray(bins["count"])
    observed = np.array([np.nan if v is None else v for v in bins["observed"]])
    confidence = np.array([np.nan if v is None else v for v in bins["confidence"]])
    fig = _figure(5.6, 6.4)
    grid = fig.add_gridspec(2, 1, height_ratios=[3, 1])
    ax = fig.add_subplot(grid[0])
    ax.plot([0, 1], [0, 1], color=_C_GREY, ls="--", lw=1.0, label="perfect calibration")
    filled = count > 0
    ax.bar(
        centres[filled],
        observed[filled],
        width=width * 0.92,
        color=_C_TRAIN,
        alpha=0.8,
        edgecolor="white",
        label="accuracy" if multiclass else "observed frequency",
    )
    ax.bar(
        centres[filled],
        confidence[filled] - observed[filled],
        bottom=observed[filled],
        width=width * 0.92,
        color=_C_BAD,
        alpha=0.25,
        edgecolor=_C_BAD,
        hatch="//",
        label="gap to mean confidence",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy" if multiclass else "fraction of positives")
    ax.set_title(f"Reliability diagram (ECE {ece:.3f}, {n_bins} bins)")
    ax.legend(loc="upper left")
    ax2 = fig.add_subplot(grid[1], sharex=ax)
    ax2.bar(centres, count, width=width * 0.92, color=_C_GREY, alpha=0.8)
    ax2.set_xlabel("confidence (top-label probability)" if multiclass else "predicted probability")
    ax2.set_ylabel("count")
    return _save(fig, Path(out_dir) / "reliability_diagram.png")


# --------------------------------------------------------------------------------------------
# sweeps
# --------------------------------------------------------------------------------------------


def _is_categorical(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return True
    if pd.api.types.is_numeric_dtype(series):
        return False
    converted = pd.to_numeric(series.dropna(), errors="coerce")
    return converted.isna().any() or converted.empty


@_styled
def sweep_plots(
    trials: pd.DataFrame,
    objective: str,
    direction: str,
    hyperparameters: Sequence[str],
    out_dir: Path,
) -> list[Path]:
    """Plots of a hyperparameter sweep; returns the written paths.

    ``objective_per_trial.png`` (objective of each trial in run order, best starred),
    ``best_so_far.png`` (running best) and ``objective_vs_<hp>.png`` per hyperparameter
    column present in ``trials`` (numeric: scatter with a log x-axis when positive values span
    more than two decades; categorical/bool: box plot with jittered points). Trials without a
    finite objective (failed, pruned, running) are counted in titles but not drawn.
    """
    if direction not in ("min", "max"):
        raise ValueError(f"direction must be 'min' or 'max', got {direction!r}")
    out_dir = Path(out_dir)
    df = trials.reset_index(drop=True).copy()
    values = (
        pd.to_numeric(df[objective], errors="coerce").to_numpy(dtype=np.float64)
        if objective in df.columns
        else np.full(len(df), np.nan)
    )
    valid = np.isfinite(values)
    order = np.arange(1, len(df) + 1, dtype=np.float64)
    trial_axis = "trial (in run order)"
    if "trial_id" in df.columns:  # integer ids (in run order) label the axis as the CSV does
        ids = pd.to_numeric(df["trial_id"], errors="coerce").to_numpy(dtype=np.float64)
        if np.isfinite(ids).all() and np.all(np.diff(ids) > 0) and np.all(ids == np.round(ids)):
            order, trial_axis = ids, "trial id"
    n_invalid = int((~valid).sum())
    best = _best_index(values, direction)
    arrow = "lower is better" if direction == "min" else "higher is better"
    paths: list[Path] = []

    fig = _figure(7.5, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    if valid.any():
        ax.scatter(order[valid], values[valid], s=26, color=_C_TRAIN, label="trial")
        assert best is not None
        ax.scatter(
            [order[best]],
            [values[best]],
            s=160,
            marker="*",
            color=_C_BAD,
            zorder=3,
            label=f"best: trial {df['trial_id'].iloc[best] if 'trial_id' in df else best}",
        )
        ax.set_xlabel(trial_axis)
        _integer_ticks(ax, order[valid])
        ax.set_ylabel(objective)
        extra = f", {n_invalid} without objective" if n_invalid else ""
        ax.set_title(f"{objective} per trial ({arrow}{extra})")
        ax.legend(loc="best")
    else:
        _placeholder(ax, "no trial finished with an objective value")
    paths.append(_save(fig, out_dir / "objective_per_trial.png"))

    fig = _figure(7.5, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    if valid.any():
        filled = np.where(valid, values, np.inf if direction == "min" else -np.inf)
        running = (
            np.minimum.accumulate(filled) if direction == "min" else np.maximum.accumulate(filled)
        )
        shown = np.isfinite(running)
        ax.scatter(order[valid], values[valid], s=16, color=_C_GREY, alpha=0.6, label="trial")
        ax.step(
            order[shown], running[shown], where="post", color=_C_BAD, lw=2.0, label="best so far"
        )
        ax.set_xlabel(trial_axis)
        _integer_ticks(ax, order[valid])
        ax.set_ylabel(objective)
        ax.set_title(f"Best {objective} so far ({arrow})")
        ax.legend(loc="best")
    else:
        _placeholder(ax, "no trial finished with an objective value")
    paths.append(_save(fig, out_dir / "best_so_far.png"))

    rng = np.random.default_rng(0)
    for hp in hyperparameters:
        if hp not in df.columns:
            continue
        fig = _figure(6.0, 4.2)
        ax = fig.add_subplot(1, 1, 1)
        column = df[hp]
        mask = valid & column.notna().to_numpy()
        if not mask.any():
            _placeholder(ax, f"no finished trial has a value for {hp!r}")
        elif _is_categorical(column):
            labels = column[mask].astype(str)
            categories = sorted(labels.unique(), key=str)
            groups = [values[mask][(labels == c).to_numpy()] for c in categories]
            positions = np.arange(1, len(categories) + 1)
            if any(g.size >= 2 for g in groups):
                ax.boxplot(
                    groups,
                    positions=positions,
                    widths=0.5,
                    showfliers=False,
                    medianprops={"color": _C_VAL, "lw": 1.6},
                )
            for pos, group in zip(positions, groups, strict=True):
                jitter = rng.uniform(-0.12, 0.12, size=group.size)
                ax.scatter(pos + jitter, group, s=22, color=_C_TRAIN, alpha=0.75, zorder=3)
            if best is not None and mask[best]:
                best_pos = positions[categories.index(column.astype(str).iloc[best])]
                ax.scatter(
                    [best_pos],
                    [values[best]],
                    s=160,
                    marker="*",
                    color=_C_BAD,
                    zorder=4,
                    label="best trial",
                )
                ax.legend(loc="best")
            ax.set_xticks(positions, labels=categories, rotation=30 if len(categories) > 4 else 0)
            ax.grid(False, axis="x")
        else:
            xs = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
            mask &= np.isfinite(xs)
            ax.scatter(xs[mask], values[mask], s=26, color=_C_TRAIN, alpha=0.8)
            if best is not None and mask[best]:
                ax.scatter(
                    [xs[best]],
                    [values[best]],
                    s=160,
                    marker="*",
                    color=_C_BAD,
                    zorder=3,
                    label="best trial",
                )
                ax.legend(loc="best")
            positive = xs[mask][xs[mask] > 0]
            if (
                positive.size == mask.sum()
                and positive.size
                and positive.max() / positive.min() > 100
            ):
                ax.set_xscale("log")
        ax.set_xlabel(hp)
        ax.set_ylabel(objective)
        ax.set_title(f"{objective} vs {hp}")
        paths.append(_save(fig, out_dir / f"objective_vs_{_safe_name(hp)}.png"))
    return paths
