"""Training curves: a run's loss, metrics and learning rate per epoch, and several runs overlaid.

Epochs count from 1 (the project's convention): history.csv's ``epoch`` column when it has one,
else the row number plus one. NaN and infinite values leave a gap and are named in the title.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from toolkit.evaluation.metrics import metric_direction
from toolkit.evaluation.plots import canvas

LEARNING_RATE_COLUMNS = ("lr", "learning_rate")
# An ensemble's members' own losses (member0_loss, ...): one panel for all of them.
MEMBER_LOSS = re.compile(r"member\d+_loss")
MEMBERS_PANEL = "members"


def epochs(history: pd.DataFrame) -> np.ndarray:
    """The 1-based epoch of each row of a history."""
    if "epoch" in history.columns:
        return pd.to_numeric(history["epoch"], errors="coerce").to_numpy(dtype=np.float64)
    return np.arange(1, len(history) + 1, dtype=np.float64)


def _numeric(history: pd.DataFrame) -> pd.DataFrame:
    """Every column as floats, infinities as NaN (a gap in the line)."""
    frame = history.apply(pd.to_numeric, errors="coerce").astype(np.float64)
    return frame.replace([np.inf, -np.inf], np.nan)


def _panels(history: pd.DataFrame, frame: pd.DataFrame) -> list[str]:
    """Panel names in order: loss, each metric (``x`` and ``val_x`` share one), learning rate.

    A numeric column gets its panel even when every value is NaN: a loss that was NaN from
    the first epoch is what the reader needs to see. Text columns are left out.
    """
    numeric = [pd.api.types.is_numeric_dtype(history[c]) for c in history.columns]
    columns = [
        c
        for c, is_number in zip(history.columns, numeric, strict=True)
        if c != "epoch" and (is_number or frame[c].notna().any())
    ]
    bases = list(dict.fromkeys(c.removeprefix("val_") for c in columns))
    members = [MEMBERS_PANEL] if any(MEMBER_LOSS.fullmatch(b) for b in bases) else []
    bases = [b for b in bases if not MEMBER_LOSS.fullmatch(b)]
    rates = [b for b in bases if b in LEARNING_RATE_COLUMNS]
    metrics = [b for b in bases if b not in LEARNING_RATE_COLUMNS]
    if "loss" in metrics:
        metrics.remove("loss")
        metrics.insert(0, "loss")
    return metrics + members + rates


def _not_finite_note(frame: pd.DataFrame, columns: list[str], x: np.ndarray) -> str:
    """`` · not finite from epoch 3`` when a column holds NaN or inf (a gap in its line)."""
    bad = frame[columns].isna().any(axis=1).to_numpy()
    return f" · not finite from epoch {x[bad][0]:g}" if bad.any() else ""


def _draw_metric(ax: Axes, frame: pd.DataFrame, base: str, x: np.ndarray) -> None:
    columns = [c for c in (base, f"val_{base}") if c in frame]
    for name, colour, label in (
        (base, canvas.TRAIN, "train"),
        (f"val_{base}", canvas.VALIDATION, "validation"),
    ):
        if name in frame:
            ax.plot(x, frame[name], color=colour, lw=1.6, label=label)
    ax.set_title(base.replace("_", " ") + _not_finite_note(frame, columns, x))
    ax.legend(loc="best")


def _draw_members(ax: Axes, frame: pd.DataFrame, x: np.ndarray) -> None:
    """Each ensemble member's validation loss (its training loss without a validation
    split), a dot at its lowest: the epoch whose weights it keeps when it picks its own,
    unless that lowest came before early stopping's start_from_epoch."""
    split = "val_" if any(c.startswith("val_member") for c in frame) else ""
    columns = sorted(
        (c for c in frame if c.startswith(split) and MEMBER_LOSS.fullmatch(c.removeprefix(split))),
        key=lambda c: int(re.search(r"\d+", c).group()),
    )
    for index, name in enumerate(columns):
        colour = matplotlib.colormaps["tab10"](index % 10)
        ax.plot(x, frame[name], color=colour, lw=1.2, label=name.removeprefix(split).split("_")[0])
        best = canvas.best_index(frame[name].to_numpy(), "min")
        if best is not None:
            ax.plot([x[best]], [frame[name].iloc[best]], marker="o", ms=5, color=colour)
    which = "validation" if split else "training"
    ax.set_title(f"members' {which} loss (dot: lowest)" + _not_finite_note(frame, columns, x))
    if len(columns) <= 10:
        ax.legend(loc="best", fontsize=7.5)


