"""Splits by hashing: a row's split follows from its key alone, never from the other rows.

A stable 64-bit hash of the row's ``data.split_key`` value (or, without a key, of the shard
it comes from and its position there) is mapped to ``[0, 1)``; the first ``test`` of that
interval is the test split, the next ``validation`` the validation split, the rest training.
So a streamed source splits without loading anything, the assignment is the same on every
epoch, on resume and on every machine, and the splits are disjoint by construction. The hash
does not depend on the experiment's seed: a key stays in its split across experiments.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

TRAIN, VALIDATION, TEST = 0, 1, 2
SPLIT_NAMES = {TRAIN: "train", VALIDATION: "validation", TEST: "test"}

# pandas' hash_array takes a 16-character key; a fixed one keeps hashes the same everywhere.
_KEY = "keras-toolkit-01"


def key_hashes(values: np.ndarray | pd.Series) -> np.ndarray:
    """A uint64 hash of each key value, the same in every process and on every platform,
    whatever type a file gave the column: whole numbers hash as int64 (a CSV column, or a
    Parquet one with a gap, is read as float), other numbers as float64, else as text.

    Decided value by value, not for the column: a chunk with one missing key was hashed
    as floats throughout, so its customers landed in other splits than in a chunk without
    a gap, and one customer's rows ended up in training and in validation."""
    series = pd.Series(values)
    if pd.api.types.is_bool_dtype(series):
        return _hash(series.astype(np.int64).to_numpy())
    if not pd.api.types.is_numeric_dtype(series):
        return _hash(series.astype(str).to_numpy(dtype=object))
    as_float = series.to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(as_float) & (as_float == np.round(as_float))
    if whole.all():
        return _hash(as_float.astype(np.int64))
    hashes = _hash(as_float)
    if whole.any():
        hashes[whole] = _hash(as_float[whole].astype(np.int64))
    return hashes


def _hash(values: np.ndarray) -> np.ndarray:
    return pd.util.hash_array(values, hash_key=_KEY, categorize=False)


def position_hashes(shard: str, start: int, count: int) -> np.ndarray:
    """Hashes of rows ``start .. start + count - 1`` of the shard named ``shard``.

    The shard's name is mixed into the positions before they are hashed: pandas' hash_array
    uses its ``hash_key`` for text only, so a per-shard key left row i of every shard with
    the same hash, hence the same split (500 shards of 20 rows put 35% of the rows in a
    validation split of 0.2, as 20 positions decided for every shard)."""
    digest = hashlib.sha256(shard.encode()).digest()
    shard_bits = np.uint64(int.from_bytes(digest[:8], "little"))
    positions = np.arange(start, start + count, dtype=np.uint64) ^ shard_bits
    return pd.util.hash_array(positions, categorize=False)


def assign(hashes: np.ndarray, *, validation: float | None, test: float | None) -> np.ndarray:
    """The split of each row (``TRAIN``, ``VALIDATION`` or ``TEST``) from its hash."""
    # The top 53 bits as a float in [0, 1), exactly representable.
    position = (hashes >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    result = np.full(len(hashes), TRAIN, dtype=np.int8)
    test = test or 0.0
    result[position < test + (validation or 0.0)] = VALIDATION
    result[position < test] = TEST
    return result


def fold(hashes: np.ndarray, k: int, *, validation: float | None, test: float | None) -> np.ndarray:
    """The cross-validation fold (0 .. k-1) of training rows from their hash: the training
    share of ``[0, 1)`` cut into k equal parts (other rows get a meaningless fold)."""
    position = (hashes >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    start = (test or 0.0) + (validation or 0.0)
    within = np.clip((position - start) / (1.0 - start), 0.0, np.nextafter(1.0, 0.0))
    return (within * k).astype(np.int64)
