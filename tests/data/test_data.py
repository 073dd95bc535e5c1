"""Data sources, splits and the fitted preprocessing spec."""

from __future__ import annotations

from pathlib import Path

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
    # The message named no column ("class 'c' of target"): it names the target column.
    frame = pd.DataFrame({"x": range(20), "label": ["a"] * 10 + ["b"] * 9 + ["c"]})
    config = DataConfig(source="data.csv", target="label", validation=0.3)
    with pytest.raises(DataError, match=r"^target column 'label': class 'c' has a single example"):
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


def test_rows_to_score_without_a_target_are_named_with_what_to_do():
    """``toolkit evaluate --data`` on a table with unlabelled rows (palmerpenguins has two
    without body_mass_g): the message said only 'has missing values'."""
    train = pd.DataFrame({"x": [0.0, 1.0, 2.0], "target": [1.0, 2.0, 4.0]})
    spec = fit_spec(train, DataConfig(source="t.csv"), "regression")
    scored = pd.DataFrame({"x": np.arange(8.0), "target": [1.0, 2, np.nan, 3, 4, 5, 6, np.nan]})
    from toolkit.errors import command_line_wording

    with command_line_wording(), pytest.raises(DataError) as caught:  # as evaluate says it
        encode_target(scored, spec, what="input")
    message = str(caught.value)
    assert "target column 'target' has missing values (rows 3, 8)" in message
    assert "toolkit predict" in message and "\n" not in message


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


def _table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "size": rng.normal(size=rows),
            "weight": rng.uniform(1.0, 5.0, size=rows),
            "colour": rng.choice(["red", "green", "blue"], size=rows),
        }
    )
    frame.loc[::7, "size"] = np.nan  # missing numbers survive the round trip as NaN
    frame["target"] = 2.0 * frame["weight"] - frame["size"].fillna(0.0)
    return frame


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
def test_a_parquet_source_loads_as_written(tmp_path, suffix):
    frame = _table(50, seed=0)
    path = tmp_path / f"data{suffix}"
    frame.to_parquet(path)
    loaded = load_source(DataConfig(source=str(path)), seed=0)
    pd.testing.assert_frame_equal(loaded, frame)


def test_validation_and_test_files_are_used_as_they_are_and_nothing_is_split_off(tmp_path):
    source, validation, test = _table(60, seed=1), _table(20, seed=2), _table(15, seed=3)
    source.to_parquet(tmp_path / "train.parquet")
    validation.to_csv(tmp_path / "validation.csv", index=False)
    test.to_parquet(tmp_path / "test.pq")
    config = DataConfig(
        source=str(tmp_path / "train.parquet"),
        validation=str(tmp_path / "validation.csv"),
        test=str(tmp_path / "test.pq"),
    )
    splits = split_frame(load_source(config, seed=0), config, task="regression", seed=0)
    pd.testing.assert_frame_equal(splits.train, source)  # all of it, in file order
    pd.testing.assert_frame_equal(splits.validation, validation)
    pd.testing.assert_frame_equal(splits.test, test)


@pytest.mark.slow
def test_training_on_parquet_with_a_validation_file(tmp_path):
    import json

    import toolkit
    from tests.helpers import tiny_config

    source, validation = _table(80, seed=4), _table(30, seed=5)
    source.to_parquet(tmp_path / "train.parquet")
    validation.to_parquet(tmp_path / "validation.parquet")
    config = tiny_config(
        data={
            "source": str(tmp_path / "train.parquet"),
            "validation": str(tmp_path / "validation.parquet"),
        }
    )
    run = toolkit.train(config, output_dir=tmp_path / "out", verbose=0)  # in this process
    assert run.status == "completed", run.reason
    run_dir = run.path
    summary = json.loads((Path(run_dir) / "data_summary.json").read_text())
    assert summary["rows"] == {"train": 80, "validation": 30}
    # metrics.json's validation RMSE is the saved model's on exactly the validation file.
    import tensorflow as tf

    from toolkit.models.saving import load_model

    model = load_model(Path(run_dir) / "model.keras")
    inputs = {
        "numeric": tf.constant(validation[["size", "weight"]].to_numpy("float32")),
        "colour": tf.constant(validation[["colour"]].to_numpy().astype(str)),
    }
    predicted = np.asarray(model(inputs, training=False)).ravel()
    rmse = float(np.sqrt(np.mean((predicted - validation["target"].to_numpy()) ** 2)))
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    assert metrics["validation"]["rmse"] == pytest.approx(rmse, rel=1e-5)


@pytest.mark.parametrize(
    ("calibration", "expected"),
    [
        # 1 training row of 80: it said the target 'has the same value in every training row'
        (0.98, "the training split has 1 row, too few to learn from; hold out less"),
    ],
)
def test_a_calibration_fraction_that_empties_training_is_named(tmp_path, calibration, expected):
    from tests.helpers import tiny_config
    from toolkit.config.loading import validate_config
    from toolkit.data.prepared import prepare_data

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=80), "y": rng.normal(size=80)})
    frame.to_csv(tmp_path / "t.csv", index=False)
    raw = tiny_config(
        data={"source": str(tmp_path / "t.csv"), "target": "y", "validation": 0.25},
        prediction={"conformal": {"calibration": calibration}},
    )
    with pytest.raises(DataError) as caught:
        prepare_data(validate_config(raw))
    assert expected in str(caught.value)


def test_data_summary_describes_a_numeric_regression_target_as_float(tmp_path):
    """data_summary.json said ``label_type: "str"`` for a regression target; it names what
    predictions are (floats), and a classifier's labels keep their column's type."""
    from tests.helpers import tiny_config
    from toolkit.config.loading import validate_config
    from toolkit.data.prepared import prepare_data
    from toolkit.data.preprocessing import describe

    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.normal(size=60), "age": rng.integers(20, 80, size=60)})
    frame["grade"] = np.where(frame["x"] > 0, "high", "low")
    frame.to_csv(tmp_path / "t.csv", index=False)
    expected = {("regression", "age"): "float", ("binary", "grade"): "str"}
    for (task, target), label_type in expected.items():
        raw = tiny_config(task, data={"source": str(tmp_path / "t.csv"), "target": target})
        raw["data"].pop("synthetic")
        data = prepare_data(validate_config(raw))
        summary = describe(data.spec, data.rows)["target"]
        assert summary["label_type"] == label_type, task
