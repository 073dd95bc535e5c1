"""Keras' TensorBoard callback with epochs counted from 1, as the package's monitors count."""

from __future__ import annotations

from typing import Any

import keras


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
    Takes the same arguments as `keras.callbacks.TensorBoard`.
    """

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        self._pop_writer()  # Keras' own also writes evaluation_*_vs_iterations first

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        step = epoch + 1
        if logs is not None:
            logs = {key.removeprefix("epoch_"): value for key, value in logs.items()}
        super().on_epoch_end(step, logs)
        if self.histogram_freq and step % self.histogram_freq and self._is_last(step):
            self._log_weights(step)  # Keras logs the multiples of histogram_freq itself

    def _is_last(self, step: int) -> bool:
        planned = (self.params or {}).get("epochs")
        return bool(self.model.stop_training) or (planned is not None and step >= planned)
