"""Map standardised network outputs back to the target's original units."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="toolkit")
class TargetScale(keras.layers.Layer):
    """``y = z * std + mean``; for a Gaussian head ``[mean, scale]`` the scale is only multiplied.

    The network learns on the standard scale (targets of scale 100 train badly) while the
    saved model, its metrics and every prediction are in the original units.
    """

    def __init__(self, mean: float, std: float, gaussian: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.mean = float(mean)
        self.std = float(std)
        self.gaussian = bool(gaussian)

    def call(self, inputs):
        inputs = ops.cast(inputs, "float32")  # outputs stay float32 under mixed precision
        if not self.gaussian:
            return inputs * self.std + self.mean
        units = ops.shape(inputs)[-1] // 2
        location, scale = inputs[..., :units], inputs[..., units:]
        return ops.concatenate([location * self.std + self.mean, scale * self.std], axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype="float32")

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "mean": self.mean,
            "std": self.std,
            "gaussian": self.gaussian,
        }
