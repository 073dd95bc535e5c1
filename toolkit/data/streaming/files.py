"""Shard sets: a directory or a glob of CSV/Parquet files, listed in a stable order. A CSV
file compressed whole (``part-0.csv.gz``) is a CSV file (see ``toolkit.data.table_files``).

Every file is checked before anything is trained: it must exist, be readable, have a header
(CSV) or a footer (Parquet), and hold the columns the config needs; a problem is a one-line
``DataError`` naming the shard.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import lzma
import os
import re
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.data.table_files import (
    COMPRESSED_CSV_WORDS,
    PANDAS_NA_VALUES,
    TABLE_WORDS,
    UnreadableTable,
    csv_compression,
    csv_input,
    decompressed_name,
    is_unread_compressed,
    open_csv_bytes,
    table_format,
)
from toolkit.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from toolkit.config.schema import DataConfig

_GLOB_CHARACTERS = set("*?[")


def is_shard_set(location: str) -> bool:
    """True for a directory or a glob, False for one file."""
    return bool(_GLOB_CHARACTERS & set(location)) or Path(location).is_dir()


def _file_format(path: Path) -> str | None:
    return table_format(path.name)


def _compressed_table(path: Path) -> bool:
    """A table compressed as a whole in a way that is not read (``part-0.csv.7z``)."""
    return is_unread_compressed(path.name)


def _skipped_below_glob(path: Path, pattern: str) -> bool:
    """True when a path a glob matched has a folder or name starting with "_" or "." below
    the glob's fixed prefix, as a directory listing skips them: ``out/**/*.parquet`` must not
    read Spark's ``_temporary/`` attempts when ``out`` does not. A component the pattern
    itself starts with "_" or "." (``out/_staging/*.csv``, ``out/*/_part.csv``) is kept."""
    pattern_parts = Path(pattern).parts
    fixed = 0
    while fixed < len(pattern_parts) and not _GLOB_CHARACTERS & set(pattern_parts[fixed]):
        fixed += 1
    # Components the pattern asks for by name, which may start with "_" or ".".
    asked = [part for part in pattern_parts[fixed:] if part.startswith(("_", "."))]
    # glob returns paths spelled as the pattern's prefix, so the prefix's parts come first.
    for part in path.parts[fixed:]:
        if part.startswith(("_", ".")) and not any(fnmatch.fnmatchcase(part, a) for a in asked):
            return True
    return False


def list_shards(location: str, label: str = "data.source") -> list[Path]:
    """The CSV/Parquet files of a file, directory or glob, sorted by name; all of one format."""
    if _GLOB_CHARACTERS & set(location):
        paths = [Path(p) for p in sorted(glob.glob(location, recursive=True))]
        paths = [p for p in paths if p.is_file() and not _skipped_below_glob(p, location)]
        where = f"{label} glob {location}"
    else:
        root = Path(location)
        if not root.exists():
            raise DataError(f"{label} not found: {location}")
        if root.is_file():
            paths, where = [root], f"{label} {location}"
        else:
            # Hidden files are skipped, as the glob branch skips them: a half-written file
            # of a killed writer (``.tmp-...-part.csv``) is not a shard. So are paths that
            # start with "_", as Spark, Hadoop and Arrow's datasets skip them: the attempt
            # files of a Spark job left in ``_temporary/`` repeated finished shards' rows.
            paths = sorted(
                p
                for p in root.rglob("*")
                if p.is_file()
                and (_file_format(p) or _compressed_table(p))
                and not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)
            )
            where = f"{label} directory {location}"
    compressed = [p for p in paths if _compressed_table(p)]
    if compressed:
        # Skipped like any other file, their rows would be missing without a word.
        if Path(location).is_file():
            what, it = "is compressed in a way that is not read", "it"
        else:
            names = ", ".join(p.name for p in compressed[:3])
            more = ", ..." if len(compressed) > 3 else ""
            what, it = f"holds compressed tables ({names}{more}), which are not read", "them"
        raise DataError(
            f"{where} {what}: decompress {it}, compress CSV as {COMPRESSED_CSV_WORDS}, or "
            "write Parquet, which compresses inside the file"
        )
    shards = [p for p in paths if _file_format(p)]
    if not shards and Path(location).is_file():
        raise DataError(f"{where} is not a {TABLE_WORDS} file")
    if not shards:
        verb = "matches" if _GLOB_CHARACTERS & set(location) else "holds"
        raise DataError(
            f"{where} {verb} no .csv or .parquet files"
            + (f" (it matched {len(paths)} other files)" if paths else "")
        )
    formats = {_file_format(p) for p in shards}
    if len(formats) > 1:
        raise DataError(f"{where} mixes CSV and Parquet files; keep one format per shard set")
    if not Path(location).is_file():
        _refuse_empty_shards(shards, label)
        _refuse_both_plain_and_compressed(shards, label)
    return shards


def _refuse_both_plain_and_compressed(shards: list[Path], label: str) -> None:
    """A set holding ``part-0.csv`` and ``part-0.csv.gz`` in one folder is refused: most
    likely one file kept beside the other after (de)compressing it, whose rows would be
    read twice. It would also hash its rows' positions alike (see ``ShardFile.name``)."""
    seen: dict[Path, Path] = {}
    for path in shards:
        plain = path.with_name(decompressed_name(path.name))
        if plain in seen:
            raise DataError(
                f"{label} holds both {seen[plain]} and {path}: the same table plain and "
                "compressed? Its rows would be read twice; keep one of them"
            )
        seen[plain] = path


