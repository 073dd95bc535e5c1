"""Divide logits by a temperature fitted after training (Guo et al., 2017)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="toolkit")
class TemperatureScale(keras.layers.Layer):
    """``logits / temperature``, with the temperature a non-trainable variable (1 = identity).

    Training leaves it at 1; ``toolkit.evaluation.temperature`` fits it on the validation
    split afterwards and assigns it, so the saved model, predict and any export give the
    calibrated probabilities without post-processing of their own.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.temperature = self.add_weight(
            shape=(),
            initializer="ones",
            trainable=False,
            autocast=False,
            dtype="float32",
            name="temperature",
        )

    def call(self, inputs: Any) -> Any:
        return inputs / ops.cast(self.temperature, inputs.dtype)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape
