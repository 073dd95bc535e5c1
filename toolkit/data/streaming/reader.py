"""Reading shards a chunk at a time: Parquet row groups through pyarrow's batch reader, CSV
through pyarrow's streaming CSV reader (never the whole file in memory).

Chunks come out as pandas frames indexed by the row's position in its shard, so the
encoding (``feature_arrays``/``encode_target``) is the very code of the in-memory path, and
an error names the shard and the row. Every failure is a one-line ``DataError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from toolkit.data.streaming.files import (
    Piece,
    ShardFile,
    check_columns,
    check_same_columns,
    csv_conversion_error,
    csv_read_options,
    frame_of,
    inspect_shard,
    list_shards,
    name_shards,
    short_error,
    where,
)
from toolkit.data.table_files import PANDAS_NA_VALUES, csv_input
from toolkit.errors import DataError

if TYPE_CHECKING:
    from toolkit.data.preprocessing import FeatureSpec
    from toolkit.data.sources.base import InputChunk

# Rows per chunk read from a shard; CSV blocks are cut by bytes, about this many rows.
READ_ROWS = 65_536
CSV_BLOCK_BYTES = 4 << 20


@dataclass(frozen=True)
class ShardSet:
    """Shards read alike: their files, the columns to read and, for CSV, the type of each
    column (fixed from the first block of the first shard, so every shard parses the same)."""

    shards: list[ShardFile]
    columns: list[str] | None  # None: every column
    csv_types: dict[str, object] | None
    label: str

    @property
    def format(self) -> str:
        return self.shards[0].format

    def batches(
        self, piece: Piece, *, rows: int = READ_ROWS, threads: bool = False
    ) -> Iterator[tuple[int, object]]:
        """``(position of its first row in the shard, pyarrow RecordBatch)`` for the rows of
        ``piece``, in batches of at most ``rows`` (CSV: about)."""
        shard = self.shards[piece.shard]
        start = piece.start
        try:
            for batch in self._batches(shard, piece, rows, threads):
                if batch.num_rows:
                    yield start, batch
                    start += batch.num_rows
        except DataError:
            raise
        except Exception as error:  # pyarrow's own error types, for corrupt files too
            row = self._bad_value_row(shard, error, start) if shard.format == "csv" else None
            raise DataError(
                f"{where(self.label, shard.path, single=shard.single)} cannot be read: "
                f"{short_error(error, shard.columns, row, path=shard.path)}"
            ) from None
        if piece.rows is not None and start - piece.start != piece.rows:
            raise DataError(
                f"{where(self.label, shard.path, single=shard.single)} changed while it was read "
                f"({start - piece.start} rows instead of {piece.rows})"
            )

    def read(
        self, piece: Piece, *, rows: int = READ_ROWS, threads: bool = False
    ) -> Iterator[pd.DataFrame]:
        """The rows of ``piece`` as frames indexed by their position in the shard."""
        for start, batch in self.batches(piece, rows=rows, threads=threads):
            yield as_frame(batch, start)

    def _bad_value_row(self, shard: ShardFile, error: BaseException, start: int) -> int | None:
        """The row of the CSV value ``error`` reports (pyarrow's message names the column and
        the value, not the row), found by reading that column again as text from the file's
        start: the value is in the first block not yet yielded, at ``start`` or after."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pv

        found = csv_conversion_error(error, shard.columns)
        if found is None:
            return None
        column, value = found
        position = 0
        try:
            with pv.open_csv(
                csv_input(shard.path),
                read_options=csv_read_options(shard, block_size=CSV_BLOCK_BYTES),
                convert_options=pv.ConvertOptions(
                    column_types={column: pa.string()}, include_columns=[column]
                ),
            ) as reader:
                for batch in reader:
                    if position + batch.num_rows > start:
                        same = pc.fill_null(pc.equal(batch.column(0), value), False)
                        same = same.to_numpy(zero_copy_only=False)
                        same[: max(start - position, 0)] = False
                        if same.any():
                            return position + int(same.argmax())
                    position += batch.num_rows
        except Exception:  # the first error is the one to report, with or without its row
            return None
        return None

    def _batches(self, shard: ShardFile, piece: Piece, rows: int, threads: bool):
        if shard.format == "parquet":
            import pyarrow.parquet as pq

            with pq.ParquetFile(shard.path) as handle:
                yield from handle.iter_batches(
                    batch_size=rows,
                    row_groups=[piece.row_group],
                    columns=self.columns,
                    use_threads=threads,
                )
            return
        import pyarrow.csv as pv

        reader = pv.open_csv(
            csv_input(shard.path),
            read_options=csv_read_options(shard, block_size=CSV_BLOCK_BYTES, use_threads=threads),
            # Empty text is missing, as pandas reads it in memory.
            convert_options=pv.ConvertOptions(
                column_types=self.csv_types,
                include_columns=self.columns,
                strings_can_be_null=True,
                null_values=PANDAS_NA_VALUES,
            ),
        )
        with reader:
            yield from reader


