from __future__ import annotations

import csv

import keras
import pytest

from callbacks import LearningRateLogger
from tests.helpers import assert_same_config


def test_logged_rate_follows_a_schedule(tmp_path, regression_data, make_regressor):
    x, y = regression_data
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.9)
    model = make_regressor(optimizer=keras.optimizers.SGD(schedule))
    csv_path = tmp_path / "log.csv"
    history = model.fit(
        x,
        y,
        epochs=3,
        batch_size=16,
        verbose=0,
        callbacks=[
            LearningRateLogger(),
            keras.callbacks.CSVLogger(csv_path),
        ],
    )

    # 4 steps per epoch; the value is the schedule at the optimizer's step count.
    expected = [0.1 * 0.9 ** (4 * (epoch + 1)) for epoch in range(3)]
    logged = history.history["learning_rate"]
    assert logged == pytest.approx(expected, rel=1e-5)
    assert logged[0] > logged[1] > logged[2]

    with csv_path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [float(row["learning_rate"]) for row in rows] == pytest.approx(expected, rel=1e-5)


def test_float_rate_agrees_with_keras_reduce_on_plateau(regression_data, make_regressor):
    x, y = regression_data
    model = make_regressor(optimizer=keras.optimizers.Adam(0.02))
    # min_delta so large that epoch 1 never "improves": ReduceLROnPlateau halves the
    # rate there and writes its own logs["learning_rate"]; ours runs after it and
    # must report the same, already reduced, value.
    reduce = keras.callbacks.ReduceLROnPlateau(
        monitor="loss", factor=0.5, patience=0, min_delta=1e9, min_lr=0.0
    )
    history = model.fit(
        x, y, epochs=2, batch_size=32, verbose=0, callbacks=[reduce, LearningRateLogger()]
    )
    assert history.history["learning_rate"] == pytest.approx([0.02, 0.01])


def test_get_config_round_trips():
    logger = LearningRateLogger()
    assert_same_config(LearningRateLogger(**logger.get_config()).get_config(), logger.get_config())
