"""Base class of the package's monitors: one sampling rule and one TensorBoard writer."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import keras


class PeriodicCallback(keras.callbacks.Callback):
    """Runs `on_sample(epoch, logs)` every `every_n_epochs` epochs and at the last epoch.

    Epochs are counted from 1, as Keras' progress bar counts them: a monitor samples at
    the end of epochs `n, 2n, 3n, ...` and at the last epoch of the fit, so a run shorter
    than `n` epochs is still sampled once. The last epoch is the planned one
    (`params["epochs"]`) or the one at which a callback earlier in the list (EarlyStopping,
    TerminateOnNaN) set `model.stop_training`; place monitors after those.

    Summaries go to one `tf.summary` file writer for `log_dir`, created when training
    begins (building a callback never touches the filesystem), at step = the epoch
    counted from 1. With `log_dir=None` nothing is written.

    `on_sample` receives Keras' 0-based epoch index; subclasses write through
    `write_scalars` and `write_png`, which turn it into the step.

    Args:
        log_dir: Directory of this callback's TensorBoard writer, or None.
        every_n_epochs: The sampling interval `n`, at least 1.
    """

    def __init__(
        self, log_dir: str | os.PathLike[str] | None = None, every_n_epochs: int = 1
    ) -> None:
        super().__init__()
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        self.log_dir = log_dir
        self.every_n_epochs = every_n_epochs
        self._writer = None

    def get_config(self) -> dict[str, Any]:
        return {"log_dir": self.log_dir, "every_n_epochs": self.every_n_epochs}

    # ------------------------------------------------------------------ the rule

    def is_sampled(self, epoch: int) -> bool:
        """Whether the 0-based `epoch` that just ended is sampled."""
        if (epoch + 1) % self.every_n_epochs == 0:
            return True
        planned = (self.params or {}).get("epochs")
        stopped = bool(getattr(self.model, "stop_training", False))
        return stopped or (planned is not None and epoch + 1 >= planned)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.is_sampled(epoch):
            self.on_sample(epoch, logs if logs is not None else {})

    def on_sample(self, epoch: int, logs: dict[str, Any]) -> None:
        """Measure and log; `logs` may be updated in place."""
        raise NotImplementedError

    # ------------------------------------------------------------------ the writer

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._open()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
            self._writer = None

    def _open(self):
        if self.log_dir is not None and self._writer is None:
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(os.fspath(self.log_dir))
        return self._writer

    def write_scalars(self, values: Mapping[str, float], epoch: int) -> None:
        """Scalars at step `epoch + 1`."""
        writer = self._open()
        if writer is None or not values:
            return
        import tensorflow as tf

        with writer.as_default():
            for tag, value in values.items():
                tf.summary.scalar(tag, float(value), step=epoch + 1)
        writer.flush()

    def write_png(self, tag: str, png_bytes: bytes, epoch: int) -> None:
        """A PNG image at step `epoch + 1`."""
        writer = self._open()
        if writer is None:
            return
        import tensorflow as tf

        image = tf.image.decode_png(png_bytes, channels=4)
        with writer.as_default():
            tf.summary.image(tag, tf.expand_dims(image, 0), step=epoch + 1)
        writer.flush()
