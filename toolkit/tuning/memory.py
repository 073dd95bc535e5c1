"""Flat memory over a sweep: free what a finished training run leaves in TensorFlow's globals.

``keras.backend.clear_session()`` and ``gc.collect()`` are not enough. Every ``fit`` traces
functions that use ``tf.custom_gradient``, and in graph mode each such call registers a new
``CustomGradient-N`` entry in TensorFlow's global gradient registry. The entry is never
removed and keeps the traced graphs (and their C++ graphs) alive: about 5 MB per run,
~180 MB over a 30-trial sweep. Dropping the entries a finished run added keeps the sweep flat.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


def _gradient_registry() -> dict | None:
    """TensorFlow's registry of gradient functions, or None if its internals have moved."""
    try:
        from tensorflow.python.framework import ops

        registry = ops._gradient_registry._registry
    except (ImportError, AttributeError):
        return None
    return registry if isinstance(registry, dict) else None


@contextlib.contextmanager
def released_afterwards() -> Iterator[None]:
    """Run a block that trains a model; afterwards clear Keras' session and TensorFlow's
    per-run custom-gradient registrations, then collect garbage."""
    import keras

    registry = _gradient_registry()
    before = set(registry) if registry is not None else set()
    try:
        yield
    finally:
        keras.backend.clear_session()
        if registry is not None:
            # Only names this block added; a run's graphs are dead once it has returned.
            for name in [
                n for n in registry if n not in before and n.startswith("CustomGradient-")
            ]:
                del registry[name]
        gc.collect()
