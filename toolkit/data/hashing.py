"""Splits by hashing: a row's split follows from its key alone, never from the other rows.

A stable 64-bit hash of the row's ``data.split_key`` value (numbers salted first, see
``_SALT``; or, without a key, of the shard it comes from and its position there) is mapped
to ``[0, 1)``; the first ``test`` of that
interval is the test split, the next ``validation`` the validation split, the rest training.
So a streamed source splits without loading anything, the assignment is the same on every
epoch, on resume and on every machine, and the splits are disjoint by construction. The hash
does not depend on the experiment's seed: a key stays in its split across experiments.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable

import numpy as np
import pandas as pd

TRAIN, VALIDATION, TEST = 0, 1, 2
SPLIT_NAMES = {TRAIN: "train", VALIDATION: "validation", TEST: "test"}

# pandas' hash_array takes a 16-character key; a fixed one keeps hashes the same everywhere.
_KEY = "keras-toolkit-01"
# pandas' hash_array uses its key for text only: a number's hash is a fixed bijective mix of
# its 64 bits, which leaves 0 at 0, so the key 0 (and False, 0.0) always fell at the start
# of [0, 1), in the test split. These fixed bits are XORed into a number first: the value
# that now hashes to 0 is an arbitrary 64-bit one, no more likely as a key than any other.
_SALT = np.uint64(int.from_bytes(hashlib.sha256(b"keras-toolkit split_key").digest()[:8], "little"))


def key_split(key: str) -> str:
    """How run.json describes a split by hashing the column ``key``. Keys were hashed without
    the salt before ("hash of KEY"): a run recorded so is not resumed by this version, which
    puts some of its keys in other splits (it would train on rows it validated on)."""
    return f"salted hash of {key}"


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
    if values.dtype != object:  # int64 or float64: salted (see _SALT)
        values = np.ascontiguousarray(values).view(np.uint64) ^ _SALT
    return pd.util.hash_array(values, hash_key=_KEY, categorize=False)


def position_hashes(shard: str, start: int, count: int) -> np.ndarray:
    """Hashes of rows ``start .. start + count - 1`` of the shard named ``shard``.

    The shard's name is mixed into the positions before they are hashed: pandas' hash_array
    uses its ``hash_key`` for text only, so a per-shard key left row i of every shard with
    the same hash, hence the same split (500 shards of 20 rows put 35% of the rows in a
    validation split of 0.2, as 20 positions decided for every shard)."""
    return hashes_at(shard, np.arange(start, start + count, dtype=np.uint64))


def hashes_at(shard: str, positions: np.ndarray) -> np.ndarray:
    """Hashes of the rows at ``positions`` of the shard named ``shard`` (as
    ``position_hashes``), for rows that are not a contiguous run: a split's rows."""
    digest = hashlib.sha256(shard.encode()).digest()
    shard_bits = np.uint64(int.from_bytes(digest[:8], "little"))
    mixed = np.asarray(positions, dtype=np.uint64) ^ shard_bits
    return pd.util.hash_array(mixed, categorize=False)


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


# A realised row share is reported when it is this many standard deviations of the share of
# keys away from the fraction asked for (see ``split_share_warning``) ...
SHARE_DEVIATIONS = 4.0
# ... and off by more than this part of the fraction: a million keys of slightly unequal
# size move the shares by a fraction of a percent, not worth a word.
SHARE_SLACK = 0.1
# A share off by more than this part of its fraction (a split of 0.2 holding under 10% or
# over 30% of the rows) is reported whatever the cause: with a few keys (four values of a
# category) hashing alone gives such shares by chance, and training on 9% of the rows, as
# one run with four keys did, was said nowhere.
SHARE_FAR = 0.5