def _draw_learning_rate(ax: Axes, values: pd.Series, x: np.ndarray) -> None:
    """A log axis for a changing positive rate; a constant one is a labelled flat line."""
    ax.plot(x, values, color=canvas.GREY, lw=1.6)
    finite = values.dropna()
    if finite.nunique() == 1:
        ax.set_title(f"learning rate (constant {finite.iloc[0]:.3g})")
        return
    if len(finite) and (finite > 0).all():
        ax.set_yscale("log")
    ax.set_title("learning rate")


def _mark_best(ax: Axes, x: float, value: float | None, monitor: str, right_half: bool) -> None:
    ax.axvline(x, color=canvas.GREY, ls="--", lw=1.0)
    if value is None:
        return
    ax.plot([x], [value], marker="*", ms=13, color=canvas.BAD, zorder=5)
    ax.annotate(
        f"best epoch {x:g}\n{monitor} = {value:.4g}",
        xy=(x, value),
        # to the left of a best epoch in the right half, so the box stays inside
        xytext=(-8, 12) if right_half else (8, 12),
        ha="right" if right_half else "left",
        textcoords="offset points",
        fontsize=8.5,
        bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": canvas.GREY, "alpha": 0.9},
    )


@canvas.styled
def learning_curves(
    history: pd.DataFrame, *, monitor: str = "val_loss", mode: str = "auto"
) -> Figure:
    """Train vs validation curves for the loss and every metric, best ``monitor`` epoch marked.

    Columns ``x`` and ``val_x`` share a panel; a learning-rate column (``lr``/``learning_rate``)
    gets its own panel. ``mode`` is ``"min"``, ``"max"`` or ``"auto"`` (from the name).
    """
    frame = _numeric(history)
    panels = _panels(history, frame)
    cols = max(1, min(3, len(panels)))
    rows = -(-max(len(panels), 1) // cols)
    fig = canvas.new_figure(4.6 * cols, 3.3 * rows)
    if not panels:
        canvas.placeholder(fig.add_subplot(1, 1, 1), "no training history recorded")
        return fig
    x = epochs(history)
    if mode == "auto":
        mode = metric_direction(monitor) or "min"
    best = canvas.best_index(frame[monitor].to_numpy(), mode) if monitor in frame else None
    for i, base in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        if base in LEARNING_RATE_COLUMNS:
            _draw_learning_rate(ax, frame[base], x)
        elif base == MEMBERS_PANEL:
            _draw_members(ax, frame, x)
        else:
            _draw_metric(ax, frame, base, x)
        if best is not None:
            on_panel = base == monitor.removeprefix("val_")
            value = float(frame[monitor].iloc[best]) if on_panel else None
            _mark_best(ax, x[best], value, monitor, x[best] > np.nanmean(x))
        ax.set_xlabel("epoch")
        canvas.integer_ticks(ax, x)
    return fig


@canvas.styled
def comparison_curves(
    histories: Mapping[str, pd.DataFrame], *, metric: str = "val_loss", note: str | None = None
) -> Figure:
    """Overlay ``metric`` per epoch for several runs (best point of each marked); ``note``, a
    line under the title (why this metric)."""
    fig, ax = canvas.single_axes(8.0, 4.6)
    mode = metric_direction(metric) or "min"
    drawn = {n: h for n, h in histories.items() if h is not None and metric in h.columns}
    missing = [str(n) for n in histories if n not in drawn]
    if not drawn:
        canvas.placeholder(ax, f"no run recorded {metric!r}")
        return fig
    for name, history in drawn.items():
        values = _numeric(history[[metric]])[metric].to_numpy()
        x = epochs(history)
        (line,) = ax.plot(x, values, lw=1.6, label=str(name))
        best = canvas.best_index(values, mode)
        if best is not None:
            ax.plot([x[best]], [values[best]], marker="o", ms=6, color=line.get_color())
    ax.set_xlabel("epoch")
    canvas.integer_ticks(ax, np.concatenate([epochs(h) for h in drawn.values()]))
    ax.set_ylabel(metric)
    title = f"{metric} per epoch (dot = best epoch)"
    if note:
        title += f"\n{note}"
    if missing:
        title += f"\nnot recorded by: {', '.join(missing)}"
    ax.set_title(title)
    ax.legend(loc="best")
    return fig
