"""tf.data input pipelines: cached, shuffled per epoch from a seed, batched, prefetched.

Shuffling is a stateless permutation seeded by (seed, epoch), read from a variable the
training loop advances. A resumed run therefore sees exactly the batches an uninterrupted
run would have seen, which Keras' own reshuffling cannot promise after a restart.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def make_dataset(
    features: dict[str, np.ndarray],
    target: np.ndarray | None,
    *,
    batch_size: int,
    shuffle_seed: int | None = None,
    epoch: tf.Variable | None = None,
) -> tf.data.Dataset:
    """A batched dataset of ``(features, target)`` or of ``features`` alone."""
    tensors = {name: tf.constant(values) for name, values in features.items()}
    if target is not None:
        tensors_y = tf.constant(target)
    rows = len(next(iter(features.values())))

    if shuffle_seed is None:
        indices = tf.data.Dataset.range(rows)
    else:
        counter = epoch if epoch is not None else tf.Variable(0, dtype=tf.int64, trainable=False)

        def permutation(_: tf.Tensor) -> tf.data.Dataset:
            seed = tf.stack([tf.constant(shuffle_seed, tf.int64), tf.cast(counter, tf.int64)])
            order = tf.random.experimental.stateless_shuffle(tf.range(rows, dtype=tf.int64), seed)
            return tf.data.Dataset.from_tensor_slices(order)

        indices = tf.data.Dataset.range(1).flat_map(permutation)

    def gather(batch_indices: tf.Tensor):
        x = {name: tf.gather(values, batch_indices) for name, values in tensors.items()}
        return x if target is None else (x, tf.gather(tensors_y, batch_indices))

    batches = -(-rows // batch_size)
    # Batch the indices first and gather whole batches: one gather per batch instead of per row.
    # flat_map hides the length from Keras; state it so epochs end without a warning.
    return (
        indices.batch(batch_size)
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE)
        .apply(tf.data.experimental.assert_cardinality(batches))
        .prefetch(tf.data.AUTOTUNE)
    )