class Rows:
    """Rows of a shard as read: an Arrow RecordBatch and each row's position in the shard
    (``start`` for a run of rows from there, or an array of positions once filtered).

    The one pass before training works on these rather than on pandas frames: splitting,
    sampling and most statistics stay in Arrow and NumPy, and a column goes through pandas
    only when its Arrow type cannot say what it holds (or to word an error naming a row),
    as ``series`` gives it: the very column ``as_frame`` would have held."""

    __slots__ = ("batch", "positions", "start")

    def __init__(self, batch, start: int = 0, positions: np.ndarray | None = None) -> None:
        self.batch = batch
        self.start = start
        self.positions = positions

    def __len__(self) -> int:
        return self.batch.num_rows

    @property
    def index(self) -> pd.Index:
        """The rows' positions in their shard, as the index of ``as_frame``'s frames."""
        if self.positions is None:
            return pd.RangeIndex(self.start, self.start + self.batch.num_rows)
        return pd.Index(self.positions)

    def column(self, name: str):
        return self.batch.column(self.batch.schema.get_field_index(name))

    def series(self, name: str) -> pd.Series:
        """Column ``name`` as pandas holds it, indexed by position."""
        values = self.column(name).to_pandas()
        values.index = self.index
        values.name = name
        return values

    def frame(self) -> pd.DataFrame:
        """The rows as a frame indexed by position (``as_frame``)."""
        frame = frame_of(self.batch)
        frame.index = self.index
        return frame

    def filter(self, keep: np.ndarray, columns: list[str] | None = None) -> Rows:
        """The rows where the boolean array ``keep`` is true (Arrow's filter, given the NumPy
        mask as it is: a ``take`` of their indices, or the mask made an Arrow array first,
        took several times as long); ``columns``: only these of their columns."""
        if keep.all():
            return self
        positions = (
            self.start + np.flatnonzero(keep) if self.positions is None else self.positions[keep]
        )
        batch = self.batch if columns is None else self.batch.select(columns)
        return Rows(batch.filter(keep), positions=positions)


