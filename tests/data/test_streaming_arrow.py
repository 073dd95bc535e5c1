"""The pass before training works on Arrow batches (``Rows``), not pandas frames: the same
statistics, sample and errors as the frames it replaced, computed independently here from
the frames ``batch.to_pandas()`` gives."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tests.helpers import tiny_config
from toolkit.config.loading import validate_config
from toolkit.data.streaming.reader import Rows, as_frame, prefetched
from toolkit.data.streaming.statistics import StatisticsAccumulator
from toolkit.data.streaming.streamed_split import Reservoir
from toolkit.errors import DataError


def _batches(rows: int = 900, size: int = 200, seed: int = 0) -> list[pa.RecordBatch]:
    """Columns of every kind the pass meets: floats with NaN and nulls, integers with nulls,
    booleans, text with nulls, dictionary-encoded text, and a regression target."""
    rng = np.random.default_rng(seed)
    x = rng.normal(3.0, 2.0, rows)
    x[rng.random(rows) < 0.1] = np.nan
    count = pa.array(rng.integers(-5, 50, rows), mask=rng.random(rows) < 0.2)
    colour = pa.array(rng.choice(["red", "green", "blue"], rows), mask=rng.random(rows) < 0.1)
    table = pa.table(
        {
            "x": pa.array(x, mask=rng.random(rows) < 0.05),
            "count": count,
            "flag": pa.array(rng.random(rows) < 0.3),
            "colour": colour,
            "shade": pa.array(rng.choice(["dark", "light"], rows)).dictionary_encode(),
            "target": rng.normal(size=rows),
        }
    )
    return table.to_batches(max_chunksize=size)


def _accumulator(features=("x", "count", "flag", "colour", "shade")):
    raw = tiny_config()
    raw["data"] = {"source": "unused.parquet", "target": "target"}
    config = validate_config(raw).data
    return StatisticsAccumulator(config, "regression", list(features), {"colour", "shade"})


def test_statistics_of_rows_equal_those_of_their_frames():
    from_rows, from_frames = _accumulator(), _accumulator()
    start = 0
    for batch in _batches():
        keep = np.random.default_rng(start).random(batch.num_rows) < 0.8
        rows = Rows(batch, start).filter(keep)
        frame = as_frame(batch, start)[keep]
        from_rows.update(rows, what="shard")
        from_frames.update(frame, what="shard")
        start += batch.num_rows
    assert from_rows.spec() == from_frames.spec()
    assert from_rows.missing == from_frames.missing
    assert from_rows.rows == from_frames.rows
    # And both are right: NumPy on the rows kept.
    numbers = pd.concat(
        as_frame(batch, 200 * i)[np.random.default_rng(200 * i).random(batch.num_rows) < 0.8]
        for i, batch in enumerate(_batches())
    )
    x = numbers["x"].to_numpy(dtype=float)
    feature = from_rows.spec().numeric[0]
    np.testing.assert_allclose([feature.mean, feature.std], [np.nanmean(x), np.nanstd(x)])
    assert feature.missing == int(np.isnan(x).sum())


def test_a_bad_value_in_rows_is_named_by_its_position_in_the_shard():
    batch = _batches()[1]
    values = batch.column(0).to_numpy(zero_copy_only=False).copy()
    values[37] = np.inf
    batch = batch.set_column(0, "x", pa.array(values))
    rows = Rows(batch, 200).filter(np.arange(batch.num_rows) != 3)
    with pytest.raises(
        DataError, match=r"^shard: feature column 'x' has infinite values \(row 238\)"
    ):
        _accumulator().update(rows, what="shard")
    with pytest.raises(
        DataError, match=r"^held: feature column 'x' has infinite values \(row 238\)"
    ):
        _accumulator().check_held_out(rows, what="held")
    text = _batches()[1].set_column(1, "count", pa.array(["1"] * 150 + ["many"] + ["2"] * 49))
    with pytest.raises(DataError, match=r"feature column 'count' must be numeric, but row 351"):
        _accumulator().update(Rows(text, 200), what="shard")


def test_the_reservoir_samples_rows_as_it_samples_their_frames():
    """The same seeded keys pick the same rows, whether fed Arrow rows or frames."""
    of_rows, of_frames = Reservoir(250, seed=4), Reservoir(250, seed=4)
    start = 0
    for shard, batch in enumerate(_batches(rows=3000, size=300)):
        keep = np.random.default_rng(shard).random(batch.num_rows) < 0.7
        of_rows.update(Rows(batch, start).filter(keep), shard // 3)
        of_frames.update(as_frame(batch, start)[keep], shard // 3)
        start = 0 if shard % 3 == 2 else start + batch.num_rows
    got, expected = of_rows.rows(), of_frames.rows()
    assert [shard for shard, _ in got] == [shard for shard, _ in expected]
    for (_, rows), (_, frame) in zip(got, expected, strict=True):
        assert rows.index.tolist() == frame.index.tolist()
        pd.testing.assert_frame_equal(rows, frame, check_dtype=False)


def test_prefetched_items_come_in_order_and_an_error_after_them():
    def items():
        yield from range(5)
        raise DataError("shard 5 cannot be read")

    got = []
    with pytest.raises(DataError, match="shard 5"):
        for item in prefetched(items()):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_a_consumer_that_stops_early_stops_the_reader_and_closes_it():
    closed = threading.Event()

    def items():
        try:
            yield from range(10**9)
        finally:
            closed.set()

    stream = prefetched(items())
    assert next(stream) == 0
    stream.close()
    assert closed.wait(5)
    assert not any(t.name == "toolkit-prefetch" for t in threading.enumerate())


def test_a_bad_chunk_stops_the_reading_thread_while_its_error_is_still_held(tmp_path):
    """The pass's reader thread stops when a chunk fails, not when the traceback (which holds
    the pass's frames) is freed: reading ahead stops, and the shard is closed, at once."""
    from toolkit.data.prepared import prepare_data

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=4000), "target": rng.normal(size=4000)})
    frame.loc[100, "a"] = np.inf
    directory = tmp_path / "shards"
    directory.mkdir()
    for index in range(4):
        part = frame.iloc[index * 1000 : (index + 1) * 1000]
        part.to_parquet(directory / f"part-{index}.parquet", row_group_size=100, index=False)
    raw = tiny_config()
    raw["data"] = {"source": str(directory), "streaming": True, "validation": 0.5}
    with pytest.raises(DataError, match="infinite values") as caught:
        prepare_data(validate_config(raw))
    assert caught.value.__traceback__ is not None  # the frames are still referenced
    assert not any(t.name == "toolkit-prefetch" for t in threading.enumerate())
