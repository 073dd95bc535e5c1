from __future__ import annotations

import logging
import math
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from callbacks import GradientNormMonitor
from tests.helpers import assert_same_config


def test_norms_per_layer_are_positive_and_logged(
    tmp_path, regression_data, make_regressor, read_events
):
    x, y = regression_data
    monitor = GradientNormMonitor(
        ({"features": x[:16]}, y[:16]), log_dir=tmp_path, every_n_epochs=2
    )
    model = make_regressor(dict_input=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model.fit({"features": x}, y, epochs=3, batch_size=16, verbose=0, callbacks=[monitor])

    assert monitor.last_epoch == 2  # Keras' index of epoch 3: the last
    assert set(monitor.last_norms) == {"hidden", "out"}
    assert all(math.isfinite(n) and n > 0 for n in monitor.last_norms.values())

    events = read_events(tmp_path)
    assert {"gradients/hidden", "gradients/out"} <= set(events)
    steps = [step for step, _ in events["gradients/hidden"]]
    assert steps == [2, 3]  # every_n_epochs=2 over epochs 1..3: epoch 2, and 3, the last
    assert float(events["gradients/out"][-1][1]) == pytest.approx(monitor.last_norms["out"])


def test_norms_include_weight_regularization(regression_data):
    """An l2-regularized layer (every toolkit model with model.l2) failed inside Keras'
    regularizer ('NoneType' object has no attribute 'dtype'), crashing training."""
    x, y = regression_data
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, name="hidden", kernel_regularizer=keras.regularizers.L2(0.5))
    outputs = keras.layers.Dense(1, name="out")(hidden(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    monitor = GradientNormMonitor((x, y))
    monitor.set_model(model)

    norms = monitor.compute_norms()

    layer = model.get_layer("hidden")
    with tf.GradientTape(persistent=True) as tape:
        mse = tf.reduce_mean(tf.square(model(x, training=True) - y))
        loss = mse + 0.5 * tf.reduce_sum(tf.square(layer.kernel))
    grads = tape.gradient(loss, layer.trainable_weights)
    expected = math.sqrt(sum(float(tf.reduce_sum(g**2)) for g in grads))
    assert norms["hidden"] == pytest.approx(expected, rel=1e-4)
    assert norms["hidden"] != pytest.approx(
        math.sqrt(
            sum(float(tf.reduce_sum(g**2)) for g in tape.gradient(mse, layer.trainable_weights))
        ),
        rel=1e-2,
    )  # the l2 term counts


def test_norms_match_an_independent_computation_without_side_effects(regression_data):
    x, y = regression_data
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, name="hidden")(inputs)
    normed = keras.layers.BatchNormalization(name="bn")(hidden)
    outputs = keras.layers.Dense(1, name="out")(normed)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    monitor = GradientNormMonitor((x, y))
    monitor.set_model(model)
    moving_mean = model.get_layer("bn").moving_mean.numpy().copy()

    norms = monitor.compute_norms()

    np.testing.assert_array_equal(model.get_layer("bn").moving_mean.numpy(), moving_mean)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
    layer = model.get_layer("hidden")
    grads = tape.gradient(loss, layer.trainable_weights)
    expected = math.sqrt(sum(float(tf.reduce_sum(g**2)) for g in grads))
    assert norms["hidden"] == pytest.approx(expected, rel=1e-4)
    assert set(norms) == {"hidden", "bn", "out"}


def test_exploding_gradients_warn(regression_data, make_regressor, caplog):
    x, y = regression_data
    # Enormous weights; a zero learning rate keeps them enormous through the epoch.
    model = make_regressor(
        optimizer=keras.optimizers.SGD(0.0), kernel_initializer=keras.initializers.Constant(1e3)
    )
    monitor = GradientNormMonitor((x[:16], y[:16]))
    with (
        caplog.at_level(logging.WARNING, logger="callbacks.gradient_norm_monitor"),
        pytest.warns(RuntimeWarning, match=r"layer 'hidden' has an exploding gradient norm"),
    ):
        model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[monitor])
    assert monitor.last_norms["hidden"] > 1e3
    assert any("exploding" in record.getMessage() for record in caplog.records)


def test_vanishing_gradients_warn(regression_data, make_regressor):
    x, y = regression_data
    # All-zero kernels: the hidden layer receives exactly zero gradient.
    model = make_regressor(optimizer=keras.optimizers.SGD(0.0), kernel_initializer="zeros")
    monitor = GradientNormMonitor((x[:16], y[:16]))
    with pytest.warns(RuntimeWarning, match=r"layer 'hidden' has a vanishing gradient norm"):
        model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[monitor])
    assert monitor.last_norms["hidden"] == 0.0


def test_a_monitor_that_does_not_warn_still_logs(regression_data, make_regressor, caplog):
    """The toolkit shows the log; the warning beside it printed every finding twice. With
    ``warn=False`` a finding is logged only."""
    import logging
    import warnings

    x, y = regression_data
    model = make_regressor(optimizer=keras.optimizers.SGD(0.0), kernel_initializer="zeros")
    monitor = GradientNormMonitor((x[:16], y[:16]), warn=False)
    with caplog.at_level(logging.WARNING), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[monitor])
    assert any("vanishing gradient norm" in record.getMessage() for record in caplog.records)
    assert monitor.last_norms["hidden"] == 0.0


def test_get_config_round_trips(regression_data):
    x, y = regression_data
    monitor = GradientNormMonitor((x, y), every_n_epochs=3, exploding_threshold=10.0, warn=False)
    clone = GradientNormMonitor(**monitor.get_config())
    assert_same_config(clone.get_config(), monitor.get_config())
    assert clone.every_n_epochs == 3 and clone.exploding_threshold == 10.0
    assert clone.warn is False
    with pytest.raises(ValueError):
        GradientNormMonitor((x, y), every_n_epochs=0)
