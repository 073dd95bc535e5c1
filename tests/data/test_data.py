"""Data sources, splits and the fitted preprocessing spec."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from toolkit.config.schema import DataConfig
from toolkit.data.preprocessing import FeatureSpec, encode_target, feature_arrays, fit_spec
from toolkit.data.sources import load_builtin, load_source
from toolkit.data.splits import split_frame
from toolkit.errors import DataError


@pytest.mark.parametrize(
    ("name", "rows", "classes"),
    [
        ("diabetes", 442, None),
        ("breast_cancer", 569, 2),
        ("iris", 150, 3),
        ("wine", 178, 3),
        ("digits", 1797, 10),
    ],
)
def test_builtin_datasets_ship_with_scikit_learn(name, rows, classes):
    frame = load_builtin(name)
    assert len(frame) == rows and frame.columns[-1] == "target"
    if classes:
        assert frame["target"].nunique() == classes


def test_stratified_split_keeps_class_proportions_and_is_seeded():
    config = DataConfig(source="sklearn:breast_cancer", validation=0.2, test=0.2)
    frame = load_source(config, seed=0)
    first = split_frame(frame, config, task="binary", seed=3)
    again = split_frame(frame, config, task="binary", seed=3)
    pd.testing.assert_frame_equal(first.train, again.train)
    assert len(first.train) + len(first.validation) + len(first.test) == len(frame)
    overall = (frame["target"] == "benign").mean()
    for part in (first.train, first.validation, first.test):
        assert abs((part["target"] == "benign").mean() - overall) < 0.03


def test_single_example_class_cannot_be_stratified():
    frame = pd.DataFrame({"x": range(20), "target": ["a"] * 10 + ["b"] * 9 + ["c"]})
    config = DataConfig(source="data.csv", validation=0.3)
    with pytest.raises(DataError, match="class 'c' of target has a single example"):
        split_frame(frame, config, task="multiclass", seed=0)


def test_spec_is_fitted_on_train_and_round_trips():
    train = pd.DataFrame(
        {
            "size": [1.0, 2.0, np.nan, 5.0],
            "colour": ["red", "blue", None, "red"],
            "target": [1.0, 2.0, 3.0, 4.0],
        }
    )
    spec = fit_spec(train, DataConfig(source="t.csv"), "regression")
    assert [f.name for f in spec.numeric] == ["size"] and spec.numeric[0].mean == pytest.approx(
        8 / 3
    )
    assert spec.categorical[0].vocabulary == ["<missing>", "blue", "red"]
    assert spec.target.mean == pytest.approx(2.5)
    assert FeatureSpec.from_json(spec.to_json()) == spec
    arrays = feature_arrays(pd.DataFrame({"size": [3.0], "colour": ["green"]}), spec)
    assert arrays["numeric"].dtype == np.float32 and arrays["numeric"].shape == (1, 1)
    assert arrays["colour"][0, 0] == "green"


def test_string_labels_are_encoded_and_unknown_labels_rejected():
    train = pd.DataFrame({"x": [0.0, 1.0, 2.0], "target": ["no", "yes", "no"]})
    spec = fit_spec(train, DataConfig(source="t.csv"), "binary")
    assert spec.target.classes == ["no", "yes"]
    assert encode_target(train, spec).ravel().tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(DataError, match="classes not seen in training: maybe"):
        encode_target(pd.DataFrame({"x": [0.0], "target": ["maybe"]}), spec)


@pytest.mark.parametrize(
    ("frame", "config", "message"),
    [
        (pd.DataFrame({"x": [1.0, 2.0]}), {}, "target column 'target' is not in the data"),
        (
            pd.DataFrame({"x": [1.0, 2.0], "target": [1.0, np.nan]}),
            {},
            "target column 'target' has missing values",
        ),
        (pd.DataFrame({"x": [np.nan, np.nan], "target": [1.0, 2.0]}), {}, "'x' has no values"),
        (
            pd.DataFrame({"x": [1.0, 2.0], "target": [1.0, 2.0]}),
            {"features": ["y"]},
            "feature column 'y' is not in the data",
        ),
    ],
)
def test_bad_data_is_named(frame, config, message):
    with pytest.raises(DataError, match=message):
        fit_spec(frame, DataConfig(source="t.csv", **config), "regression")


def test_synthetic_sources_are_seeded():
    config = DataConfig(source="synthetic:multiclass")
    pd.testing.assert_frame_equal(load_source(config, seed=1), load_source(config, seed=1))
    assert load_source(config, seed=1)["target"].nunique() == 3
