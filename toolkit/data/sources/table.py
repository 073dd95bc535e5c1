"""Tables in memory: a CSV or Parquet file (or, with ``data.streaming: false``, a directory or
glob of them) loaded whole; also the base of the other in-memory table kinds.

The frame is checked, split (by fraction with the seed, stratified for classifiers, or by
hashing ``data.split_key``), the spec fitted on the training part, and each part encoded once
into the arrays the model reads (``InMemorySplit``).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import io
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from toolkit.data.in_memory import InMemorySplit
from toolkit.data.sources.base import Source
from toolkit.data.streaming.files import check_same_columns
from toolkit.data.table_files import (
    TABLE_WORDS,
    UnreadableTable,
    is_csv_path,
    open_csv_bytes,
    table_format,
)
from toolkit.errors import DataError

if TYPE_CHECKING:
    from toolkit.data.prepared import PreparedData
    from toolkit.data.preprocessing import FeatureSpec


def _beyond_float32(values: np.ndarray) -> bool:
    """True when finite ``values`` exceed float32's range. Such a column stays float64 when
    the others are narrowed: cast, 1e300 became inf and was reported as an infinite value,
    where the streamed check (which reads float64) says it is beyond float32's range."""
    from toolkit.data.preprocessing import FLOAT32_MAX, any_not_float32

    # The smallest and largest number first: two passes and no temporary arrays, where the
    # masks below take four (a third of a second of reading 5M rows). Only a column with a
    # number outside float32's range, infinite or not, is looked at element by element.
    if not any_not_float32(values):
        return False
    with np.errstate(invalid="ignore"):
        return bool(np.any(np.isfinite(values) & (np.abs(values) > FLOAT32_MAX)))


class _WideColumns(Exception):
    """Float64 columns of a Parquet file found to hold numbers beyond float32's range."""

    def __init__(self, names: set[str]) -> None:
        super().__init__(", ".join(sorted(names)))
        self.names = names


def _parquet_table(path: Path, keep: Collection[str] | None):
    """A Parquet file as an Arrow table, 65,536 rows at a time; with ``keep``, float64
    columns but those are cast to float32 as they are read, so the float64 table never
    exists whole. A column found to hold numbers beyond float32's range is kept float64
    (the file is read again: that only happens to a table about to be refused). pandas'
    unnamed index columns are left out, as streamed (``data_columns``)."""
    from toolkit.data.streaming.files import data_columns

    kept = None if keep is None else set(keep)
    while True:
        try:
            table = _parquet_batches(path, kept)
            hidden = [n for n in table.column_names if n not in data_columns([n])]
            return table.drop_columns(hidden) if hidden else table
        except _WideColumns as wide:
            assert kept is not None and not wide.names & kept
            kept |= wide.names


def _parquet_batches(path: Path, keep: Collection[str] | None):
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Column chunks streamed page by page (a row group can be the whole file).
    with pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False) as handle:
        schema = handle.schema_arrow
        # By position: a name may be in the header twice (refused later, by name).
        narrowed = (
            []
            if keep is None
            else [
                index
                for index, field in enumerate(schema)
                if pa.types.is_float64(field.type) and field.name not in keep
            ]
        )
        schema = pa.schema(
            [
                field.with_type(pa.float32()) if index in narrowed else field
                for index, field in enumerate(schema)
            ]
        )
        batches = []
        for batch in handle.iter_batches(batch_size=65_536):
            wide = {
                batch.schema.field(index).name
                for index in narrowed
                if _beyond_float32(batch.column(index).to_numpy(zero_copy_only=False))
            }
            if wide:
                raise _WideColumns(wide)
            batches.append(batch.cast(schema))
    return pa.Table.from_batches(batches, schema=schema)


def _as_frame(table) -> pd.DataFrame:
    # Column by column, each Arrow buffer freed once converted.
    return table.to_pandas(self_destruct=True, split_blocks=True)


