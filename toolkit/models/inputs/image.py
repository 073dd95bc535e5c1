"""Image inputs: raw pixels in, rescaled to [0, 1] inside the model from the data's value
range (0..255 for files and keras.datasets), so a saved model takes raw images."""

from __future__ import annotations

import keras

from toolkit.data.preprocessing import IMAGE_INPUT, FeatureSpec


def build_image_inputs(
    spec: FeatureSpec,
) -> tuple[dict[str, keras.KerasTensor], keras.KerasTensor]:
    """An ``image`` input of shape (H, W, C) and its pixels rescaled to [0, 1]."""
    image = spec.image
    low, high = image.value_range
    tensor = keras.Input(shape=tuple(image.shape), name=IMAGE_INPUT, dtype="float32")
    scaled = keras.layers.Rescaling(
        scale=1.0 / (high - low), offset=-low / (high - low), name="rescaling"
    )(tensor)
    return {IMAGE_INPUT: tensor}, scaled
