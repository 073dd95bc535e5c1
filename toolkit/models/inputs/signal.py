"""Signal inputs: (L, C) sequences, each channel standardised inside the model with the
training split's mean and standard deviation."""

from __future__ import annotations

import keras

from toolkit.data.preprocessing import SIGNAL_INPUT, FeatureSpec


def build_signal_inputs(
    spec: FeatureSpec,
) -> tuple[dict[str, keras.KerasTensor], keras.KerasTensor]:
    """A ``signal`` input of shape (L, C), standardised per channel."""
    signal = spec.signal
    tensor = keras.Input(shape=tuple(signal.shape), name=SIGNAL_INPUT, dtype="float32")
    standardized = keras.layers.Normalization(
        axis=-1,
        mean=signal.mean,
        variance=[s * s for s in signal.std],
        name="standardize",
    )(tensor)
    return {SIGNAL_INPUT: tensor}, standardized
