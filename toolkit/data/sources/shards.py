"""CSV/Parquet data streamed from disk: a file, a directory or a glob of shards.

``prepare`` reads the data once, in file order, before anything is trained: it checks every
shard, assigns each row to its split by hashing, fits the statistics on the training rows
(``StatisticsAccumulator``), counts every split and keeps a bounded sample of each (for
callbacks, plots and baselines). Validation/test given as their own files or shard sets
are counted and sampled the same way. Training then reads the shards again each epoch
(``StreamedSplit``); nothing holds more than a few chunks and a shuffle window.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.config.schema import DataConfig
from toolkit.data import hashing
from toolkit.data.memory import available_memory
from toolkit.data.sources.base import Source
from toolkit.data.streaming.files import (
    fingerprint_files,
    is_shard_set,
    list_shards,
    pieces_of,
    where,
)
from toolkit.data.streaming.streamed_split import SAMPLE_ROWS
from toolkit.data.table_files import csv_compression, is_csv_path
from toolkit.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from toolkit.data.prepared import PreparedData
    from toolkit.data.preprocessing import FeatureSpec
    from toolkit.data.streaming.files import ShardFile
    from toolkit.data.streaming.reader import Rows, ShardSet

# How run.json describes a split by hashing each row's shard and position. Rows were split
# by their position alone before (the shard's name never reached the hash): a run recorded
# with that description cannot be resumed by this version, which splits its rows otherwise.
POSITION_SPLIT = "hash of shard name and row position"
# ... and when shards share a file name, hashed with their path from the set's common folder
# instead (``name_shards``): a run recorded with the description above split such shards
# alike, row by row, and is not resumed by this version.
PATH_SPLIT = "hash of shard path and row position"

# Bytes in memory per cell of a table held in memory, by file format (a pandas frame, its
# split copies and the encoded arrays at their peak), for data.streaming: auto.
_BYTES_PER_CELL = 24
_CSV_BYTES_IN_MEMORY = 3.0  # per byte of CSV text
# Bytes of CSV text per byte of a compressed CSV file, assumed for data.streaming: auto. CSV
# text compresses about 3 to 10 times (numbers less, repeated text more); the high end errs
# towards streaming, which is always correct, where loading too much whole fails.
_CSV_COMPRESSION_RATIO = 10.0


def memory_budget() -> int:
    """Bytes a table may take in memory before ``streaming: auto`` streams it: a quarter of
    the memory available now (``TOOLKIT_MEMORY_BUDGET_MB`` overrides)."""
    override = os.environ.get("TOOLKIT_MEMORY_BUDGET_MB", "").strip()
    if override:
        try:
            megabytes = float(override)
        except ValueError:
            megabytes = math.nan
        if not (math.isfinite(megabytes) and megabytes > 0):
            raise DataError(
                f"TOOLKIT_MEMORY_BUDGET_MB must be a positive number of megabytes, got {override!r}"
            )
        return int(megabytes * (1 << 20))
    return available_memory() // 4


def estimated_memory(location: str, label: str = "data.source") -> int:
    """Bytes a CSV/Parquet file, directory or glob would take loaded whole (an estimate from
    file sizes and Parquet footers; nothing is decoded)."""
    from toolkit.data.streaming.files import inspect_shard

    total = 0
    for path in list_shards(location, label):
        if is_csv_path(path):
            total += int(csv_text_bytes(path) * _CSV_BYTES_IN_MEMORY)
            continue
        # One file is named as a file, not as a 'shard' of a set it does not belong to.
        shard = inspect_shard(path, label=label, single=not is_shard_set(location))
        total += (shard.rows or 0) * len(shard.columns) * _BYTES_PER_CELL
    return total


def csv_text_bytes(path: Path) -> int:
    """Bytes of text in a CSV file, estimated without decompressing it: its size; for a zip
    archive the size it records; for another compressed file ``_CSV_COMPRESSION_RATIO``
    times its size, or (gzip) the size its trailer records when that is larger. The trailer
    holds the size modulo 4 GiB, and only the last member's of a file of several, so it is
    never trusted to say less."""
    size = path.stat().st_size
    codec = csv_compression(path)
    if codec is None:
        return size
    if codec == "zip":
        import zipfile

        # A zip archive records each file's size: the text is known, not estimated.
        try:
            with zipfile.ZipFile(path) as archive:
                return sum(info.file_size for info in archive.infolist())
        except zipfile.BadZipFile:
            return size  # refused, naming the file, when its rows are read
    estimate = int(size * _CSV_COMPRESSION_RATIO)
    if codec == "gzip" and size >= 18:  # a gzip header and trailer at least
        with open(path, "rb") as handle:
            handle.seek(-4, os.SEEK_END)
            estimate = max(estimate, int.from_bytes(handle.read(4), "little"))
    return estimate


def streams(config: DataConfig) -> bool:
    """Whether ``data.source`` (a CSV/Parquet path) is streamed: ``data.streaming``, or with
    ``auto``, when loading it whole would take more than ``memory_budget()``."""
    if config.streaming != "auto":
        return bool(config.streaming)
    locations = {"data.source": config.source} | {
        f"data.{name} file": setting
        for name in ("validation", "test")
        if isinstance(setting := getattr(config, name), str)
    }
    total = sum(estimated_memory(location, label) for label, location in locations.items())
    return total > memory_budget()


def _typed_as_set(rows: Rows, shards: list[ShardFile]) -> pd.DataFrame:
    """The first chunk's frame, which decides the columns' kinds, with each column that has
    no type there (a Parquet shard whose column is all nulls: Arrow's null type, held as
    objects) typed as the first shard holding a value in it has it. Such a column was made
    categorical, and a numeric feature trained as the text of its numbers."""
    import numpy as np
    import pyarrow as pa

    frame = rows.frame()
    for field in rows.batch.schema:
        if not pa.types.is_null(field.type) or field.name not in frame.columns:
            continue
        kind = next((s.kinds[field.name] for s in shards if s.kinds.get(field.name)), None)
        if kind == "numbers":
            frame[field.name] = frame[field.name].astype(np.float64)
        elif kind == "True/False":
            frame[field.name] = frame[field.name].astype("boolean")
    return frame


class ShardSource(Source):
    """CSV/Parquet shards (or one file) read a chunk at a time; see the module docstring."""

    kind = "shards"

    def _needed(self) -> tuple[dict[str, str], dict[str, str]]:
        """The columns to read (name -> what for): features, target and split key; and
        notes for messages about a missing one (name -> why it was needed)."""
        from toolkit.data.preprocessing import target_note
        from toolkit.data.streaming.files import inspect_shard

        config = self.config
        label = "data.source"
        first = inspect_shard(
            list_shards(config.source, label)[0],
            label=label,
            single=not is_shard_set(config.source),
        )
        needed = dict.fromkeys(config.feature_columns(first.columns), "feature")
        notes: dict[str, str] = {}
        if config.features is None:
            # The features are the first shard's columns: a column only it holds would be
            # reported as missing from another shard, with no word of where it came from.
            notes = dict.fromkeys(
                needed,
                f"data.features is null, so the features are the columns of the first shard, "
                f"{first.path}: list them in data.features, or give every shard the same "
                "columns",
            )
        needed[config.target] = "target"
        note = target_note(config.target)
        if note:
            notes[config.target] = note
        if config.split_key is not None:
            needed[config.split_key] = "data.split_key"
        return needed, notes

    def _open(
        self,
        location: str,
        *,
        label: str,
        needed: dict[str, str],
        types: dict | None = None,
        main: ShardSet | None = None,
        notes: dict[str, str] | None = None,
    ) -> ShardSet:
        """The shard set at ``location``, checked: every shard holds the ``needed`` columns,
        each with one kind of value across the shards (and ``main``'s, for held-out sets)."""
        from toolkit.data.streaming.files import check_column_kinds, check_same_columns
        from toolkit.data.streaming.reader import open_shard_set

        config = self.config
        categorical = set(config.categorical or ())
        shard_set = open_shard_set(
            location,
            needed=needed,
            columns=list(needed),
            categorical=categorical,
            label=label,
            types=types,
            notes=notes,
        )
        # Every shard holds the first one's columns and no others, as in memory and for
        # predict: a later shard's extra column was read past, so the same shards trained
        # streamed and were refused loaded whole (and with data.features: null, a column
        # a later export added was left out without a word).
        check_same_columns(
            [shard.path for shard in shard_set.shards],
            [shard.columns for shard in shard_set.shards],
            label,
        )
        check_column_kinds(
            shard_set.shards,
            list(needed),
            label=label,
            as_text=categorical,
            reference=None if main is None else (main.label, main.shards),
            split_key=config.split_key if main is None else None,
        )
        return shard_set

    def prepare(
        self,
        *,
        spec: FeatureSpec | None = None,
        rows: dict[str, int] | None = None,
        calibration: float | None = None,
    ) -> PreparedData:
        from toolkit.data.prepared import PreparedData
        from toolkit.data.preprocessing import column_kinds
        from toolkit.data.streaming.statistics import StatisticsAccumulator
        from toolkit.data.streaming.streamed_split import Reservoir, Selection, StreamedSplit

        if calibration is not None:
            raise DataError(
                "prediction.conformal.calibration as a fraction needs the data in memory; "
                "streamed data calibrates on its validation split (calibration: validation)"
            )
        config = self.config
        needed, notes = self._needed()
        main = self._open(config.source, label="data.source", needed=needed, notes=notes)
        held_out = {
            name: self._open(
                setting,
                label=f"data.{name}",
                needed={c: w for c, w in needed.items() if c != config.split_key},
                types=main.csv_types,
                main=main,
                notes=notes,
            )
            for name in ("validation", "test")
            if isinstance(setting := getattr(config, name), str)
        }
        fractions = {
            "validation": config.validation if isinstance(config.validation, float) else None,
            "test": config.test if isinstance(config.test, float) else None,
        }
        hashed = any(fraction is not None for fraction in fractions.values())
        selections = {
            name: Selection(
                code if hashed else (None if name == "train" else code),
                split_key=config.split_key,
                **fractions,
            )
            for code, name in hashing.SPLIT_NAMES.items()
        }
        wanted = ["train", "validation"] + (["test"] if config.test is not None else [])
        main_pieces = pieces_of(main.shards)

        def split_of(name: str, shard_set: ShardSet, pieces, selection, known_rows: int):
            return StreamedSplit(
                name=name,
                shard_set=shard_set,
                pieces=pieces,
                selection=selection,
                spec=fitted,
                rows=known_rows,
                shuffle_buffer=config.shuffle_buffer,
            )

        counted: dict[str, int] = dict(rows or {})
        samples: dict[str, Any] = {}
        wholes: dict[str, Any] = {}
        statistics = None
        warnings = []
        if spec is None or any(name not in counted for name in wanted):
            statistics, samples, wholes, counted, key_sizes = self._one_pass(
                main, held_out, selections, wanted, column_kinds, StatisticsAccumulator, Reservoir
            )
            if key_sizes is not None and hashed:
                # As in memory (splits._hash_rows): the same keys, the same line.
                warning = hashing.split_share_warning(
                    config.split_key,
                    {name: counted[name] for name in wanted if name not in held_out},
                    fractions,
                    key_sizes,
                )
                warnings = [warning] if warning else []
            if spec is None:
                warnings += statistics.identifier_warnings()
        fitted = spec or statistics.spec()
        if spec is None:
            from toolkit.data.preprocessing import constant_feature_warning

            constant = constant_feature_warning(fitted, statistics.constant_numeric())
            warnings += [constant] if constant else []
            two_valued = statistics.two_valued_target()
            warnings += [two_valued] if two_valued else []
        splits = {}
        for name in wanted:
            if name in held_out:
                shard_set = held_out[name]
                split = split_of(
                    name, shard_set, pieces_of(shard_set.shards), Selection(None), counted[name]
                )
            else:
                split = split_of(name, main, main_pieces, selections[name], counted[name])
            if name in wholes:
                split.keep_whole(*wholes[name], self.seed)
            elif name in samples and samples[name] is not None:
                split._samples[(SAMPLE_ROWS, self.seed)] = split.encode_sample(samples[name])
            if not split.rows:
                raise DataError(
                    f"the {name} split of {config.source} is empty"
                    + (
                        "; use more rows or a larger fraction"
                        if hashed and name not in held_out
                        else ""
                    )
                )
            splits[name] = split
        fingerprint = fingerprint_files(main.shards, config.source)
        info = self.describe() | {
            "streaming": True,
            "format": main.format,
            "shards": len(main.shards),
            "split": (
                hashing.key_split(config.split_key)
                if config.split_key
                else (
                    (PATH_SPLIT if any(shard.relative for shard in main.shards) else POSITION_SPLIT)
                    if hashed
                    else "files"
                )
            ),
        }
        if statistics is not None and statistics.approximate:
            info["approximate_vocabularies"] = statistics.approximate
        return PreparedData(
            spec=fitted,
            train=splits["train"],
            validation=splits["validation"],
            test=splits.get("test"),
            fingerprint=fingerprint,
            source=info,
            warnings=warnings,
        )

    def _one_pass(
        self, main, held_out, selections, wanted, column_kinds, accumulator_class, reservoir_class
    ):
        """Read everything once: statistics of the training rows, the size and a sample of
        every split (a held-out split of fewer than ``2 * SAMPLE_ROWS`` rows whole: see
        ``StreamedSplit.keep_whole``).

        The rows stay Arrow batches (``Rows``) throughout: split by Arrow's filter, sampled
        and counted without a pandas frame (which cost more than the statistics)."""
        import numpy as np

        from toolkit.data.streaming.reader import Rows, prefetched

        config = self.config
        statistics = None
        reservoirs = {name: reservoir_class(SAMPLE_ROWS, self.seed) for name in wanted}
        counted = dict.fromkeys(wanted, 0)
        key_sizes = hashing.KeySizes() if config.split_key is not None else None

        def read(shard_set: ShardSet):
            for piece in pieces_of(shard_set.shards):
                for start, batch in shard_set.batches(piece, threads=True):
                    yield piece, Rows(batch, start)

        for piece, rows in prefetched(read(main)):
            shard = main.shards[piece.shard]
            what = where("data.source", shard.path, single=shard.single)
            if statistics is None:
                features, categorical = column_kinds(_typed_as_set(rows, main.shards), config)
                statistics = accumulator_class(config, self.task, features, categorical)
            codes = None
            if selections["train"].code is not None:
                codes = selections["train"].codes(rows, shard.name)
            if key_sizes is not None:
                key_sizes.update(rows.series(config.split_key))
            statistics.observe(rows)
            for name in wanted:
                if name in held_out:
                    continue
                # The split's rows, filtered where they are used: the statistics gather the
                # numbers of the training rows, and the sample filters the few it takes.
                keep = None if codes is None else codes == selections[name].code
                count = len(rows) if keep is None else int(np.count_nonzero(keep))
                if not count:
                    continue
                counted[name] += count
                reservoirs[name].update(rows, piece.shard, keep)
                if name == "train":
                    statistics.update(rows, what=what, keep=keep)
                else:
                    statistics.check_held_out(rows, what=what, keep=keep)
        if statistics is None:
            raise DataError(f"data.source {config.source} has no rows")
        for name, shard_set in held_out.items():
            for piece, rows in prefetched(read(shard_set)):
                shard = shard_set.shards[piece.shard]
                counted[name] += len(rows)
                reservoirs[name].update(rows, piece.shard)
                what = where(f"data.{name}", shard.path, single=shard.single)
                statistics.check_held_out(rows, what=what)
        # A held-out split small enough that its reservoir still holds every row is kept
        # whole (scored in full after training; the training split is only ever sampled).
        wholes = {
            name: whole
            for name, reservoir in reservoirs.items()
            if name != "train" and (whole := reservoir.everything()) is not None
        }
        samples = {
            name: reservoir.parts() for name, reservoir in reservoirs.items() if name not in wholes
        }
        return statistics, samples, wholes, counted, key_sizes
