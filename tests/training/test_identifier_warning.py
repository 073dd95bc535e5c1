"""A text column with a different value in every training row (an id, a date) taken in as a
categorical feature by ``data.features: null``: the run completes with a warning naming it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

import toolkit
from tests.helpers import tiny_config

# The warnings come from the data, before the first epoch: one epoch is all they need.
ONE_EPOCH = {"epochs": 1, "batch_size": 16}


def _table(path, n: int = 120) -> str:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "id": [f"customer-{i:05d}" for i in range(n)],
            "visit": pd.date_range("2024-01-01", periods=n).strftime("%Y-%m-%d"),
            "colour": rng.choice(["red", "green", "blue"], size=n),
            "x": rng.normal(size=n),
        }
    )
    frame["target"] = 2.0 * frame["x"] + rng.normal(size=n)
    frame.to_csv(path, index=False)
    return str(path)


def test_identifier_columns_are_named_in_the_runs_warnings(tmp_path):
    config = tiny_config(data={"source": _table(tmp_path / "data.csv")}, training=ONE_EPOCH)
    config["data"].pop("synthetic")
    run = toolkit.train(config, output_dir=tmp_path / "runs", verbose=0)
    assert run.status == "completed"
    named = [w for w in run.warnings if "has a different value in each of the 90" in w]
    assert [w.split("'")[1] for w in named] == ["id", "visit"]  # not colour
    assert all("leave it out with data.features" in w for w in named)

    config["data"]["features"] = ["colour", "x"]
    run = toolkit.train(config, output_dir=tmp_path / "runs", verbose=0)
    assert run.warnings == []


def test_a_numeric_row_number_is_named_and_distinct_numbers_are_not(tmp_path):
    """A whole-number id column (1000..1000+n-1, shuffled) was taken in as a numeric feature
    with no word: the text-id warning only looks at categories. A column of distinct whole
    numbers that is not a range (an amount in cents), and one of floats, are not named."""
    n = 120
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "row_id": rng.permutation(np.arange(1000, 1000 + n)),
            "cents": rng.choice(np.arange(10_000), size=n, replace=False),
            "x": rng.normal(size=n),
        }
    )
    frame["target"] = 2.0 * frame["x"] + rng.normal(size=n)
    frame.to_csv(tmp_path / "data.csv", index=False)
    config = tiny_config(data={"source": str(tmp_path / "data.csv")}, training=ONE_EPOCH)
    config["data"].pop("synthetic")
    run = toolkit.train(config, output_dir=tmp_path / "runs", verbose=0)
    assert run.status == "completed"
    assert run.warnings == [
        "column 'row_id' holds each whole number from 1000 to 1119 once (a row number or an "
        "id?): as a feature the model reads it as a quantity, can learn the row order, and new "
        "rows' ids lie outside what it saw; leave it out with data.features"
    ]
    record = json.loads((run.path / "run.json").read_text())
    assert record["warnings"] == run.warnings

    config["data"]["features"] = ["cents", "x"]
    assert toolkit.train(config, output_dir=tmp_path / "runs", verbose=0).warnings == []


def test_an_identifier_beyond_max_tokens_is_named_too_streamed_or_not(tmp_path):
    """An id column has more values than any vocabulary cap (data.max_tokens, 10,000 by
    default) as soon as the table is large: the values left out of the vocabulary count
    among its distinct values, so the warning still names it. A column with a repeat among
    its values and the same cap is not named."""
    path = _table(tmp_path / "data.csv", n=300)
    frame = pd.read_csv(path)
    # Two visits a day: not an identifier, though it too has more than 40 values.
    frame["visit"] = np.repeat(frame["visit"].to_numpy()[: len(frame) // 2], 2)
    frame.to_csv(path, index=False)
    assert frame["id"].nunique() == len(frame) and frame["visit"].nunique() == len(frame) // 2
    for streaming in (False, True):
        config = tiny_config(
            data={"source": path, "max_tokens": 40, "streaming": streaming}, training=ONE_EPOCH
        )
        config["data"].pop("synthetic")
        config["data"]["validation"] = 0.25  # a share of rows: the rest is training
        run = toolkit.train(config, output_dir=tmp_path / f"runs-{streaming}", verbose=0)
        assert run.status == "completed"
        rows = json.loads((run.path / "data_summary.json").read_text())["rows"]["train"]
        named = [w.split("'")[1] for w in run.warnings if "has a different value in each" in w]
        assert named == ["id"], (streaming, run.warnings)
        assert f"each of the {rows} training rows" in run.warnings[0]


def _shards(directory, rows: int, shards: int = 4) -> str:
    """Parquet shards of ``rows`` rows: an id, a code seen twice per value, a colour, x."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "id": [f"order-{i:07d}" for i in rng.permutation(rows)],
            "pair": [f"code-{i // 2:07d}" for i in rng.permutation(rows)],
            "colour": rng.choice(["red", "green", "blue"], size=rows),
            "x": rng.normal(size=rows),
        }
    )
    frame["target"] = frame["x"] + rng.normal(size=rows)
    frame.loc[rng.random(rows) < 0.02, "id"] = None  # gaps are not values
    directory.mkdir()
    bounds = np.linspace(0, rows, shards + 1).astype(int)
    for index in range(shards):
        part = frame.iloc[bounds[index] : bounds[index + 1]]
        part.to_parquet(directory / f"part-{index}.parquet", row_group_size=1000, index=False)
    return str(directory / "*.parquet")


