"""Matplotlib helpers for the callbacks: headless rendering without pyplot's global state."""

from __future__ import annotations

import io
import threading

import matplotlib
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


def settle_layout(figure: Figure) -> None:
    """Run the figure's layout engine once, then switch it off, so saving draws it once.

    ``savefig`` draws a figure that has a layout engine twice, a sizing pass then the
    picture, and runs constrained layout in each: about a third of a plot's CPU. One run
    gives the same positions (the PNGs are identical, tested).
    """
    engine = figure.get_layout_engine()
    if engine is not None:
        engine.execute(figure)
        # None, not "none": "none" keeps a placeholder engine, and savefig sizes any figure
        # with an engine in a first drawing. None falls back to the rc settings, which this
        # context sets to no engine whatever the user's matplotlibrc says.
        with matplotlib.rc_context(
            {"figure.autolayout": False, "figure.constrained_layout.use": False}
        ):
            figure.set_layout_engine(None)


def figure_to_png(figure: Figure) -> bytes:
    settle_layout(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
