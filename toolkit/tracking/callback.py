"""``EpochMetricsLogger``: hands each epoch's logs to a tracker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras


class EpochMetricsLogger(keras.callbacks.Callback):
    """Calls ``log(logs, epoch)`` at the end of each epoch, the epoch counted from 1."""

    def __init__(self, log: Callable[[dict[str, Any], int], None]) -> None:
        super().__init__()
        self._log = log

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._log(dict(logs or {}), epoch + 1)
