"""Callbacks that do not hold up training, and history.csv saying what they cost."""

from __future__ import annotations

import time

import keras
import numpy as np
import pandas as pd

from callbacks import LearningCurvePlot
from toolkit.training.callback_clock import CallbackClock
from toolkit.training.run_checkpoint import RunCheckpoint


class _Sleep(keras.callbacks.Callback):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def on_epoch_end(self, epoch, logs=None):
        time.sleep(self.seconds)


def _model() -> keras.Model:
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="output")(inputs))
    model.compile(optimizer="adam", loss="mse")
    return model


def test_history_reports_the_time_callbacks_take(tmp_path):
    clock = CallbackClock()
    x, y = np.ones((64, 3)), np.ones((64, 1))
    callbacks = [
        clock.first,
        _Sleep(0.15),  # before the row is written: counted in this epoch's row
        clock.report,
        keras.callbacks.CSVLogger(str(tmp_path / "history.csv")),
        _Sleep(0.1),  # after it: counted in the next row
        clock.last,
    ]
    _model().fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=callbacks)
    history = pd.read_csv(tmp_path / "history.csv")
    seconds = history["callbacks_seconds"].to_numpy()
    # Upper bounds generous: the machine may be busy, but the sleeps are what is counted.
    assert 0.15 <= seconds[0] < 0.6
    assert np.all(seconds[1:] >= 0.25) and np.all(seconds[1:] < 1.0)
    share = history["callbacks_share"].to_numpy()
    assert np.all((share > 0) & (share <= 1.0))
    assert np.all(share[1:] > 0.2)  # sleeping is most of these tiny epochs


def test_resume_points_written_in_the_background_are_complete_when_training_ends(tmp_path):
    model = _model()
    checkpoint = RunCheckpoint(tmp_path, background=True)
    model.fit(np.ones((32, 3)), np.ones((32, 1)), epochs=4, verbose=0, callbacks=[checkpoint])
    point, state = RunCheckpoint.latest_state(tmp_path)
    assert state["completed_epochs"] == 4
    with np.load(point / "state.npz") as saved:
        np.testing.assert_array_equal(saved["model/00000"], model.get_layer("output").kernel)
    assert [p.name for p in (tmp_path / "resume").glob("epoch-*")] == ["epoch-000004"]


def test_learning_curves_drawn_in_the_background_hold_every_epoch(tmp_path):
    path = tmp_path / "curves.png"
    plot = LearningCurvePlot(path, background=True)
    plot.set_model(_model())
    started = time.monotonic()
    for epoch in range(5):
        plot.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 2.0 / (epoch + 1)})
    queued = time.monotonic() - started
    plot.on_train_end()
    assert path.exists() and path.read_bytes().startswith(b"\x89PNG")
    # The last drawing happened after the last epoch: the best epoch is the fifth.
    assert plot.best_epoch() == 4
    assert queued < 2.0  # the training thread did not wait for the drawings