def _read_error(error: BaseException, label: str, path: Path) -> DataError:
    if isinstance(error, UnreadableTable):
        return DataError(f"{label} {path} cannot be read: {error.problem}")
    if isinstance(error, DataError):
        return error  # already worded (a codec pyarrow was built without)
    from toolkit.data.streaming.files import not_decompressed

    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    broken = not_decompressed(error, path, first)
    if broken is not None:
        return DataError(f"{label} {path} cannot be read: {broken}")
    if isinstance(error, UnicodeDecodeError):
        from toolkit.data.streaming.files import not_utf8

        problem = not_utf8(path)
        if problem is not None:
            return DataError(f"{label} {path} cannot be read: {problem}")
    if isinstance(error, pd.errors.ParserError):
        from toolkit.data.streaming.files import extra_fields, more_fields

        # "Expected 4 fields in line 3, saw 5": a trailing comma on that line, and others?
        problem = extra_fields(path) if more_fields(first) else None
        if problem is not None:
            return DataError(f"{label} {path} cannot be read: {problem}")
    if isinstance(error, (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError)):
        return DataError(f"{label} {path} cannot be read: {first}")
    # pyarrow raises its own types for corrupt files
    return DataError(f"{label} {path} cannot be read: {type(error).__name__}")


# The data lines of a CSV file ``toolkit validate`` looks at for more fields than the header
# (a few milliseconds through the csv module, whatever the file's size).
VALIDATE_DATA_LINES = 100


def check_data_columns(config) -> None:
    """The columns the data section names are in the header of each single CSV or Parquet
    file it names (``data.source``, and ``data.validation``/``data.test`` files), with the
    message training gives: ``toolkit validate`` found a missing file but said "valid" for a
    target typed 'diagnosys'. Only headers are read (a CSV's by pandas, as training in memory
    reads it). A scikit-learn dataset's columns are its frame's: validate said "valid" for
    ``configs/binary.yaml --set data.target=diagnosis``, which train then refused (loading
    one takes scikit-learn's import, about a second, and no TensorFlow). A CSV file's first
    ``VALIDATE_DATA_LINES`` data lines are read too, for a trailing comma the header lacks.
    Shard sets, folders and other sources are left to training."""
    from toolkit.config.schema import source_prefix
    from toolkit.data.preprocessing import check_named_columns

    if source_prefix(config.source) == "sklearn" and config.input_kind == "table":
        from toolkit.data.sources.builtin import load_builtin

        columns = list(load_builtin(config.source.removeprefix("sklearn:")).columns)
        check_named_columns(columns, config, label=config.source)
    for name in ("source", "validation", "test"):
        location = getattr(config, name)
        if not isinstance(location, str) or source_prefix(location) is not None:
            continue
        path = Path(location)
        if table_format(path) is None or not path.is_file():
            continue
        label = "data.source" if name == "source" else f"data.{name} file"
        try:
            if is_csv_path(path):
                with open_csv_bytes(path) as handle:
                    columns = list(map(str, pd.read_csv(handle, nrows=0).columns))
                # Data lines with a trailing comma the header lacks: the header alone said
                # "valid", and train refused the file. Only the first lines are read (most
                # such files have the comma on every line); train reads the rest.
                from toolkit.data.streaming.files import extra_fields

                problem = extra_fields(path, data_lines=VALIDATE_DATA_LINES)
                if problem is not None:
                    raise UnreadableTable(path, problem)
            else:
                import pyarrow.parquet as pq

                from toolkit.data.streaming.files import data_columns

                columns = data_columns(pq.read_schema(path).names)
        except Exception as error:
            raise _read_error(error, label, path) from None
        # A header of one column holding the others (a ';' file) or a name twice: train's
        # message, not "target column 'y' is not in the data; columns: a;b;y".
        if is_csv_path(path):
            _check_header(path, label)
        else:
            from toolkit.data.streaming.files import header_problem

            problem = header_problem(columns)
            if problem:
                raise DataError(f"{label} {path} {problem}")
        check_named_columns(columns, config, label=location)


