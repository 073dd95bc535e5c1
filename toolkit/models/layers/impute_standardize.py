"""Numeric input preprocessing that lives inside the saved model."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="toolkit")
class ImputeStandardize(keras.layers.Layer):
    """Replace missing values (NaN) by the training mean, then standardise.

    Statistics come from the training split and are stored in the config, so the layer
    needs no ``adapt`` and a reloaded model preprocesses raw columns exactly as in training.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], **kwargs):
        super().__init__(**kwargs)
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]

    def call(self, inputs):
        mean = ops.convert_to_tensor(self.mean, dtype=inputs.dtype)
        std = ops.convert_to_tensor(self.std, dtype=inputs.dtype)
        filled = ops.where(ops.isnan(inputs), mean, inputs)
        return (filled - mean) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "mean": self.mean, "std": self.std}
