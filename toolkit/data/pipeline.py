"""tf.data input pipelines: in memory, shuffled per epoch from a seed, batched.

Epoch ``e`` of a training dataset is a stateless permutation seeded by ``(seed, e)``, so a
run resumed at epoch ``e`` sees exactly the batches an uninterrupted run would have seen.
Each epoch is gathered in one operation and cut into whole batches by a reshape: one gather
per column per epoch instead of one per batch (on a small MLP, per-batch gathers were a third
of the step time). The last partial batch stays in its epoch.

Keras runs a compiled execution of ``steps_per_execution`` steps until the data ends, so a
training dataset comes in two forms (``make_training_dataset``):

* endless, for an execution size that divides the epoch: Keras makes one iterator per
  ``fit`` and is given ``steps_per_epoch`` (an iterator over a shuffled epoch costs about
  16 ms to start, more than a whole epoch of a small model);
* one epoch per iterator otherwise, the epoch read from a variable that ``EpochCounter``
  sets when the epoch starts; the last execution of an epoch stops at its last batch.

Datasets that are not shuffled (validation, prediction) are cut into batches once, up front,
and start in about 2 ms.

Training batches can be augmented (``toolkit.data.augment``) by a parallel map, each batch
from a stateless seed folded from ``(seed, epoch, batch index)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import tensorflow as tf

# Rows gathered at a time when an epoch is shuffled.
BLOCK_ROWS = 65_536


def steps_for(rows: int, batch_size: int) -> int:
    return max(1, math.ceil(rows / batch_size))


def epoch_variable(initial: int = 0) -> tf.Variable:
    """The epoch counter a shuffled training dataset reads when Keras starts an epoch."""
    # On the host and outside any strategy scope: it feeds the input pipeline, not the model.
    with tf.device("/cpu:0"):
        return tf.Variable(initial, dtype=tf.int64, trainable=False, name="input_epoch")


def _plain_python(function: Callable) -> Callable:
    """``function`` traced as written, without AutoGraph. The pipelines' functions branch on
    Python values only, so converting them changed nothing but cost 0.1-0.2 s per dataset
    (parsing and compiling their source), which every sweep trial paid again."""
    return tf.autograph.experimental.do_not_convert(function)


def _without_rewrites(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` without tf.data's default static optimizations. To rewrite a pipeline,
    tf.data serializes its graph, which copies every tensor its functions capture: the
    whole split once more when an iterator starts (+107 MB resident for 900,000 rows of 20
    float32 features, measured). These pipelines are built batched and prefetched already,
    so the rewrites had little to do."""
    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False
    return dataset.with_options(options)


def _batches(columns, rows: int, batch_size: int):
    """``columns`` (a structure of tensors with ``rows`` rows) as (whole batches, last)."""
    whole, remainder = divmod(rows, batch_size)

    def cut(t):
        return tf.reshape(t[: whole * batch_size], [whole, batch_size, *t.shape[1:]])

    last = tf.nest.map_structure(lambda t: t[whole * batch_size :], columns) if remainder else None
    return tf.nest.map_structure(cut, columns), last


def _from_batches(whole, last) -> tf.data.Dataset:
    batches = tf.data.Dataset.from_tensor_slices(whole)
    if last is not None:
        return batches.concatenate(tf.data.Dataset.from_tensors(last))
    # No partial batch: concatenate zero batches of size zero anyway, so the batch dimension
    # is unknown as for every other dataset, and Keras traces its functions once for all
    # of them instead of once per batch size.
    empty = tf.nest.map_structure(lambda t: tf.reshape(t[:0], [0, 0, *t.shape[2:]]), whole)
    return batches.concatenate(tf.data.Dataset.from_tensor_slices(empty))


def _columns(features: dict[str, np.ndarray | tf.Tensor], target: np.ndarray | tf.Tensor | None):
    """Arrays as tensors (copied); tensors as they are (``InMemorySplit`` keeps its own)."""
    columns = {name: tf.convert_to_tensor(values) for name, values in features.items()}
    rows = len(next(iter(features.values())))
    return (columns if target is None else (columns, tf.convert_to_tensor(target))), rows


