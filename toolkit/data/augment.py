"""Image augmentation for training batches, in the tf.data pipeline.

The transforms are those of Keras' ``RandomFlip``, ``RandomRotation``, ``RandomZoom``,
``RandomTranslation`` and ``RandomContrast`` with the same factor meanings, applied per
image. Keras' layers draw from a ``SeedGenerator`` whose state advances as batches are
made, which a parallel, prefetching pipeline does in no fixed order. Here each batch draws
from a stateless seed folded from ``(seed, epoch, batch index)`` instead, so a run is
reproducible and a resumed run augments exactly as an uninterrupted one. The geometric
transforms are combined into one affine map per image, applied by
``keras.ops.image.affine_transform``.

Only training batches are augmented: validation, evaluation and prediction never see it,
and the saved model holds none of it.
"""

from __future__ import annotations

import math

import tensorflow as tf

from toolkit.config.schema import AugmentationConfig


def _uniform(seed, index: int, batch, low, high):
    return tf.random.stateless_uniform(
        [batch], seed=tf.random.experimental.stateless_fold_in(seed, index), minval=low, maxval=high
    )


def affine_matrices(angle, scale, shift_x, shift_y, height: int, width: int):
    """Per image, the 8-number map from output to input pixel coordinates (the format of
    ``keras.ops.image.affine_transform``) for a rotation by ``angle`` (radians,
    counter-clockwise) and a zoom by ``scale`` (> 1: zoom out) about the centre, then a shift
    of the content by (``shift_x``, ``shift_y``) pixels."""
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    cos, sin = tf.cos(angle) * scale, tf.sin(angle) * scale
    # input = centre + scale * R(-angle) @ (output - centre - shift)
    ox, oy = cx + shift_x, cy + shift_y
    a0, a1 = cos, sin
    b0, b1 = -sin, cos
    a2 = cx - a0 * ox - a1 * oy
    b2 = cy - b0 * ox - b1 * oy
    zeros = tf.zeros_like(angle)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def make_augmenter(augmentation: AugmentationConfig, *, value_range: list[float], input_name: str):
    """A function ``(features, seed) -> features`` transforming ``features[input_name]``
    (a float batch (B, H, W, C) of raw pixels) with a stateless ``seed`` of shape (2,)."""
    low, high = (float(v) for v in value_range)

    def augment(features, seed):
        images = features[input_name]
        shape = tf.shape(images)
        batch = shape[0]
        height, width = images.shape[1], images.shape[2]
        if augmentation.random_flip in ("horizontal", "horizontal_and_vertical"):
            flip = _uniform(seed, 0, batch, 0.0, 1.0) < 0.5
            images = tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)
        if augmentation.random_flip in ("vertical", "horizontal_and_vertical"):
            flip = _uniform(seed, 1, batch, 0.0, 1.0) < 0.5
            images = tf.where(flip[:, None, None, None], tf.reverse(images, axis=[1]), images)
        geometric = (
            augmentation.random_rotation,
            augmentation.random_zoom,
            augmentation.random_translation,
        )
        if any(v is not None for v in geometric):
            zeros, ones = tf.zeros([batch]), tf.ones([batch])
            angle = zeros
            if augmentation.random_rotation is not None:
                turn = augmentation.random_rotation * 2.0 * math.pi
                angle = _uniform(seed, 2, batch, -turn, turn)
            scale = ones
            if augmentation.random_zoom is not None:
                zoom = augmentation.random_zoom
                scale = _uniform(seed, 3, batch, 1.0 - zoom, 1.0 + zoom)
            shift_x = shift_y = zeros
            if augmentation.random_translation is not None:
                move = augmentation.random_translation
                shift_x = _uniform(seed, 4, batch, -move, move) * width
                shift_y = _uniform(seed, 5, batch, -move, move) * height
            import keras

            images = keras.ops.image.affine_transform(
                images,
                affine_matrices(angle, scale, shift_x, shift_y, height, width),
                interpolation="bilinear",
                fill_mode=augmentation.fill_mode,
            )
        if augmentation.random_contrast is not None:
            spread = augmentation.random_contrast
            factor = _uniform(seed, 6, batch, 1.0 - spread, 1.0 + spread)[:, None, None, None]
            mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
            images = tf.clip_by_value((images - mean) * factor + mean, low, high)
        return {**features, input_name: images}

    return augment
