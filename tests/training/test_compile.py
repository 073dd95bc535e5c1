"""Optimizers, learning-rate schedules (with warm-up) and execution sizes from the config."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.helpers import tiny_config
from toolkit.config import names
from toolkit.config.loading import validate_config
from toolkit.errors import ConfigError
from toolkit.registry import lookup
from toolkit.training.compile import (
    SCHEDULES,
    build_optimizer,
    build_schedule,
    execution_steps,
    resolve_jit_compile,
)
from toolkit.training.warmup import WarmupSchedule

DECAYING = {
    "exponential": {"decay_steps": 10, "decay_rate": 0.5},
    "inverse_time": {"decay_steps": 10},
    "piecewise": {"boundaries": [20, 60], "values": [0.1, 0.01, 0.001]},
    "polynomial": {},
    "cosine": {"alpha": 0.1},
    "cosine_restarts": {"first_decay_steps": 30},
}


def _training(**training):
    raw = tiny_config()
    raw["training"] = {"optimizer": {"name": "sgd", "learning_rate": 0.1}, **training}
    return validate_config(raw).training


@pytest.mark.parametrize("name", sorted(DECAYING))
def test_schedules_decay_from_the_configured_rate(name):
    schedule = build_schedule(
        _training(lr_schedule={"name": name, **DECAYING[name]}), total_steps=100
    )
    start, end = float(schedule(0)), float(schedule(99))
    assert start == pytest.approx(0.1)
    assert 0 < end < start


_KERAS = keras.optimizers.schedules
# Each config section next to the Keras object it must give, built by hand (rate 0.1).
HAND_BUILT = {
    "exponential": (
        {"decay_steps": 10, "decay_rate": 0.5, "staircase": True},
        _KERAS.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True),
    ),
    "inverse_time": (
        {"decay_steps": 7, "decay_rate": 0.25},
        _KERAS.InverseTimeDecay(0.1, decay_steps=7, decay_rate=0.25),
    ),
    "piecewise": (
        {"boundaries": [20, 60], "values": [0.1, 0.01, 0.001]},
        _KERAS.PiecewiseConstantDecay(boundaries=[20, 60], values=[0.1, 0.01, 0.001]),
    ),
    "polynomial": (  # decay_steps auto: the whole run, 100 steps
        {"end_learning_rate": 0.001, "power": 2.0, "cycle": True},
        _KERAS.PolynomialDecay(
            0.1, decay_steps=100, end_learning_rate=0.001, power=2.0, cycle=True
        ),
    ),
    "cosine": (
        {"decay_steps": 40, "alpha": 0.1},
        _KERAS.CosineDecay(0.1, decay_steps=40, alpha=0.1),
    ),
    "cosine_restarts": (
        {"first_decay_steps": 30, "t_mul": 1.5, "m_mul": 0.5, "alpha": 0.01},
        _KERAS.CosineDecayRestarts(0.1, first_decay_steps=30, t_mul=1.5, m_mul=0.5, alpha=0.01),
    ),
}


def test_every_schedule_name_has_a_keras_class():
    assert set(SCHEDULES) | {"constant"} == set(names.SCHEDULES)
    assert set(HAND_BUILT) == set(SCHEDULES)


@pytest.mark.parametrize("name", sorted(HAND_BUILT))
def test_each_schedule_section_gives_the_keras_schedule_built_by_hand(name):
    section, expected = HAND_BUILT[name]
    schedule = build_schedule(_training(lr_schedule={"name": name, **section}), total_steps=100)
    assert type(schedule) is type(expected)
    assert schedule.get_config() == expected.get_config()


def test_an_unknown_schedule_is_a_one_line_error():
    with pytest.raises(
        ConfigError, match=r"^unknown learning-rate schedule 'cosin' \(did you mean 'cosine'\?\)"
    ):
        lookup(SCHEDULES, "cosin", kind="learning-rate schedule")


def test_warmup_rises_linearly_then_follows_the_schedule():
    schedule = build_schedule(
        _training(lr_schedule={"name": "cosine", "warmup_steps": 10}), total_steps=110
    )
    assert isinstance(schedule, WarmupSchedule)
    ramp = [float(schedule(step)) for step in range(10)]
    assert (
        ramp == sorted(ramp) and ramp[0] == pytest.approx(0.01) and ramp[-1] == pytest.approx(0.1)
    )
    assert float(schedule(10)) == pytest.approx(0.1) and float(schedule(109)) < 0.01
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert float(again(5)) == pytest.approx(float(schedule(5)))


@pytest.mark.parametrize("name", sorted(names.OPTIMIZERS))
def test_every_optimizer_builds_with_clipping(name):
    optimizer = build_optimizer(
        _training(optimizer={"name": name, "learning_rate": 0.01, "clipnorm": 1.0}), total_steps=10
    )
    assert optimizer.clipnorm == 1.0
    assert float(np.asarray(optimizer.learning_rate)) == pytest.approx(0.01)


def test_sgd_momentum_and_nesterov_reach_keras():
    optimizer = build_optimizer(
        _training(
            optimizer={"name": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True}
        ),
        total_steps=10,
    )
    assert (
        isinstance(optimizer, keras.optimizers.SGD)
        and optimizer.momentum == 0.9
        and optimizer.nesterov
    )


@pytest.mark.parametrize(
    ("requested", "steps", "expected"),
    [
        ("auto", 141, 141),
        ("auto", 512, 512),
        ("auto", 1600, 400),  # a divisor: one input iterator per fit
        ("auto", 1031, 512),  # prime: no useful divisor, an iterator per epoch instead
        ("auto", 5, 5),
        (8, 30, 8),
        (64, 30, 30),
    ],
)
def test_execution_steps_never_exceed_an_epoch(requested, steps, expected):
    assert execution_steps(requested, steps) == expected


def _mlp(features: int, width: int, *, strings: bool = False) -> keras.Model:
    inputs = {"numeric": keras.Input((features,), name="numeric")}
    parts = [inputs["numeric"]]
    if strings:
        inputs["colour"] = keras.Input((1,), name="colour", dtype="string")
        lookup = keras.layers.StringLookup(vocabulary=["red"], output_mode="one_hot")
        parts.append(lookup(inputs["colour"]))
    hidden = keras.layers.Concatenate()(parts) if strings else parts[0]
    hidden = keras.layers.Dense(width, activation="relu")(hidden)
    return keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(width)(hidden)))


def test_auto_jit_compiles_large_models_on_cpu_only():
    assert resolve_jit_compile(_mlp(10, 64), "auto", batch_size=32) is False
    assert resolve_jit_compile(_mlp(512, 1024), "auto", batch_size=256) is True
    # String lookups cannot be compiled by XLA, whatever the size.
    assert resolve_jit_compile(_mlp(512, 1024, strings=True), "auto", batch_size=256) is False
    assert resolve_jit_compile(_mlp(10, 64), True, batch_size=32) is True
    assert resolve_jit_compile(_mlp(512, 1024), False, batch_size=256) is False
