from __future__ import annotations

import keras
import numpy as np
import pytest

from callbacks import UncertaintyMonitor
from tests.helpers import assert_same_config


class PenalisedDense(keras.layers.Dense):
    """Dense layer that adds a weight-dependent stand-in for a KL term via add_loss."""

    def call(self, inputs):
        self.add_loss(0.01 * keras.ops.sum(keras.ops.square(self.kernel)))
        return super().call(inputs)


def _mc_dropout_model(dropout: bool) -> keras.Model:
    inputs = keras.Input((4,))
    hidden = PenalisedDense(16, activation="relu", name="penalised")(inputs)
    if dropout:
        # training=True hard-coded: dropout stays on at inference (MC dropout).
        hidden = keras.layers.Dropout(0.5)(hidden, training=True)
    # Gaussian head: column 0 is the mean, column 1 the (pre-softplus) scale.
    outputs = keras.layers.Dense(2, name="head")(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def test_kl_and_spread_of_an_mc_dropout_model(tmp_path, regression_data, read_events):
    x, y = regression_data
    y2 = np.concatenate([y, np.ones_like(y)], axis=1)
    model = _mc_dropout_model(dropout=True)
    monitor = UncertaintyMonitor(x[:32], samples=5)
    board = keras.callbacks.TensorBoard(tmp_path)
    history = model.fit(x, y2, epochs=2, batch_size=16, verbose=0, callbacks=[monitor, board])

    assert all(std > 0 for std in history.history["predictive_std"])
    # After the last epoch the weights are final, so the KL is computable directly.
    kernel = model.get_layer("penalised").kernel.numpy()
    expected_kl = 0.01 * float(np.sum(np.square(kernel)))
    assert history.history["kl"][-1] == pytest.approx(expected_kl, rel=1e-5)
    assert history.history["kl"][0] != pytest.approx(history.history["kl"][1])

    # Keras' TensorBoard writes what the monitor logged, once (no writer of its own).
    events = read_events(tmp_path)
    assert "kl" not in events and "predictive_std" not in events
    assert [float(v) for _, v in events["epoch_predictive_std"]] == pytest.approx(
        history.history["predictive_std"]
    )


def test_every_n_epochs_measures_those_and_the_last(regression_data):
    x, y = regression_data
    y2 = np.concatenate([y, np.ones_like(y)], axis=1)
    model = _mc_dropout_model(dropout=True)
    seen = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: measured.append((epoch + 1, "kl" in logs))
    )
    measured: list[tuple[int, bool]] = []
    monitor = UncertaintyMonitor(x[:32], samples=2, every_n_epochs=2)
    model.fit(x, y2, epochs=5, batch_size=32, verbose=0, callbacks=[monitor, seen])
    assert [epoch for epoch, logged in measured if logged] == [2, 4, 5]


def test_deterministic_model_has_zero_spread(regression_data):
    x, _ = regression_data
    model = _mc_dropout_model(dropout=False)
    monitor = UncertaintyMonitor(x[:32], samples=3)
    monitor.set_model(model)
    values = monitor.measure()
    assert values["predictive_std"] == 0.0
    assert values["kl"] > 0


def test_get_config_round_trips(regression_data):
    x, _ = regression_data
    monitor = UncertaintyMonitor(x, samples=4, every_n_epochs=2)
    assert_same_config(
        UncertaintyMonitor(**monitor.get_config()).get_config(), monitor.get_config()
    )
    with pytest.raises(ValueError):
        UncertaintyMonitor(x, samples=1)


def test_monitoring_leaves_the_training_draws_unchanged(regression_data):
    """The monitor's passes use the model's seed generators and put them back."""
    x, y = regression_data
    y2 = np.concatenate([y, np.ones_like(y)], axis=1)
    weights = []
    for monitored in (False, True):
        keras.utils.set_random_seed(3)
        model = _mc_dropout_model(dropout=True)
        callbacks = [UncertaintyMonitor(x[:32], samples=4)] if monitored else []
        model.fit(x, y2, epochs=3, batch_size=16, shuffle=False, verbose=0, callbacks=callbacks)
        weights.append(model.get_weights())
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)
