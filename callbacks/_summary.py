"""Lazily created TensorBoard file writer shared by the callbacks in this package."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import tensorflow as tf


class LazySummaryWriter:
    """Owns one `tf.summary` file writer for `log_dir`, or does nothing when it is None.

    The writer is created on `open()` (a callback's `on_train_begin`), not in the
    callback's constructor, so building a callback never touches the filesystem.
    """

    def __init__(self, log_dir: str | os.PathLike[str] | None) -> None:
        self.log_dir = log_dir
        self._writer: tf.summary.SummaryWriter | None = None

    @property
    def enabled(self) -> bool:
        return self.log_dir is not None

    def open(self) -> None:
        if self.log_dir is not None and self._writer is None:
            self._writer = tf.summary.create_file_writer(os.fspath(self.log_dir))

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        if not self.enabled or not values:
            return
        self.open()
        assert self._writer is not None
        with self._writer.as_default():
            for tag, value in values.items():
                tf.summary.scalar(tag, float(value), step=step)
        self._writer.flush()

    def png_image(self, tag: str, png_bytes: bytes, step: int) -> None:
        if not self.enabled:
            return
        self.open()
        assert self._writer is not None
        image = tf.image.decode_png(png_bytes, channels=4)
        with self._writer.as_default():
            tf.summary.image(tag, tf.expand_dims(image, 0), step=step)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
            self._writer = None


def to_float(value: object) -> float:
    """Converts a scalar tensor, variable or NumPy value to a Python float."""
    # `.numpy()` rather than keras.ops.convert_to_numpy: on a Keras Variable the
    # latter triggers NumPy 2's `__array__(copy=...)` DeprecationWarning.
    numpy = getattr(value, "numpy", None)
    return float(np.asarray(numpy() if callable(numpy) else value))
