"""Flat memory over a sweep: free what a finished training run leaves in TensorFlow's globals.

``keras.backend.clear_session()`` and ``gc.collect()`` are not enough: each run leaves
``CustomGradient-N`` entries in TensorFlow's gradient registry that keep its traced graphs
alive (about 5 MB per run; tensorflow/tensorflow#27492). ``toolkit.compat`` drops them.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Iterator

# How long collect_garbage waits for another thread's collection to end before it gives up
# (a collection of a large heap takes well under a second).
COLLECT_PATIENCE_SECONDS = 5.0


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
        # clear_session resets Keras' global state, interactive logging with it: the command
        # line's choice to keep Keras' messages (TerminateOnNaN's "Batch 9: Invalid loss")
        # off stderr held for the first trial only.
        shown = keras.config.is_interactive_logging_enabled()
        keras.backend.clear_session(free_memory=False)
        if not shown:
            keras.config.disable_interactive_logging()
        # Only names this block added; a run's graphs are dead once it has returned.
        compat.drop_custom_gradients(keep=before)
        collect_garbage()


def collect_garbage() -> bool:
    """A full collection run by this thread; True once one ran.

    ``gc.collect()`` does nothing while another thread is collecting (CPython skips a
    collection requested during one), and a sweep's deferred plots allocate in a thread
    while the next trial starts: a finished trial's model then stayed alive until some
    later collection. So retry until this thread's own full collection has run.
    """
    me = threading.get_ident()
    ran = False

    def note(phase: str, info: dict) -> None:
        nonlocal ran
        if phase == "start" and info["generation"] == 2 and threading.get_ident() == me:
            ran = True

    gc.callbacks.append(note)
    try:
        deadline = time.monotonic() + COLLECT_PATIENCE_SECONDS
        while True:
            gc.collect()
            if ran or time.monotonic() > deadline:
                return ran
            time.sleep(0.005)
    finally:
        gc.callbacks.remove(note)
