"""Atomic file writes with one permission policy, for the callbacks and the toolkit alike.

A file is written under its own name inside a fresh hidden directory beside the target
(``.<name>.<random>.tmp/<name>``), then renamed over the target: a reader sees the old file
or the new one, never half of one. Writing under the real name keeps writers that check the
extension (``model.save`` wants ``.keras``, ``save_weights`` wants ``.weights.h5``) happy, and
the file is created the ordinary way, so it gets ``0666 & ~umask`` like any other file
(``mkstemp`` would make it 0600). Whatever fails, the temporary directory is removed.

Keras-free on purpose: ``toolkit.runs`` re-exports these without starting TensorFlow.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary_path)`` and rename its file onto ``path``; returns ``path``.

    ``write`` creates the file at the path it is given, e.g. ``model.save``,
    ``figure.savefig`` or ``shutil.copyfile(source, ...)``.
    """
    path = Path(path)
    directory = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    temporary = directory / path.name
    try:
        write(temporary)
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda temporary: temporary.write_bytes(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically, as UTF-8."""
    return atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
