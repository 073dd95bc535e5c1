"""Tables in memory: a CSV or Parquet file (or, with ``data.streaming: false``, a directory or
glob of them) loaded whole; also the base of the other in-memory table kinds.

The frame is checked, split (by fraction with the seed, stratified for classifiers, or by
hashing ``data.split_key``), the spec fitted on the training part, and each part encoded once
into the arrays the model reads (``InMemorySplit``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from toolkit.data.in_memory import InMemorySplit
from toolkit.data.sources.base import Source
from toolkit.errors import DataError

if TYPE_CHECKING:
    from toolkit.data.prepared import PreparedData
    from toolkit.data.preprocessing import FeatureSpec


def read_table(path: str | Path, *, label: str = "data file") -> pd.DataFrame:
    """Read a CSV or Parquet file, turning every failure into a one-line DataError."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{label} not found: {path}")
    if path.is_dir():
        raise DataError(f"{label} is a directory, expected a .csv or .parquet file: {path}")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"{label} {path} cannot be read: {first}") from None
    except Exception as error:  # pyarrow raises its own types for corrupt files
        raise DataError(f"{label} {path} cannot be read: {type(error).__name__}") from None
    if frame.empty:
        raise DataError(f"{label} {path} has no rows")
    return frame


def read_tables(location: str, *, label: str = "data file") -> pd.DataFrame:
    """One file, or every shard of a directory or glob concatenated in name order."""
    from toolkit.data.streaming.files import is_shard_set, list_shards

    if not is_shard_set(location):
        return read_table(location, label=label)
    paths = list_shards(location, label)
    frames = [read_table(path, label=f"{label} shard") for path in paths]
    columns = list(frames[0].columns)
    for path, frame in zip(paths, frames, strict=True):
        if list(frame.columns) != columns:
            missing = [c for c in columns if c not in frame.columns]
            raise DataError(
                f"{label} shard {path} has columns {', '.join(map(str, frame.columns))}, "
                f"unlike the first shard" + (f" (missing {', '.join(missing)})" if missing else "")
            )
    return pd.concat(frames, ignore_index=True)


class TableSource(Source):
    """A table loaded whole: ``data.source`` as a file, directory or glob of CSV/Parquet."""

    kind = "table"

    def load_frame(self) -> pd.DataFrame:
        return read_tables(self.config.source, label="data.source")

    def prepare(
        self,
        *,
        spec: FeatureSpec | None = None,
        rows: dict[str, int] | None = None,
        calibration: float | None = None,
    ) -> PreparedData:
        from toolkit.data.prepared import PreparedData
        from toolkit.data.preprocessing import (
            check_table,
            encode_target,
            feature_arrays,
            fingerprint,
            fit_spec,
        )
        from toolkit.data.splits import split_calibration, split_frame

        frame = self.load_frame()
        check_table(frame, self.config, label=self.config.source)
        digest = fingerprint(frame)
        splits = split_frame(frame, self.config, task=self.task, seed=self.seed)
        if calibration is not None:
            stratify = self.config.stratify
            splits = split_calibration(
                splits,
                calibration,
                target=self.config.target,
                stratify=self.task != "regression" if stratify is None else stratify,
                seed=self.seed,
            )
        del frame  # the splits are copies; the whole table is no longer needed
        spec = spec or fit_spec(splits.train, self.config, self.task)

        def encode(part: pd.DataFrame, what: str) -> InMemorySplit:
            return InMemorySplit(
                feature_arrays(part, spec, what=what), encode_target(part, spec, what=what)
            )

        return PreparedData(
            spec=spec,
            train=encode(splits.train, "training data"),
            validation=encode(splits.validation, "validation data"),
            test=None if splits.test is None else encode(splits.test, "test data"),
            fingerprint=digest,
            source=self.describe(),
            calibration=None
            if splits.calibration is None
            else encode(splits.calibration, "calibration data"),
        )
