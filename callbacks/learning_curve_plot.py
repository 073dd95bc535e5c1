"""Keras callback that keeps a PNG of train vs validation learning curves up to date."""

from __future__ import annotations

import concurrent.futures
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import keras
from matplotlib.ticker import MaxNLocator

from ._files import atomic_write_bytes
from ._plotting import RENDER_LOCK, figure_to_png, new_figure

# An ensemble's members' own losses (member0_loss, ...).
MEMBER_LOSS = re.compile(r"member\d+_loss")


class LearningCurvePlot(keras.callbacks.Callback):
    """Rewrites `path` (a PNG) at the end of every epoch with one subplot per metric.

    Each subplot shows the training curve and, when logged, the `val_` curve; the
    epoch with the lowest `val_loss` is marked on every subplot. Uses Matplotlib's
    object API with the Agg canvas, so it needs no display and leaves pyplot alone.

    Args:
        path: PNG file to write. Its directory is created if missing; the file is
            replaced atomically so a viewer never sees a half-written image.
        metrics: Names of the training metrics to plot, e.g. `["loss", "auc"]`.
            `None` plots `loss` plus every logged metric that has a `val_`
            counterpart, or every logged key when there is no validation data.
        initial_history: Per-key values of epochs run before a resume, as in
            `History.history` or a CSVLogger file, so the curves start at epoch 1.
            Entry `i` of each list is epoch `i`; epochs run now overwrite them.
        min_interval_seconds: Redraw at most this often (rendering takes a fraction of a
            second, which dominates short epochs); the final curves are always drawn when
            training ends.
        background: Draw and write in a background thread while training goes on (one
            drawing at a time; a redraw due meanwhile is folded into the next one).
        wait_at_train_end: With ``background``, training ends only once the final curves
            are written. ``False`` leaves the final drawing running after ``fit`` returns
            (about 0.4 s of Matplotlib) while the caller goes on; ``join()`` waits for it.
        draw_at_train_end: ``False`` leaves the final curves to the caller (the toolkit
            draws its own when the run is scored; ``draw_final()`` draws them here). With
            ``min_interval_seconds``, the first drawing also waits that long after training
            starts, so a short run is not drawn at all: drawings nobody would see cost a
            sweep's trials about 0.3 s of CPU each.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        metrics: Sequence[str] | None = None,
        initial_history: Mapping[str, Sequence[float]] | None = None,
        min_interval_seconds: float = 0.0,
        background: bool = False,
        wait_at_train_end: bool = True,
        draw_at_train_end: bool = True,
    ) -> None:
        super().__init__()
        self.path = path
        self.background = background
        self.wait_at_train_end = wait_at_train_end
        self.draw_at_train_end = draw_at_train_end
        self._worker: concurrent.futures.ThreadPoolExecutor | None = None
        self._drawing: concurrent.futures.Future | None = None
        self.min_interval_seconds = float(min_interval_seconds)
        self._last_render: float | None = None
        self._stale = False
        self.metrics = metrics
        self.initial_history = initial_history
        # key -> {epoch index: value}; a dict so a resumed run that repeats epochs
        # replaces the stale values instead of appending duplicates.
        self.history: dict[str, dict[int, float]] = {}
        for key, values in (initial_history or {}).items():
            self.history[key] = {i: float(v) for i, v in enumerate(values)}

    def get_config(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "metrics": self.metrics,
            "initial_history": self.initial_history,
            "min_interval_seconds": self.min_interval_seconds,
            "background": self.background,
            "wait_at_train_end": self.wait_at_train_end,
            "draw_at_train_end": self.draw_at_train_end,
        }

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self.draw_at_train_end and self._last_render is None:
            self._last_render = time.monotonic()  # the first drawing waits the interval too

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for key, value in (logs or {}).items():
            try:
                self.history.setdefault(key, {})[epoch] = float(value)
            except (TypeError, ValueError):
                continue
        now = time.monotonic()
        if self._last_render is not None and now - self._last_render < self.min_interval_seconds:
            self._stale = True
            return
        self._redraw()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.draw_at_train_end:
            self.draw_final()
        if self.background and self.wait_at_train_end:
            self.join()

    def draw_final(self) -> None:
        """Draw every epoch so far unless the last drawing already has them (in the
        background thread when ``background``; ``join()`` waits for it)."""
        if not self.background:
            if self._stale:
                self._draw(self._snapshot())
                self._stale = False
            return
        self._finish_drawing()
        if self._stale:
            self._redraw()

    def join(self) -> None:
        """Wait for the drawing in flight (re-raising what it raised) and stop the thread."""
        try:
            self._finish_drawing()
        finally:
            if self._worker is not None:
                self._worker.shutdown(wait=True)
                self._worker = None

    def _redraw(self) -> None:
        if not self.background:
            self._draw(self._snapshot())
        elif self._drawing is not None and not self._drawing.done():
            self._stale = True  # folded into the next drawing
            return
        else:
            self._finish_drawing()
            if self._worker is None:
                self._worker = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="learning-curves"
                )
            self._drawing = self._worker.submit(self._draw, self._snapshot())
        self._last_render = time.monotonic()
        self._stale = False

    def _finish_drawing(self) -> None:
        """Wait for the drawing in flight and re-raise what it raised."""
        drawing, self._drawing = self._drawing, None
        if drawing is not None:
            drawing.result()

    def _snapshot(self) -> dict[str, dict[int, float]]:
        return {key: dict(values) for key, values in self.history.items()}

    def _draw(self, history: dict[str, dict[int, float]]) -> None:
        with RENDER_LOCK:
            png = self._render(history)
        self._write(png)

    def plotted_metrics(self, history: dict[str, dict[int, float]] | None = None) -> list[str]:
        """Training-side metric names that get a subplot, in plotting order."""
        history = self.history if history is None else history
        if self.metrics is not None:
            return list(self.metrics)
        # An ensemble's members' own losses are drawn in the run's final plots, in one panel.
        train_keys = [
            k for k in history if not k.startswith("val_") and not MEMBER_LOSS.fullmatch(k)
        ]
        has_validation = any(k.startswith("val_") for k in history)
        if has_validation:
            train_keys = [k for k in train_keys if k == "loss" or f"val_{k}" in history]
        return sorted(train_keys, key=lambda k: (k != "loss", k))

    def best_epoch(self, history: dict[str, dict[int, float]] | None = None) -> int | None:
        """Index of the epoch with the lowest finite `val_loss`, or None."""
        history = self.history if history is None else history
        val_loss = {e: v for e, v in history.get("val_loss", {}).items() if math.isfinite(v)}
        if not val_loss:
            return None
        return min(val_loss, key=val_loss.__getitem__)

    def _render(self, history: dict[str, dict[int, float]]) -> bytes:
        names = self.plotted_metrics(history)
        ncols = min(len(names), 3) or 1
        nrows = max(math.ceil(len(names) / ncols), 1)
        figure = new_figure(5 * ncols, 3.5 * nrows)
        best = self.best_epoch(history)
        for index, name in enumerate(names):
            axes = figure.add_subplot(nrows, ncols, index + 1)
            for key, label in ((name, "train"), (f"val_{name}", "validation")):
                points = sorted(history.get(key, {}).items())
                if points:
                    # Epochs are shown 1-based, as Keras' progress bar counts them.
                    axes.plot(
                        [e + 1 for e, _ in points],
                        [v for _, v in points],
                        label=label,
                        marker="o",
                        markersize=3,
                    )
            if best is not None:
                best_value = history["val_loss"][best]
                axes.axvline(
                    best + 1,
                    color="grey",
                    linestyle="--",
                    linewidth=1,
                    label=f"best epoch {best + 1} (val_loss {best_value:.4g})",
                )
            axes.set_title(name)
            axes.set_xlabel("epoch")
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.grid(alpha=0.3)
            axes.legend(fontsize="small")
        if not names:
            figure.text(0.5, 0.5, "no metrics logged yet", ha="center", va="center")
        return figure_to_png(figure)

    def _write(self, png: bytes) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        atomic_write_bytes(self.path, png)
