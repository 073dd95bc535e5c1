"""The process ``toolkit tensorboard`` becomes: TensorBoard's own main after a silent
TensorFlow import.

TensorBoard imports TensorFlow, whose C++ start-up writes lines to stderr that no log level
silences (absl's pre-initialisation notice, a CUDA probe on CPU-only machines, the CPU
feature notice). The command line keeps them off the terminal, as ``toolkit train`` does;
``TF_CPP_MIN_LOG_LEVEL=0`` shows them again.
"""

from __future__ import annotations

import os
import sys

from toolkit import startup


def main() -> None:
    startup.quiet()
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "0":
        with startup.native_stderr_silenced():
            import tensorflow  # noqa: F401
    from tensorboard.main import run_main

    sys.argv[0] = "tensorboard"
    run_main()


if __name__ == "__main__":
    main()
