"""An in-memory split is held once: its tensors share the split's buffers instead of copying
them (a copy beside the NumPy arrays was most of the in-memory path's peak memory)."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.data.in_memory import InMemorySplit
from toolkit.data.memory import ALIGNMENT, aligned_empty


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (1001, 20)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8])
def test_aligned_empty_starts_on_the_boundary_with_the_shape_asked(shape, dtype):
    values = aligned_empty(shape, dtype)
    assert values.ctypes.data % ALIGNMENT == 0
    assert values.shape == shape and values.dtype == dtype and values.flags.c_contiguous
    values[...] = 1  # writable, and as long as asked
    assert values.sum() == np.prod(shape)


@pytest.mark.parametrize("aligned", [True, False])
def test_datasets_share_the_splits_numeric_buffers(aligned):
    rng = np.random.default_rng(0)
    expected = rng.normal(size=(1000, 4)).astype(np.float32)
    numeric = aligned_empty(expected.shape, np.float32) if aligned else expected.copy()
    numeric[...] = expected
    if not aligned:  # as NumPy allocates: 16 bytes past the boundary, here forced
        numeric = np.empty(expected.size * 4 + 16, np.uint8)[16:].view(np.float32)
        numeric = numeric.reshape(expected.shape)
        numeric[...] = expected
    tokens = np.array(["a", "b"] * 500, dtype=object)[:, None]
    target = expected[:, :1] * 2
    split = InMemorySplit({"numeric": numeric, "category": tokens}, target)

    dataset = split.training_dataset(batch_size=64, shuffle_seed=0)
    features, _ = split._held_by_tensorflow()
    held = split.features["numeric"]
    # One buffer for the split and its tensor, whatever the alignment it came with.
    assert np.shares_memory(np.asarray(features["numeric"]), held)
    assert not held.flags.writeable  # the tensor's data cannot be changed behind its back
    if aligned:
        assert np.shares_memory(held, numeric)  # not even copied to be aligned
    np.testing.assert_array_equal(held, expected)
    np.testing.assert_array_equal(split.target, expected[:, :1] * 2)
    assert split.features["category"] is tokens  # strings stay Python objects

    # Samples, chunks and the batches still hold the same rows.
    rows = np.concatenate([chunk[0]["numeric"] for chunk in split.chunks(300)])
    np.testing.assert_array_equal(rows, expected)
    # The first epoch (16 batches, the last of 40 rows) is a permutation of the rows.
    seen = np.concatenate([x["numeric"].numpy() for x, _ in dataset.take(16)])
    np.testing.assert_array_equal(seen[np.lexsort(seen.T)], expected[np.lexsort(expected.T)])
    validation = np.concatenate([x["numeric"].numpy() for x, _ in split.dataset(batch_size=64)])
    np.testing.assert_array_equal(validation, expected)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_shards_with_their_columns_in_another_order_load_by_name(tmp_path, fmt):
    """A shard whose columns come in another order (a CSV export's header) was refused in
    memory ("unlike the first shard") though streaming reads it by name: the same shards
    failed or trained depending on data.streaming. Loaded whole, they are aligned by name."""
    import pandas as pd

    from tests.helpers import tiny_config
    from toolkit.config.loading import validate_config
    from toolkit.data.prepared import prepare_data

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(5.0, 2.0, 300), "b": rng.exponential(3.0, 300)})
    frame["target"] = frame["a"] - frame["b"] + rng.normal(size=300)
    (tmp_path / "shards").mkdir()
    parts = [frame.iloc[:150], frame.iloc[150:][["target", "b", "a"]]]  # reordered
    for index, part in enumerate(parts):
        path = tmp_path / "shards" / f"part-{index}.{fmt}"
        part.to_csv(path, index=False) if fmt == "csv" else part.to_parquet(path, index=False)
    held_out = tmp_path / "validation.csv"
    frame.head(40).to_csv(held_out, index=False)
    raw = tiny_config()
    raw["data"] = {
        "source": str(tmp_path / "shards"),
        "validation": str(held_out),  # every shard row is training data
        "streaming": False,
    }
    data = prepare_data(validate_config(raw))
    assert data.train.rows == len(frame)
    means = {feature.name: feature.mean for feature in data.spec.numeric}
    assert means["a"] == pytest.approx(frame["a"].mean(), rel=1e-6)
    assert means["b"] == pytest.approx(frame["b"].mean(), rel=1e-6)
    assert data.spec.target.mean == pytest.approx(frame["target"].mean(), rel=1e-6)


def test_a_csv_shard_with_a_header_and_no_rows_is_allowed_in_memory_as_streamed(tmp_path):
    """A writer may leave a header-only CSV shard for an empty partition: streamed, and as an
    empty Parquet shard, it is read as no rows; loaded whole it stopped the run ("has no
    rows"). Its text-typed empty columns must not turn the numbers into text either."""
    import pandas as pd

    from tests.helpers import tiny_config
    from toolkit.config.loading import validate_config
    from toolkit.data.prepared import prepare_data

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(5.0, 2.0, 200), "target": rng.normal(size=200)})
    (tmp_path / "shards").mkdir()
    frame.to_csv(tmp_path / "shards" / "part-0.csv", index=False)
    frame.iloc[:0].to_csv(tmp_path / "shards" / "part-1.csv", index=False)  # header only
    held_out = tmp_path / "validation.csv"
    frame.head(40).to_csv(held_out, index=False)
    for streaming in (False, True):
        raw = tiny_config()
        raw["data"] = {
            "source": str(tmp_path / "shards"),
            "validation": str(held_out),
            "streaming": streaming,
        }
        data = prepare_data(validate_config(raw))
        assert data.train.rows == len(frame)
        (feature,) = data.spec.numeric
        assert feature.mean == pytest.approx(frame["a"].mean(), rel=1e-6)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_data_error_in_a_shard_set_loaded_whole_names_the_row_within_its_shard(tmp_path, fmt):
    """Loaded whole, shards were one frame, and errors counted rows across the set ("row 68
    holds 'oops'" for row 18 of the second 50-row shard), where streaming, and the README,
    count a shard's rows within it: a user opened part-1 and found no row 68."""
    import pandas as pd

    from tests.helpers import tiny_config
    from toolkit.config.loading import validate_config
    from toolkit.data.prepared import prepare_data
    from toolkit.errors import DataError

    rng = np.random.default_rng(2)
    shards = tmp_path / "shards"
    shards.mkdir()
    paths = []
    for index in range(3):
        part = pd.DataFrame({"a": rng.normal(size=50), "target": rng.normal(size=50)})
        if index == 0:  # an empty shard first: positions count only rows that exist
            part = part.iloc[:0]
        if index == 2:
            part.loc[[3, 7], "target"] = np.nan
        path = shards / f"part-{index}.{fmt}"
        part.to_csv(path, index=False) if fmt == "csv" else part.to_parquet(path, index=False)
        paths.append(path)

    def message(**data) -> str:
        raw = tiny_config()
        raw["data"] = {"source": str(shards), "streaming": False, **data}
        with pytest.raises(DataError) as error:
            prepare_data(validate_config(raw))
        return str(error.value)

    assert f"(rows 4, 8 of {paths[2]})" in message()
    # Text in a numeric column (CSV: Parquet shards of text and numbers do not join), and an
    # infinite value, are named the same way.
    part = pd.read_csv(paths[2]) if fmt == "csv" else pd.read_parquet(paths[2])
    part["target"] = part["target"].fillna(0.0)
    if fmt == "csv":
        part["a"] = part["a"].astype(object)
        part.loc[17, "a"] = "oops"
        part.to_csv(paths[2], index=False)
        assert f"row 18 of {paths[2]} holds 'oops'" in message()
    part.loc[17, "a"] = np.inf
    part["a"] = part["a"].astype(float)
    part.to_csv(paths[2], index=False) if fmt == "csv" else part.to_parquet(paths[2], index=False)
    assert f"(row 18 of {paths[2]})" in message()
    # Rows of the first shard with rows count within it too.
    part = pd.read_csv(paths[1]) if fmt == "csv" else pd.read_parquet(paths[1])
    part.loc[0, "a"] = np.inf
    part.to_csv(paths[1], index=False) if fmt == "csv" else part.to_parquet(paths[1], index=False)
    assert f"(rows 1 of {paths[1]}; 18 of {paths[2]})" in message()