# The most CSV text ``target_labels`` reads for toolkit validate (about a second of pandas
# reading one column); a larger file's labels are left to training.
LABELS_READ_BYTES = 64 << 20


def target_labels(config) -> pd.Series | None:
    """The target column of ``data.source`` when it can be read cheaply and without
    TensorFlow, for ``toolkit validate``'s check of ``training.class_weight``: a scikit-learn
    dataset's (its frame is loaded to check columns anyway), one Parquet file's (the column
    alone is read), one CSV file's of at most ``LABELS_READ_BYTES`` of text. None for other
    sources (shard sets, folders, larger CSV files, synthetic and image data) and for a file
    that does not read: training reads those and names what is wrong."""
    from toolkit.config.schema import source_prefix

    if config.input_kind != "table" or not isinstance(config.source, str):
        return None
    if source_prefix(config.source) == "sklearn":
        from toolkit.data.sources.builtin import load_builtin

        return load_builtin(config.source.removeprefix("sklearn:"))[config.target]
    path = Path(config.source)
    if source_prefix(config.source) is not None or not path.is_file():
        return None
    try:
        if table_format(path) == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path, columns=[config.target]).column(0).to_pandas()
        from toolkit.data.sources.shards import csv_text_bytes

        if is_csv_path(path) and csv_text_bytes(path) <= LABELS_READ_BYTES:
            with open_csv_bytes(path) as handle:
                labels = pd.read_csv(handle, usecols=[config.target])[config.target]
                # Lines with more fields than the header are read shifted: training refuses.
                return labels if _default_index(labels.index) else None
    except Exception:  # a bad row or file: training's messages name it
        return None
    return None


