"""The input preprocessing a pretrained backbone's weights expect, inside the saved model."""

from __future__ import annotations

import keras
from keras import ops

# ImageNet statistics used by keras.applications.imagenet_utils.preprocess_input.
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
MODES = ("none", "tf", "torch", "caffe")


@keras.saving.register_keras_serializable(package="toolkit")
class BackbonePreprocessing(keras.layers.Layer):
    """Map RGB pixels in [0, 1] to what ``keras.applications.<family>.preprocess_input``
    gives for the same pixels in [0, 255]: ``none`` (the backbone rescales itself),
    ``tf`` ([-1, 1]), ``torch`` (ImageNet mean and std) or ``caffe`` (BGR, ImageNet mean
    subtracted). A layer rather than a Lambda, so the model loads in Keras' safe mode."""

    def __init__(self, mode: str = "none", **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "tf":
            return x * 2.0 - 1.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_TORCH_MEAN, dtype=x.dtype)
            std = ops.convert_to_tensor(_TORCH_STD, dtype=x.dtype)
            return (x - mean) / std
        x = x * 255.0
        if self.mode == "caffe":
            x = ops.flip(x, axis=-1)  # RGB -> BGR
            return x - ops.convert_to_tensor(_CAFFE_BGR_MEAN, dtype=x.dtype)
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}
