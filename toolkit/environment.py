"""Environment variables set for the length of a block, then put back as they were."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator

# Where Keras Tuner reads a process's role in a distributed sweep (chief's address, worker id).
TUNER_ENV = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


@contextlib.contextmanager
def restored_environment(names: Iterable[str]) -> Iterator[None]:
    """Within the block, ``os.environ`` may change ``names`` freely; afterwards each is back to
    its value before (unset if it was unset). For settings libraries read from the
    environment (Keras Tuner's role, MLflow's retries) that must not outlive the toolkit's
    call in a long-lived process such as a notebook."""
    saved = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