def read_table(
    path: str | Path,
    *,
    label: str = "data file",
    float32_except: Collection[str] | None = None,
    allow_empty: bool = False,
) -> pd.DataFrame:
    """Read a CSV or Parquet file, turning every failure into a one-line DataError.

    ``float32_except``: read float64 columns as float32, except these (the model reads
    float32 anyway; a table held in memory takes half the space). ``allow_empty``: a file
    with a header and no rows is returned, not refused (a shard of a set).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{label} not found: {path}")
    if path.is_dir():
        raise DataError(f"{label} is a directory, expected a {TABLE_WORDS} file: {path}")
    try:
        if table_format(path) == "parquet":
            frame = _as_frame(_parquet_table(path, float32_except))
        else:
            # Decompressed by pyarrow, whatever codecs pandas itself can read.
            with open_csv_bytes(path) as handle:
                frame = pd.read_csv(handle)
            if not _default_index(frame.index):
                # pandas made the first column(s) row labels: the data lines hold more fields
                # than the header (a trailing comma on each), and every value would fall under
                # the next column's name, read without a word.
                from toolkit.data.streaming.files import extra_fields

                problem = extra_fields(path, shifted=True) or (
                    "its data lines hold more fields than its header"
                )
                raise UnreadableTable(path, problem)
            if float32_except is not None:
                for name in frame.columns:
                    if frame[name].dtype != np.float64 or name in float32_except:
                        continue
                    if not _beyond_float32(frame[name].to_numpy()):
                        frame[name] = frame[name].astype(np.float32)
    except Exception as error:
        raise _read_error(error, label, path) from None
    if table_format(path) != "parquet":
        _check_header(path, label)
    elif frame.columns.duplicated().any():
        # As a CSV header and a streamed Parquet file are refused: frame[name] would be a
        # frame, which failed as "The truth value of a Series is ambiguous".
        from toolkit.data.streaming.files import header_problem

        raise DataError(f"{label} {path} {header_problem(list(map(str, frame.columns)))}")
    if frame.empty and not allow_empty:
        raise DataError(f"{label} {path} has no rows")
    return frame


def _default_index(index: pd.Index) -> bool:
    """True for the row positions pandas numbers a CSV's rows by (0, 1, ...); False when it
    took the first column(s) as row labels, which it does when data lines hold more fields
    than the header (an index of 1, 4, ... can be a RangeIndex too)."""
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def _check_header(path: Path, label: str) -> None:
    """The CSV header as written (pandas renames a repeated name 'a.1'), checked, its blank
    names as pandas names them ('Unnamed: N' by position): two blank names were refused as
    "'' twice", which the Arrow readers (streamed training, predict) accept by those names."""
    import csv

    from toolkit.data.streaming.files import header_problem, pandas_header

    with io.TextIOWrapper(open_csv_bytes(path), encoding="utf-8-sig", newline="") as handle:
        problem = header_problem(pandas_header(next(csv.reader(handle), [])))
    if problem:
        raise DataError(f"{label} {path} {problem}")


def read_tables(
    location: str,
    *,
    label: str = "data file",
    float32_except: Collection[str] | None = None,
    as_text: Collection[str] = (),
) -> pd.DataFrame:
    """One file, or every shard of a directory or glob concatenated in name order.
    ``as_text``: the columns listed in data.categorical, which may hold any kind."""
    from toolkit.data.streaming.files import is_shard_set, list_shards

    if not is_shard_set(location):
        return read_table(location, label=label, float32_except=float32_except)
    paths = list_shards(location, label)
    if table_format(paths[0]) == "parquet":
        return _parquet_shards(paths, label=label, float32_except=float32_except, as_text=as_text)
    # A shard with a header and no rows is allowed, as streamed and as an empty Parquet
    # shard: a writer may leave one per empty partition. Only the whole set must have rows.
    frames = [
        read_table(path, label=f"{label} shard", float32_except=float32_except, allow_empty=True)
        for path in paths
    ]
    order = _same_columns(paths, [list(frame.columns) for frame in frames], label)
    # Without the empty ones: their columns, typed as text, would make numbers text.
    filled = [(path, frame[order]) for path, frame in zip(paths, frames, strict=True) if len(frame)]
    if not filled:
        raise DataError(f"{label} {location} has no rows")
    _check_csv_kinds(filled, label, as_text)
    joined = pd.concat([frame for _, frame in filled], ignore_index=True)
    return _with_shards(joined, [(path, len(frame)) for path, frame in filled])


def _with_shards(frame: pd.DataFrame, sizes: list[tuple[Path, int]]) -> pd.DataFrame:
    """``frame`` marked with the shards its rows came from, in order, so that data errors
    name a row within its shard (``row 18 of data/part-1.csv``), as streamed ones do."""
    from toolkit.data.preprocessing import SHARDS_ATTR

    starts = np.cumsum([0] + [rows for _, rows in sizes[:-1]])
    frame.attrs[SHARDS_ATTR] = tuple(
        (str(path), int(start)) for (path, _), start in zip(sizes, starts, strict=True)
    )
    return frame


def _same_columns(paths: list[Path], columns: list[list[str]], label: str) -> list[str]:
    """The first shard's columns, which every shard must hold, in any order (a CSV export
    may write them in another; streamed shards are read by name too), and no others."""
    check_same_columns(paths, columns, label)
    return columns[0]


def _parquet_shards(
    paths: list[Path],
    *,
    label: str,
    float32_except: Collection[str] | None,
    as_text: Collection[str] = (),
) -> pd.DataFrame:
    """Parquet shards as one frame, joined as Arrow tables (their chunks kept, not copied)
    and converted once: a pandas concatenation holds every shard's frame and their copy.
    ``as_text``: data.categorical's columns, never parsed as numbers."""
    import pyarrow as pa

    tables = []
    for path in paths:
        try:
            tables.append(_parquet_table(path, float32_except))
        except Exception as error:
            raise _read_error(error, f"{label} shard", path) from None
    order = _same_columns(paths, [table.column_names for table in tables], label)
    tables = _text_as_numbers([table.select(order) for table in tables], as_text)
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except Exception as error:
        raise _kinds_differ(paths, tables, label) or DataError(
            f"{label}: the shards' column types differ ({str(error).splitlines()[0]})"
        ) from None
    sizes = [(path, table.num_rows) for path, table in zip(paths, tables, strict=True)]
    del tables
    frame = _as_frame(table)
    if frame.empty:
        raise DataError(f"{label} {paths[0].parent} has no rows")
    return _with_shards(frame, [(path, rows) for path, rows in sizes if rows])


