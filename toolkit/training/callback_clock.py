"""How much of a run's wall time its callbacks take, written to history.csv every epoch.

``CallbackClock`` brackets the callback list: ``first`` starts a stopwatch at every
epoch-level hook and ``last`` stops it once every callback has run, so the time between is
what the callbacks cost (TensorBoard, checkpoints and resume points, plots, monitors).
``report``, placed just before the CSV logger, adds two columns to the epoch's logs:

* ``callbacks_seconds``: callback time since the previous row (the end of the previous
  epoch's hooks that ran after its row was written, this epoch's hooks up to this row);
* ``callbacks_share``: that time over the wall time since the previous row.

Only epoch-level hooks are bracketed: a callback with batch hooks makes Keras call back
after every step, which would slow down the very training it measures.
"""

from __future__ import annotations

import time
from typing import Any

import keras

_HOOKS = (
    "on_train_begin",
    "on_epoch_begin",
    "on_test_begin",
    "on_test_end",
    "on_epoch_end",
    "on_train_end",
)


class _Edge(keras.callbacks.Callback):
    """Calls ``action()`` at every epoch-level hook."""

    def __init__(self, action) -> None:
        super().__init__()
        for hook in _HOOKS:
            setattr(self, hook, lambda *args, **kwargs: action())


class _Report(keras.callbacks.Callback):
    def __init__(self, clock: CallbackClock) -> None:
        super().__init__()
        self.clock = clock

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs.update(self.clock.row())


class CallbackClock:
    """Three callbacks to place first (``first``), before the CSV logger (``report``) and
    last (``last``); see the module docstring."""

    def __init__(self) -> None:
        self._spent = 0.0
        self._hook_started: float | None = None
        self._row_started: float | None = None
        self.first = _Edge(self._start)
        self.last = _Edge(self._stop)
        self.report = _Report(self)

    def _start(self) -> None:
        self._hook_started = time.perf_counter()
        if self._row_started is None:
            self._row_started = self._hook_started

    def _stop(self) -> None:
        if self._hook_started is not None:
            self._spent += time.perf_counter() - self._hook_started
            self._hook_started = None

    def row(self) -> dict[str, float]:
        """This row's callback seconds and share; what follows counts toward the next row."""
        now = time.perf_counter()
        current = 0.0 if self._hook_started is None else now - self._hook_started
        seconds = self._spent + current
        wall = now - (self._row_started or now)
        # The part of the running hook already reported is not counted again by _stop.
        self._spent = -current
        self._row_started = now
        return {
            "callbacks_seconds": seconds,
            "callbacks_share": seconds / wall if wall > 0 else 0.0,
        }
