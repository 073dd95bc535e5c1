"""Conversion of Keras and TensorFlow scalars for the callbacks."""

from __future__ import annotations

import numpy as np


def to_float(value: object) -> float:
    """Converts a scalar tensor, variable or NumPy value to a Python float."""
    # `.numpy()` rather than keras.ops.convert_to_numpy: on a Keras Variable the
    # latter triggers NumPy 2's `__array__(copy=...)` DeprecationWarning.
    numpy = getattr(value, "numpy", None)
    return float(np.asarray(numpy() if callable(numpy) else value))
