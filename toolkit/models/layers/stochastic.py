"""Switch every stochastic layer of a model between sampling and its mean."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras


def _iter_layers(model: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    # _flatten_layers is private but is what Keras 3 itself uses to reach nested
    # sublayers (inside submodels and inside layers such as GaussianHead).
    yield from model._flatten_layers(include_self=True, recursive=True)


def _switchable(layer: keras.layers.Layer) -> bool:
    return callable(getattr(layer, "set_stochastic", None))


def set_stochastic(model: keras.layers.Layer, flag: bool) -> int:
    """Call ``set_stochastic(flag)`` on every layer of ``model`` that has it.

    Works on an already traced model: the layers keep the switch in a variable.
    Returns the number of layers switched.
    """
    count = 0
    for layer in _iter_layers(model):
        if _switchable(layer):
            layer.set_stochastic(flag)
            count += 1
    return count


def is_stochastic(model: keras.layers.Layer) -> bool:
    """Whether ``model`` contains any layer that can be switched by ``set_stochastic``."""
    return any(_switchable(layer) for layer in _iter_layers(model))


def draws_per_row(model: keras.layers.Layer) -> bool:
    """Whether every stochastic layer of ``model`` draws independently for each row of a
    batch (its ``draws_per_row``): then one call over a batch repeated M times is M passes,
    which is how the export samples (``toolkit.serving.outputs.serving_function``)."""
    layers = [layer for layer in _iter_layers(model) if _switchable(layer)]
    return bool(layers) and all(getattr(layer, "draws_per_row", False) for layer in layers)


@contextlib.contextmanager
def seeded_draws(model: keras.layers.Layer, seed: int, *, block: int = 0) -> Iterator[None]:
    """Within: every stochastic layer draws from a state set from ``seed``, its position in
    the model and the number of the ``block`` of rows being predicted (each block its own
    draws), and after it the states are what they were.

    A loaded model's generators start from random states (its layers have no seed of their
    own), so two ``toolkit predict`` or ``evaluate`` calls of a sampled model gave different
    numbers, neither matching metrics.json. Seeded, a run's predictions of the same rows are
    the same every time; restored after, training's own draws never repeat."""
    generators = [
        layer.seed_generator
        for layer in _iter_layers(model)
        if _switchable(layer) and getattr(layer, "seed_generator", None) is not None
    ]
    saved = [generator.state.numpy() for generator in generators]
    for index, generator in enumerate(generators):
        state = generator.state
        start = seed + index + block * len(generators)  # one stream per layer and block
        generator.state.assign(keras.ops.convert_to_tensor([start, 0], dtype=state.dtype))
    try:
        yield
    finally:
        for generator, state in zip(generators, saved, strict=True):
            generator.state.assign(state)
