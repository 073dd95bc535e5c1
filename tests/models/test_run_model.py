"""A run's model is checked against the inputs its preprocessing.json describes."""

from __future__ import annotations

import json

import keras
import pandas as pd
import pytest

from toolkit.config.schema import DataConfig
from toolkit.data.preprocessing import fit_spec
from toolkit.errors import ToolkitError
from toolkit.models.saving import load_run_model


def _run_dir(tmp_path, inputs: dict[str, keras.KerasTensor]):
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "target": [0.0, 1.0]})
    spec = fit_spec(frame, DataConfig(source="t.csv"), "regression")
    joined = keras.layers.Concatenate()(list(inputs.values())) if len(inputs) > 1 else None
    hidden = joined if joined is not None else next(iter(inputs.values()))
    keras.Model(inputs, keras.layers.Dense(1)(hidden)).save(tmp_path / "model.keras")
    (tmp_path / "preprocessing.json").write_text(spec.to_json())
    (tmp_path / "config.yaml").write_text("name: old\n")
    (tmp_path / "run.json").write_text(json.dumps({"status": "completed"}))
    return tmp_path


def test_a_model_taking_the_numeric_matrix_loads(tmp_path):
    run = _run_dir(tmp_path, {"numeric": keras.Input((2,), name="numeric")})
    assert set(load_run_model(run).input) == {"numeric"}


def test_a_model_of_an_older_version_with_one_input_per_column_is_refused(tmp_path):
    run = _run_dir(tmp_path, {c: keras.Input((1,), name=c) for c in ("a", "b")})
    with pytest.raises(ToolkitError, match=r"takes inputs \['a', 'b'\].*train it again"):
        load_run_model(run)