def make_dataset(
    features: dict[str, np.ndarray],
    target: np.ndarray | None,
    *,
    batch_size: int,
    decode: Callable | None = None,
) -> tf.data.Dataset:
    """One pass over ``(features, target)`` (or ``features``) in row order. ``decode(features)``
    turns each batch's stored inputs (image file paths) into what the model takes."""
    columns, rows = _columns(features, target)
    batches = _from_batches(*_batches(columns, rows, batch_size))
    if decode is not None:
        if target is None:
            batches = batches.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
        else:
            batches = batches.map(lambda x, y: (decode(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    return _without_rewrites(batches.prefetch(2 if decode is None else tf.data.AUTOTUNE))


def make_training_dataset(
    features: dict[str, np.ndarray],
    target: np.ndarray,
    *,
    batch_size: int,
    shuffle_seed: int | None,
    start_epoch: int = 0,
    epoch: tf.Variable | None = None,
    augment: Callable | None = None,
    augment_seed: int = 0,
    decode: Callable | None = None,
) -> tf.data.Dataset:
    """Training batches, ``steps_for`` per epoch, rows permuted by ``(shuffle_seed, epoch)``.

    Without ``epoch``: endless, epochs ``start_epoch, start_epoch + 1, ...`` back to back.
    With ``epoch``: one epoch per iterator, the one ``epoch`` holds when the iterator starts.
    ``decode(features)`` turns each batch's stored inputs (image file paths) into what the
    model takes, then ``augment(features, seed)`` transforms them; both in a parallel map.
    """
    columns, rows = _columns(features, target)
    # Rows of images or signals are large: an epoch gathered at once would be a copy of the
    # whole split made while training waits (440 MB for 4,000 96x96x3 images). They are
    # gathered a batch at a time instead, in a parallel map that runs ahead of training.
    large_rows = any(t.shape.rank > 2 for t in tf.nest.flatten(columns))

    whole, remainder = divmod(rows, batch_size)
    # Gathered a block of batches at a time, not the whole epoch at once: an epoch-sized copy
    # (two while the next epoch is prefetched) was most of the memory of training in memory.
    per_block = max(1, BLOCK_ROWS // batch_size)
    blocks = math.ceil(whole / per_block)

    def in_blocks(order: tf.Tensor) -> tf.data.Dataset:
        """Table rows in ``order``, gathered a block of batches at a time."""

        @_plain_python
        def block(index: tf.Tensor) -> tf.data.Dataset:
            start = index * per_block * batch_size
            stop = tf.minimum(start + per_block * batch_size, whole * batch_size)
            taken = tf.nest.map_structure(lambda t: tf.gather(t, order[start:stop]), columns)
            return tf.data.Dataset.from_tensor_slices(
                tf.nest.map_structure(
                    lambda t: tf.reshape(t, [-1, batch_size, *t.shape[1:]]), taken
                )
            )

        batches = tf.data.Dataset.range(blocks).flat_map(block)
        if remainder:
            last = tf.nest.map_structure(
                lambda t: tf.gather(t, order[whole * batch_size :]), columns
            )
            return batches.concatenate(tf.data.Dataset.from_tensors(last))
        # As in _from_batches: an empty batch at the end keeps the batch dimension unknown.
        empty = tf.nest.map_structure(lambda t: tf.zeros([0, 0, *t.shape[1:]], t.dtype), columns)
        return batches.concatenate(tf.data.Dataset.from_tensor_slices(empty))

    @_plain_python
    def one_epoch(number: tf.Tensor) -> tf.data.Dataset:
        if shuffle_seed is not None:
            seed = tf.stack([tf.constant(shuffle_seed, tf.int64), number])
            order = tf.random.experimental.stateless_shuffle(tf.range(rows, dtype=tf.int64), seed)
        else:
            order = tf.range(rows, dtype=tf.int64)
        if large_rows:
            batches = (
                tf.data.Dataset.from_tensor_slices(order)
                .batch(batch_size)
                .map(
                    lambda rows_: tf.nest.map_structure(lambda t: tf.gather(t, rows_), columns),
                    num_parallel_calls=tf.data.AUTOTUNE,
                )
            )
        else:
            batches = in_blocks(order)
        if decode is not None:
            batches = batches.map(lambda x, y: (decode(x), y), num_parallel_calls=tf.data.AUTOTUNE)
        if augment is None:
            return batches
        epoch_seed = tf.random.experimental.stateless_fold_in(
            tf.constant([augment_seed, 0], tf.int64), number
        )

        @_plain_python
        def transform(index, batch):
            seed = tf.random.experimental.stateless_fold_in(epoch_seed, index)
            return augment(batch[0], seed), batch[1]

        return batches.enumerate().map(transform, num_parallel_calls=tf.data.AUTOTUNE)

    if epoch is None:
        dataset = tf.data.Dataset.range(start_epoch, 2**62).flat_map(one_epoch)
    else:
        dataset = tf.data.Dataset.from_tensors(0).flat_map(lambda _: one_epoch(epoch.value()))
        dataset = dataset.apply(
            tf.data.experimental.assert_cardinality(steps_for(rows, batch_size))
        )
    return _without_rewrites(dataset.prefetch(tf.data.AUTOTUNE))