def _refuse_empty_shards(shards: list[Path], label: str) -> None:
    """A 0-byte shard (a writer killed before its first byte, or ``touch``) is refused by
    what it is: the readers' words ("Empty CSV file", "Parquet file size is 0 bytes") said
    neither that a shard with no rows is fine nor what to do. It is not skipped, as it may
    be a file whose rows were lost."""
    empty = [p for p in shards if p.stat().st_size == 0]
    if not empty:
        return
    others = f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""
    write = (
        "write its header line"
        if _file_format(empty[0]) == "csv"
        else "write it as a table of the columns with no rows"
    )
    raise DataError(
        f"{label} shard {empty[0]}{others} is empty (0 bytes); a shard with no rows is "
        f"accepted, but it needs its columns: remove it, or {write}"
    )


def _beside_config(location: str, config_file: str | Path | None) -> str:
    """What follows "not found: x.csv" when x.csv is a relative path to a file beside the
    config rather than in the current directory, which relative paths are read from: a user
    who keeps a config next to their data and runs toolkit from elsewhere."""
    path = Path(location).expanduser()
    if config_file is None or path.is_absolute():
        return ""
    beside = Path(config_file).resolve().parent / path
    if not beside.exists() or beside.resolve() == path.resolve():
        return ""
    return (
        f" (relative paths are read from the current directory, {Path.cwd()}, not the "
        f"config's; it is at {beside}: give that path, or run toolkit from {beside.parent})"
    )


def check_data_locations(config: DataConfig, *, config_file: str | Path | None = None) -> None:
    """Every file, folder or glob the data section names exists, with the message training
    gives: ``toolkit validate`` catches a wrong path without reading data or starting
    TensorFlow. Prefixed sources (``sklearn:``) and fractions are not paths. A relative path
    that names a file beside ``config_file`` says so."""
    from toolkit.config.schema import source_prefix

    for name in ("source", "validation", "test"):
        location = getattr(config, name)
        if not isinstance(location, str) or source_prefix(location) is not None:
            continue
        if _GLOB_CHARACTERS & set(location):
            list_shards(location, f"data.{name}")  # a glob matching no table files
        elif not Path(location).exists():
            # The labels training's readers use: the source, then held-out files.
            label = "data.source" if name == "source" else f"data.{name} file"
            raise DataError(f"{label} not found: {location}{_beside_config(location, config_file)}")


@dataclass(frozen=True)
class Piece:
    """The unit a reader works on: a Parquet row group, or a whole CSV file."""

    shard: int  # index into the shard list
    row_group: int | None
    start: int  # position of the piece's first row in its shard
    rows: int | None  # None for CSV until counted


