"""Keras callback that measures epoch wall time and training throughput."""

from __future__ import annotations

import time
from typing import Any

import keras

from ._convert import to_float


class ThroughputLogger(keras.callbacks.Callback):
    """Adds `epoch_time` (seconds) and `samples_per_second` to the epoch `logs`.

    `epoch_time` is the wall time from epoch begin to epoch end, validation
    included. `samples_per_second` divides the training samples of the epoch by the
    training part of that time only (up to the start of validation), so a large
    validation set does not make training look slower.

    The sample count is `samples_per_epoch` if given, otherwise steps times
    `batch_size`, with steps counted by how far `optimizer.iterations` advanced
    (a last partial batch is counted as full). Keras 3 does not tell
    callbacks the batch size, so without `samples_per_epoch` or `batch_size` only
    `epoch_time` is logged. Keras' `TensorBoard` callback, placed after it, writes both
    values; this callback has no summary writer of its own, which would duplicate them.

    Args:
        samples_per_epoch: Training samples seen per epoch.
        batch_size: Training batch size, used when `samples_per_epoch` is None.
    """

    def __init__(self, samples_per_epoch: int | None = None, batch_size: int | None = None) -> None:
        super().__init__()
        self.samples_per_epoch = samples_per_epoch
        self.batch_size = batch_size
        self._epoch_start: float | None = None
        self._train_end: float | None = None
        self._start_iterations = 0

    def get_config(self) -> dict[str, Any]:
        return {"samples_per_epoch": self.samples_per_epoch, "batch_size": self.batch_size}

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start_iterations = self._iterations()
        self._train_end = None
        self._epoch_start = time.perf_counter()

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        # During fit() this is the start of validation; fit passes its callbacks on.
        if self._epoch_start is not None and self._train_end is None:
            self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._epoch_start is None:
            return
        now = time.perf_counter()
        values = {"epoch_time": now - self._epoch_start}
        samples = self._samples_this_epoch()
        train_time = (self._train_end or now) - self._epoch_start
        if samples is not None and train_time > 0:
            values["samples_per_second"] = samples / train_time
        self._epoch_start = None
        if logs is not None:
            logs.update(values)

    def _samples_this_epoch(self) -> int | None:
        if self.samples_per_epoch is not None:
            return self.samples_per_epoch
        if self.batch_size is None:
            return None
        # The optimizer's step counter is exact even when an epoch ends early;
        # params["steps"] is the planned count (None for unknown-length datasets).
        steps = self._iterations() - self._start_iterations
        if steps <= 0:
            steps = (self.params or {}).get("steps") or 0
        return int(steps) * self.batch_size

    def _iterations(self) -> int:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            return 0
        return int(to_float(optimizer.iterations))
