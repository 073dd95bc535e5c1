"""tf.data input pipelines: in memory, shuffled per epoch from a seed, batched, prefetched.

The dataset is infinite and carries the epoch number itself: epoch ``e`` is a stateless
permutation seeded by ``(seed, e)``, and training passes ``steps_per_epoch``. So Keras
creates one iterator per ``fit`` instead of one per epoch (each creation costs tens of
milliseconds, more than an epoch of a small model), and a run resumed at epoch ``e`` sees
exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf


def steps_for(rows: int, batch_size: int) -> int:
    return max(1, math.ceil(rows / batch_size))


def make_dataset(
    features: dict[str, np.ndarray],
    target: np.ndarray | None,
    *,
    batch_size: int,
    shuffle_seed: int | None = None,
    start_epoch: int = 0,
    repeat: bool = True,
) -> tf.data.Dataset:
    """Batches of ``(features, target)`` (or ``features``); ``steps_for`` batches per epoch."""
    tensors = {name: tf.constant(values) for name, values in features.items()}
    tensors_y = None if target is None else tf.constant(target)
    rows = len(next(iter(features.values())))

    def epoch_batches(epoch: tf.Tensor) -> tf.data.Dataset:
        if shuffle_seed is None:
            order = tf.range(rows, dtype=tf.int64)
        else:
            seed = tf.stack([tf.constant(shuffle_seed, tf.int64), epoch])
            order = tf.random.experimental.stateless_shuffle(tf.range(rows, dtype=tf.int64), seed)
        # Batch within the epoch, so the last partial batch never spills into the next one.
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    epochs = tf.data.Dataset.range(start_epoch, 2**62) if repeat else tf.data.Dataset.range(1)

    def gather(batch_indices: tf.Tensor):
        x = {name: tf.gather(values, batch_indices) for name, values in tensors.items()}
        return x if tensors_y is None else (x, tf.gather(tensors_y, batch_indices))

    # Gather whole batches: one gather per batch instead of one per row.
    dataset = epochs.flat_map(epoch_batches).map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    if not repeat:
        dataset = dataset.apply(
            tf.data.experimental.assert_cardinality(steps_for(rows, batch_size))
        )
    return dataset.prefetch(tf.data.AUTOTUNE)