@dataclass
class ShardFile:
    path: Path
    format: str
    columns: list[str]
    rows: int | None = None  # None for CSV until counted
    row_groups: list[int] = field(default_factory=list)  # rows per Parquet row group
    size: int = 0
    single: bool = False  # the only file of its set: messages name it as a file
    # What each column holds, by ``value_kind`` (Parquet: its schema; CSV: its first block).
    kinds: dict[str, str | None] = field(default_factory=dict)
    # Its path from the set's common folder, when another shard has the same file name
    # (see ``name_shards``); None: the file name names it.
    relative: str | None = None
    # A CSV header with a blank name, which ``columns`` holds as pandas names it
    # (``pandas_header``): the readers are given those names (``csv_read_options``).
    renamed: bool = False

    @property
    def name(self) -> str:
        """The name its rows' positions are hashed with (splits), unique in its set; a
        compressed file's name as decompressed (``part-0.csv`` for ``part-0.csv.gz``), so
        its rows split as those of the plain file do."""
        return self.relative or decompressed_name(self.path.name)


def name_shards(shards: list[ShardFile]) -> bool:
    """Name shards that share a file name by their path from the set's common folder: a
    daily export's ``2026-12-01/part-0.parquet`` and ``2026-12-02/part-0.parquet`` had the
    same name, so row i of every day hashed alike and fell in the same split (days of 20 rows
    in ``part-0.csv`` put 5% of the rows in a validation split of 0.2: 20 positions decided).
    Shards with distinct file names keep them (their runs' splits are unchanged); True when
    paths name them."""
    if len({decompressed_name(shard.path.name) for shard in shards}) == len(shards):
        return False
    root = os.path.commonpath([str(shard.path.parent) for shard in shards])
    for shard in shards:
        relative = shard.path.relative_to(root)
        shard.relative = relative.with_name(decompressed_name(relative.name)).as_posix()
    return True


def where(label: str, path: Path, *, single: bool) -> str:
    """How messages name a file: ``--input file rows.csv`` or ``data.source shard x.csv``."""
    return f"{label} {path}" if single else f"{label} shard {path}"


# The column pandas' to_parquet writes for an index that is not a plain 0..n-1 range (a
# filtered or sorted frame's) and has no name: the rows' old labels, not data. pandas' own
# read_parquet makes it the index again; a named index ('customer_id') is a column here.
_PANDAS_INDEX = re.compile(r"__index_level_\d+__")


def data_columns(names: Sequence[str]) -> list[str]:
    """A Parquet file's column ``names`` without pandas' unnamed index columns: taken as a
    feature in memory (the rows' old positions) and absent when streamed, and carried by
    predict as a column its frames did not hold (a KeyError traceback)."""
    return [name for name in names if not _PANDAS_INDEX.fullmatch(name)]


def frame_of(batch) -> pd.DataFrame:
    """An Arrow batch or table as a frame of its data columns in file order: pandas' stored
    index columns, which ``to_pandas`` makes the index, dropped when unnamed and kept as a
    column when named (an id, as the same table saved as CSV holds it)."""
    frame = batch.to_pandas()
    named = [name for name in frame.index.names if name is not None]
    if named:  # only then is a copy made: the common frame is returned as it is
        frame = frame.reset_index(level=named)
        frame = frame[[name for name in batch.schema.names if name in frame.columns]]
    hidden = [c for c in frame.columns if isinstance(c, str) and _PANDAS_INDEX.fullmatch(c)]
    return frame.drop(columns=hidden) if hidden else frame


def pandas_header(names: Sequence[str]) -> list[str]:
    """A CSV header's names as pandas' read_csv gives them: a blank one is 'Unnamed: <its
    position>' (the index pandas' to_csv writes by default has no name). Training in memory
    reads with pandas; Arrow named it '', so predict on a file of the same form refused it
    ("feature column 'Unnamed: 0' is not in the data; columns: , x1, ...")."""
    return [name if name != "" else f"Unnamed: {index}" for index, name in enumerate(names)]


