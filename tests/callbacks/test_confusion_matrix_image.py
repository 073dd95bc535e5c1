from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from callbacks import ConfusionMatrixImage
from tests.helpers import assert_same_config


def _classifier(num_outputs: int, activation: str | None = None) -> keras.Model:
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    outputs = keras.layers.Dense(num_outputs, activation=activation)(hidden)
    return keras.Model(inputs, outputs)


def test_binary_logit_matrix_is_logged_as_image(tmp_path, regression_data, read_events):
    x, _ = regression_data
    y = (x[:, 0] > 0).astype("int64")
    model = _classifier(1)
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    callback = ConfusionMatrixImage(x, y, ["neg", "pos"], log_dir=tmp_path)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[callback])

    logits = model.predict(x, verbose=0)[:, 0]
    predicted = (logits > 0).astype("int64")
    expected = np.array([[np.sum((y == t) & (predicted == p)) for p in (0, 1)] for t in (0, 1)])
    np.testing.assert_array_equal(callback.last_matrix, expected)
    assert callback.last_matrix.sum() == len(x)

    events = read_events(tmp_path)
    assert "confusion_matrix" in events
    assert [step for step, _ in events["confusion_matrix"]] == [1, 2]  # epochs counted from 1
    width, height, png = events["confusion_matrix"][-1][1]
    image = tf.io.decode_png(png).numpy()
    assert image.shape[:2] == (int(height), int(width))
    assert image.shape[0] >= 300


def test_multiclass_probabilities_every_second_epoch_and_the_last(
    tmp_path, regression_data, read_events
):
    x, _ = regression_data
    labels = np.digitize(x[:, 0], [-0.5, 0.5])  # 3 classes
    one_hot = keras.utils.to_categorical(labels, 3)
    model = _classifier(3, activation="softmax")
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="categorical_crossentropy")
    callback = ConfusionMatrixImage(
        x, one_hot, ["low", "mid", "high"], log_dir=tmp_path, from_logits=False, every_n_epochs=2
    )
    model.fit(x, one_hot, epochs=3, batch_size=16, verbose=0, callbacks=[callback])

    assert callback.last_matrix.shape == (3, 3)
    np.testing.assert_array_equal(
        callback.last_matrix.sum(axis=1), np.bincount(labels, minlength=3)
    )
    predicted = np.argmax(model.predict(x, verbose=0), axis=1)
    np.testing.assert_array_equal(
        np.diag(callback.last_matrix), np.bincount(labels[predicted == labels], minlength=3)
    )  # the last matrix is the final model's
    # Epoch 2 (every second), then epoch 3: the last.
    assert [step for step, _ in read_events(tmp_path)["confusion_matrix"]] == [2, 3]


def test_a_run_shorter_than_the_interval_logs_its_last_epoch(
    tmp_path, regression_data, read_events
):
    x, _ = regression_data
    y = (x[:, 0] > 0).astype("int64")
    model = _classifier(1)
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    callback = ConfusionMatrixImage(x, y, ["neg", "pos"], log_dir=tmp_path, every_n_epochs=10)
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[callback])
    assert [step for step, _ in read_events(tmp_path)["confusion_matrix"]] == [3]


def test_the_epoch_early_stopping_ends_on_is_logged(tmp_path, regression_data, read_events):
    x, _ = regression_data
    y = (x[:, 0] > 0).astype("int64")
    model = _classifier(1)
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    # min_delta so large that nothing improves: it stops after epoch 2 of 50 (patience 1).
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=1e9)
    callback = ConfusionMatrixImage(x, y, ["neg", "pos"], log_dir=tmp_path, every_n_epochs=10)
    history = model.fit(x, y, epochs=50, batch_size=16, verbose=0, callbacks=[stop, callback])
    assert len(history.history["loss"]) == 2
    assert [step for step, _ in read_events(tmp_path)["confusion_matrix"]] == [2]


def test_class_names_must_match_the_model(tmp_path, regression_data):
    x, _ = regression_data
    model = _classifier(3)
    callback = ConfusionMatrixImage(x, np.zeros(len(x)), ["a", "b"], log_dir=tmp_path)
    callback.set_model(model)
    with pytest.raises(ValueError, match="3 output columns but 2 class names"):
        callback.compute_matrix()


def test_get_config_round_trips(tmp_path, regression_data):
    x, _ = regression_data
    callback = ConfusionMatrixImage(
        x, np.zeros(len(x)), ["a", "b"], log_dir=tmp_path, every_n_epochs=5
    )
    clone = ConfusionMatrixImage(**callback.get_config())
    assert_same_config(clone.get_config(), callback.get_config())
    assert clone.every_n_epochs == 5