def test_a_streamed_identifier_beyond_the_counted_values_is_named(tmp_path):
    """Streamed, a column with more distinct values than are counted (a million; 500 here)
    was pruned to its commonest and never named as an id. Its distinct values are now
    estimated, in fixed memory: an id is named, a column of values seen twice each is not."""
    import pyarrow.parquet as pq

    from toolkit.config.loading import validate_config
    from toolkit.data.streaming.files import list_shards
    from toolkit.data.streaming.statistics import StatisticsAccumulator
    from toolkit.training.train import _identifier_warnings

    source = _shards(tmp_path / "shards", rows=20_000)
    config = tiny_config(data={"source": source, "streaming": True, "max_tokens": 40})
    config["data"].pop("synthetic")
    data = validate_config(config).data
    statistics = StatisticsAccumulator(
        data,
        "regression",
        ["id", "pair", "colour", "x"],
        {"id", "pair", "colour"},
        counted_tokens=500,
    )
    for shard in list_shards(source):
        for batch in pq.ParquetFile(shard).iter_batches(batch_size=1000):
            statistics.update(batch.to_pandas(), what=str(shard))
    assert sorted(statistics.approximate) == ["id", "pair"]  # both outgrew the counts
    warnings = _identifier_warnings(statistics.spec(), statistics.rows)
    assert [w.split("'")[1] for w in warnings] == ["id"], warnings
    assert warnings[0].startswith("column 'id' has a different value in each of the 20000 ")


def test_a_numeric_row_number_is_named_streamed_as_in_memory(tmp_path):
    """Streamed, a whole-number id column was taken in with no word, while the same table in
    memory named it. Across two shards, the id (a permutation of 500..619) is named alike both
    ways; a column with the count, minimum, maximum, sum and sum of squares of a range but a
    repeat in it (1..120 with 5, 6, 7, 10 swapped for 4, 7, 8, 9) is named by neither."""
    n = 120
    rng = np.random.default_rng(3)
    near = np.arange(1, n + 1)
    near[[4, 5, 6, 9]] = [4, 7, 8, 9]
    assert near.sum() == np.arange(1, n + 1).sum()
    assert (near**2).sum() == (np.arange(1, n + 1) ** 2).sum()
    assert np.unique(near).size < n and near.min() == 1 and near.max() == n
    frame = pd.DataFrame(
        {
            "row_id": rng.permutation(np.arange(500, 500 + n)),
            "near": rng.permutation(near),
            "x": rng.normal(size=n),
        }
    )
    frame["target"] = 2.0 * frame["x"] + rng.normal(size=n)
    shards = tmp_path / "shards"
    shards.mkdir()
    frame.iloc[:70].to_csv(shards / "part-0.csv", index=False)
    frame.iloc[70:].to_csv(shards / "part-1.csv", index=False)
    expected = [
        "column 'row_id' holds each whole number from 500 to 619 once (a row number or an "
        "id?): as a feature the model reads it as a quantity, can learn the row order, and new "
        "rows' ids lie outside what it saw; leave it out with data.features"
    ]
    for streaming in (False, True):
        config = tiny_config(
            data={"source": str(shards), "streaming": streaming}, training=ONE_EPOCH
        )
        config["data"].pop("synthetic")
        run = toolkit.train(config, output_dir=tmp_path / f"runs-{streaming}", verbose=0)
        assert run.status == "completed"
        record = json.loads((run.path / "run.json").read_text())
        assert record["data"].get("streaming", False) is streaming
        assert run.warnings == expected, (streaming, run.warnings)
