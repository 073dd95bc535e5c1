"""Regression losses computed on the standardised scale of the target."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="toolkit")
class StandardizedLoss(keras.losses.Loss):
    """Apply a regression loss to ``(y - mean) / std`` of both target and prediction.

    The model outputs original units (see ``TargetScale``); training on the standard scale
    keeps the loss, L2 penalties and KL terms in the proportions they have on unit-scale
    targets, whatever the target's units.
    """

    def __init__(self, base: str, mean: float, std: float, name: str | None = None, **kwargs):
        super().__init__(name=name or base, **kwargs)
        self.base = base
        self.mean = float(mean)
        self.std = float(std)
        self._base_fn = None

    def _fn(self):
        if self._base_fn is None:
            if self.base == "gaussian_nll":
                from toolkit.models.losses import GaussianNLL

                self._base_fn = GaussianNLL(reduction=None)
            else:
                self._base_fn = keras.losses.get(self.base)
        return self._base_fn

    def call(self, y_true, y_pred):
        y_true = (ops.cast(y_true, "float32") - self.mean) / self.std
        y_pred = ops.cast(y_pred, "float32")
        if self.base == "gaussian_nll":
            units = ops.shape(y_pred)[-1] // 2
            location = (y_pred[..., :units] - self.mean) / self.std
            scale = y_pred[..., units:] / self.std
            y_pred = ops.concatenate([location, scale], axis=-1)
        else:
            y_pred = (y_pred - self.mean) / self.std
        return self._fn()(y_true, y_pred)

    def get_config(self) -> dict:
        # Keras' part (name, reduction, dtype) too: a reloaded loss must reduce the same way.
        return {**super().get_config(), "base": self.base, "mean": self.mean, "std": self.std}
