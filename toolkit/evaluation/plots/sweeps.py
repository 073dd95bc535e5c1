"""Plots of a hyperparameter sweep, from its trials table (one row per trial, in run order).

Trials without a finite objective (failed, pruned, running, NaN) are counted in titles but
not drawn. The best trial is starred in every figure.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from toolkit.evaluation.plots import canvas

_NO_OBJECTIVE = "no trial finished with an objective value"


def _objective(trials: pd.DataFrame, objective: str) -> np.ndarray:
    if objective not in trials.columns:
        return np.full(len(trials), np.nan)
    return pd.to_numeric(trials[objective], errors="coerce").to_numpy(dtype=np.float64)


def _trial_axis(trials: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Integer trial ids when they increase (as trials.csv numbers them), else 1, 2, 3, ..."""
    if "trial_id" in trials.columns:
        ids = pd.to_numeric(trials["trial_id"], errors="coerce").to_numpy(dtype=np.float64)
        if np.isfinite(ids).all() and np.all(np.diff(ids) > 0) and np.all(ids == np.round(ids)):
            return ids, "trial id"
    return np.arange(1, len(trials) + 1, dtype=np.float64), "trial (in run order)"


def _trials_axes(
    trials: pd.DataFrame, objective: str
) -> tuple[Figure, Axes, np.ndarray, np.ndarray]:
    """A figure of one value per trial: (figure, axes, objective per trial, trial positions).

    The x axis is labelled; without any finite objective the axes say so instead.
    """
    fig, ax = canvas.single_axes(7.5, 4.2)
    values = _objective(trials, objective)
    x, label = _trial_axis(trials)
    if np.isfinite(values).any():
        ax.set_xlabel(label)
        canvas.integer_ticks(ax, x[np.isfinite(values)])
        ax.set_ylabel(objective)
    else:
        canvas.placeholder(ax, _NO_OBJECTIVE)
    return fig, ax, values, x


def _star(ax: Axes, x: float, y: float, label: str) -> None:
    ax.scatter([x], [y], s=160, marker="*", color=canvas.BAD, zorder=4, label=label)
    ax.legend(loc="best")


def _better(direction: str) -> str:
    return "lower is better" if direction == "min" else "higher is better"


@canvas.styled
def objective_per_trial(trials: pd.DataFrame, objective: str, direction: str) -> Figure:
    """The objective of each trial in run order, the best one starred."""
    fig, ax, values, x = _trials_axes(trials, objective)
    valid = np.isfinite(values)
    if not valid.any():
        return fig
    ax.scatter(x[valid], values[valid], s=26, color=canvas.TRAIN, label="trial")
    best = canvas.best_index(values, direction)
    name = trials["trial_id"].iloc[best] if "trial_id" in trials.columns else f"{x[best]:g}"
    _star(ax, x[best], values[best], f"best: trial {name}")
    missing = int((~valid).sum())
    extra = f", {missing} without objective" if missing else ""
    ax.set_title(f"{objective} per trial ({_better(direction)}{extra})")
    return fig


@canvas.styled
def best_so_far(trials: pd.DataFrame, objective: str, direction: str) -> Figure:
    """The running best objective as the sweep went, over the trials' own values."""
    fig, ax, values, x = _trials_axes(trials, objective)
    valid = np.isfinite(values)
    if not valid.any():
        return fig
    accumulate = np.minimum.accumulate if direction == "min" else np.maximum.accumulate
    running = accumulate(np.where(valid, values, np.inf if direction == "min" else -np.inf))
    shown = np.isfinite(running)
    ax.scatter(x[valid], values[valid], s=16, color=canvas.GREY, alpha=0.6, label="trial")
    ax.step(x[shown], running[shown], where="post", color=canvas.BAD, lw=2.0, label="best so far")
    ax.set_title(f"Best {objective} so far ({_better(direction)})")
    ax.legend(loc="best")
    return fig


