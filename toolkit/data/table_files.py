"""Which files are tables, by name: CSV (plain or compressed as a whole file) and Parquet.

The one place that decides by suffix. A CSV file compressed as a whole (``train.csv.gz``, as
Kaggle and UCI ship them) is a CSV file, for every extension pandas' ``read_csv`` decompresses
by (and lz4, which pyarrow reads): pyarrow's CSV reader decompresses gzip, bz2, zstd and lz4
itself, and is given a stream Python decompresses for xz and zip (``csv_input``);
``open_csv_bytes`` gives the decompressed bytes to everything else that reads it (pandas,
the header and UTF-8 checks). Only names are looked at here, so config validation imports
nothing heavy.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

from toolkit.errors import DataError

# The extensions a CSV file is decompressed by, and the codec of each: those pyarrow's CSV
# reader decompresses by (``pyarrow.Codec.detect``; a codec this install of pyarrow was built
# without is named when read), and xz and zip, which pandas' read_csv reads too and Python's
# lzma and zipfile decompress (a zip archive of one file, as pandas reads it).
CSV_COMPRESSIONS = {
    ".gz": "gzip",
    ".bz2": "bz2",
    ".zst": "zstd",
    ".lz4": "lz4",
    ".xz": "xz",
    ".zip": "zip",
}
_ARROW_CODECS = ("gzip", "bz2", "zstd", "lz4")
PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", *(f".csv{extension}" for extension in CSV_COMPRESSIONS))
TABLE_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES
# Tables compressed in a way nothing here reads (``part-0.csv.7z``, ``x.parquet.gz``): not
# read, but refused by name rather than skipped as other files are, which would drop their
# rows without a word.
_OTHER_COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4", ".snappy", ".7z", ".rar")
UNREAD_COMPRESSED_SUFFIXES = tuple(
    table + compression
    for table in (".csv", *PARQUET_SUFFIXES)
    for compression in _OTHER_COMPRESSIONS
    if table + compression not in CSV_SUFFIXES
)
# What pandas' read_csv reads as missing (its default na_values). Training in memory reads a
# CSV with pandas; the Arrow readers (streamed training, predict, evaluate --data) take this
# list as their null_values: Arrow's own lacks 'None' and '<NA>', so a number column with
# 'None' for its gaps trained in memory and was refused by predict, and by evaluate --data
# on the very file training read ("must be numeric, row 4 holds 'None'").
PANDAS_NA_VALUES = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip
# How messages name what is read: ".csv.gz/.bz2/.zst/.lz4/.xz/.zip" and
# ".csv (or .csv.gz/.bz2/.zst/.lz4/.xz/.zip)/.parquet".
COMPRESSED_CSV_WORDS = ".csv" + "/".join(CSV_COMPRESSIONS)
TABLE_WORDS = f".csv (or {COMPRESSED_CSV_WORDS})/.parquet"


class UnreadableTable(DataError):
    """A table file that cannot be read, and why (``problem``), for callers that name the
    file themselves ("--input file rows.csv.zip cannot be read: it holds 2 files ...")."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path} cannot be read: {problem}")
        self.problem = problem


def table_format(path: str | Path) -> str | None:
    """``csv`` for a CSV file, plain or compressed; ``parquet``; None for anything else."""
    name = str(path).lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def is_csv_path(path: str | Path) -> bool:
    """True for a CSV file by its name: ``x.csv``, or compressed whole (``x.csv.gz``)."""
    return table_format(path) == "csv"


def is_table_path(path: str | Path) -> bool:
    """True for a CSV (plain or compressed) or Parquet file, by its name."""
    return table_format(path) is not None


def is_unread_compressed(path: str | Path) -> bool:
    """True for a table compressed in a way that is not read (``part-0.csv.7z``)."""
    return str(path).lower().endswith(UNREAD_COMPRESSED_SUFFIXES)


def csv_compression(path: str | Path) -> str | None:
    """The codec a CSV file is compressed with, by its extension (``gzip``), or None."""
    if not is_csv_path(path):
        return None
    return CSV_COMPRESSIONS.get(Path(path).suffix.lower())


def decompressed_name(name: str) -> str:
    """A file name as decompressed: ``part-0.csv`` for ``part-0.csv.gz``. Rows of a shard are
    split by hashing its name with their position, so the same rows split alike whether the
    file is compressed or not."""
    if csv_compression(name) is None:
        return name
    return name[: name.rfind(".")]


def open_csv_bytes(path: str | Path) -> BinaryIO:
    """A CSV file's bytes, decompressed when its name says so, as a buffered binary stream
    (lines can be read from it). A codec pyarrow was built without, or a zip archive that
    is not one file, is a DataError."""
    codec = csv_compression(path)
    if codec is None:
        return open(path, "rb")
    if codec == "xz":
        import lzma

        return lzma.open(path, "rb")
    if codec == "zip":
        return _zip_member(path)
    import pyarrow as pa

    if not pa.Codec.is_available(codec):
        raise DataError(
            f"{path} is compressed with {codec}, which this install of pyarrow cannot "
            f"decompress; decompress it, or compress it with gzip (.csv.gz)"
        )
    return io.BufferedReader(pa.input_stream(str(path), compression=codec))


def csv_input(path: str | Path) -> str | Path | BinaryIO:
    """What pyarrow's CSV readers are given for ``path``: the path itself when pyarrow
    decompresses its codec by the extension, else the stream ``open_csv_bytes`` gives."""
    if csv_compression(path) in (None, *_ARROW_CODECS):
        return path
    return open_csv_bytes(path)


def _zip_member(path: str | Path) -> BinaryIO:
    """The one file of a zip archive (``rows.csv.zip``), as pandas' read_csv reads one;
    macOS's ``__MACOSX/`` entries and folders are not files of it."""
    import zipfile

    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise UnreadableTable(
            path,
            "it is not a zip archive, or it is cut short (an interrupted download or copy); "
            "check it with unzip -t",
        ) from None
    with archive:
        members = [
            info
            for info in archive.infolist()
            if not info.is_dir() and not info.filename.startswith("__MACOSX/")
        ]
        if len(members) != 1:
            names = ", ".join(info.filename for info in members[:3])
            raise UnreadableTable(
                path,
                f"it holds {len(members)} files{f' ({names})' if members else ''}, and a "
                ".csv.zip file is read as one CSV file: zip that file alone",
            )
        # The member's stream keeps the archive's file open after the archive closes.
        return archive.open(members[0])
