"""Matplotlib helpers for the callbacks: headless rendering without pyplot's global state."""

from __future__ import annotations

import io
import threading

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Matplotlib shares state between figures (fonts, caches): callbacks that draw in a
# background thread and those that draw in the training thread take turns through this lock.
RENDER_LOCK = threading.RLock()


def new_figure(width: float, height: float) -> Figure:
    """A Figure attached to its own Agg canvas, so no display or pyplot is involved."""
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def figure_to_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
