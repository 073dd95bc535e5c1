"""``ImageFileSplit``: a split of image files decoded as batches are made (``data.cache:
false``), for folders whose decoded images would not fit in memory.

It holds the file paths (and any table columns) instead of pixels; every dataset decodes its
batches in a parallel tf.data map (training batches then augment as usual), and samples and
chunks, which callbacks, plots, baselines and metrics read, are decoded when asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from toolkit.data.in_memory import InMemorySplit
from toolkit.data.preprocessing import IMAGE_INPUT, ImageFeature
from toolkit.data.split import CHUNK_ROWS, Arrays, Worker


class ImageFileSplit(InMemorySplit):
    """``features[IMAGE_INPUT]`` holds file paths, decoded as ``feature`` says when read."""

    def __init__(
        self,
        features: dict[str, np.ndarray],
        target: np.ndarray,
        feature: ImageFeature,
        *,
        augment: Callable | None = None,
        augment_seed: int = 0,
    ) -> None:
        super().__init__(features, target, augment=augment, augment_seed=augment_seed)
        self.feature = feature

    def _decode_batch(self):
        from toolkit.startup import import_tensorflow

        import_tensorflow()  # quietly, when the command line asked for it
        import tensorflow as tf

        from toolkit.data.images import decode_fn

        one = decode_fn(self.feature)
        signature = tf.TensorSpec(self.feature.shape, tf.float32)

        def decode(features):
            images = tf.map_fn(one, features[IMAGE_INPUT], fn_output_signature=signature)
            return {**features, IMAGE_INPUT: images}

        return decode

    def _decoded(self, arrays: Arrays) -> Arrays:
        from toolkit.data.images import decode_files

        features, target = arrays
        paths = [str(p) for p in features[IMAGE_INPUT]]
        images = decode_files(paths, self.feature, what="images")
        return {**features, IMAGE_INPUT: images}, target

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

        return make_training_dataset(
            self.features,
            self.target,
            batch_size=batch_size,
            shuffle_seed=shuffle_seed,
            start_epoch=start_epoch,
            epoch=epoch,
            augment=self.augment,
            augment_seed=self.augment_seed,
            decode=self._decode_batch(),
        )

    def dataset(self, *, batch_size: int, worker: Worker | None = None):
        from toolkit.data.pipeline import make_dataset

        return make_dataset(
            self.features, self.target, batch_size=batch_size, decode=self._decode_batch()
        )

    def _stored(self) -> InMemorySplit:
        """The same rows as stored (paths), to select rows from."""
        return InMemorySplit(self.features, self.target)

    def arrays(self) -> Arrays:
        return self._decoded((self.features, self.target))

    def sample(self, max_rows: int | None = None, *, seed: int = 0) -> Arrays:
        return self._decoded(self._stored().sample(max_rows, seed=seed))

    def chunks(self, rows: int = CHUNK_ROWS) -> Iterator[Arrays]:
        for chunk in self._stored().chunks(rows):
            yield self._decoded(chunk)

    def subset(self, rows: np.ndarray) -> ImageFileSplit:
        part = self._stored().subset(rows)
        features, target = part.features, part.target
        return ImageFileSplit(
            features,
            target,
            self.feature,
            augment=self.augment,
            augment_seed=self.augment_seed,
        )
