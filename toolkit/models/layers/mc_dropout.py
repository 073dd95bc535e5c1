"""Monte-Carlo dropout: dropout that can stay active at inference."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from toolkit.models.layers import sampling


@keras.saving.register_keras_serializable(package="toolkit")
class MCDropout(keras.layers.Layer):
    """Dropout that is also applied at inference while the layer is stochastic.

    Repeated predictions then sample from the MC-dropout approximate posterior
    (Gal & Ghahramani, 2016). ``set_stochastic(False)`` turns it into the identity at
    inference; the switch lives in a non-trainable variable, so it also takes effect in
    already traced ``predict`` functions. During training dropout is always applied.

    Args:
        rate: Fraction of the inputs to drop, in [0, 1).
        seed: Seed of the layer's random generator; ``None`` follows the global seed.
    """

    # Each element's mask is its own draw, so each row of a batch is an independent pass.
    draws_per_row = True

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.stochastic_flag = self.add_weight(
            shape=(),
            initializer="ones",
            trainable=False,
            autocast=False,
            dtype="float32",
            name="stochastic",
        )
        self.supports_masking = True

    def set_stochastic(self, flag: bool) -> None:
        """Apply dropout at inference (True) or pass inputs through (False)."""
        self.stochastic_flag.assign(1.0 if flag else 0.0)

    @property
    def is_stochastic(self) -> bool:
        return bool(ops.convert_to_numpy(self.stochastic_flag) > 0.5)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if self.rate == 0.0:
            return inputs
        dropped = sampling.dropout(inputs, self.rate, self.seed_generator)
        if training:
            return dropped
        # A variable, not a Python bool, so traced predict functions see later switches.
        return ops.where(self.stochastic_flag > 0.5, dropped, inputs)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
