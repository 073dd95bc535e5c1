"""``Source``: where the rows of an experiment come from, and how they become splits.

A source kind is one class (one module in this package, one entry in ``SOURCES``). It opens
``data.source`` and returns a ``PreparedData``: the train/validation/test ``Split``s, the
feature spec fitted on the training split, and a fingerprint of the data. What the features
are (table columns, image tensors, ...) is the kind's decision; everything downstream reads
splits only. Problems with the data are ``DataError``s raised before any run directory exists.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from toolkit.config.schema import DataConfig

if TYPE_CHECKING:
    from toolkit.data.prepared import PreparedData
    from toolkit.data.preprocessing import FeatureSpec


@dataclass(frozen=True)
class InputChunk:
    """A chunk of new rows for ``predict``/``evaluate``: the encoded model inputs, the encoded
    target when asked for, and the columns carried through to the output (ids, file names)."""

    features: dict[str, np.ndarray]
    target: np.ndarray | None
    carried: pd.DataFrame
    # The carried columns' types in the input (a pyarrow Schema: a Parquet file's own, a CSV
    # file's as read), so a Parquet output keeps them; None: as pandas infers them.
    carried_schema: Any = None


class Source(abc.ABC):
    """One kind of data source. Subclasses set ``kind`` and implement ``prepare``."""

    kind: ClassVar[str]

    def __init__(self, config: DataConfig, *, seed: int, task: str) -> None:
        self.config = config
        self.seed = seed
        self.task = task

    @abc.abstractmethod
    def prepare(
        self,
        *,
        spec: FeatureSpec | None = None,
        rows: dict[str, int] | None = None,
        calibration: float | None = None,
    ) -> PreparedData:
        """Load (or open) the data, split it and fit the spec on the training split.

        ``spec``: a spec fitted before (a run being resumed or evaluated) to use as it is.
        ``rows``: the split sizes counted before, so a streamed source need not count again.
        ``calibration``: a fraction of the training rows to hold out for conformal calibration
        (cut before the spec is fitted), or None.
        """

    @classmethod
    def read_input(
        cls,
        path: str | Path,
        spec: FeatureSpec,
        *,
        label: str = "--input",
        with_target: bool = False,
        chunk_rows: int | None = None,
        carried_as_text: bool = False,
    ) -> Iterator[InputChunk]:
        """New rows from ``path`` (for ``predict``, and ``evaluate --data``), in chunks.

        Table kinds read a CSV/Parquet file, a directory or a glob of them, a chunk at a time;
        a kind whose inputs are not tables overrides this, and runs on images or signals read
        any form those come in (``read_array_input``). ``label`` (with the path) names the
        file or shard in messages ("--data rows.csv column 'x' must be numeric, row 3 holds
        'big'"); ``carried_as_text`` keeps a CSV file's other columns as read (for a CSV
        output).
        """
        from toolkit.data.streaming.reader import read_input_chunks

        path = str(path)  # Run.predict and Run.evaluate take a pathlib.Path too
        if spec.image is not None or spec.signal is not None:
            from toolkit.data.sources.files import read_array_input

            return read_array_input(
                path, spec, label=label, with_target=with_target, chunk_rows=chunk_rows
            )

        return read_input_chunks(
            path,
            spec,
            label=label,
            with_target=with_target,
            chunk_rows=chunk_rows,
            carried_as_text=carried_as_text,
        )

    def describe(self) -> dict[str, Any]:
        """What run.json records about the source (with how rows were split, when by a key:
        ``--resume`` refuses a run whose rows this version would split otherwise)."""
        info: dict[str, Any] = {"kind": self.kind, "source": self.config.source}
        if self.config.split_key is not None:
            from toolkit.data.hashing import key_split

            info["split"] = key_split(self.config.split_key)
        return info
