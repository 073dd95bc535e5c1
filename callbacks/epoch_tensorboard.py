"""Keras' TensorBoard callback with epochs counted from 1, as the package's monitors count."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import keras
import numpy as np


class EpochTensorBoard(keras.callbacks.TensorBoard):
    """`keras.callbacks.TensorBoard` writing epoch `e` (counted from 1) at step `e`.

    Keras' own callback uses the 0-based epoch index as the step, so its first epoch is
    step 0 while the progress bar, a CSV history and `PeriodicCallback` monitors call it
    epoch 1. Here every epoch summary (scalars, weight histograms) is written at the epoch
    counted from 1, and histograms follow the package's sampling rule: every
    `histogram_freq`-th epoch and the last one (the planned last, or the one at which a
    callback earlier in the list stopped training), so a short run still gets them.

    A logged key that already starts with `epoch_` (ThroughputLogger's `epoch_time`) is
    written without that prefix, so its tag is `epoch_time` rather than `epoch_epoch_time`.
    Keras' `evaluation_<metric>_vs_iterations` tags (the validation metrics again, at the
    optimizer's step count) are not written: every step here is an epoch, and those
    repeated each validation curve on another axis.

    Epoch scalars and weight histograms are written by a thread while training goes on, from
    copies taken at the epoch's end (Keras wrote them eagerly on the training thread: for
    `configs/regression.yaml`, whose epochs take 30 ms, 3-5 ms of scalars every epoch and
    80-100 ms of histograms every fifth); at most two epochs' writes are in flight, and
    training ends once they are written.
    Takes the same arguments as `keras.callbacks.TensorBoard`.
    """

    # Writes queued on one thread, in order; the oldest waited for beyond this many.
    MAX_PENDING_WRITES = 2
    _writer_thread: concurrent.futures.ThreadPoolExecutor | None = None
    _pending: list[concurrent.futures.Future] | None = None

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        self._pop_writer()  # Keras' own also writes evaluation_*_vs_iterations first

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        step = epoch + 1
        if logs is not None:
            logs = {key.removeprefix("epoch_"): value for key, value in logs.items()}
        super().on_epoch_end(step, logs)
        if self.histogram_freq and step % self.histogram_freq and self._is_last(step):
            self._log_weights(step)  # Keras logs the multiples of histogram_freq itself

    def _log_epoch_metrics(self, epoch: int, logs: dict[str, Any] | None) -> None:
        if not logs:
            return
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        validation = {k.removeprefix("val_"): v for k, v in logs.items() if k.startswith("val_")}
        train = self._collect_learning_rate(train)  # reads the optimizer: on this thread
        if self.write_steps_per_second:
            train["steps_per_second"] = self._compute_steps_per_second()
        scalars = [
            (writer, {f"epoch_{name}": np.asarray(value).copy() for name, value in values.items()})
            for writer, values in ((self._train_writer, train), (self._val_writer, validation))
            if values
        ]
        self._submit(self._write_scalars, scalars, epoch)

    def _write_scalars(self, scalars: list, step: int) -> None:
        # A summary writer's default is per thread: this one's is set here.
        for writer, values in scalars:
            with writer.as_default():
                for name, value in values.items():
                    self.summary.scalar(name, value, step=step)

    def _log_weights(self, epoch: int) -> None:
        if self.write_images:  # Keras' weight images: written as Keras writes them
            self._wait_for_writes()
            super()._log_weights(epoch)
            return
        weights = [
            (f"{weight.path.replace(':', '_')}/histogram", np.asarray(weight).copy())
            for layer in self.model.layers
            for weight in layer.weights
        ]
        self._submit(self._write_histograms, weights, epoch)

    def _write_histograms(self, weights: list[tuple[str, np.ndarray]], step: int) -> None:
        with self._train_writer.as_default():
            for name, value in weights:
                self.summary.histogram(name, value, step=step)
            self._train_writer.flush()

    def _submit(self, write, *arguments) -> None:
        if self._writer_thread is None:
            self._writer_thread = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="tensorboard"
            )
            self._pending = []
        # One thread runs them in order: finished ones lead the list, and raise their errors
        # here; beyond the limit, the oldest is waited for.
        while self._pending and (
            self._pending[0].done() or len(self._pending) >= self.MAX_PENDING_WRITES
        ):
            self._pending.pop(0).result()
        self._pending.append(self._writer_thread.submit(write, *arguments))

    def _wait_for_writes(self) -> None:
        pending, self._pending = self._pending or [], []
        for future in pending:
            future.result()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._wait_for_writes()  # before Keras closes the writers
        if self._writer_thread is not None:
            self._writer_thread.shutdown(wait=True)
            self._writer_thread = None
        super().on_train_end(logs)

    def _is_last(self, step: int) -> bool:
        planned = (self.params or {}).get("epochs")
        return bool(self.model.stop_training) or (planned is not None and step >= planned)
