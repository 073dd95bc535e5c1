"""Keras callback that puts the optimizer's current learning rate into the epoch logs."""

from __future__ import annotations

from typing import Any

import keras

from ._convert import to_float


class LearningRateLogger(keras.callbacks.Callback):
    """Adds `learning_rate` to the epoch `logs`, so `History` and `CSVLogger` record it.

    The value is the optimizer's rate when the epoch ends, before any callback changes
    it: the rate the epoch trained with, as Keras' own `ReduceLROnPlateau` logs it. A
    `LearningRateSchedule` is evaluated at `optimizer.iterations`. Place it first in the
    callback list (before `ReduceLROnPlateau`, `CSVLogger` and `TensorBoard`): callbacks
    see the logs in list order, and `CSVLogger` fixes its columns at the first epoch. It writes no TensorBoard summary
    of its own: Keras' `TensorBoard` callback writes every logged value (this one as
    `epoch_learning_rate`), and a second writer would only duplicate the tag.
    """

    def get_config(self) -> dict[str, Any]:
        return {}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = self.current_learning_rate()

    def current_learning_rate(self) -> float:
        """The model optimizer's learning rate at its current iteration."""
        optimizer = self.model.optimizer
        if optimizer is None:
            raise ValueError("LearningRateLogger needs a compiled model with an optimizer.")
        # LossScaleOptimizer wraps the optimizer that owns the learning rate.
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        learning_rate = optimizer.learning_rate
        # Keras 3 already evaluates schedules in the `learning_rate` property; this
        # covers optimizers that hand back the schedule object or a callable.
        if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            learning_rate = learning_rate(optimizer.iterations)
        elif callable(learning_rate) and not isinstance(learning_rate, keras.Variable):
            learning_rate = learning_rate()
        return to_float(learning_rate)
