"""Augmentation in the training pipeline: the transforms against NumPy, reproducible per
(seed, epoch, batch), different across epochs, and absent from every other dataset."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from toolkit.config.schema import AugmentationConfig
from toolkit.data.augment import affine_matrices, make_augmenter
from toolkit.data.pipeline import make_dataset, make_training_dataset


def _affine(images: np.ndarray, **transform) -> np.ndarray:
    import keras

    count, height, width = images.shape[:3]
    values = {"angle": 0.0, "scale": 1.0, "shift_x": 0.0, "shift_y": 0.0, **transform}
    matrices = affine_matrices(
        *(tf.fill([count], float(values[k])) for k in ("angle", "scale", "shift_x", "shift_y")),
        height,
        width,
    )
    return keras.ops.convert_to_numpy(
        keras.ops.image.affine_transform(
            tf.constant(images), matrices, interpolation="bilinear", fill_mode="constant"
        )
    )


def test_a_quarter_turn_and_a_whole_pixel_shift_are_numpys():
    images = np.random.default_rng(0).uniform(0, 255, (2, 7, 7, 3)).astype(np.float32)
    turned = _affine(images, angle=np.pi / 2)
    np.testing.assert_allclose(turned, np.rot90(images, k=-1, axes=(1, 2)), atol=1e-3)
    shifted = _affine(images, shift_x=2.0, shift_y=-1.0)
    expected = np.zeros_like(images)
    expected[:, :-1, 2:] = images[:, 1:, :-2]
    np.testing.assert_allclose(shifted, expected, atol=1e-3)
    # Zooming out by 2 about the centre: the centre pixel stays, a pixel 2 to its right
    # comes from 4 to its right.
    zoomed = _affine(images, scale=2.0)
    np.testing.assert_allclose(zoomed[:, 3, 3], images[:, 3, 3], atol=1e-3)
    np.testing.assert_allclose(zoomed[:, 3, 4], images[:, 3, 5], atol=1e-3)


def test_flips_and_contrast_act_per_image():
    rng = np.random.default_rng(1)
    images = rng.uniform(60, 190, (64, 6, 6, 3)).astype(np.float32)
    augment = make_augmenter(
        AugmentationConfig(random_flip="horizontal", random_contrast=0.2),
        value_range=[0, 255],
        input_name="image",
    )
    out = augment({"image": tf.constant(images)}, tf.constant([3, 4], tf.int64))["image"].numpy()
    flipped = 0
    for original, result in zip(images, out, strict=True):
        mirrored = original[:, ::-1]
        # Contrast moves pixels about their image's channel means, so undo it first.
        candidates = [original, mirrored]
        mean = original.mean(axis=(0, 1))
        factors = [
            np.linalg.lstsq((c - mean).reshape(-1, 1), (result - mean).reshape(-1), rcond=None)[0][
                0
            ]
            for c in candidates
        ]
        errors = [
            np.abs((c - mean) * f + mean - result).max()
            for c, f in zip(candidates, factors, strict=True)
        ]
        best = int(np.argmin(errors))
        assert errors[best] < 1e-3 and 0.8 - 1e-6 <= factors[best] <= 1.2 + 1e-6
        flipped += best
    assert 10 < flipped < 54  # each image flips with probability 1/2


def test_training_batches_are_augmented_reproducibly_and_nothing_else_is():
    images = np.random.default_rng(2).uniform(0, 255, (12, 8, 8, 1)).astype(np.float32)
    features, target = {"image": images}, np.arange(12, dtype=np.float32).reshape(-1, 1)
    augment = make_augmenter(
        AugmentationConfig(random_rotation=0.1, random_translation=0.1),
        value_range=[0, 255],
        input_name="image",
    )

    def epochs(start: int) -> list[list[np.ndarray]]:
        dataset = make_training_dataset(
            features,
            target,
            batch_size=4,
            shuffle_seed=None,
            start_epoch=start,
            augment=augment,
            augment_seed=7,
        )
        batches = [b[0]["image"].numpy() for b in dataset.take(6)]
        return [batches[:3], batches[3:]]

    first, second = epochs(0)
    resumed = epochs(1)[0]  # a run resumed at epoch 1 sees what the uninterrupted one saw
    for a, b in zip(second, resumed, strict=True):
        np.testing.assert_array_equal(a, b)
    raw = [images[i : i + 4] for i in (0, 4, 8)]
    assert all(not np.allclose(a, r) for a, r in zip(first, raw, strict=True))
    assert all(not np.allclose(a, b) for a, b in zip(first, second, strict=True))
    unaugmented = [b[0]["image"].numpy() for b in make_dataset(features, target, batch_size=4)]
    for a, r in zip(unaugmented, raw, strict=True):
        np.testing.assert_array_equal(a, r)
