from __future__ import annotations

import keras
import numpy as np
import pytest

from callbacks import EpochTensorBoard, ThroughputLogger


def test_steps_are_epochs_counted_from_one(tmp_path, regression_data, make_regressor, read_events):
    x, y = regression_data
    board = EpochTensorBoard(tmp_path, histogram_freq=2)
    history = make_regressor().fit(
        x,
        y,
        validation_split=0.25,
        epochs=3,
        batch_size=16,
        verbose=0,
        callbacks=[ThroughputLogger(batch_size=16), board],
    )
    train = read_events(tmp_path / "train")
    validation = read_events(tmp_path / "validation")
    assert [step for step, _ in train["epoch_loss"]] == [1, 2, 3]
    assert [step for step, _ in validation["epoch_loss"]] == [1, 2, 3]
    np.testing.assert_allclose(
        [float(v) for _, v in validation["epoch_loss"]], history.history["val_loss"], rtol=1e-6
    )
    # ThroughputLogger's `epoch_time` keeps its name: no `epoch_epoch_time`.
    assert [float(v) for _, v in train["epoch_time"]] == pytest.approx(
        history.history["epoch_time"]
    )
    assert "epoch_epoch_time" not in train
    # Histograms every second epoch and at the last: epochs 2 and 3.
    assert [step for step, _ in train["hidden/kernel/histogram"]] == [2, 3]
    # Every validation tag is stepped by epoch: Keras' `evaluation_loss_vs_iterations`, the
    # same values at optimizer steps 4, 8, 12, was a second curve of each metric.
    assert sorted(validation) == ["epoch_loss"]


def test_histograms_of_the_epoch_training_stopped_at(
    tmp_path, regression_data, make_regressor, read_events
):
    x, y = regression_data
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=1e9)
    board = EpochTensorBoard(tmp_path, histogram_freq=5)
    history = make_regressor().fit(
        x, y, epochs=50, batch_size=16, verbose=0, callbacks=[stop, board]
    )
    assert len(history.history["loss"]) == 2
    assert [step for step, _ in read_events(tmp_path / "train")["out/kernel/histogram"]] == [2]