def _is_categorical(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return True
    if pd.api.types.is_numeric_dtype(series):
        return False
    converted = pd.to_numeric(series.dropna(), errors="coerce")
    return converted.isna().any() or converted.empty


def _draw_categorical(
    ax: Axes, labels: pd.Series, values: np.ndarray, best: int | None, rng: np.random.Generator
) -> None:
    """A box per category (when one has two trials or more), its trials jittered on top."""
    categories = sorted(labels.dropna().unique(), key=str)
    positions = np.arange(1, len(categories) + 1)
    groups = [values[(labels == c).to_numpy()] for c in categories]
    if any(g.size >= 2 for g in groups):
        ax.boxplot(
            groups,
            positions=positions,
            widths=0.5,
            showfliers=False,
            medianprops={"color": canvas.VALIDATION, "lw": 1.6},
        )
    for position, group in zip(positions, groups, strict=True):
        jitter = rng.uniform(-0.12, 0.12, size=group.size)
        ax.scatter(position + jitter, group, s=22, color=canvas.TRAIN, alpha=0.75, zorder=3)
    if best is not None:
        _star(ax, positions[categories.index(labels.iloc[best])], values[best], "best trial")
    ax.set_xticks(positions, labels=categories, rotation=30 if len(categories) > 4 else 0)
    ax.grid(False, axis="x")


def _draw_numeric(
    ax: Axes, xs: np.ndarray, values: np.ndarray, best: int | None, log_scale: bool | None
) -> None:
    """A scatter; ``log_scale`` ``None`` means log when positive values span over two decades."""
    ax.scatter(xs, values, s=26, color=canvas.TRAIN, alpha=0.8)
    if best is not None:
        _star(ax, xs[best], values[best], "best trial")
    if log_scale is None:
        log_scale = bool((xs > 0).all() and xs.max() / xs.min() > 100)
    if log_scale and (xs > 0).all():
        ax.set_xscale("log")


@canvas.styled
def objective_vs_hyperparameter(
    trials: pd.DataFrame, objective: str, direction: str, name: str, *, log_scale: bool | None
) -> Figure:
    """The objective against one hyperparameter: a scatter, or boxes for a categorical one.

    ``log_scale`` puts a numeric hyperparameter on a log axis (its sampling was log), keeps it
    linear (``False``) or decides from the values' span (``None``).
    """
    fig, ax = canvas.single_axes(6.0, 4.2)
    values = _objective(trials, objective)
    raw = trials[name].reset_index(drop=True)
    numeric = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    categorical = _is_categorical(raw)
    keep = np.isfinite(values) & (raw.notna().to_numpy() if categorical else np.isfinite(numeric))
    if not keep.any():
        canvas.placeholder(ax, f"no finite trial has a value for {name!r}")
        return fig
    best = canvas.best_index(values, direction)  # the sweep's best, starred if it has a value here
    best_kept = int(keep[:best].sum()) if best is not None and keep[best] else None
    if categorical:
        labels = raw[keep].astype(str).reset_index(drop=True)
        _draw_categorical(ax, labels, values[keep], best_kept, np.random.default_rng(0))
    else:
        _draw_numeric(ax, numeric[keep], values[keep], best_kept, log_scale)
    ax.set_xlabel(name)
    ax.set_ylabel(objective)
    ax.set_title(f"{objective} vs {name}")
    return fig


def file_stem(name: str) -> str:
    """File-name-safe version of a hyperparameter name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("._") or "hp"


def sweep_figures(
    trials: pd.DataFrame,
    objective: str,
    direction: str,
    hyperparameters: Sequence[str],
    *,
    log_scaled: Collection[str] = (),
    linear: Collection[str] = (),
) -> dict[str, Figure]:
    """Every sweep figure by file name: ``objective_per_trial.png``, ``best_so_far.png`` and
    ``objective_vs_<hp>.png`` per hyperparameter column present in ``trials``.

    Hyperparameters in ``log_scaled`` get a log axis and those in ``linear`` a linear one (as
    they were sampled); any other numeric one is log when its values span over two decades.
    """
    if direction not in ("min", "max"):
        raise ValueError(f"direction must be 'min' or 'max', got {direction!r}")
    trials = trials.reset_index(drop=True)
    figures = {
        "objective_per_trial.png": objective_per_trial(trials, objective, direction),
        "best_so_far.png": best_so_far(trials, objective, direction),
    }
    for name in hyperparameters:
        if name in trials.columns:
            scale = True if name in log_scaled else False if name in linear else None
            figures[f"objective_vs_{file_stem(name)}.png"] = objective_vs_hyperparameter(
                trials, objective, direction, name, log_scale=scale
            )
    return figures
