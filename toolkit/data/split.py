"""``Split``: one part of the data (train, validation or test) as everything else reads it.

Training, evaluation, callbacks, plots and baselines never ask where rows come from; they ask
a split for one of four things:

* ``training_dataset``/``dataset``: tf.data batches of ``(features dict, target)``, shuffled
  per epoch from ``(seed, epoch)`` for training, so a resumed run sees the same batches;
* ``sample``: a bounded, seeded sample in memory, for callbacks, plots and baselines;
* ``rows``: how many rows it has;
* ``chunks``: the rows in order, in chunks of bounded size, for exact one-pass metrics and
  streamed predictions.

In-memory splits (``toolkit.data.in_memory.InMemorySplit``) hold encoded arrays; streamed
splits (``toolkit.data.streaming.StreamedSplit``) read shards on demand. A source kind
(``toolkit.data.sources``) decides what the features are: table columns, image tensors, ...
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

Arrays = tuple[dict[str, np.ndarray], np.ndarray]

# Rows per chunk for one-pass metrics and streamed predictions: big enough for the model to
# run at full speed, small enough that memory stays flat whatever the size of the split.
CHUNK_ROWS = 65_536


@dataclass(frozen=True)
class Worker:
    """This process's place among the workers of a multi-worker run (files are split by it)."""

    index: int
    count: int


class Split(abc.ABC):
    """One part of the data; see the module docstring for the four things it offers."""

    #: True when the split reads its rows from disk each time instead of holding them.
    streamed: bool = False

    @property
    @abc.abstractmethod
    def rows(self) -> int:
        """The number of rows."""

    @abc.abstractmethod
    def training_dataset(
        self,
        *,
        batch_size: int,
        shuffle_seed: int | None,
        start_epoch: int = 0,
        epoch: Any = None,
        worker: Worker | None = None,
    ):
        """Training batches, ``ceil(rows / batch_size)`` per epoch, each epoch in the order
        ``(shuffle_seed, epoch)`` gives (file order when ``shuffle_seed`` is None).

        Without ``epoch``: endless, epochs ``start_epoch, start_epoch + 1, ...`` back to back.
        With ``epoch`` (a ``tf.Variable``): one epoch per iterator, the one ``epoch`` holds when
        the iterator starts. ``worker``: only this worker's share (multi-worker training).
        """

    @abc.abstractmethod
    def dataset(self, *, batch_size: int, worker: Worker | None = None):
        """One pass over ``(features, target)`` batches in row order."""

    @abc.abstractmethod
    def sample(self, max_rows: int | None = None, *, seed: int = 0) -> Arrays:
        """At most ``max_rows`` rows in memory, in row order: all of them when the split is no
        larger, else a uniform sample drawn with ``seed`` (the same every time)."""

    @abc.abstractmethod
    def chunks(self, rows: int = CHUNK_ROWS) -> Iterator[Arrays]:
        """Every row once, in order, as encoded arrays of at most ``rows`` rows."""

    def describe(self) -> dict[str, Any]:
        """What run.json records about the split."""
        return {"rows": self.rows, "streamed": self.streamed}
