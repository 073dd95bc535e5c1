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


def test_a_histogram_is_of_the_weights_at_its_epoch_while_training_goes_on(
    tmp_path, regression_data, make_regressor, read_events
):
    """Histograms are written by a thread while the next epochs train: each must describe
    the weights as they were at the end of its own epoch (checked against copies a callback
    takes then), not as they are when the thread gets to them."""
    x, y = regression_data
    copies: dict[int, np.ndarray] = {}

    class CopyKernel(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            copies[epoch + 1] = np.array(self.model.get_layer("hidden").kernel)

    board = EpochTensorBoard(tmp_path, histogram_freq=2)
    make_regressor().fit(x, y, epochs=7, batch_size=8, verbose=0, callbacks=[CopyKernel(), board])
    histograms = read_events(tmp_path / "train")["hidden/kernel/histogram"]
    assert [step for step, _ in histograms] == [2, 4, 6, 7]
    for step, buckets in histograms:
        # TensorFlow's histogram: rows of (left edge, right edge, count) spanning the values.
        kernel = copies[step]
        assert buckets[:, 2].sum() == kernel.size
        assert buckets[0, 0] == pytest.approx(kernel.min(), rel=1e-6)
        assert buckets[-1, 1] == pytest.approx(kernel.max(), rel=1e-6)
    spans = {(float(b[0, 0]), float(b[-1, 1])) for _, b in histograms}
    assert len(spans) == 4  # the weights moved between the epochs written