def test_a_split_builds_each_dataset_once_and_it_yields_what_a_new_one_would():
    """A sweep's trials train on one split: its datasets are built once per batch size, seed
    and first epoch (tf.data traced their functions again for every trial), and the one
    reused yields, from every new iterator, the batches a dataset built afresh yields."""
    import tensorflow as tf

    from toolkit.data.pipeline import epoch_variable, make_dataset, make_training_dataset

    rng = np.random.default_rng(1)
    numeric = rng.normal(size=(1000, 3)).astype(np.float32)
    target = rng.normal(size=(1000, 1)).astype(np.float32)
    split = InMemorySplit({"numeric": numeric.copy()}, target.copy())

    training = split.training_dataset(batch_size=64, shuffle_seed=5)
    assert split.training_dataset(batch_size=64, shuffle_seed=5) is training
    assert split.training_dataset(batch_size=32, shuffle_seed=5) is not training
    assert split.training_dataset(batch_size=64, shuffle_seed=6) is not training
    assert split.training_dataset(batch_size=64, shuffle_seed=5, start_epoch=2) is not training
    # A dataset reading a run's epoch variable is that run's: built anew.
    assert split.training_dataset(
        batch_size=64, shuffle_seed=5, epoch=epoch_variable()
    ) is not split.training_dataset(batch_size=64, shuffle_seed=5, epoch=epoch_variable())
    one_pass = split.dataset(batch_size=64)
    assert split.dataset(batch_size=64) is one_pass

    def batches(dataset, count):
        return [
            (x["numeric"].numpy(), y.numpy()) for x, y in dataset.take(count)
        ]  # 16 batches an epoch: three epochs

    fresh = make_training_dataset(
        {"numeric": tf.constant(numeric)}, tf.constant(target), batch_size=64, shuffle_seed=5
    )
    expected = batches(fresh, 48)
    for _ in range(2):  # two trials, each with its own iterator over the kept dataset
        for (x, y), (x_expected, y_expected) in zip(batches(training, 48), expected, strict=True):
            np.testing.assert_array_equal(x, x_expected)
            np.testing.assert_array_equal(y, y_expected)
    in_order = make_dataset({"numeric": numeric}, target, batch_size=64)
    for _ in range(2):
        got = batches(one_pass, 100)
        assert len(got) == 16
        for (x, y), (x_expected, y_expected) in zip(got, batches(in_order, 100), strict=True):
            np.testing.assert_array_equal(x, x_expected)
            np.testing.assert_array_equal(y, y_expected)