class KeySizes:
    """Rows per ``data.split_key`` value, counted chunk by chunk, up to ``cap`` distinct
    values (beyond it only "more than ``cap``" is known, which bounds the warning's
    tolerance from above: more keys only make the key shares tighter)."""

    def __init__(self, cap: int = 100_000) -> None:
        self.cap = cap
        self.sizes: Counter = Counter()
        self.rows = 0
        self.overflow = False

    def update(self, values: np.ndarray | pd.Series) -> None:
        """Count the keys of one chunk."""
        values = pd.Series(values)
        self.rows += len(values)
        if self.overflow:
            return
        counts = values.value_counts(dropna=False)
        # A whole table of ten million ids is not counted into a dict one by one (seconds).
        self.overflow = len(counts) > self.cap
        if not self.overflow:
            self.sizes.update(counts.to_dict())
            self.overflow = len(self.sizes) > self.cap

    @property
    def keys(self) -> int:
        """The number of distinct keys (a lower bound once over ``cap``)."""
        return self.cap if self.overflow else len(self.sizes)


def split_share_warning(
    key: str,
    rows: dict[str, int],
    fractions: dict[str, float | None],
    sizes: KeySizes | Callable[[], KeySizes],
) -> str | None:
    """A line when the rows' shares of the hashed splits stray from the fractions asked for,
    beyond what hashing the keys would give by chance: the keys differ in size (one key of
    30% of the rows put 44% of them in a validation split of 0.2).

    ``rows``: the rows of each split hashed from ``data.source`` (train and those with a
    fraction). The tolerance: were every key the same size, a split's row share would be its
    share of the n keys, a binomial count over n, of standard deviation sqrt(p (1 - p) / n);
    ``SHARE_DEVIATIONS`` (4) of them are exceeded by chance about once in 16,000 splits, so
    a larger gap comes from keys of unequal size (with at least ``SHARE_SLACK`` of p). A gap
    over ``SHARE_FAR`` of p is reported too, as one of too few keys when chance explains it.
    ``sizes`` may be a function: the keys are counted only when a share strays by that much
    (counting five million keys in memory takes two seconds)."""
    asked = {name: fraction for name, fraction in fractions.items() if fraction is not None}
    asked = {"train": 1.0 - sum(asked.values()), **asked}
    total = sum(rows.get(name, 0) for name in asked)
    if not total:
        return None
    realised = {name: rows.get(name, 0) / total for name in asked}
    if all(abs(realised[name] - p) <= SHARE_SLACK * p for name, p in asked.items()):
        return None
    if callable(sizes):
        sizes = sizes()
    if not sizes.keys:
        return None

    def chance(p: float) -> float:
        return SHARE_DEVIATIONS * math.sqrt(p * (1.0 - p) / sizes.keys)

    gaps = {name: abs(realised[name] - p) for name, p in asked.items()}
    uneven = [name for name, p in asked.items() if gaps[name] > max(chance(p), SHARE_SLACK * p)]
    few = [name for name, p in asked.items() if gaps[name] > SHARE_FAR * p]
    if not uneven and not few:
        return None
    shares = ", ".join(f"{name} {realised[name]:.1%} (asked {asked[name]:.0%})" for name in asked)
    keys = f"more than {sizes.cap:,}" if sizes.overflow else f"{sizes.keys:,}"
    largest = ""
    if sizes.sizes and not sizes.overflow:
        value, count = max(sizes.sizes.items(), key=lambda item: item[1])
        if isinstance(value, float | np.floating) and float(value).is_integer():
            value = int(value)  # as in the file (a CSV column with a gap is read as floats)
        shown = repr(value) if isinstance(value, str) else str(value)
        largest = f"; the largest, {shown}, holds {count / sizes.rows:.1%} of the rows"
    # Within chance of hashing so few keys, their sizes are not the cause to name.
    cause = (
        f"its {keys} keys differ in size{largest}"
        if uneven
        else f"its {keys} keys are too few to share the rows out as asked"
    )
    return (
        f"data.split_key '{key}' put these shares of the rows in the splits: {shares}. All "
        f"rows of a key go to one split, and {cause}; use a key with more, smaller groups for "
        "shares nearer the fractions"
    )
