"""A streamed held-out split small enough to be held whole by the one pass (fewer than twice
``SAMPLE_ROWS`` rows) is scored after training from what the pass kept, not read from every
shard again; its chunks, its sample and its metrics are those of a reading of the shards."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from tests.helpers import tiny_config
from toolkit.config.loading import validate_config
from toolkit.data.prepared import prepare_data
from toolkit.data.streaming.reader import Rows
from toolkit.data.streaming.streamed_split import SAMPLE_ROWS, Reservoir

ROWS = 230_000  # validation 0.5: about 115,000 held-out rows, between SAMPLE_ROWS and twice it


def _shards(directory, fmt: str) -> str:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=ROWS),
            "b": rng.exponential(2.0, ROWS),
            "colour": rng.choice(["red", "green", "blue"], ROWS),
        }
    )
    frame["target"] = 2.0 * frame["b"] - frame["a"] + rng.normal(0.0, 0.5, ROWS)
    directory.mkdir()
    bounds = np.linspace(0, ROWS, 4).astype(int)
    for index in range(3):
        part = frame.iloc[bounds[index] : bounds[index + 1]]
        path = directory / f"part-{index}.{fmt}"
        if fmt == "parquet":
            part.to_parquet(path, row_group_size=20_000, index=False)
        else:
            part.to_csv(path, index=False)
    return str(directory)


def _read(split) -> list:
    """The split's chunks as reading its shards gives them (the path before: ``encoded``)."""
    return [arrays for piece in split.pieces for arrays in split.encoded(piece)]


def _reservoir_sample(split, seed: int):
    """The ``SAMPLE_ROWS`` sample as the one pass drew it before: a reservoir fed the split's
    rows chunk by chunk, cut, then encoded."""
    reservoir = Reservoir(SAMPLE_ROWS, seed)
    for piece in split.pieces:
        shard = split.shard_set.shards[piece.shard].name
        for start, batch in split.shard_set.batches(piece, threads=True):
            rows = Rows(batch, start)
            part = rows.filter(split.selection.codes(rows, shard) == split.selection.code)
            if len(part):
                reservoir.update(part, piece.shard)
    return split.encode_sample(reservoir.parts())


def _same(left, right) -> None:
    features, target = left
    assert features.keys() == right[0].keys()
    for name in features:
        assert features[name].dtype == right[0][name].dtype
        np.testing.assert_array_equal(features[name], right[0][name])
    np.testing.assert_array_equal(target, right[1])


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_held_out_split_held_whole_is_scored_without_reading_the_shards_again(tmp_path, fmt):
    import keras

    from toolkit.evaluation.evaluate import evaluate_chunks, evaluate_split
    from toolkit.models.builder import build_model

    source = _shards(tmp_path / "shards", fmt)
    raw = tiny_config(seed=0)
    raw["data"] = {"source": source, "streaming": True, "validation": 0.5}
    config = validate_config(raw)
    data = prepare_data(config)
    validation = data.validation
    assert SAMPLE_ROWS < validation.rows < 2 * SAMPLE_ROWS

    read = _read(validation)
    held = list(validation.chunks())
    assert [len(y) for _, y in held] == [len(y) for _, y in read]  # the same chunks
    for mine, theirs in zip(held, read, strict=True):
        _same(mine, theirs)
    _same(validation.sample(SAMPLE_ROWS, seed=0), _reservoir_sample(validation, 0))

    shutil.rmtree(tmp_path / "shards")  # evaluating the held split reads no shard
    keras.utils.set_random_seed(0)
    model = build_model(config, data.spec, train_size=data.train.rows)
    # Both scored after the deletion: TensorFlow's rounding of the same rows moved in the
    # ninth digit across it (measured, both ways of reading alike).
    expected, rows, _ = evaluate_chunks(model, read, data.spec, config)
    assert rows == validation.rows
    scores, rows, _ = evaluate_split(model, validation, data.spec, config, seed=0)
    assert rows == validation.rows
    assert scores == expected