def csv_read_options(shard: ShardFile | None, **options: Any):
    """pyarrow's ReadOptions for reading ``shard``: with its header's pandas names when they
    differ from the file's (``ShardFile.renamed``), the header line then skipped."""
    import pyarrow.csv as pv

    if shard is not None and shard.renamed:
        return pv.ReadOptions(column_names=shard.columns, skip_rows=1, **options)
    return pv.ReadOptions(**options)


# pyarrow's CSV parser names a column by its position in the file, from 0.
_CSV_CONVERSION = re.compile(
    r"In CSV column #(\d+): CSV conversion error to (\w+): invalid value '(.*)'$"
)


def not_utf8(path: Path) -> str | None:
    """Where a text file stops being UTF-8, for a message after "cannot be read: ", or None.
    The readers name it by what the user cannot see: Arrow by a column's position ("In CSV
    column #5: CSV conversion error to string: invalid UTF8 data"), pandas by a byte's offset
    in its buffer. A file saved as Latin-1 or Windows-1252 (Excel's "CSV") is the usual case.
    Lines are split at newline bytes, which no UTF-8 character holds."""
    try:
        with open_csv_bytes(path) as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as error:
                    around = line[max(0, error.start - 20) : error.start + 20]
                    shown = around.decode("utf-8", "backslashreplace").strip()
                    return (
                        f"line {number} is not UTF-8 text (byte 0x{line[error.start]:02x} in "
                        f"'{shown}'); save the file as UTF-8 (in Excel: CSV UTF-8)"
                    )
    except (OSError, DataError):
        return None
    return None


# Arrow's and pandas' words for a CSV line with more fields than the header.
_MORE_FIELDS = re.compile(
    r"CSV parse error: Expected (\d+) columns, got (\d+)|.*Expected (\d+) fields in line \d+, saw (\d+)"
)


def more_fields(first: str, *, fewer: bool = False) -> bool:
    """True when a reader's error line says a CSV line has more fields than the header (with
    ``fewer``, or fewer: Arrow refuses a short line too, where pandas fills it with gaps)."""
    found = _MORE_FIELDS.match(first)
    if found is None:
        return False
    expected, got = (found[1], found[2]) if found[1] else (found[3], found[4])
    return int(got) > int(expected) or (fewer and int(got) != int(expected))


def extra_fields(
    path: Path, *, shifted: bool = False, data_lines: int | None = None, fewer: bool = False
) -> str | None:
    """What follows "cannot be read: " when a CSV line has more fields than the header (with
    ``fewer``, or fewer), or None: the first such line, by its number in the file, and its
    likely cause. A trailing comma on every data line but not on the header is the usual
    one (a hand-written export); Arrow refuses the line ("Expected 4 columns, got 5"), and
    pandas silently takes the first column as row labels, so every value falls under the
    next column's name (``shifted``: pandas read the file so). Any other such line is named
    with its text: Arrow's words named neither its line nor, for a file of millions, where
    to look. ``data_lines``: look at only that many records after the header (``toolkit
    validate``'s cheap look, which needs neither pandas nor Arrow's reader)."""
    import csv
    import io
    import itertools

    try:
        with io.TextIOWrapper(open_csv_bytes(path), encoding="utf-8-sig", newline="") as handle:
            lines = csv.reader(handle)
            header = next(lines, [])
            for fields in itertools.islice(lines, data_lines):
                # An empty line is skipped by both readers.
                if (
                    len(fields) == len(header)
                    or not fields
                    or (len(fields) < len(header) and not fewer)
                ):
                    continue
                number = lines.line_num
                extra = fields[len(header) :]
                said = f"line {number} has {len(fields)} fields where the header has {len(header)}"
                if extra and not any(value.strip() for value in extra):
                    return (
                        f"{said}, the last {'one' if len(extra) == 1 else len(extra)} empty "
                        "(a trailing comma at the end of each data line?): remove the trailing "
                        "commas"
                    )
                if extra and shifted:
                    return (
                        f"{said} (a first column of row labels with no name in the header?): "
                        "give every column a name in the header"
                    )
                text = ",".join(fields)
                shown = text if len(text) <= 60 else text[:57] + "..."
                return (
                    f"{said} ('{shown}'): every line needs the header's {len(header)} fields; "
                    "fix or remove that line"
                )
    except (OSError, UnicodeDecodeError, csv.Error, DataError):
        return None
    return None


