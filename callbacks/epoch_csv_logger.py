"""Keras' CSVLogger with epochs counted from 1 and columns that survive a resumed fit."""

from __future__ import annotations

import csv
import os
from typing import Any

import keras


class EpochCSVLogger(keras.callbacks.CSVLogger):
    """`keras.callbacks.CSVLogger` whose `epoch` column counts from 1, like the progress bar.

    Appending (`append=True`) to a file that has a header keeps that header's columns.
    Keras' logger fixes its columns from the first epoch's logs of each fit, so a resumed
    fit whose first epoch logs other keys (a monitor that measures only some epochs)
    would write rows that do not line up with the header. Keys the header lacks are not
    written; columns the logs lack are written as `NA`, as Keras does.

    Takes the same arguments as `keras.callbacks.CSVLogger`.
    """

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        header = self._existing_header() if self.append else None
        super().on_train_begin(logs)
        if header:
            self.keys = [column for column in header if column != "epoch"]

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        super().on_epoch_end(epoch + 1, logs)

    def _existing_header(self) -> list[str] | None:
        if not os.path.exists(self.filename):
            return None
        with open(self.filename, newline="", encoding="utf-8") as handle:
            return next(csv.reader(handle, delimiter=self.sep), None)
