"""Resume points: what they hold and what they refuse."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from toolkit.errors import ToolkitError
from toolkit.training.run_checkpoint import RunCheckpoint


def _model(width: int) -> keras.Model:
    inputs = keras.Input((3,))
    # Named layers, as the toolkit's builder names them: restores match variables by name.
    hidden = keras.layers.Dense(width, name="hidden")(inputs)
    hidden = keras.layers.Dropout(0.5, seed=1, name="dropout")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(1, name="output")(hidden))
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=1, verbose=0)
    return model


def test_a_resume_point_restores_weights_optimizer_and_seed_state(tmp_path):
    saved = _model(4)
    checkpoint = RunCheckpoint(tmp_path)
    checkpoint.set_model(saved)
    checkpoint.on_epoch_end(0, {"val_loss": 1.0})
    point, state = RunCheckpoint.latest_state(tmp_path)
    assert state["completed_epochs"] == 1 and (point / "state.npz").exists()
    assert any(p.endswith("seed_generator_state") for p in state["variables"]["model"])

    restored = _model(4)
    target = RunCheckpoint(tmp_path)
    target.set_model(restored)
    assert target.restore(point, state) == 1
    for a, b in zip(saved.variables, restored.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(saved.optimizer.variables, restored.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_resume_point_of_another_model_is_refused_by_name(tmp_path):
    checkpoint = RunCheckpoint(tmp_path)
    checkpoint.set_model(_model(4))
    checkpoint.on_epoch_end(0, {"val_loss": 1.0})
    point, state = RunCheckpoint.latest_state(tmp_path)
    state["variables"]["model"][0] = "other/other_kernel"
    (point / "state.json").write_text(json.dumps(state))
    other = RunCheckpoint(tmp_path)
    other.set_model(_model(4))
    with pytest.raises(ToolkitError, match="model variable 0: other_kernel saved"):
        other.restore(point, state)