def _frame_kind(values: pd.Series) -> str | None:
    """What a CSV shard's column holds, in ``value_kind``'s words; None without a value."""
    present = values.dropna()
    if present.empty:
        return None
    if pd.api.types.is_bool_dtype(values):
        return "True/False"
    if pd.api.types.is_numeric_dtype(values):
        return "numbers"
    inferred = pd.api.types.infer_dtype(present, skipna=True)
    return {"boolean": "True/False", "integer": "numbers", "floating": "numbers"}.get(
        inferred, "text"
    )


def _check_csv_kinds(
    filled: list[tuple[Path, pd.DataFrame]], label: str, as_text: Collection[str]
) -> None:
    """Each column holds one kind of value in every CSV shard, as a streamed set is checked
    (``check_column_kinds``, the same line): pandas joined True/False in one shard and
    numbers in the next, or text categories and numbers, into one column of objects, which
    became a category per distinct number without a word. Text where the first shard holds
    numbers is left to the numeric-share check, which parses it or names its row."""
    for column in filled[0][1].columns:
        if column in as_text:
            continue
        first: tuple[Path, str] | None = None
        for path, frame in filled:
            kind = _frame_kind(frame[column])
            if kind is None:
                continue
            if first is None:
                first = (path, kind)
            elif kind != first[1] and (kind, first[1]) != ("text", "numbers"):
                raise DataError(
                    f"{label} shard {path}: column '{column}' holds {kind}, but {label} shard "
                    f"{first[0]} holds {first[1]} in it; a column must hold one kind of value "
                    "in every shard (fix the shard, or list the column in data.categorical to "
                    "read it as text everywhere)"
                )


def _text_as_numbers(tables: list, as_text: Collection[str]) -> list:
    """``tables`` with each column that holds numbers in the first shard holding a value
    there and text in a later one (a shard exported with its numbers as strings) parsed as
    numbers in those shards, when every value parses, as a streamed set's is: Arrow refused
    to join the shards. A value that does not parse leaves the tables as they are, to be
    refused naming both shards (``_kinds_differ``)."""
    import pyarrow as pa

    from toolkit.data.streaming.files import value_kind

    for column in tables[0].column_names:
        kinds = [value_kind(table.schema.field(column).type) for table in tables]
        present = [kind for kind in kinds if kind is not None]
        if column in as_text or not present or present[0] != "numbers":
            continue
        if set(present) != {"numbers", "text"}:
            continue
        parsed = list(tables)
        try:
            for index, table in enumerate(tables):
                if kinds[index] == "text":
                    position = table.schema.get_field_index(column)
                    values = table.column(position).cast(pa.float64())
                    parsed[index] = table.set_column(position, column, values)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        tables = parsed
    return tables


