"""The random draws of the stochastic layers, and the portable form exports trace them in.

In training and ``predict`` the layers draw from their own ``keras.random.SeedGenerator``:
reproducible for a seed and restored on resume. That generator keeps its state in a variable
the draw updates, which serving formats cannot carry: tf2onnx freezes it (every pass of the
MC endpoint would then draw the same numbers) and LiteRT's built-in ops have no stateless
random kernels. Inside ``portable_sampling()`` the same layers trace TensorFlow's stateful
random ops instead (``RandomUniform``, ``RandomStandardNormal``), each with its own op seed:
SavedModel, ONNX (``RandomUniformLike``, ``RandomNormalLike``) and LiteRT built-ins all have
them, every pass differs from the others and every request draws anew.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import Any

import keras

_op_seeds: itertools.count | None = None


@contextlib.contextmanager
def portable_sampling() -> Iterator[None]:
    """Within: stochastic layers trace stateful random ops (for export only)."""
    global _op_seeds
    previous, _op_seeds = _op_seeds, itertools.count(1)
    try:
        yield
    finally:
        _op_seeds = previous


def normal(shape: Any, seed: keras.random.SeedGenerator) -> Any:
    """Standard normal float32 noise of ``shape``."""
    if _op_seeds is None:
        return keras.random.normal(shape, dtype="float32", seed=seed)
    import tensorflow as tf

    return tf.random.normal(shape, dtype="float32", seed=next(_op_seeds))


def uniform(shape: Any, seed: keras.random.SeedGenerator) -> Any:
    """Uniform float32 noise in [0, 1) of ``shape``."""
    if _op_seeds is None:
        return keras.random.uniform(shape, dtype="float32", seed=seed)
    import tensorflow as tf

    return tf.random.uniform(shape, dtype="float32", seed=next(_op_seeds))


def dropout(inputs: Any, rate: float, seed: keras.random.SeedGenerator) -> Any:
    """``keras.random.dropout``: zero a ``rate`` share of ``inputs``, scale the rest up."""
    if _op_seeds is None:
        return keras.random.dropout(inputs, rate=rate, seed=seed)
    keep = keras.ops.cast(uniform(keras.ops.shape(inputs), seed) >= rate, inputs.dtype)
    return inputs * keep / (1.0 - rate)


def random_sign(shape: Any, dtype: str, seed: keras.random.SeedGenerator) -> Any:
    """-1 or +1 with equal probability (Flipout's sign vectors)."""
    if _op_seeds is None:
        bits = keras.random.randint(shape, 0, 2, dtype="int32", seed=seed)
        return keras.ops.cast(2 * bits - 1, dtype)
    # A uniform draw, not randint: LiteRT has no built-in random-integer kernel.
    return keras.ops.cast(keras.ops.where(uniform(shape, seed) < 0.5, -1.0, 1.0), dtype)
