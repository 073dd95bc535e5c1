"""``callbacks.reduce_lr_on_plateau``: the learning rate history.csv logs drops exactly where
Keras' documented rule says it must, given the monitored values in the same history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import tiny_config
from toolkit.config.loading import validate_config
from toolkit.errors import ConfigError

KERAS_MIN_DELTA = 1e-4  # ReduceLROnPlateau's default; the toolkit does not change it


def _expected_rates(
    monitored: list[float], *, initial: float, factor: float, patience: int, min_lr: float,
    cooldown: int,
) -> list[float]:  # fmt: skip
    """The learning rate of every epoch, replaying the rule from the Keras documentation:
    after ``patience`` epochs without an improvement of more than min_delta, multiply by
    ``factor`` (not below ``min_lr``), then wait ``cooldown`` epochs before counting again."""
    rate, best, wait, cooling = initial, np.inf, 0, 0
    rates = [rate]
    for value in monitored[:-1]:  # the last epoch's value changes no epoch's rate
        if cooling > 0:
            cooling -= 1
            wait = 0
        if value < best - KERAS_MIN_DELTA:
            best, wait = value, 0
        elif cooling == 0:
            wait += 1
            if wait >= patience and rate > min_lr:
                rate, cooling, wait = max(rate * factor, min_lr), cooldown, 0
        rates.append(rate)
    return rates


def test_learning_rate_drops_follow_the_monitored_values(cli, write_config, tmp_path):
    plateau = {"patience": 1, "factor": 0.5, "min_lr": 0.01, "cooldown": 2}
    config = tiny_config(
        data={
            "source": "synthetic:regression",
            "synthetic": {"samples": 160, "features": 4, "noise": 2.0},  # a noisy plateau
            "validation": 0.25,
        },
        training={"epochs": 15, "batch_size": 16, "optimizer": {"name": "sgd", "learning_rate": 0.1}},
    )  # fmt: skip
    config["callbacks"].update(early_stopping=False, reduce_lr_on_plateau=plateau)
    result = cli("train", write_config(config), "--output-dir", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    history = pd.read_csv(Path(result.stdout.strip().splitlines()[-1]) / "history.csv")

    expected = _expected_rates(list(history["val_loss"]), initial=0.1, **plateau)
    np.testing.assert_allclose(history["learning_rate"], expected, rtol=1e-6)
    # The run exercised the rule: several drops, down to the floor.
    assert len(set(np.round(expected, 8))) >= 3 and min(expected) == 0.01


@pytest.mark.parametrize(
    "schedule",
    [
        {"name": "piecewise", "boundaries": [1000], "values": [0.01, 0.01]},
        {"name": "cosine"},
        {"name": "constant", "warmup_steps": 5},
    ],
)
def test_a_learning_rate_schedule_beside_it_is_refused_before_training(schedule):
    # Keras' ReduceLROnPlateau cannot set a schedule's rate: the first plateau stopped the
    # run with a TypeError traceback (exit 1) after epochs of training.
    config = tiny_config(
        training={"epochs": 3, "batch_size": 16, "lr_schedule": schedule},
        callbacks={"reduce_lr_on_plateau": {"patience": 1}},
    )
    with pytest.raises(ConfigError) as caught:
        validate_config(config)
    assert "callbacks.reduce_lr_on_plateau cannot lower the rate of training.lr_schedule" in str(
        caught.value
    )
    config["training"]["lr_schedule"] = {"name": "constant"}  # the optimizer's own rate: fine
    validate_config(config)