def _kinds_differ(paths: list[Path], tables: list, label: str) -> DataError | None:
    """The error for the first column that holds one kind of value (numbers, text,
    True/False, ...) in one shard and another kind in a later one, naming both shards; None
    when the kinds agree. Arrow's own words ('Unable to merge: Field cust has incompatible
    types: int64 vs large_string') named the column but not which of the shards held what."""
    from toolkit.data.streaming.files import value_kind

    for column in tables[0].column_names:
        first: tuple[Path, str] | None = None
        for path, table in zip(paths, tables, strict=True):
            kind = value_kind(table.schema.field(column).type)
            if kind is None:  # no value at all: like any kind
                continue
            if first is None:
                first = (path, kind)
            elif kind != first[1]:
                return DataError(
                    f"{label} shard {path}: column '{column}' holds {kind}, but {label} "
                    f"shard {first[0]} holds {first[1]} in it; a column must hold one kind "
                    "of value in every shard: write it as the same kind in each"
                )
    return None


class TableSource(Source):
    """A table loaded whole: ``data.source`` as a file, directory or glob of CSV/Parquet.

    Also the base of every kind held in memory as a frame: built-in datasets, and images or
    signals with one array (or image path) per row. Those implement ``load_frame``.
    """

    kind = "table"

    def load_frame(self) -> pd.DataFrame:
        return self._read(float32_except=None)

    def _read(self, *, float32_except: Collection[str] | None) -> pd.DataFrame:
        frame = read_tables(
            self.config.source,
            label="data.source",
            float32_except=float32_except,
            as_text=self.config.categorical or (),
        )
        if self.config.image.column is not None:
            from toolkit.data.images import resolve_path_column

            frame = resolve_path_column(
                frame,
                self.config.image.column,
                Path(self.config.source).parent,
                where=f"data.source {self.config.source}",
            )
        return frame

    def training_frame(self) -> pd.DataFrame:
        """The table ``prepare`` works on. A table file's features are read as float32, the
        type the model reads them in (half the memory), the target and the split key exact;
        statistics are accumulated in float64 all the same. Other kinds use ``load_frame``."""
        if type(self).load_frame is not TableSource.load_frame:
            return self.load_frame()
        exact = {self.config.target, self.config.split_key} - {None}
        return self._read(float32_except=exact)

    def shipped_test(self) -> pd.DataFrame | None:
        """The test part a dataset comes with (keras.datasets), if any."""
        return None

    def _augment(self, spec: FeatureSpec) -> dict:
        """Training batches of images are augmented as ``data.augmentation`` says."""
        augmentation = self.config.augmentation
        if spec.image is None or augmentation is None or not augmentation.active:
            return {}
        from toolkit.startup import import_tensorflow

        import_tensorflow()  # quietly, before the module that imports TensorFlow at its top
        from toolkit.data.augment import make_augmenter
        from toolkit.data.preprocessing import IMAGE_INPUT

        augment = make_augmenter(
            augmentation, value_range=spec.image.value_range, input_name=IMAGE_INPUT
        )
        return {"augment": augment, "augment_seed": self.seed}

    def prepare(
        self,
        *,
        spec: FeatureSpec | None = None,
        rows: dict[str, int] | None = None,
        calibration: float | None = None,
    ) -> PreparedData:
        from toolkit.data.preprocessing import check_table, fingerprint

        frame = self.training_frame()
        check_table(frame, self.config, label=self.config.source, task=self.task)
        if self.config.input_kind == "image":
            from toolkit.data.images import check_image_sizes

            check_image_sizes(frame, self.config, what="data.source")
        # The fingerprint hashes every row (a third of a second per million) and changes
        # nothing: hashed in a thread while the table is split, fitted and encoded (NumPy
        # and pandas' hashing leave the GIL for most of it).
        hashing = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="toolkit-fingerprint")
        with hashing:
            digest = hashing.submit(fingerprint, frame, arrays=self.config.array_column)
            return self._prepared(frame, digest, spec=spec, calibration=calibration)

    def _prepared(
        self,
        frame: pd.DataFrame,
        digest: concurrent.futures.Future,
        *,
        spec: FeatureSpec | None,
        calibration: float | None,
    ) -> PreparedData:
        """``prepare``'s splits of the checked ``frame``; ``digest``: its fingerprint."""
        from toolkit.data.prepared import PreparedData
        from toolkit.data.preprocessing import (
            NUMERIC_INPUT,
            constant_feature_warning,
            constant_numeric,
            encode_target,
            feature_arrays,
            fit_spec,
            numeric_identifier_warnings,
            training_numbers,
            two_valued_target_warning,
        )
        from toolkit.data.splits import held_out_copies_warning, split_calibration, split_rows

        parts = split_rows(
            frame, self.config, task=self.task, seed=self.seed, shipped_test=self.shipped_test()
        )
        if calibration is not None:
            stratify = self.config.stratify
            parts = split_calibration(
                parts,
                frame,
                calibration,
                target=self.config.target,
                stratify=self.task != "regression" if stratify is None else stratify,
                seed=self.seed,
                regression=self.task == "regression",
            )
        numbers = None
        if spec is None:
            numbers = training_numbers(frame, self.config, self.task, parts.train)
            spec = fit_spec(frame, self.config, self.task, rows=parts.train, encoded=numbers)

        # data.cache: false keeps image files as paths, decoded batch by batch.
        stored = not self.config.cache and spec.image is not None and spec.image.stored == "path"

        def encode(part, what: str, *, numbers=None, **training) -> InMemorySplit | None:
            """``numbers``: the part's numeric matrix, already encoded."""
            if part is None:
                return None
            if isinstance(part, pd.DataFrame):  # a held-out file, or a dataset's own test part
                table, positions = part, None
                # A file's errors name the file: "validation data feature column 'b' is not
                # in the data" did not say which of the user's files lacked it.
                location = {
                    "validation data": self.config.validation,
                    "test data": self.config.test,
                }
                if isinstance(location.get(what), str):
                    what = f"{location[what]}: {what}"
            else:
                table, positions = frame, part
            target = encode_target(table, spec, what=what, rows=positions)
            if stored:
                from toolkit.data.image_file_split import ImageFileSplit
                from toolkit.data.images import check_decodable, check_files
                from toolkit.data.preprocessing import IMAGE_INPUT

                rows_of = table if positions is None else table.iloc[positions]
                plain = dataclasses.replace(spec, image=None)
                features = feature_arrays(table, plain, what=what, rows=positions)
                paths = check_files(rows_of[spec.image.column], spec.image, what=what)
                check_decodable(paths, spec.image, what=what)
                return ImageFileSplit(
                    {**features, IMAGE_INPUT: paths}, target, spec.image, **training
                )
            if numbers is None:
                features = feature_arrays(table, spec, what=what, rows=positions)
            else:
                others = dataclasses.replace(spec, numeric=[])
                features = {NUMERIC_INPUT: numbers} | feature_arrays(
                    table, others, what=what, rows=positions
                )
            return InMemorySplit(features, target, **training)

        train = encode(parts.train, "training data", numbers=numbers, **self._augment(spec))
        matrix = train.features.get(NUMERIC_INPUT)
        constant = constant_feature_warning(
            spec, {} if matrix is None else constant_numeric(matrix, spec)
        )
        copies = None
        if spec.image is None and spec.signal is None:
            columns = [f.name for f in (*spec.numeric, *spec.categorical)] + [spec.target.name]
            copies = held_out_copies_warning(frame, parts, columns)
        two_valued = None
        if spec.target.task == "regression" and spec.image is None and spec.signal is None:
            two_valued = two_valued_target_warning(frame[spec.target.name], parts.train)
        return PreparedData(
            spec=spec,
            train=train,
            validation=encode(parts.validation, "validation data"),
            test=encode(parts.test, "test data"),
            fingerprint=digest.result(),
            source=self.describe(),
            calibration=encode(parts.calibration, "calibration data"),
            warnings=([parts.warning] if parts.warning else [])
            + numeric_identifier_warnings(frame, spec)
            + ([constant] if constant else [])
            + ([copies] if copies else [])
            + ([two_valued] if two_valued else []),
        )
