"""Flat memory over a sweep: free what a finished training run leaves in TensorFlow's globals.

``keras.backend.clear_session()`` and ``gc.collect()`` are not enough: each run leaves
``CustomGradient-N`` entries in TensorFlow's gradient registry that keep its traced graphs
alive (about 5 MB per run; tensorflow/tensorflow#27492). ``toolkit.compat`` drops them.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def released_afterwards() -> Iterator[None]:
    """Run a block that trains a model; afterwards clear Keras' session and TensorFlow's
    per-run custom-gradient registrations, then collect garbage."""
    import keras

    from toolkit import compat

    before = compat.custom_gradient_names()
    try:
        yield
    finally:
        # One collection, after the registrations are dropped: clear_session's own (its
        # default) would walk the heap once more for nothing, 0.2-0.4 s a trial.
        keras.backend.clear_session(free_memory=False)
        # Only names this block added; a run's graphs are dead once it has returned.
        compat.drop_custom_gradients(keep=before)
        gc.collect()
