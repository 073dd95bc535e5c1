"""``InMemorySplit``: a split held as encoded arrays, served by the in-memory tf.data path.

This is the fast path of ``toolkit.data.pipeline`` (each epoch gathered once and cut into
batches); any source kind whose data fits in memory (tables, Keras' image arrays, NumPy
files) hands its encoded arrays to this class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from toolkit.data.memory import aligned_empty, is_aligned
from toolkit.data.split import CHUNK_ROWS, Arrays, Split, Worker


def _aligned_copy(values: np.ndarray) -> np.ndarray:
    copy = aligned_empty(values.shape, values.dtype)
    copy[...] = values
    return copy


def _take(features: dict[str, np.ndarray], target: np.ndarray, rows) -> Arrays:
    return {name: values[rows] for name, values in features.items()}, target[rows]


class InMemorySplit(Split):
    """Encoded ``features`` (one array per model input, rows first) and ``target``."""

    def __init__(
        self,
        features: dict[str, np.ndarray],
        target: np.ndarray,
        *,
        augment: Callable | None = None,
        augment_seed: int = 0,
    ) -> None:
        """``augment(features, seed)``: transforms training batches (images; see
        ``toolkit.data.augment``), each from a seed folded from ``(augment_seed, epoch,
        batch)``. One-pass datasets, samples and chunks are never augmented."""
        lengths = {len(values) for values in features.values()} | {len(target)}
        if len(lengths) != 1:
            raise ValueError(f"features and target have different row counts: {sorted(lengths)}")
        self.features = features
        self.target = target
        self.augment = augment
        self.augment_seed = augment_seed
        self._tensors: Arrays | None = None
        # Datasets already built, by what they were built with: a sweep's trials train on
        # the same split, and building one (tf.data traces its functions) cost each later
        # trial 0.05 s of CPU (48,600 rows; measured). Reused, a dataset yields the same
        # batches: its order comes from (seed, epoch) alone.
        self._datasets: dict[tuple, Any] = {}

    def _held_by_tensorflow(self) -> Arrays:
        """The split as TensorFlow tensors, made once, for its datasets; the data held once.

        ``tf.constant`` copies a NumPy array, and under oneDNN (TensorFlow's default on x86)
        its memory goes to a pool that keeps it: converting a 69 MB array added 141 MB
        (measured), most of the in-memory path's peak beside the NumPy arrays. Numeric
        columns are handed to TensorFlow through DLPack instead, which shares an aligned
        buffer (copied into one first if need be), and the split keeps a read-only view of
        it for samples and chunks. Object columns (strings) are converted: TensorFlow's
        strings cannot be viewed as Python objects; so are empty and byte-swapped ones.
        """
        if self._tensors is not None:
            return self._tensors
        import tensorflow as tf

        def convert(values: np.ndarray):
            if values.dtype.kind not in "fiu" or not values.dtype.isnative or not values.size:
                with tf.device("/cpu:0"):  # the input pipeline's memory, not a device's
                    return tf.constant(values), values
            if not (is_aligned(values) and values.flags.c_contiguous and values.flags.writeable):
                values = _aligned_copy(values)
            tensor = tf.experimental.dlpack.from_dlpack(values.__dlpack__())
            return tensor, np.asarray(tensor)

        tensors = {}
        # Column by column, each split array replaced (and freed) as soon as it is held:
        # at most one column exists twice, when it must be copied to be aligned.
        for name in list(self.features):
            tensors[name], view = convert(self.features[name])
            self.features = {**self.features, name: view}
        target_tensor, self.target = convert(self.target)
        self._tensors = tensors, target_tensor
        return self._tensors

    @property
    def rows(self) -> int:
        return len(self.target)

    def arrays(self) -> Arrays:
        """The whole split: ``(features, target)``."""
        return self.features, self.target

    def training_dataset(
        self,
        *,
        batch_size: int,
        shuffle_seed: int | None,
        start_epoch: int = 0,
        epoch: Any = None,
        worker: Worker | None = None,
    ):
        from toolkit.data.pipeline import make_training_dataset

        # ``worker`` is not needed: every worker builds the same seeded epochs and
        # tf.distribute's DATA policy hands each its slice of every batch.
        key = ("training", batch_size, shuffle_seed, start_epoch)
        # A dataset that reads a run's epoch variable is that run's own: not kept.
        if epoch is None and key in self._datasets:
            return self._datasets[key]
        features, target = self._held_by_tensorflow()
        dataset = make_training_dataset(
            features,
            target,
            batch_size=batch_size,
            shuffle_seed=shuffle_seed,
            start_epoch=start_epoch,
            epoch=epoch,
            augment=self.augment,
            augment_seed=self.augment_seed,
        )
        if epoch is None:
            self._datasets[key] = dataset
        return dataset

    def dataset(self, *, batch_size: int, worker: Worker | None = None):
        """One pass in row order, built once per batch size."""
        from toolkit.data.pipeline import make_dataset

        key = ("one pass", batch_size)
        if key not in self._datasets:
            self._datasets[key] = make_dataset(*self._held_by_tensorflow(), batch_size=batch_size)
        return self._datasets[key]

    def sample(self, max_rows: int | None = None, *, seed: int = 0) -> Arrays:
        if max_rows is None or self.rows <= max_rows:
            return self.arrays()
        chosen = np.sort(np.random.default_rng(seed).choice(self.rows, max_rows, replace=False))
        return _take(self.features, self.target, chosen)

    def chunks(self, rows: int = CHUNK_ROWS) -> Iterator[Arrays]:
        for start in range(0, self.rows, rows):
            yield _take(self.features, self.target, slice(start, start + rows))

    def subset(self, rows: np.ndarray) -> InMemorySplit:
        """The rows at positions ``rows`` (cross-validation folds)."""
        return InMemorySplit(
            *_take(self.features, self.target, rows),
            augment=self.augment,
            augment_seed=self.augment_seed,
        )