def not_decompressed(error: BaseException, path: Path, first: str) -> str | None:
    """What follows "cannot be read: " when a compressed CSV file does not decompress (a
    download cut short, or a file named .gz that is not gzip): pyarrow's words ("Truncated
    compressed stream") with what they mean; None for other errors."""
    codec = csv_compression(path)
    # pyarrow's codecs raise OSError; Python's lzma (through pyarrow or pandas) an EOFError
    # or LZMAError, and zipfile a BadZipFile (bad CRC) or zlib.error.
    if codec is None or not isinstance(error, _DECOMPRESSION_ERRORS):
        return None
    return (
        f"it does not decompress as {codec} ({first}): it is cut short (an interrupted "
        f"download or copy) or not {codec} data; check it with {_CHECKS[codec]}"
    )


# The command that tests a compressed file, by codec.
_CHECKS = {
    "gzip": "gzip -t",
    "bz2": "bzip2 -t",
    "zstd": "zstd -t",
    "lz4": "lz4 -t",
    "xz": "xz -t",
    "zip": "unzip -t",
}
_DECOMPRESSION_ERRORS = (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile, zlib.error)


def short_error(
    error: BaseException,
    columns: list[str] | None = None,
    row: int | None = None,
    *,
    path: Path | None = None,
) -> str:
    """The first line of a reader's error; a CSV value that does not parse as the column's
    type names the column (``columns``: the file's header), not its position, and its
    ``row`` when known (the data row's position from 0, named from 1 as the other messages
    name rows, see ``row_number``, and the file's line: the header is line 1). Text that is
    not UTF-8 is named by its line in ``path``, when given."""
    if isinstance(error, UnreadableTable):
        return error.problem  # the caller names the file
    text = str(error).strip().splitlines()
    first = text[0] if text else type(error).__name__
    if path is not None:
        broken = not_decompressed(error, path, first)
        if broken:
            return broken
    # Arrow's "invalid UTF8" for a value; Python's own UnicodeDecodeError for a header (the
    # column names are decoded when read), which a Latin-1 file's accented name raised.
    if path is not None and ("invalid UTF8" in first or isinstance(error, UnicodeDecodeError)):
        return not_utf8(path) or first
    if path is not None and more_fields(first, fewer=True):
        return extra_fields(path, fewer=True) or first
    found = _CSV_CONVERSION.search(first)
    if found and columns is not None and int(found[1]) < len(columns):
        expected = "a number" if found[2] in ("double", "float", "int64") else found[2]
        at = "" if row is None else f" in row {row + 1} (line {row + 2})"
        return (
            f"column '{columns[int(found[1])]}' holds '{found[3]}'{at} where the run expects "
            f"{expected}"
        )
    return first


def csv_conversion_error(error: BaseException, columns: list[str]) -> tuple[str, str] | None:
    """(column, value) of a CSV value that did not parse as its column's type, else None."""
    text = str(error).strip().splitlines()
    found = _CSV_CONVERSION.search(text[0]) if text else None
    if found is None or int(found[1]) >= len(columns):
        return None
    return columns[int(found[1])], found[3]


def header_problem(columns: list[str]) -> str | None:
    """What makes a file's header unusable, for a message after its name: a column name
    twice (pandas would rename the second 'a.1', Arrow keep both), or one column whose name
    holds the others (a file separated by semicolons, tabs or bars, not commas)."""
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            return f"has the column '{name}' twice in its header; rename one"
        seen.add(name)
    if len(columns) == 1:
        for separator, shown in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")):
            if len([part for part in columns[0].split(separator) if part.strip()]) > 1:
                return (
                    f"has one column, '{columns[0][:60]}': it looks separated by {shown}, and "
                    "CSV files are read comma-separated; save it with commas (or as Parquet)"
                )
    return None