def prefetched(items: Iterator, depth: int = 2) -> Iterator:
    """``items`` as they are, produced up to ``depth`` ahead by a thread of their own.

    The pass before training reads Parquet/CSV in that thread while it computes on the last
    chunk read (pyarrow decodes without holding the GIL). An error raised by ``items`` is
    raised here, in its turn, after every item before it; a consumer that stops early stops
    the thread and closes ``items``."""
    import queue
    import threading

    slots: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    end = object()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((end, None))
        except BaseException as error:  # handed to the consumer, raised there
            put((end, error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="toolkit-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = slots.get()
            if item is end:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join()


def as_frame(batch, start: int) -> pd.DataFrame:
    """A RecordBatch as a frame indexed by position (``start`` is its first row's)."""
    frame = frame_of(batch)
    frame.index = pd.RangeIndex(start, start + len(frame))
    return frame


def csv_types(
    path: Path,
    *,
    categorical: set[str],
    label: str,
    single: bool = False,
    shard: ShardFile | None = None,
    later: Sequence[ShardFile] = (),
) -> dict[str, object]:
    """Column types for every shard of a CSV set, from the first block of ``path``: numbers
    as float64, so a later value with a decimal point or a gap still parses; text as
    strings; booleans as booleans. A column empty in that block (a shard of a header and no
    rows, as an export writes for an empty partition) takes the kind of the first of the
    ``later`` shards that holds a value in it (read when they were inspected), else float64
    (unless categorical): typed as numbers, the text of every later shard was refused."""
    import pyarrow as pa
    import pyarrow.csv as pv

    try:
        with pv.open_csv(
            csv_input(path),
            read_options=csv_read_options(shard, block_size=1 << 20),
            # A column of numbers with 'None' gaps is numbers, as pandas reads it.
            convert_options=pv.ConvertOptions(null_values=PANDAS_NA_VALUES),
        ) as reader:
            schema = reader.schema
    except Exception as error:
        raise DataError(
            f"{where(label, path, single=single)} cannot be read: {short_error(error, path=path)}"
        ) from None
    types: dict[str, object] = {}
    for field in schema:
        kind = field.type
        if field.name in categorical:
            types[field.name] = pa.string()
        elif pa.types.is_null(kind):
            found = next((s.kinds[field.name] for s in later if s.kinds.get(field.name)), None)
            types[field.name] = {"text": pa.string(), "True/False": pa.bool_()}.get(
                found, pa.float64()
            )
        elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
            types[field.name] = pa.float64()
        elif pa.types.is_boolean(kind):
            types[field.name] = pa.bool_()
        else:
            types[field.name] = pa.string()
    return types


def open_shard_set(
    location: str,
    *,
    needed: dict[str, str],
    columns: list[str] | None,
    categorical: set[str] = frozenset(),
    label: str = "data.source",
    types: dict[str, object] | None = None,
    what: str = "",
    notes: dict[str, str] | None = None,
) -> ShardSet:
    """Inspect every shard of ``location`` (a file, directory or glob): all readable, all
    holding the ``needed`` columns (name -> what for, ``notes`` saying why); CSV column
    types fixed once (or ``types``)."""
    from toolkit.data.streaming.files import is_shard_set

    single = not is_shard_set(location)
    shards = [
        inspect_shard(path, label=label, single=single) for path in list_shards(location, label)
    ]
    name_shards(shards)
    for shard in shards:
        check_columns(shard, needed, label=label, what=what, notes=notes)
    if shards[0].format == "csv" and types is None:
        types = csv_types(
            shards[0].path,
            categorical=categorical,
            label=label,
            single=single,
            shard=shards[0],
            later=shards[1:],
        )
    if types is not None and columns is not None:
        types = {name: kind for name, kind in types.items() if name in columns}
    return ShardSet(shards, columns, types if shards[0].format == "csv" else None, label)


def spec_csv_types(spec: FeatureSpec, *, with_target: bool) -> dict[str, object]:
    """CSV types that read new rows the way the training data was read."""
    import pyarrow as pa

    types: dict[str, object] = {f.name: pa.float64() for f in spec.numeric}
    types.update({f.name: pa.string() for f in spec.categorical})
    if with_target:
        target = spec.target
        numeric_labels = all(_is_number(label) for label in target.classes)
        types[target.name] = (
            pa.float64() if target.task == "regression" or numeric_labels else pa.string()
        )
    return types


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_input_chunks(
    location: str,
    spec: FeatureSpec,
    *,
    label: str = "--input",
    with_target: bool = False,
    chunk_rows: int | None = None,
    carried_as_text: bool = False,
) -> Iterator[InputChunk]:
    """New rows for predict/evaluate from a CSV/Parquet file, directory or glob: encoded
    features (and target), and the other columns carried through, a chunk at a time.

    A CSV file's carried columns are typed from its first block (for a Parquet output or a
    frame), or with ``carried_as_text`` kept as the text they were read as (for a CSV
    output, which then writes them back exactly, and never fails on a column that turns
    from numbers to text further down).

    Every shard is inspected first, so a missing column fails before any output is written.
    Problems with a value name its column and row, and the file ("--data rows.csv column 'x'
    must be numeric, row 3 holds 'big'") or the shard, in a set of several.
    """
    import pyarrow as pa

    from toolkit.data.preprocessing import encode_target, feature_arrays
    from toolkit.data.sources.base import InputChunk
    from toolkit.data.streaming.files import pieces_of

    needed = dict.fromkeys(spec.columns, "feature")
    if with_target:
        needed[spec.target.name] = "target"
    types = spec_csv_types(spec, with_target=with_target)
    what = f"{label} {location}"  # starts the messages about a single file
    shard_set = open_shard_set(
        location, needed=needed, columns=None, label=label, types={}, what=what
    )
    first = shard_set.shards[0]
    carried_names = [name for name in first.columns if name not in spec.columns]
    check_same_columns(
        [shard.path for shard in shard_set.shards],
        [shard.columns for shard in shard_set.shards],
        label,
    )
    carried_schema = None
    if shard_set.format == "csv":
        # Every column as text, the target typed as in training: a feature value that is not
        # a number is reported by the encoding with its column and row (not as a parser
        # error), and the carried columns are typed below, chunk by chunk, with the same care.
        every = {name: pa.string() for shard in shard_set.shards for name in shard.columns}
        if with_target:
            every[spec.target.name] = types[spec.target.name]
        shard_set = ShardSet(shard_set.shards, None, every, label)
        if not with_target and not carried_as_text:
            # Only predict writes the carried columns: evaluate leaves them as text, so a
            # note column cannot fail it.
            carried_types = _carried_csv_types(first, carried_names, label)
            carried_schema = pa.schema([(n, carried_types[n]) for n in carried_names])
    else:
        import pyarrow.parquet as pq

        # The first shard's own types; the writer casts later shards' columns to them.
        schema = pq.read_schema(first.path)
        carried_schema = pa.schema([schema.field(n) for n in carried_names])

    def chunks() -> Iterator[InputChunk]:
        rows = 0
        for piece in pieces_of(shard_set.shards):
            shard = shard_set.shards[piece.shard]
            named = what if shard.single else f"{label} shard {shard.path}"
            for start, batch in shard_set.batches(
                piece, rows=chunk_rows or READ_ROWS, threads=True
            ):
                if shard_set.format == "csv" and carried_schema is not None:
                    batch = _typed_carried(batch, carried_schema, start, named)
                frame = as_frame(batch, start)
                # An infinite number is refused, by predict as by evaluate and training: the
                # model cannot score it (a probability of 0.0, or none, came out).
                features = feature_arrays(frame, spec, what=named, finite=True)
                target = (
                    encode_target(frame, spec, what=named, scoring=True) if with_target else None
                )
                # In the first shard's order: a shard may hold its columns in another
                # (a CSV export's header), and the output's columns are fixed by the first.
                carried = _whole_numbers_kept(frame[carried_names], batch)
                rows += len(frame)
                yield InputChunk(features, target, carried.reset_index(drop=True), carried_schema)
        if not rows:
            raise DataError(f"{label} {location} has no rows")

    return chunks()


def _whole_numbers_kept(carried: pd.DataFrame, batch) -> pd.DataFrame:
    """``carried`` with its integer columns that have gaps as pandas' nullable integers,
    not floats: a CSV output writes an id as 17 in every chunk, not 17.0 in those with a gap."""
    import pyarrow as pa

    for name in carried.columns:
        kind = batch.schema.field(name).type
        if pa.types.is_integer(kind) and batch.column(name).null_count:
            nullable = pd.api.types.pandas_dtype(
                str(kind).replace("int", "Int").replace("uI", "UI")
            )
            carried[name] = batch.column(name).to_pandas(types_mapper={kind: nullable}.get).values
    return carried


# How the carried columns of a CSV file are typed, from the text of its first block, as a
# user reading the file with pandas would expect: whole numbers as int64, other numbers as
# float64, True/False as booleans, the rest text. Text that a number would not write back
# as it was stays text: a zip code '02139' (a leading zero) and ids of 16 digits or more
# (float64 keeps 15 exactly).
_INTEGER_TEXT = r"^-?(0|[1-9][0-9]{0,17})$"
_NUMBER_TEXT = r"^[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?|(?i:nan|inf|infinity))$"
_TEXT_LIKE_NUMBERS = r"^[-+]?(0[0-9]|[0-9]{16})"
_BOOLEAN_TEXT = r"^(True|False|true|false|TRUE|FALSE)$"
# What a later chunk's value must look like to parse as the type fixed from the first block.
_PARSES_AS = {"int64": r"^-?[0-9]{1,18}$", "double": _NUMBER_TEXT, "bool": _BOOLEAN_TEXT}
_TYPE_WORDS = {"int64": "whole numbers", "double": "numbers", "bool": "True/False"}


def _carried_csv_types(shard: ShardFile, columns: list[str], label: str) -> dict[str, object]:
    """The type of each of ``columns`` (carried through predict) from the first block of
    ``shard``; a column with no value there is text."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pv

    types: dict[str, object] = dict.fromkeys(columns, pa.string())
    if not columns:
        return types
    try:
        with pv.open_csv(
            csv_input(shard.path),
            read_options=csv_read_options(shard, block_size=CSV_BLOCK_BYTES),
            convert_options=pv.ConvertOptions(
                column_types=dict.fromkeys(columns, pa.string()),
                include_columns=columns,
                strings_can_be_null=True,
                null_values=PANDAS_NA_VALUES,
            ),
        ) as reader:
            batch = reader.read_next_batch()
    except StopIteration:
        return types
    except Exception as error:  # pyarrow's own error types
        raise DataError(
            f"{where(label, shard.path, single=shard.single)} cannot be read: "
            f"{short_error(error, path=shard.path)}"
        ) from None

    def every(values, pattern: str) -> bool:
        return pc.all(pc.match_substring_regex(values, pattern)).as_py()

    for name, values in zip(batch.schema.names, batch.columns, strict=True):
        present = values.drop_null()
        if not len(present):
            continue
        if every(present, _INTEGER_TEXT):
            types[name] = pa.int64()
        elif (
            every(present, _NUMBER_TEXT)
            and not pc.any(pc.match_substring_regex(present, _TEXT_LIKE_NUMBERS)).as_py()
        ):
            types[name] = pa.float64()
        elif every(present, _BOOLEAN_TEXT):
            types[name] = pa.bool_()
    return types


def _typed_carried(batch, schema, start: int, what: str):
    """``batch`` (every column text) with its carried columns cast to ``schema``; a value
    that does not parse as its column's type is a DataError naming the column and row.

    The type is fixed from the first block, not revised: the output's schema is written with
    its first chunk, and falling back to text for a column found mixed later would need a
    second pass over the file (or predicting it twice) before any row is written.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = dict(zip(batch.schema.names, batch.columns, strict=True))
    for field in schema:
        if field.name not in columns or field.type == columns[field.name].type:
            continue
        values = columns[field.name]
        kind = str(field.type)
        good = pc.fill_null(pc.match_substring_regex(values, _PARSES_AS[kind]), True)
        if not pc.all(good).as_py():
            row = int(np.flatnonzero(~good.to_numpy(zero_copy_only=False))[0])
            raise DataError(
                f"{what} column '{field.name}' (not a feature, carried to the output) holds "
                f"{_TYPE_WORDS[kind]} in its first rows, so it is written as {_TYPE_WORDS[kind]}, "
                f"but row {start + row + 1} (line {start + row + 2}) holds "
                f"{values[row].as_py()!r}; "
                "fix that value, or drop the column from the input"
            )
        columns[field.name] = pc.cast(values, field.type)
    return pa.RecordBatch.from_arrays(list(columns.values()), names=list(columns))


def empty_features(spec: FeatureSpec) -> dict[str, np.ndarray]:
    """Zero rows of every model input (the shape a dataset needs when a split is empty)."""
    features: dict[str, np.ndarray] = {}
    if spec.numeric:
        from toolkit.data.preprocessing import NUMERIC_INPUT

        features[NUMERIC_INPUT] = np.zeros((0, len(spec.numeric)), np.float32)
    for feature in spec.categorical:
        features[feature.name] = np.zeros((0, 1), dtype=object)
    return features
