"""When and how TensorFlow starts: after a command's fast checks, optionally without its noise.

The library imports TensorFlow only where a function needs it. The command line sets the
policy once (``quiet()``): TensorFlow's C++ start-up lines (oneDNN, CUDA stubs) kept off
stderr, and Keras' own messages (TerminateOnNaN's "Batch 9: Invalid loss" on stdout) sent to
its logger, so the CLI's stdout holds only paths. In a notebook nothing is hidden.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
from collections.abc import Iterator

_policy = {"quiet": False, "keras_messages": True}


def quiet(*, keras_messages: bool = True) -> None:
    """The command line's policy: TensorFlow starts quietly (TF_CPP_MIN_LOG_LEVEL=0 shows its
    lines again); without ``keras_messages``, Keras' interactive messages go to its logger."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # CPU-only machines log a cuInit error
    os.environ.setdefault("MPLBACKEND", "Agg")
    _policy.update(quiet=True, keras_messages=keras_messages)


def import_tensorflow() -> None:
    """Import TensorFlow now, as the policy says. Called by the library once a command is past
    the checks that must not wait for TensorFlow (config, data, paths)."""
    command_line = _policy["quiet"] and "tensorflow" not in sys.modules
    silent = command_line and os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") != "0"
    # Keras imports scikit-learn at start-up for its scikit-learn wrappers, which the toolkit
    # does not use (0.6 s of CPU). On the command line a None entry makes that import fail, as
    # Keras allows (the wrappers then say scikit-learn is missing); the toolkit imports it
    # where it needs it, the baselines in their thread while the network trains.
    without_sklearn = command_line and "sklearn" not in sys.modules
    if without_sklearn:
        sys.modules["sklearn"] = None
    try:
        with _collector_paused() if command_line else contextlib.nullcontext():
            if silent:
                _import_tensorflow_silently()
            import keras  # every command that needs TensorFlow uses Keras too
            import tensorflow  # noqa: F401
    finally:
        if without_sklearn and sys.modules.get("sklearn", 0) is None:
            del sys.modules["sklearn"]

    if not _policy["keras_messages"]:
        keras.config.disable_interactive_logging()


# What Keras Tuner imports for its Bayesian oracle and scikit-learn tuner only.
_BAYESIAN_ONLY = ("sklearn", "scipy.optimize")


def import_keras_tuner(*, bayesian: bool) -> None:
    """Import Keras Tuner now, as the policy says; after ``import_tensorflow``.

    Keras Tuner imports scikit-learn and SciPy's optimizers at its own import for its
    Bayesian oracle (and its scikit-learn tuner, which the toolkit does not use): 0.7 s on
    the main thread before a sweep's first trial, which a random, grid or hyperband search
    never uses. On the command line, for those, None entries make that import fail, as
    Keras Tuner allows; the baselines' thread imports scikit-learn while the network trains,
    and ``toolkit.compat.bayesian_dependencies`` gives the Bayesian oracle what it needs if a
    later search of the process is Bayesian.
    """
    blocked = [
        name
        for name in _BAYESIAN_ONLY
        if _policy["quiet"]
        and not bayesian
        and "keras_tuner" not in sys.modules
        and name not in sys.modules
    ]
    for name in blocked:
        sys.modules[name] = None
    try:
        import keras_tuner  # noqa: F401
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """File descriptor 2 points at /dev/null inside the block: what TensorFlow's C++ code
    writes there ignores TF_CPP_MIN_LOG_LEVEL, and errors stay one line."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _import_tensorflow_silently() -> None:
    # TensorFlow's C++ start-up lines.
    with native_stderr_silenced():
        import tensorflow  # noqa: F401


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The command line's TensorFlow import without Python's cyclic garbage collector, then
    what it loaded set aside from later collections (``gc.freeze``).

    The import creates some 400,000 objects that live as long as the process and no garbage
    cycles; the collector, triggered by the allocations, walked them all six times during the
    import (0.9 s of a 3.3 s import, measured) and again in every full collection after it
    (0.2 s each, a few per run and two per sweep trial). Only the command line does this: in
    a notebook, freezing would also keep the user's garbage of the moment.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
    gc.freeze()


class _NewModelTracing(logging.Filter):
    """Drops TensorFlow's "N out of the last M calls ... triggered tf.function retracing"
    warning for the step functions Keras builds for each model.

    TensorFlow counts traces per Python code object, and the train, test and predict
    functions of every Keras model share the code of ``TensorFlowTrainer``'s nested
    functions. Each new model traces its own functions (predict twice: for its first
    input shape, then for the relaxed one), so training one model per seed, or predicting
    an image at a time with a new ``load_run`` each, reads as one function retracing over
    and over. Nothing is traced more than a single model traces (two models cannot share
    a trace: each graph holds its own weights); other retracing warnings pass.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (
            "triggered tf.function retracing" in message and "TensorFlowTrainer." in message
        )


@contextlib.contextmanager
def new_models_traced_quietly() -> Iterator[None]:
    """Within: no retracing warning for the step functions of each new Keras model (see
    ``_NewModelTracing``), as when training, evaluating or predicting with one model after
    another."""
    quiet = _NewModelTracing()
    logger = logging.getLogger("tensorflow")
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)
