"""Keras callback that shows a few of the model's input images in TensorBoard."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np


def image_grid(images: np.ndarray, value_range: Sequence[float], columns: int = 0) -> np.ndarray:
    """Images (n, H, W, C) tiled into one (rows*H, columns*W, C) image in [0, 1], one pixel of
    white between them; grayscale and RGB as they are, RGBA shown without its alpha."""
    low, high = float(value_range[0]), float(value_range[1])
    images = np.clip((np.asarray(images, dtype=np.float32) - low) / (high - low), 0.0, 1.0)
    if images.shape[-1] == 4:
        images = images[..., :3]
    count, height, width, channels = images.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = np.ones((rows * (height + 1) - 1, columns * (width + 1) - 1, channels), dtype=np.float32)
    for index, image in enumerate(images):
        top, left = (index // columns) * (height + 1), (index % columns) * (width + 1)
        grid[top : top + height, left : left + width] = image
    return grid


class InputImages(keras.callbacks.Callback):
    """Logs one grid of example input images as the TensorBoard image `input_images`, once,
    when training first begins (step 1).

    Pass the images as training batches hand them to the model (augmented, when the
    pipeline augments), so the grid shows what the network learns from.

    Args:
        images: Raw pixels, shape `(n, H, W, C)` with C in 1, 3, 4.
        log_dir: Directory of this callback's TensorBoard writer.
        value_range: The range raw pixels come in (`(0, 255)` for decoded files).
        tag: The TensorBoard image tag.
    """

    def __init__(
        self,
        images: np.ndarray,
        log_dir: str | os.PathLike[str],
        value_range: Sequence[float] = (0.0, 255.0),
        tag: str = "input_images",
    ) -> None:
        super().__init__()
        if np.ndim(images) != 4 or np.shape(images)[-1] not in (1, 3, 4):
            raise ValueError(f"images must have shape (n, H, W, C), got {np.shape(images)}")
        self.images = images
        self.log_dir = log_dir
        self.value_range = tuple(value_range)
        self.tag = tag
        self.written = False

    def get_config(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "log_dir": self.log_dir,
            "value_range": self.value_range,
            "tag": self.tag,
        }

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.written:  # a second fit of the same run (fine-tuning's phase 2)
            return
        import tensorflow as tf

        grid = image_grid(self.images, self.value_range)
        writer = tf.summary.create_file_writer(os.fspath(self.log_dir))
        with writer.as_default():
            tf.summary.image(self.tag, grid[None], step=1)
        writer.flush()
        writer.close()
        self.written = True
