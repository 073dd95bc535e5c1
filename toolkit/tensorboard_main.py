"""The process ``toolkit tensorboard`` becomes: TensorBoard's own main after a silent
TensorFlow import.

TensorBoard imports TensorFlow, whose C++ start-up writes lines to stderr that no log level
silences (absl's pre-initialisation notice, a CUDA probe on CPU-only machines, the CPU
feature notice). The command line keeps them off the terminal, as ``toolkit train`` does;
``TF_CPP_MIN_LOG_LEVEL=0`` shows them again. TensorBoard's note on its fast loading is
dropped too: it tells the user to pass ``--load_fast=false``, which ``toolkit tensorboard``
does not take.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from toolkit import startup

# The first line of the note TensorBoard writes, in one call, when it picks its data server on
# its own (``--load_fast=auto``, the default): "NOTE: Using experimental fast data loading
# logic. To disable, pass "--load_fast=false" and report issues on GitHub ...". The data
# server is kept (it falls back to the Python loader by itself when it cannot start).
_FAST_LOADING_NOTE = "Using experimental fast data loading logic"


class _StderrWithoutFastLoadingNote:
    """stderr, less TensorBoard's fast-loading note; every other write passes through."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if _FAST_LOADING_NOTE in text:
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main() -> None:
    startup.quiet()
    sys.stderr = _StderrWithoutFastLoadingNote(sys.stderr)
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "0":
        with startup.native_stderr_silenced():
            import tensorflow  # noqa: F401
    from tensorboard.main import run_main

    sys.argv[0] = "tensorboard"
    run_main()


if __name__ == "__main__":
    main()
