"""The name tables used for validation agree with the installed Keras."""

from __future__ import annotations

import inspect

import keras
import pytest

from toolkit.config import names


@pytest.mark.parametrize("name", sorted(names.OPTIMIZERS))
def test_optimizer_table_matches_keras(name):
    class_name, _ = names.OPTIMIZERS[name]
    optimizer_class = getattr(keras.optimizers, class_name)
    accepted = set(inspect.signature(optimizer_class.__init__).parameters) - {
        "self",
        "kwargs",
        "name",
    }
    assert set(names.optimizer_arguments(name)) == accepted
    assert isinstance(optimizer_class(learning_rate=0.01), keras.optimizers.Optimizer)


def test_activations_exist_in_keras():
    for name in names.ACTIVATIONS:
        assert callable(keras.activations.get(name)), name


def test_initializers_exist_in_keras():
    for name in names.INITIALIZERS + tuple(names.INITIALIZER_ALIASES.values()):
        assert keras.initializers.get(name) is not None, name


def test_keras_losses_exist():
    for name in names.ALL_LOSSES:
        if name != "gaussian_nll":
            assert keras.losses.get(name) is not None, name
