"""The data phase's shortcuts give what pandas gives: the fingerprint hashed a block of rows at
a time is the digest of pandas' hash of the whole table (beyond one block, and with a column
of Python objects, which pandas hashes by the first of equal values), and a column's mean and
deviation fitted without pandas are its ``Series.mean()`` and ``std(ddof=0)``, to the bit."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from toolkit.data.preprocessing import HASHED_ROWS, _numeric_feature, fingerprint


def _pandas_fingerprint(frame: pd.DataFrame) -> str:
    """The fingerprint as written before blocks: pandas' hash of the whole table."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    digest = hashlib.sha256(hashed.tobytes())
    digest.update(",".join(map(str, frame.columns)).encode())
    return digest.hexdigest()[:16]


def _table(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=rows).astype(np.float32),
            "b": rng.integers(0, 1000, rows),
            "c": np.where(rng.random(rows) < 0.1, np.nan, rng.normal(size=rows)),
            "d": rng.choice(["red", "green", "blue"], rows),
        }
    )
    frame.loc[rows - 5, "d"] = None
    return frame


def test_the_fingerprint_of_a_table_of_several_blocks_is_pandas_hash_of_it_whole():
    frame = _table(2 * HASHED_ROWS + 1234)
    assert fingerprint(frame) == _pandas_fingerprint(frame)
    assert fingerprint(frame.iloc[: HASHED_ROWS // 2]) == _pandas_fingerprint(
        frame.iloc[: HASHED_ROWS // 2]
    )


def test_a_column_of_python_objects_equal_across_blocks_is_hashed_as_pandas_hashes_it():
    # pandas hashes 1, 1.0 and True as the first of them it meets: 1 here, in the first block;
    # a block of its own would meet 1.0 first and hash it otherwise.
    rows = HASHED_ROWS + 100
    values = np.empty(rows, dtype=object)
    values[:] = "text"
    values[0], values[HASHED_ROWS + 1], values[HASHED_ROWS + 2] = 1, 1.0, True
    frame = pd.DataFrame({"mixed": pd.Series(values, dtype=object), "n": np.arange(rows)})
    assert fingerprint(frame) == _pandas_fingerprint(frame)


def test_a_numeric_column_is_fitted_to_the_bit_as_pandas_fits_it():
    rng = np.random.default_rng(11)
    columns = {
        "float32": rng.normal(5.0, 3.0, 100_003).astype(np.float32),
        "float64 far from zero": 1e9 + rng.normal(size=50_001),
        "integers": rng.integers(-(10**12), 10**12, 70_000),
        "one value": np.full(1000, 0.1),
        "one row": np.array([2.5]),
        "missing values": np.where(rng.random(5000) < 0.3, np.nan, rng.normal(size=5000)),
    }
    for name, numbers in columns.items():
        feature = _numeric_feature(name, numbers)
        values = pd.Series(numbers.astype(np.float64))
        std = float(values.std(ddof=0))
        assert (feature.mean, feature.std) == (float(values.mean()), std if std > 0 else 1.0), name
        assert feature.missing == int(values.isna().sum()), name
