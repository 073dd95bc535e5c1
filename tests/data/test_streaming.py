"""Streamed CSV/Parquet shards: one-pass statistics, hash splits, the tf.data pipeline.

Every expectation is computed independently: statistics with NumPy on the concatenated
table, splits by recounting ids, epochs by comparing the rows they hold.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.helpers import REPO, run_cli, tiny_config
from toolkit.config.loading import validate_config
from toolkit.data import hashing
from toolkit.data.pipeline import steps_for
from toolkit.data.prepared import prepare_data
from toolkit.data.preprocessing import NUMERIC_INPUT
from toolkit.data.streaming.files import list_shards
from toolkit.errors import DataError


def _table(rows: int = 1200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "id": np.arange(rows) * 7 + 3,
            "a": rng.normal(10.0, 3.0, rows),
            "b": rng.exponential(2.0, rows),
            "colour": rng.choice(["red", "green", "blue", "teal"], rows, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )
    frame.loc[rng.random(rows) < 0.1, "a"] = np.nan  # missing values, imputed in the model
    frame.loc[rng.random(rows) < 0.05, "colour"] = None
    frame["target"] = 2.0 * frame["b"] + rng.normal(0.0, 0.5, rows)
    return frame


def _write_shards(frame: pd.DataFrame, directory, *, shards: int = 3, fmt: str = "parquet"):
    """``frame`` cut into ``shards`` files (Parquet with small row groups, or CSV)."""
    directory.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, len(frame), shards + 1).astype(int)
    for index in range(shards):
        part = frame.iloc[bounds[index] : bounds[index + 1]]
        path = directory / f"part-{index:02d}.{fmt}"
        if fmt == "parquet":
            part.to_parquet(path, row_group_size=150, index=False)
        else:
            part.to_csv(path, index=False)
    return str(directory / f"*.{fmt}")


def _config(source: str, **data):
    raw = tiny_config()
    raw["data"] = {"source": source, "streaming": True, **data}
    raw["training"]["batch_size"] = 32
    return validate_config(raw)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_statistics_in_one_pass_equal_numpy_on_the_whole_table(tmp_path, fmt):
    frame = _table()
    source = _write_shards(frame, tmp_path / "train", fmt=fmt)
    validation = tmp_path / f"validation.{fmt}"
    held = _table(200, seed=1)
    held.to_parquet(validation) if fmt == "parquet" else held.to_csv(validation, index=False)
    data = prepare_data(_config(source, **_id_features(validation=str(validation), max_tokens=3)))

    spec = data.spec
    assert [f.name for f in spec.numeric] == ["a", "b"]
    for feature in spec.numeric:
        values = frame[feature.name].to_numpy(dtype=float)
        np.testing.assert_allclose(feature.mean, np.nanmean(values), rtol=1e-12)
        np.testing.assert_allclose(feature.std, np.nanstd(values), rtol=1e-10)
        assert feature.missing == int(np.isnan(values).sum())
    colour = spec.categorical[0]
    counts = frame["colour"].fillna("<missing>").value_counts()
    assert colour.missing == int(frame["colour"].isna().sum())
    # max_tokens 3: the three most frequent values; the fourth and the rest share the OOV bucket.
    assert colour.vocabulary == sorted(counts.index[:3])
    assert colour.out_of_vocabulary == len(counts) - 3
    np.testing.assert_allclose(spec.target.mean, frame["target"].mean(), rtol=1e-12)
    np.testing.assert_allclose(spec.target.std, frame["target"].std(ddof=0), rtol=1e-10)
    assert data.rows == {"train": 1200, "validation": 200}


# A first shard without a value in a column: an empty partition's header-only CSV file, a
# column empty there ('colour' as empty text in a CSV file), or a Parquet column of nulls
# only (Arrow's null type: 'a' written from a column of None).
EMPTY_FIRST = {
    "csv-header-only": lambda part: part.iloc[:0],
    "csv-colour-empty": lambda part: part.assign(colour=None),
    "parquet-a-null": lambda part: part.assign(a=None),
}


@pytest.mark.parametrize("case", list(EMPTY_FIRST))
def test_a_column_without_values_in_the_first_shard_is_typed_by_the_others(tmp_path, case):
    """The first shard alone typed a streamed column: a column with no value there was
    typed as numbers, and the text of every later shard was refused ('column 'colour'
    holds 'red' in row 1 (line 2) where the run expects a number'), though a shard with no
    rows is allowed. A Parquet column of nulls only in the first shard made the numeric
    feature 'a' categorical, its numbers trained as text, without a word. The statistics
    must be NumPy's over the concatenated shards."""
    frame = _table(900)
    fmt = case.split("-")[0]
    directory = tmp_path / "train"
    _write_shards(frame, directory, fmt=fmt)
    first = EMPTY_FIRST[case](frame.iloc[:300])
    path = directory / f"part-00.{fmt}"
    first.to_parquet(path, index=False) if fmt == "parquet" else first.to_csv(path, index=False)
    whole = pd.concat([first, frame.iloc[300:]], ignore_index=True)
    validation = tmp_path / f"validation.{fmt}"
    held = _table(200, seed=1)
    held.to_parquet(validation) if fmt == "parquet" else held.to_csv(validation, index=False)

    data = prepare_data(_config(str(directory), **_id_features(validation=str(validation))))
    spec = data.spec
    assert data.rows == {"train": len(whole), "validation": 200}
    assert [f.name for f in spec.numeric] == ["a", "b"]
    for feature in spec.numeric:
        values = whole[feature.name].to_numpy(dtype=float)
        np.testing.assert_allclose(feature.mean, np.nanmean(values), rtol=1e-12)
        np.testing.assert_allclose(feature.std, np.nanstd(values), rtol=1e-10)
        assert feature.missing == int(np.isnan(values).sum())
    (colour,) = spec.categorical
    assert colour.vocabulary == sorted(whole["colour"].fillna("<missing>").unique())
    assert colour.missing == int(whole["colour"].isna().sum())


def test_a_parquet_shard_of_numbers_as_text_is_parsed_in_memory_as_streamed(tmp_path):
    """Column 'a' of part-01.parquet written as strings of numbers: streamed, they were
    parsed; in memory, Arrow refused to join the shards ('Unable to merge: Field a has
    incompatible types: double vs large_string'). Both must fit NumPy's statistics of the
    numbers."""
    frame = _table(900)
    directory = tmp_path / "train"
    _write_shards(frame, directory)
    text = frame.iloc[300:600].assign(a=lambda f: f["a"].map(repr).where(f["a"].notna()))
    text.to_parquet(directory / "part-01.parquet", index=False)
    import pyarrow.parquet as pq

    assert str(pq.read_schema(directory / "part-01.parquet").field("a").type) in {
        "string",
        "large_string",
    }
    validation = tmp_path / "validation.parquet"
    _table(200, seed=1).to_parquet(validation, index=False)

    for streaming in (True, False):
        settings = _id_features(validation=str(validation), streaming=streaming)
        spec = prepare_data(_config(str(directory), **settings)).spec
        assert [f.name for f in spec.numeric] == ["a", "b"], streaming
        values = frame["a"].to_numpy(dtype=float)
        (a,) = [f for f in spec.numeric if f.name == "a"]
        # In memory, features are read as float32: float tolerance.
        np.testing.assert_allclose(a.mean, np.nanmean(values), rtol=1e-6)
        np.testing.assert_allclose(a.std, np.nanstd(values), rtol=1e-6)
        assert a.missing == int(np.isnan(values).sum())


def _id_features(**data):
    return {"features": ["a", "b", "colour"], **data}


def test_streamed_spec_and_splits_equal_the_in_memory_ones_with_a_split_key(tmp_path):
    frame = _table()
    source = _write_shards(frame, tmp_path / "shards")
    frame.to_parquet(tmp_path / "all.parquet", index=False)
    settings = _id_features(split_key="id", validation=0.2, test=0.1)
    streamed = prepare_data(_config(source, **settings))
    in_memory = prepare_data(_config(str(tmp_path / "all.parquet"), streaming=False, **settings))
    assert not in_memory.streamed and streamed.streamed
    assert streamed.rows == in_memory.rows
    for ours, theirs in zip(streamed.spec.numeric, in_memory.spec.numeric, strict=True):
        assert ours.name == theirs.name and ours.missing == theirs.missing
        # In memory, features are read as float32 (as the model reads them): float tolerance.
        np.testing.assert_allclose([ours.mean, ours.std], [theirs.mean, theirs.std], rtol=1e-6)
    assert streamed.spec.categorical == in_memory.spec.categorical
    for name in ("train", "validation", "test"):
        a, b = getattr(streamed, name), getattr(in_memory, name)
        features_a, target_a = a.sample(None)
        features_b, target_b = b.sample(None)
        np.testing.assert_array_equal(target_a, target_b)
        np.testing.assert_array_equal(features_a[NUMERIC_INPUT], features_b[NUMERIC_INPUT])
    # Both are what NumPy computes on the training rows.
    codes = hashing.assign(hashing.key_hashes(frame["id"]), validation=0.2, test=0.1)
    train = frame[codes == hashing.TRAIN]
    assert len(train) == streamed.train.rows
    np.testing.assert_allclose(
        [f.mean for f in streamed.spec.numeric], np.nanmean(train[["a", "b"]], axis=0), rtol=1e-12
    )


def test_the_key_zero_is_hashed_like_any_other_value():
    """pandas' hash_array mixes a number's 64 bits without its key, and the mix keeps 0 at 0:
    the key 0 (also False and 0.0) sat at the very start of [0, 1), always in the test split
    (in validation without one). No other value is a fixed point; 0 is now salted too."""
    zeros = [pd.Series([0]), pd.Series([0.0]), pd.Series([-0.0]), pd.Series([False])]
    hashes = [int(hashing.key_hashes(zero)[0]) for zero in zeros]
    assert len(set(hashes)) == 1 and hashes[0] != 0  # the same key however it is typed
    keys = pd.Series(np.arange(-1000, 100_000))
    position = (hashing.key_hashes(keys) >> np.uint64(11)).astype(np.float64) / 2.0**53
    # 101,000 uniform positions: the smallest is below 1e-8 with probability 0.1%.
    assert position.min() > 1e-8, keys[np.argmin(position)]
    codes = hashing.assign(hashing.key_hashes(keys), validation=0.2, test=0.1)
    np.testing.assert_allclose(np.bincount(codes) / len(keys), [0.7, 0.2, 0.1], atol=0.005)


@pytest.mark.parametrize("streaming", [True, False])
def test_a_split_key_whose_keys_differ_in_size_warns_with_the_realised_shares(tmp_path, streaming):
    """One key holding 30% of the rows moves the splits' row shares far from the fractions
    (all its rows go to one split), and nothing said so. 1,400 keys of one row each and
    one of 600 rows: with keys of equal size the validation share would be 20% give or
    take 1.1 points (a binomial share of 1,401 keys); here it is near 14%."""
    frame = _table(2000)
    frame["customer"] = np.where(np.arange(2000) < 600, 0, np.arange(2000))
    source = _write_shards(frame, tmp_path / "uneven")
    frame.to_parquet(tmp_path / "uneven.parquet", index=False)
    settings = _id_features(split_key="customer", validation=0.2, test=0.1)
    where = source if streaming else str(tmp_path / "uneven.parquet")
    data = prepare_data(_config(where, streaming=streaming, **settings))
    # The shares counted from the rows of each split, independently of the warning.
    shares = {name: data.rows[name] / 2000 for name in ("train", "validation", "test")}
    assert abs(shares["validation"] - 0.2) > 4 * np.sqrt(0.2 * 0.8 / 1401)
    (warning,) = data.warnings
    assert warning.startswith("data.split_key 'customer' put these shares of the rows in the ")
    for name, asked in [("train", 70), ("validation", 20), ("test", 10)]:
        assert f"{name} {shares[name]:.1%} (asked {asked}%)" in warning
    assert "its 1,401 keys differ in size; the largest, 0, holds 30.0% of the rows" in warning
    # Keys of one row each: the shares are the key shares, within chance; nothing to say.
    even = (
        _write_shards(frame, tmp_path / "even") if streaming else str(tmp_path / "uneven.parquet")
    )
    settings["split_key"] = "id"
    assert prepare_data(_config(even, streaming=streaming, **settings)).warnings == []


@pytest.mark.parametrize("streaming", [True, False])
def test_a_split_key_of_few_keys_warns_when_a_share_is_far_from_its_fraction(tmp_path, streaming):
    """Thirteen shops of equal size as the split key: hashing 13 keys put 7.7% of the rows in
    a test split of 0.2, a gap within chance of so few keys (4 standard deviations are 44
    points), so nothing was said; a share off by more than half its fraction now is, and
    the line names too few keys, not their sizes, as the cause."""
    frame = _table(2000)
    frame["shop"] = [f"shop{i % 13}" for i in range(2000)]
    where = str(tmp_path / "shops.parquet")
    frame.to_parquet(where, index=False)
    if streaming:
        where = _write_shards(frame, tmp_path / "shops")
    settings = _id_features(split_key="shop", validation=0.2, test=0.2)
    data = prepare_data(_config(where, streaming=streaming, **settings))
    shares = {name: data.rows[name] / 2000 for name in ("train", "validation", "test")}
    assert abs(shares["test"] - 0.2) > 0.5 * 0.2  # counted apart from the warning
    assert abs(shares["test"] - 0.2) < 4 * np.sqrt(0.2 * 0.8 / 13)  # but within chance
    (warning,) = data.warnings
    assert warning.startswith("data.split_key 'shop' put these shares of the rows in the ")
    for name, asked in [("train", 60), ("validation", 20), ("test", 20)]:
        assert f"{name} {shares[name]:.1%} (asked {asked}%)" in warning
    assert "its 13 keys are too few to share the rows out as asked; use a key" in warning


def test_hash_splits_are_disjoint_stable_and_follow_the_fractions():
    keys = pd.Series(np.arange(20_000) * 13)
    first = hashing.assign(hashing.key_hashes(keys), validation=0.2, test=0.1)
    # The same key always lands in the same split: in another order, another process, or
    # read as floats (a CSV column with a gap).
    shuffled = keys.sample(frac=1.0, random_state=0)
    again = hashing.assign(hashing.key_hashes(shuffled), validation=0.2, test=0.1)
    np.testing.assert_array_equal(first[shuffled.index], again)
    as_float = hashing.assign(hashing.key_hashes(keys.astype(float)), validation=0.2, test=0.1)
    np.testing.assert_array_equal(first, as_float)
    code = (
        "import numpy as np, pandas as pd; from toolkit.data import hashing; "
        "print(hashing.assign(hashing.key_hashes(pd.Series(np.arange(20000) * 13)), "
        "validation=0.2, test=0.1)[:50].tolist())"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert other.stdout.strip() == str(first[:50].tolist())
    shares = np.bincount(first, minlength=3) / len(first)
    np.testing.assert_allclose(shares, [0.7, 0.2, 0.1], atol=0.015)
    # A fraction grows by adding keys to a split, never by moving keys between the others.
    bigger = hashing.assign(hashing.key_hashes(keys), validation=0.3, test=0.1)
    assert np.all(bigger[first == hashing.TEST] == hashing.TEST)
    assert np.all(bigger[first == hashing.VALIDATION] == hashing.VALIDATION)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_key_keeps_its_split_when_another_row_of_its_shard_has_no_key(tmp_path, fmt):
    """data.split_key: the same customer always in the same split. A gap in the key column
    of one shard (read as floats there, whole numbers elsewhere) used to hash every key of
    that chunk as a float: its customers landed in other splits than in the shards without
    a gap, and the validation and test rows shared customers with training."""
    rows = 1200
    frame = _table(rows)
    frame["customer"] = np.arange(rows) % 300  # each customer in both shards
    frame["customer"] = frame["customer"].astype("float64")
    frame.loc[5, "customer"] = np.nan  # a gap in the first shard only
    _write_shards(frame.iloc[:600], tmp_path / "shards", shards=1, fmt=fmt)
    second = frame.iloc[600:].astype({"customer": "int64"})
    path = tmp_path / "shards" / f"part-01.{fmt}"
    second.to_parquet(path, index=False) if fmt == "parquet" else second.to_csv(path, index=False)

    data = prepare_data(
        _config(
            str(tmp_path / "shards"),
            features=["a", "b", "colour"],
            split_key="customer",
            validation=0.2,
            test=0.2,
        )
    )
    customers = {}
    for name in ("train", "validation", "test"):
        seen = [chunk["customer"] for _, chunk in getattr(data, name).raw_chunks()]
        customers[name] = set(pd.concat(seen).dropna().astype(int))
    assert sum(map(len, customers.values())) == 300  # every customer in one split only
    assert not customers["train"] & customers["validation"]
    assert not customers["train"] & customers["test"]
    assert not customers["validation"] & customers["test"]


def test_position_split_does_not_depend_on_how_a_shard_is_chunked(tmp_path):
    frame = _table(900)
    source = _write_shards(frame, tmp_path / "shards", shards=2)
    data = prepare_data(_config(source, validation=0.25))
    ids = {}
    for name in ("train", "validation"):
        split = getattr(data, name)
        small = pd.concat(frame for _, frame in split.raw_chunks(rows=37))["id"]
        large = pd.concat(frame for _, frame in split.raw_chunks(rows=10_000))["id"]
        assert small.tolist() == large.tolist()
        ids[name] = set(small)
    assert not ids["train"] & ids["validation"]
    assert ids["train"] | ids["validation"] == set(frame["id"])
    assert data.rows == {"train": len(ids["train"]), "validation": len(ids["validation"])}


def test_training_epochs_are_seeded_whole_and_batched_like_in_memory(tmp_path):
    frame = _table(1000)
    source = _write_shards(frame, tmp_path / "shards")
    data = prepare_data(
        _config(source, validation=0.2, features=["id", "a", "b"], shuffle_buffer=1024)
    )
    split = data.train

    def epoch(number: int) -> list[np.ndarray]:
        dataset = split.training_dataset(batch_size=64, shuffle_seed=5, start_epoch=number)
        batches = list(dataset.take(steps_for(split.rows, 64)))
        return [b[0][NUMERIC_INPUT].numpy()[:, 0] for b in batches]

    first, again, second = epoch(0), epoch(0), epoch(1)
    assert [len(b) for b in first] == [64] * (split.rows // 64) + [split.rows % 64]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)  # epoch 0 is the same sequence every time
    ids = np.concatenate(first)
    assert sorted(ids) == sorted(np.concatenate(second))  # every training row, once per epoch
    assert len(set(ids)) == split.rows
    assert not np.array_equal(ids, np.concatenate(second))  # ... in another order
    # Shuffled across shards, not shard after shard: the first batch mixes all three.
    shard_of = np.searchsorted(np.array([334, 667]) * 7 + 3, first[0], side="right")
    assert len(set(shard_of)) == 3


def test_a_missing_column_or_corrupt_shard_names_the_shard(tmp_path):
    frame = _table(300)
    _write_shards(frame, tmp_path / "shards")
    frame.drop(columns="b").to_parquet(tmp_path / "shards" / "part-03.parquet")
    with pytest.raises(DataError, match=r"part-03.parquet: feature column 'b' is not in the data"):
        prepare_data(_config(str(tmp_path / "shards" / "*.parquet")))
    (tmp_path / "shards" / "part-03.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"shard .*part-03.parquet cannot be read"):
        prepare_data(_config(str(tmp_path / "shards" / "*.parquet")))


def test_hidden_files_in_a_shard_directory_are_not_shards(tmp_path):
    """A killed writer's half-written file (``.tmp-...-part.parquet``) or a hidden folder's
    files are skipped, in a directory as in a glob."""
    _write_shards(_table(300), tmp_path / "shards")
    (tmp_path / "shards" / ".tmp-0a1b2c-part-03.parquet").write_bytes(b"PAR1 half")
    (tmp_path / "shards" / ".cache").mkdir()
    _table(50).to_parquet(tmp_path / "shards" / ".cache" / "part-00.parquet")
    expected = [f"part-{index:02d}.parquet" for index in range(3)]
    for source in (tmp_path / "shards", tmp_path / "shards" / "*.parquet"):
        assert [p.name for p in list_shards(str(source))] == expected


def test_a_text_value_in_a_numeric_csv_column_names_shard_and_row(tmp_path):
    frame = _table(300)
    source = _write_shards(frame, tmp_path / "shards", fmt="csv")
    bad = pd.read_csv(tmp_path / "shards" / "part-02.csv")
    bad["a"] = bad["a"].astype(object)
    bad.loc[17, "a"] = "oops"
    bad.to_csv(tmp_path / "shards" / "part-02.csv", index=False)
    with pytest.raises(DataError, match=r"part-02.csv cannot be read: .*oops"):
        prepare_data(_config(source))


def test_auto_streams_only_what_does_not_fit(tmp_path, monkeypatch):
    from toolkit.data.sources import kind_of

    source = _write_shards(_table(300), tmp_path / "shards")
    config = _config(source, streaming="auto").data
    monkeypatch.setenv("TOOLKIT_MEMORY_BUDGET_MB", "1000")
    assert kind_of(config) == "table"
    monkeypatch.setenv("TOOLKIT_MEMORY_BUDGET_MB", "0.001")
    assert kind_of(config) == "shards"


def test_a_glob_that_matches_nothing_says_so(tmp_path):
    with pytest.raises(
        DataError, match=r"^data.source glob .*\*.parquet matches no .csv or .parquet"
    ):
        list_shards(str(tmp_path / "nope" / "*.parquet"))


def test_a_file_that_is_not_a_table_says_so(tmp_path):
    (tmp_path / "rows.txt").write_text("a,b\n1,2\n")
    # Naming every extension read, compressed CSV too.
    words = re.escape(".csv (or .csv.gz/.bz2/.zst/.lz4/.xz/.zip)/.parquet")
    expected = rf"^--data .*rows.txt is not a {words} file$"
    with pytest.raises(DataError, match=expected):
        list_shards(str(tmp_path / "rows.txt"), "--data")


def test_the_reservoir_keeps_the_rows_with_the_smallest_keys_in_stream_order():
    """The sample is the ``size`` rows with the smallest of the keys the seeded generator
    draws row by row, whatever the chunking, listed per shard in stream order."""
    from toolkit.data.streaming.streamed_split import Reservoir

    rng = np.random.default_rng(3)
    shards = [pd.DataFrame({"x": rng.normal(size=rows)}) for rows in (700, 50, 1200, 400)]
    reservoir = Reservoir(300, seed=11)
    for shard, frame in enumerate(shards):
        for start in range(0, len(frame), 170):
            reservoir.update(frame.iloc[start : start + 170], shard)

    keys = np.random.default_rng(11).random(sum(map(len, shards)))
    kept = np.sort(np.argsort(keys)[:300])
    stream = [(shard, row) for shard, frame in enumerate(shards) for row in range(len(frame))]
    expected = [stream[i] for i in kept]
    got = [(shard, int(row)) for shard, rows in reservoir.rows() for row in rows.index]
    assert got == expected
    assert [shards[shard]["x"].iloc[row] for shard, row in expected] == pytest.approx(
        np.concatenate([rows["x"].to_numpy() for _, rows in reservoir.rows()])
    )


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("column", ["a", "target"])
def test_an_infinite_value_is_named_before_training(tmp_path, streaming, column):
    # An inf became a NaN loss in the first epoch and a failed run, with nothing naming it.
    # Streamed, the training split's rows are checked as they are read: some of the 30 are.
    frame = _table(300)
    frame.loc[:29, column] = -np.inf if column == "a" else np.inf
    frame.to_csv(tmp_path / "data.csv", index=False)
    config = _config(str(tmp_path / "data.csv"), streaming=streaming)
    with pytest.raises(DataError, match=rf"column '{column}' has infinite values \(rows? \d"):
        prepare_data(config)


@pytest.mark.parametrize("value", ["lots", "-5", "0", "inf", "nan"])
def test_a_memory_budget_that_is_not_a_positive_number_is_a_data_error(
    tmp_path, monkeypatch, value
):
    """TOOLKIT_MEMORY_BUDGET_MB=lots was a ValueError traceback (exit 1) from float()."""
    from toolkit.data.sources import kind_of

    config = _config(_write_shards(_table(40), tmp_path / "shards"), streaming="auto").data
    monkeypatch.setenv("TOOLKIT_MEMORY_BUDGET_MB", value)
    with pytest.raises(DataError) as caught:
        kind_of(config)
    assert str(caught.value) == (
        f"TOOLKIT_MEMORY_BUDGET_MB must be a positive number of megabytes, got {value!r}"
    )


def test_a_bad_memory_budget_stops_train_with_one_line_and_no_run(tmp_path):
    source = _write_shards(_table(40), tmp_path / "shards")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(tiny_config(data={"source": source})))
    env = {"TOOLKIT_MEMORY_BUDGET_MB": "lots"}
    done = run_cli("train", tmp_path / "c.yaml", "--output-dir", tmp_path / "out", env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "toolkit: error: TOOLKIT_MEMORY_BUDGET_MB must be a positive number of megabytes, "
        "got 'lots'"
    ]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("column", ["a", "target"])
def test_an_infinite_value_in_hashed_held_out_rows_is_named_before_training(tmp_path, column):
    # Only training rows were checked: an inf in a validation or test row made that split's
    # loss and every metric NaN, and metrics.json held nulls for a run marked completed.
    frame = _table(300)
    codes = hashing.assign(hashing.key_hashes(frame["id"]), validation=0.2, test=0.1)
    held_out = np.flatnonzero(codes == hashing.VALIDATION)[:3]
    frame.loc[held_out, column] = np.inf
    frame.to_csv(tmp_path / "data.csv", index=False)
    config = _config(str(tmp_path / "data.csv"), **_id_features(split_key="id", test=0.1))
    rows = ", ".join(str(position + 1) for position in held_out)  # row 1 is the first
    with pytest.raises(
        DataError,
        match=rf"^data.source [^ ]*data.csv: (feature|target) column '{column}' has infinite "
        rf"values \(rows {rows}\)",
    ):
        prepare_data(config)


@pytest.mark.parametrize("split", ["validation", "test"])
def test_an_infinite_value_in_a_held_out_file_is_named_before_training(tmp_path, split):
    _table(300).to_csv(tmp_path / "train.csv", index=False)
    held = _table(100, seed=1)
    held.loc[7, "target"] = -np.inf
    held.to_csv(tmp_path / "held.csv", index=False)
    other = "test" if split == "validation" else "validation"
    _table(100, seed=2).to_csv(tmp_path / "other.csv", index=False)
    config = _config(
        str(tmp_path / "train.csv"),
        **{split: str(tmp_path / "held.csv"), other: str(tmp_path / "other.csv")},
    )
    with pytest.raises(
        DataError,
        match=rf"^data.{split} [^ ]*held.csv: target column 'target' has infinite values "
        r"\(row 8\)",
    ):
        prepare_data(config)


def test_position_hashes_depend_on_the_shard_and_many_small_shards_split_by_the_fractions(
    tmp_path,
):
    # pandas ignores hash_array's key for numbers: row i of every shard had one hash, so
    # 20 positions decided the split of 200 shards (validation 0.2 held 35% of the rows).
    assert (
        hashing.position_hashes("part-000.csv", 0, 50)
        != hashing.position_hashes("part-001.csv", 0, 50)
    ).all()
    frame = _table(4000)
    source = _write_shards(frame, tmp_path / "shards", shards=200, fmt="csv")
    data = prepare_data(_config(source, **_id_features(validation=0.2, test=0.1)))
    shares = [split.rows / 4000 for split in (data.train, data.validation, data.test)]
    # Binomial standard deviations of 0.007 and 0.005: four of them either way.
    assert shares == pytest.approx([0.7, 0.2, 0.1], abs=0.03), shares


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("column", ["a", "target"])
def test_a_number_beyond_float32s_range_is_named_before_training(tmp_path, streaming, column, fmt):
    # 1e300 is finite in a float64 Parquet column and infinite as the model's float32 input.
    # In memory it was refused; streamed, it passed the check for infinities, made a std of
    # inf in preprocessing.json and the loss NaN: a failed run advising a lower learning rate
    # (for a feature), or a "completed" run whose metrics.json held nulls. In memory, a
    # feature was cast to float32 before the check and called "infinite": both now say the
    # same.
    frame = _table(300)
    frame.loc[[4, 200], column] = [1e300, -1e39]
    assert np.isfinite(frame[column].to_numpy()[[4, 200]]).all()
    path = tmp_path / f"data.{fmt}"
    frame.to_parquet(path, index=False) if fmt == "parquet" else frame.to_csv(path, index=False)
    config = _config(str(path), streaming=streaming)
    if streaming:
        # Rows 5 and 201 fall in the training split (hashed by position), so the one pass
        # meets them; a held-out row is named by the same check (see the next test).
        codes = hashing.assign(
            hashing.position_hashes(f"data.{fmt}", 0, 300), validation=0.25, test=None
        )
        assert codes[[4, 200]].tolist() == [hashing.TRAIN, hashing.TRAIN]
    with pytest.raises(
        DataError,
        match=rf"column '{column}' has values beyond float32's range of \+-3\.4e38, which the "
        r"model computes in \(rows 5, 201\)",
    ):
        prepare_data(config)


@pytest.mark.parametrize("column", ["a", "target"])
def test_a_number_beyond_float32s_range_in_held_out_rows_is_named(tmp_path, column):
    frame = _table(300)
    codes = hashing.assign(hashing.key_hashes(frame["id"]), validation=0.2, test=0.1)
    held_out = np.flatnonzero(codes == hashing.VALIDATION)[:2]
    frame.loc[held_out, column] = 1e300
    frame.to_parquet(tmp_path / "data.parquet", index=False)
    config = _config(str(tmp_path / "data.parquet"), **_id_features(split_key="id", test=0.1))
    rows = ", ".join(str(position + 1) for position in held_out)
    with pytest.raises(
        DataError,
        match=rf"column '{column}' has values beyond float32's range of \+-3.4e38, which the "
        rf"model computes in \(rows {rows}\)",
    ):
        prepare_data(config)


@pytest.mark.parametrize("streaming", [True, False, "auto"])
def test_a_folder_of_dated_sub_folders_of_shards_is_a_table(tmp_path, streaming):
    # A daily export (export/2026-12-01/part-0.parquet, ..., and Spark's _SUCCESS) was taken
    # for a folder of images by class: "streaming: true needs CSV/Parquet files", or, with
    # streaming: auto, "model.body 'dense' takes vectors; images need model.flatten: true".
    frame = _table(900)
    root = tmp_path / "export"
    for day, start in enumerate(range(0, 900, 300), start=1):
        (root / f"2026-12-0{day}").mkdir(parents=True)
        part = frame.iloc[start : start + 300]
        part.to_parquet(root / f"2026-12-0{day}" / f"day{day}.parquet", index=False)
    (root / "_SUCCESS").touch()
    (root / "2026-12-01" / ".day1.parquet.crc").write_bytes(b"\0")

    # The same folder as the validation set: the training split is then every row.
    config = _config(str(root), **_id_features(streaming=streaming, validation=str(root)))
    assert config.data.input_kind == "table"
    data = prepare_data(config)
    assert data.rows == {"train": 900, "validation": 900}
    b = data.spec.numeric[1]
    np.testing.assert_allclose([b.mean, b.std], [frame["b"].mean(), frame["b"].std(ddof=0)])


def test_a_folder_whose_sub_folders_hold_images_beside_a_csv_is_still_one_of_images(tmp_path):
    from toolkit.config.schema import holds_table_shards

    (tmp_path / "pets" / "cat").mkdir(parents=True)
    (tmp_path / "pets" / "cat" / "000.png").write_bytes(b"")
    (tmp_path / "pets" / "labels.csv").write_text("file,target\n")
    assert not holds_table_shards(str(tmp_path / "pets"))
    assert not holds_table_shards(str(tmp_path / "missing"))


def test_shards_with_the_same_file_name_in_dated_folders_split_by_the_fractions(tmp_path):
    # Rows were hashed with their shard's file name: 30 days of export/<day>/part-0.csv, of
    # 20 rows each, all split like one file, position by position; that file's 20 positions
    # put 1 row of every day in validation, 5% of the rows for validation: 0.2.
    frame = _table(600)
    for day in range(30):
        folder = tmp_path / "export" / f"2026-11-{day + 1:02d}"
        folder.mkdir(parents=True)
        frame.iloc[day * 20 : (day + 1) * 20].to_csv(folder / "part-0.csv", index=False)
    data = prepare_data(_config(str(tmp_path / "export"), **_id_features(validation=0.2)))
    assert sum(data.rows.values()) == 600
    # A binomial share of 600 rows: sd 1.6 points; 4 sd either side.
    assert 0.2 - 0.065 < data.rows["validation"] / 600 < 0.2 + 0.065
    assert data.source["split"] == "hash of shard path and row position"


def _spark_output(frame: pd.DataFrame, out):
    """``frame`` as 3 Parquet shards in ``out``, with a copy of its rows 100-199 in a task
    attempt left under ``_temporary/`` by a Spark job killed mid-write."""
    _write_shards(frame, out)
    attempt = out / "_temporary" / "0" / "_temporary" / "attempt_0001_m_000001_1"
    attempt.mkdir(parents=True)
    frame.iloc[100:200].to_parquet(attempt / "part-01.parquet", index=False)
    return out


def test_a_spark_jobs_temporary_folder_and_markers_are_not_shards(tmp_path):
    # Spark writes a job's attempts under _temporary/ and moves them out when a task commits;
    # a job killed between (or still running) leaves copies there, which were read as shards
    # (the committed rows twice) by train, predict and evaluate. Paths starting with "_" are
    # skipped, as Spark, Hadoop and Arrow's datasets skip them.
    out = _spark_output(_table(300), tmp_path / "out")
    (out / "_SUCCESS").touch()
    assert [p.name for p in list_shards(str(out))] == [f"part-{i:02d}.parquet" for i in range(3)]
    # The same folder as the validation set: the training split is then every row, once.
    config = _config(str(out), **_id_features(validation=str(out)))
    assert config.data.input_kind == "table"
    assert prepare_data(config).rows == {"train": 300, "validation": 300}


def test_a_recursive_glob_skips_what_a_directory_listing_skips(tmp_path):
    # out/**/*.parquet read Spark's _temporary/ attempt (100 rows twice) and a hidden
    # half-written file, which naming the folder `out` skips: the same folder gave two counts.
    frame = _table(300)
    out = _spark_output(frame, tmp_path / "out")
    frame.iloc[:50].to_parquet(out / "_partial.parquet", index=False)
    names = [f"part-{i:02d}.parquet" for i in range(3)]
    assert [p.name for p in list_shards(f"{out}/**/*.parquet")] == names
    assert [p.name for p in list_shards(f"{out}/*.parquet")] == names
    assert list_shards(f"{out}/**/*.parquet") == list_shards(str(out))
    # A folder the pattern names, or a name it asks for, is read even when it starts with "_".
    staging = tmp_path / "_staging"
    _write_shards(frame, staging)
    assert len(list_shards(f"{staging}/*.parquet")) == 3
    assert [p.name for p in list_shards(f"{out}/_*.parquet")] == ["_partial.parquet"]
    config = _config(f"{out}/**/*.parquet", **_id_features(validation=0.2))
    assert sum(prepare_data(config).rows.values()) == 300


def test_streamed_cross_validation_folds_read_the_rows_they_counted(tmp_path):
    # Without data.split_key, a fold was hashed from the training rows of a chunk as if they
    # were one contiguous run of positions: the pass that counted the folds and the reads
    # that train on them disagreed, and every trial of `tune` with cv_folds failed ("Input
    # dataset was expected to contain 423 elements but contained only 352").
    from toolkit.data.streaming.folds import streamed_folds

    source = _write_shards(_table(1200), tmp_path / "shards")
    config = _config(source, **_id_features(validation=0.2, test=0.1))
    prepared = prepare_data(config)

    def rows_of(split) -> set[tuple[int, int]]:
        return {
            (piece.shard, int(row)) for piece, frame in split.raw_chunks() for row in frame.index
        }

    training = rows_of(prepared.train)
    assert len(training) == prepared.rows["train"]
    held = []
    for fold in streamed_folds(config, prepared, 3):
        validation, train = rows_of(fold.validation), rows_of(fold.train)
        assert (len(validation), len(train)) == (fold.validation.rows, fold.train.rows)
        assert validation.isdisjoint(train) and validation | train == training
        held.append(validation)
    assert set.union(*held) == training and sum(map(len, held)) == len(training)
