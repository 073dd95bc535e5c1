"""Data sources: one kind per module, registered by name in ``SOURCES``.

``open_source(config)`` picks the kind from ``data.source`` (its prefix, or for a path,
whether ``data.streaming`` streams it) and returns a ``Source``, whose ``prepare()`` gives
the ``PreparedData`` that train, tune, evaluate, predict and the baselines all read.

Adding a kind is one module here and one entry in ``SOURCES`` (and its prefix in
``toolkit.config.names.SOURCE_PREFIXES``, so configs naming it validate).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from toolkit.data.sources.arrays import KerasSource, NpzSource
from toolkit.data.sources.base import InputChunk, Source
from toolkit.data.sources.builtin import SklearnSource, load_builtin
from toolkit.data.sources.images import ImageFolderSource
from toolkit.data.sources.shards import ShardSource, streams
from toolkit.data.sources.synthetic import SyntheticSource, make_synthetic
from toolkit.data.sources.table import TableSource, read_table, read_tables
from toolkit.registry import lookup

if TYPE_CHECKING:
    from toolkit.config.schema import DataConfig, ExperimentConfig

SOURCES: dict[str, type[Source]] = {
    "sklearn": SklearnSource,
    "synthetic": SyntheticSource,
    "table": TableSource,  # CSV/Parquet held in memory (image paths in a column, too)
    "shards": ShardSource,  # CSV/Parquet streamed from disk
    "keras": KerasSource,  # keras.datasets, from Keras' cache
    "npz": NpzSource,  # NumPy x/y arrays of images or signals
    "images": ImageFolderSource,  # a folder of class sub-folders of images
}

__all__ = [
    "SOURCES",
    "InputChunk",
    "Source",
    "get",
    "kind_of",
    "load_builtin",
    "load_source",
    "make_synthetic",
    "open_source",
    "read_table",
    "read_tables",
]


def get(kind: str) -> type[Source]:
    """The source class registered as ``kind``."""
    return lookup(SOURCES, kind, kind="data source kind")


def kind_of(config: DataConfig) -> str:
    """The registered kind that reads ``data.source``: its prefix (``sklearn:...``), ``npz``,
    ``images`` for a folder of images, or for CSV/Parquet paths ``shards`` when they are
    streamed and ``table`` when loaded whole."""
    prefix, colon, _ = config.source.partition(":")
    if colon and prefix in SOURCES:
        return prefix
    if config.form == "npz":
        return "npz"
    if config.form == "folder" and config.input_kind == "image":
        return "images"
    if config.input_kind != "table":
        return "table"  # image paths in a column: held in memory, never streamed
    return "shards" if streams(config) else "table"


def open_source(config: ExperimentConfig) -> Source:
    """The source of ``config``'s data, ready to ``prepare()``."""
    source_class = get(kind_of(config.data))
    return source_class(config.data, seed=config.seed, task=config.model.task)


def load_source(config: DataConfig, seed: int) -> pd.DataFrame:
    """The whole table of an in-memory table source, checked against the config."""
    from toolkit.data.preprocessing import check_table

    kind = kind_of(config.model_copy(update={"streaming": False}))
    source = get(kind)(config, seed=seed, task="regression")
    frame = source.load_frame()
    check_table(frame, config, label=config.source)
    return frame
