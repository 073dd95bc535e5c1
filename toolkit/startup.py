"""When and how TensorFlow starts: after a command's fast checks, optionally without its noise.

The library imports TensorFlow only where a function needs it. The command line sets the
policy once (``quiet()``): TensorFlow's C++ start-up lines (oneDNN, CUDA stubs) kept off
stderr, and Keras' own messages (TerminateOnNaN's "Batch 9: Invalid loss" on stdout) sent to
its logger, so the CLI's stdout holds only paths. In a notebook nothing is hidden.
"""

from __future__ import annotations

import os
import sys

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
    quiet = _policy["quiet"] and os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") != "0"
    if quiet and "tensorflow" not in sys.modules:
        # Those lines ignore TF_CPP_MIN_LOG_LEVEL: file descriptor 2 points at /dev/null
        # during the import, so errors stay one line.
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 2)
                import tensorflow
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    import tensorflow  # noqa: F401

    if not _policy["keras_messages"]:
        import keras

        keras.config.disable_interactive_logging()
