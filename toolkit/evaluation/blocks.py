"""Rows re-cut into blocks by their position in the input, for ``predict`` and ``evaluate``.

A sampled model (MC dropout, Bayesian layers) draws its noise per batch of rows, so a row's
prediction depended on the rows called with it: the same 110 rows gave predictions up to
6 apart when read as one file or as three shards, and ``evaluate`` on a file disagreed
with ``predict`` on it. Cut into blocks of ``BLOCK_ROWS`` rows counted from the input's first
row, and each block's draws seeded by its number (``predict(first_row=...)``), a row's
numbers depend only on the rows and its position, however the input is split.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from toolkit.data.sources.base import InputChunk

BLOCK_ROWS = 65_536

Chunk = TypeVar("Chunk")
Arrays = tuple[dict[str, np.ndarray], np.ndarray]


def in_blocks(
    chunks: Iterable[Chunk],
    *,
    rows_of: Callable[[Chunk], int],
    take: Callable[[Chunk, slice], Chunk],
    join: Callable[[list[Chunk]], Chunk],
    rows: int = BLOCK_ROWS,
    exact: bool = True,
) -> Iterator[tuple[int, Chunk]]:
    """``(first_row, block)`` for consecutive blocks of exactly ``rows`` rows of ``chunks``
    (the last one may be shorter), or with ``exact`` False (a model that does not sample,
    whose rows do not depend on their neighbours) of at least ``rows``, whole chunks joined:
    each call of a model has a fixed cost, and cutting chunks made ``evaluate`` a sixth
    slower. Empty chunks are skipped, unless every chunk is: then the first one is the block
    (an output with no rows still has its columns)."""
    pending: list[Chunk] = []
    filled = first = 0
    empty = None
    for chunk in chunks:
        size, start = rows_of(chunk), 0
        if size == 0 and empty is None:
            empty = chunk
        while start < size:
            step = min(rows - filled, size - start) if exact else size
            whole = start == 0 and step == size
            pending.append(chunk if whole else take(chunk, slice(start, start + step)))
            filled += step
            start += step
            if filled >= rows:
                yield first, pending[0] if len(pending) == 1 else join(pending)
                first += filled
                pending, filled = [], 0
    if pending:
        yield first, pending[0] if len(pending) == 1 else join(pending)
    elif first == 0 and empty is not None:
        yield 0, empty


def array_blocks(
    chunks: Iterable[Arrays], rows: int = BLOCK_ROWS, *, exact: bool = True
) -> Iterator[tuple[int, Arrays]]:
    """``in_blocks`` of ``(features, target)`` chunks."""

    def take(chunk: Arrays, part: slice) -> Arrays:
        features, target = chunk
        return {name: values[part] for name, values in features.items()}, target[part]

    def join(parts: list[Arrays]) -> Arrays:
        names = parts[0][0]
        features = {name: np.concatenate([p[0][name] for p in parts]) for name in names}
        return features, np.concatenate([p[1] for p in parts])

    return in_blocks(
        chunks, rows_of=lambda chunk: len(chunk[1]), take=take, join=join, rows=rows, exact=exact
    )


def input_blocks(
    chunks: Iterable[InputChunk], rows: int = BLOCK_ROWS, *, exact: bool = True
) -> Iterator[tuple[int, InputChunk]]:
    """``in_blocks`` of new rows read for ``predict``, their carried columns with them. A
    block's carried types are its first chunk's (the first input file's). Not ``exact``, the
    chunks pass as they are: they are read in large batches, and joining their carried
    columns would only cost time."""
    from dataclasses import replace

    def take(chunk: InputChunk, part: slice) -> InputChunk:
        return replace(
            chunk,
            features={name: values[part] for name, values in chunk.features.items()},
            target=None if chunk.target is None else chunk.target[part],
            carried=chunk.carried.iloc[part].reset_index(drop=True),
        )

    def join(parts: list[InputChunk]) -> InputChunk:
        first = parts[0]
        features = {
            name: np.concatenate([p.features[name] for p in parts]) for name in first.features
        }
        target = None
        if first.target is not None:
            target = np.concatenate([p.target for p in parts])
        carried = pd.concat([p.carried for p in parts], ignore_index=True)
        return replace(first, features=features, target=target, carried=carried)

    def rows_of(chunk: InputChunk) -> int:
        return len(next(iter(chunk.features.values()))) if chunk.features else len(chunk.carried)

    rows = rows if exact else 1
    return in_blocks(chunks, rows_of=rows_of, take=take, join=join, rows=rows, exact=exact)
