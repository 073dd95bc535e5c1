"""A regression target of two values (class labels coded 0 and 1, trained with
configs/regression.yaml and another data.source) is named in run.json's warnings: the
summary line's rmse and r2 gave no hint that model.task was wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer

from tests.helpers import tiny_config
from toolkit.config.loading import validate_config
from toolkit.data.prepared import prepare_data


def _warnings(path, task: str = "regression", **data) -> list[str]:
    raw = tiny_config(task)
    raw["data"] = {"source": str(path), "target": "target", "validation": 0.2, **data}
    return prepare_data(validate_config(raw)).warnings


def test_a_streamed_regression_target_of_two_values_is_named_as_in_memory(tmp_path):
    """Streamed shards said nothing: the one pass kept the target's moments only. The
    line must be the in-memory one, and a target with a third value in a later shard (the
    first two shards hold 0 and 1 only) must not be named."""
    frame = load_breast_cancer(as_frame=True).frame  # target: 0 malignant, 1 benign
    for name, target in [("labels", frame["target"]), ("rated", frame["target"] * 1.0)]:
        folder = tmp_path / name
        folder.mkdir()
        if name == "rated":
            target = target.copy()
            target.iloc[-20:] = 2.0  # in the last shard only, some rows in training
        table = frame.assign(target=target)
        for index, rows in enumerate(np.array_split(np.arange(len(table)), 3)):
            table.iloc[rows].to_parquet(folder / f"part-{index}.parquet", index=False)
        streamed = [w for w in _warnings(folder, streaming=True) if "two values" in w]
        in_memory = [w for w in _warnings(folder, streaming=False) if "two values" in w]
        if name == "labels":
            assert (
                streamed
                == in_memory
                == [
                    "regression target 'target' holds two values only (0 and 1) in the training "
                    "rows: fitted as numbers, the predictions fall between them; if they are "
                    "class labels set model.task: binary"
                ]
            )
        else:
            assert streamed == in_memory == [], name


def test_a_regression_target_of_two_values_is_named(tmp_path):
    path = tmp_path / "diagnosis.csv"
    frame = load_breast_cancer(as_frame=True).frame  # target: 0 malignant, 1 benign
    frame.to_csv(path, index=False)
    assert sorted(frame["target"].unique()) == [0, 1]
    two = [w for w in _warnings(path) if "holds two values only" in w]
    assert two == [
        "regression target 'target' holds two values only (0 and 1) in the training rows: "
        "fitted as numbers, the predictions fall between them; if they are class labels set "
        "model.task: binary"
    ]
    # The same labels as a binary classifier's: nothing to say.
    assert not [w for w in _warnings(path, "binary") if "two values" in w]


def test_three_values_or_a_continuous_target_are_a_regressions_own(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    for name, target in [
        ("ratings", rng.integers(1, 4, 200)),  # 1, 2, 3
        ("amounts", 2.0 * x + rng.normal(size=200)),
    ]:
        path = tmp_path / f"{name}.csv"
        pd.DataFrame({"x": x, "target": target}).to_csv(path, index=False)
        assert not [w for w in _warnings(path) if "two values" in w], name
