"""What every plot shares: the style, a pyplot-free figure, the atomic PNG write, small helpers.

Figures are built directly as :class:`matplotlib.figure.Figure` on the Agg canvas (no pyplot
global state, so it is safe in threads and never opens a window).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from callbacks._plotting import settle_layout
from toolkit.runs import atomic_write

DPI = 110
MAX_POINTS = 5000  # scatter plots subsample above this many points (deterministically)
TRAIN = "#1f77b4"
VALIDATION = "#ff7f0e"
GOOD = "#2ca02c"
BAD = "#d62728"
GREY = "#7f7f7f"
STYLE = {
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

# rc_context sets matplotlib's global rcParams for the block: figures drawn in two threads at
# once (a run's final plots while the next trial's learning curves are drawn) take turns.
_DRAWING = threading.RLock()

_P = ParamSpec("_P")
_R = TypeVar("_R")


def styled(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Build a figure under the module's rcParams (matplotlib's global state is untouched)."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _DRAWING, matplotlib.rc_context(STYLE):
            return func(*args, **kwargs)

    return wrapper


def new_figure(width: float, height: float) -> Figure:
    """A new Agg-backed figure with constrained layout (``width`` x ``height`` inches)."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def single_axes(width: float, height: float) -> tuple[Figure, Axes]:
    """A new figure (``width`` x ``height`` inches) with one axes."""
    fig = new_figure(width, height)
    return fig, fig.add_subplot(1, 1, 1)


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically (``toolkit.runs.atomic_write``); return ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def render(temporary: Path) -> None:
        with _DRAWING, matplotlib.rc_context(STYLE):
            settle_layout(fig)
            fig.savefig(temporary, format="png", dpi=DPI)

    return atomic_write(path, render)


def placeholder(ax: Axes, text: str) -> None:
    """Show a centred message on an otherwise empty axis."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, color=GREY, wrap=True)


def column(values: Any) -> np.ndarray:
    """``values`` as a flat float array."""
    return np.asarray(values, dtype=np.float64).reshape(-1)


def finite_rows(*arrays: np.ndarray) -> np.ndarray:
    """Rows (first axis) where every array is finite: what a plot can draw."""
    mask = np.ones(len(arrays[0]), dtype=bool)
    for array in arrays:
        mask &= np.isfinite(array.reshape(len(array), -1)).all(axis=1)
    return mask


def left_out(mask: np.ndarray) -> str:
    """Title suffix naming how many rows were not drawn because they are NaN or infinite."""
    missing = int((~mask).sum())
    return f"; {missing} NaN/inf not drawn" if missing else ""


def subsample(n: int, limit: int = MAX_POINTS) -> np.ndarray:
    """Deterministic subset of ``range(n)`` of at most ``limit`` indices."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size=limit, replace=False))


def best_index(values: np.ndarray, mode: str) -> int | None:
    """Index of the best finite value (``mode`` ``"min"`` or ``"max"``); ``None`` if none is."""
    finite = np.isfinite(values)
    if not finite.any():
        return None
    masked = np.where(finite, values, np.inf if mode == "min" else -np.inf)
    return int(np.argmin(masked) if mode == "min" else np.argmax(masked))


def integer_ticks(ax: Axes, values: Any) -> None:
    """Integer x ticks for epochs and trial numbers (each value itself when there are few)."""
    finite = column(values)
    finite = np.unique(finite[np.isfinite(finite)])
    if 0 < finite.size <= 12:
        ax.set_xticks(finite, labels=[f"{v:g}" for v in finite])
        if finite.size == 1:
            ax.set_xlim(finite[0] - 1, finite[0] + 1)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