def inspect_shard(path: Path, *, label: str, single: bool = False) -> ShardFile:
    """Columns, rows and row groups of one shard from its header or footer (nothing decoded)."""
    fmt = _file_format(path)
    try:
        size = path.stat().st_size
        if fmt == "parquet":
            import pyarrow.parquet as pq

            metadata = pq.ParquetFile(path).metadata
            groups = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
            schema = pq.read_schema(path)
            columns = data_columns(schema.names)
            shard = ShardFile(path, fmt, columns, sum(groups), groups, size, single)
        else:
            import pyarrow.csv as pv

            reader = pv.open_csv(
                csv_input(path),
                read_options=pv.ReadOptions(block_size=1 << 16),
                # Kinds as the reader types the column: 'None' gaps in numbers are missing.
                convert_options=pv.ConvertOptions(null_values=PANDAS_NA_VALUES),
            )
            schema = reader.schema
            columns = pandas_header(schema.names)
            shard = ShardFile(path, fmt, columns, None, [], size, single)
            shard.renamed = columns != list(schema.names)
        shard.kinds = {
            name: value_kind(f.type) for name, f in zip(shard.columns, schema, strict=False)
        }
    except Exception as error:  # pyarrow has its own error types for corrupt files
        raise DataError(
            f"{where(label, path, single=single)} cannot be read: {short_error(error, path=path)}"
        ) from None
    problem = header_problem(shard.columns)
    if problem:
        raise DataError(f"{where(label, path, single=single)} {problem}")
    return shard


def check_columns(
    shard: ShardFile,
    needed: dict[str, str],
    *,
    label: str,
    what: str = "",
    notes: dict[str, str] | None = None,
) -> None:
    """Every column of ``needed`` (name -> what it is for) is in the shard, or a DataError
    naming the column and the file: the shard, in a set of several; ``what`` prefixes the
    message of a single file, as the in-memory checks do ("--input file rows.csv feature
    column 'x' ..."), else ``label`` and its path. ``notes`` (name -> text) ends the message
    about a column with why it was needed."""
    from toolkit.text import missing_columns

    if not shard.single:
        prefix = f"{label} shard {shard.path}: "
    else:  # training's one streamed file was named by no word ("feature column 'b' is ...")
        prefix = f"{what} " if what else f"{label} {shard.path}: "
    missing = [column for column in needed if column not in shard.columns]
    if not missing:
        return
    column = missing[0]
    raise DataError(
        f"{prefix}{needed[column]} column '{column}' is not in the data"
        f"{missing_columns(missing, list(shard.columns), list(needed))}; "
        f"columns: {', '.join(shard.columns)}"
        + (f"; {notes[column]}" if notes and column in notes else "")
    )


def value_kind(arrow_type) -> str | None:
    """What a column of ``arrow_type`` holds, in words for messages: whole numbers and
    numbers are alike (a column may be int64 in one shard and double in the next, as a
    Parquet writer stores a gap), and a column with no value at all (null) is like any."""
    import pyarrow as pa

    if pa.types.is_null(arrow_type):
        return None
    if pa.types.is_dictionary(arrow_type):
        return value_kind(arrow_type.value_type)
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return "numbers"
    if pa.types.is_decimal(arrow_type):
        return "numbers"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "text"
    if pa.types.is_boolean(arrow_type):
        return "True/False"
    if pa.types.is_temporal(arrow_type):
        return "dates or times"
    return str(arrow_type)


