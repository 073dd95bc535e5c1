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


class _WeightsByEpoch(keras.callbacks.Callback):
    """Copies of the model's weights at the end of every epoch, and a stop at ``stop_at``
    (a KeyboardInterrupt, as Ctrl-C lands in training)."""

    def __init__(self, stop_at: int | None = None) -> None:
        super().__init__()
        self.weights: list[list[np.ndarray]] = []
        self.stop_at = stop_at

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([np.asarray(w).copy() for w in self.model.weights])
        if self.stop_at is not None and epoch + 1 == self.stop_at:
            raise KeyboardInterrupt


def _fit(model, callbacks, epochs: int):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = x @ np.array([[1.0], [-1.0], [0.5]], dtype="float32") + rng.normal(size=(64, 1))
    return model.fit(
        x, y, validation_split=0.5, epochs=epochs, batch_size=8, verbose=0, callbacks=callbacks
    )


def _h5_weights(path, width: int) -> list[np.ndarray]:
    reader = _model(width)
    reader.load_weights(path)
    return [np.asarray(w).copy() for w in reader.weights]


def _assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for left, right in zip(a, b, strict=True):
        np.testing.assert_array_equal(left, right)


def test_best_weights_h5_holds_the_best_epoch_and_the_model_keeps_its_own(tmp_path):
    """Written once when training ends, from a copy taken at the best epoch: the file holds
    that epoch's weights (recorded independently every epoch), and the model, which lends
    its variables for the write, ends with its last epoch's."""
    model = _model(6)
    recorder = _WeightsByEpoch()
    checkpoint = RunCheckpoint(tmp_path, background=True)
    history = _fit(model, [recorder, checkpoint], epochs=12)
    best = int(np.argmin(history.history["val_loss"]))
    assert checkpoint.best_epoch == best
    _assert_same(_h5_weights(checkpoint.best_path, 6), recorder.weights[best])
    _assert_same([np.asarray(w).copy() for w in model.weights], recorder.weights[-1])


def test_a_stop_mid_training_still_writes_the_best_weights_so_far(tmp_path):
    model = _model(6)
    recorder = _WeightsByEpoch(stop_at=5)
    checkpoint = RunCheckpoint(tmp_path, background=True)
    with pytest.raises(KeyboardInterrupt), checkpoint.best_weights_saved_on_stop():
        _fit(model, [checkpoint, recorder], epochs=12)
    assert len(recorder.weights) == 5
    _assert_same(_h5_weights(checkpoint.best_path, 6), recorder.weights[checkpoint.best_epoch])


def test_a_resumed_early_stopping_gets_the_best_weights_from_the_resume_point(tmp_path):
    """A killed run has no best.weights.h5 of its last best epoch (it is written when training
    stops): the resume point carries them, and only the latest best file is kept."""
    from toolkit.training.run_checkpoint import ResumableEarlyStopping

    model = _model(6)
    recorder = _WeightsByEpoch()
    early = ResumableEarlyStopping(patience=100, restore_best_weights=True)
    checkpoint = RunCheckpoint(tmp_path, early_stopping=early, background=True)
    history = _fit(model, [early, checkpoint, recorder], epochs=8)
    checkpoint.best_path.unlink()  # as a SIGKILL leaves it: not yet written
    point, state = RunCheckpoint.latest_state(tmp_path)
    assert [p.name for p in (tmp_path / "resume").glob("best-*.npz")] == [state["best_file"]]

    resumed = _model(6)
    again = ResumableEarlyStopping(patience=100, restore_best_weights=True)
    target = RunCheckpoint(tmp_path, early_stopping=again)
    target.set_model(resumed)
    assert target.restore(point, state) == 8
    again.set_model(resumed)
    again.on_train_begin()
    best = int(np.argmin(history.history["val_loss"]))
    _assert_same(again.best_weights, recorder.weights[best])
    target.save_best_weights()  # what the resumed run's end writes
    _assert_same(_h5_weights(target.best_path, 6), recorder.weights[best])


def test_the_variable_reader_copies_current_values_eagerly_and_once_traced():
    """Resume points read the variables eagerly for the first reads, then through one traced
    function: every read is the variables' values at that moment, and a copy that later
    updates (training going on) leave alone."""
    from toolkit.training.run_checkpoint import _VariableReader

    variables = [keras.Variable(np.arange(6.0).reshape(2, 3)), keras.Variable(np.ones(4))]
    reader = _VariableReader()
    kept = []
    for step in range(_VariableReader.EAGER_READS + 4):  # both kinds of read
        values = reader(variables)
        expected = [np.asarray(v).copy() for v in variables]
        for got, want in zip(values, expected, strict=True):
            np.testing.assert_array_equal(got, want)
        kept.append((expected, values))
        for variable in variables:
            variable.assign(variable + float(step + 1))
    assert reader._function is not None  # the later reads went through the traced function
    for expected, values in kept:
        for got, want in zip(values, expected, strict=True):
            np.testing.assert_array_equal(got, want)
