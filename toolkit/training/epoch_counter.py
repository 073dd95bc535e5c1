"""Tells the training input pipeline which epoch Keras is starting."""

from __future__ import annotations

import keras


class EpochCounter(keras.callbacks.Callback):
    """Sets ``variable`` to the epoch number at the start of every epoch.

    Keras calls ``on_epoch_begin`` before it starts the epoch's data iterator, so a dataset
    made by ``toolkit.data.pipeline.make_dataset(..., epoch=variable)`` shuffles by the epoch
    it serves, including the first epoch of a resumed run.
    """

    def __init__(self, variable) -> None:
        super().__init__()
        self.variable = variable

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.variable.assign(epoch)