def check_column_kinds(
    shards: list[ShardFile],
    columns: list[str],
    *,
    label: str,
    as_text: set[str] = frozenset(),
    reference: tuple[str, list[ShardFile]] | None = None,
    split_key: str | None = None,
) -> None:
    """Each of ``columns`` holds the same kind of values in every shard (and in
    ``reference``: the training set's label and shards, for held-out shard sets), or a
    one-line DataError naming the column and two shards that disagree.

    Without this, the first shard alone decides: a column of text there made a numeric
    column categorical for the whole set, its numbers in the other shards read as
    categories, and the run trained on without a word. ``as_text`` columns (listed in
    data.categorical) are read as text in every shard whatever they hold. Text where the
    first shard has numbers is left to the reader, which parses it or names the row, but
    in ``split_key``: a key is hashed as it is stored, so the text '5' and the number 5 fell
    in different splits and one customer's rows trained and validated the model."""
    for column in columns:
        if column in as_text and column != split_key:  # a key is hashed as stored, even so
            continue
        # The first shard with a value in the column, the training set's first.
        first: tuple[str, ShardFile] | None = None
        if reference is not None:
            reference_label, reference_shards = reference
            first = next(
                ((reference_label, s) for s in reference_shards if s.kinds.get(column)), None
            )
        for shard in shards:
            kind = shard.kinds.get(column)
            if kind is None:
                continue
            if first is None:
                first = (label, shard)
                continue
            other_label, other = first
            other_kind = other.kinds[column]
            # Text where the first shard has numbers is read as numbers: values that parse
            # are numbers (a Parquet export of text, a CSV block's typo), and the reader
            # names the row of the first that does not. Only the reverse went unnoticed.
            parsed = (kind, other_kind) == ("text", "numbers")
            if kind != other_kind and column == split_key:
                other_shard = where(other_label, other.path, single=other.single)
                raise DataError(
                    f"{where(label, shard.path, single=shard.single)}: data.split_key column "
                    f"'{column}' holds {kind}, but {other_shard} holds {other_kind} in it; a key is hashed as it is stored (5 and '5' fall "
                    "in different splits), so it must hold one kind of value in every shard: "
                    "write it as numbers everywhere, or as text everywhere"
                )
            if kind != other_kind and not parsed:
                raise DataError(
                    f"{where(label, shard.path, single=shard.single)}: column '{column}' holds "
                    f"{kind}, but {where(other_label, other.path, single=other.single)} holds "
                    f"{other_kind} in it; a column must "
                    "hold one kind of value in every shard (fix the shard, or list the column "
                    "in data.categorical to read it as text everywhere)"
                )


def pieces_of(shards: list[ShardFile]) -> list[Piece]:
    """Every shard cut into pieces, in shard order."""
    pieces = []
    for index, shard in enumerate(shards):
        if shard.format == "parquet":
            start = 0
            for group, rows in enumerate(shard.row_groups):
                if rows:
                    pieces.append(Piece(index, group, start, rows))
                start += rows
        else:
            pieces.append(Piece(index, None, 0, shard.rows))
    return pieces


def fingerprint_files(shards: list[ShardFile], root: str) -> str:
    """A short stable hash of a shard set: names, sizes, and the first and last 64 KiB of each
    file (a Parquet footer holds every column's statistics). Reading every byte of a dataset
    that does not fit in memory to tell it apart would cost a pass of its own."""
    digest = hashlib.sha256()
    for shard in shards:
        try:
            name = str(shard.path.relative_to(root)) if Path(root).is_dir() else shard.path.name
        except ValueError:
            name = shard.path.name
        digest.update(f"{name}\0{shard.size}\0".encode())
        with open(shard.path, "rb") as handle:
            digest.update(handle.read(1 << 16))
            if shard.size > 1 << 16:
                handle.seek(max(shard.size - (1 << 16), 1 << 16))
                digest.update(handle.read())
    return digest.hexdigest()[:16]


def check_same_columns(
    paths: Sequence[object], columns: Sequence[Sequence[str]], label: str
) -> None:
    """Every shard holds the first shard's columns, in any order, and no others: a CSV export
    may write them in another order, and shards are read by name. A DataError naming the
    shard and what it misses or adds otherwise."""
    first = columns[0]
    for path, names in zip(paths, columns, strict=True):
        if set(names) == set(first):
            continue
        missing = [c for c in first if c not in names]
        extra = [c for c in names if c not in first]
        differences = [f"missing {', '.join(map(str, missing))}"] if missing else []
        differences += [f"extra {', '.join(map(str, extra))}"] if extra else []
        raise DataError(
            f"{label} shard {path} has columns {', '.join(map(str, names))}, unlike the "
            f"first shard, {paths[0]} ({'; '.join(differences)}); every shard must hold "
            "the same columns, in any order"
        )
