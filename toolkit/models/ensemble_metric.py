"""Track a training metric on an ensemble's combined prediction."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

# How the members' outputs combine into the one prediction a metric sees.
_COMBINE = ("location", "binary", "multiclass")


@keras.saving.register_keras_serializable(package="toolkit")
class EnsembleMetric(keras.metrics.Metric):
    """Wrap a metric so it sees the ensemble's prediction, not ``(batch, members, ...)``.

    ``location``: the mean of the members' first ``units`` columns (a regression output, or
    the mean of a Gaussian head's ``[mean, scale]``); ``binary``/``multiclass``: the logit of
    the members' average probability, so thresholds and arg-maxes act on the mixture.
    """

    def __init__(
        self, inner: keras.metrics.Metric | dict, combine: str, units: int = 1, **kwargs: Any
    ):
        inner = (
            inner if isinstance(inner, keras.metrics.Metric) else keras.metrics.deserialize(inner)
        )
        if combine not in _COMBINE:
            raise ValueError(f"combine must be one of {_COMBINE}, got {combine!r}")
        kwargs.setdefault("name", inner.name)
        super().__init__(**kwargs)
        self.inner = inner
        # Keras' callbacks in mode auto (early stopping on val_accuracy) read the direction
        # of a metric by its name; without it they refuse any metric not ending in "loss".
        if hasattr(inner, "_direction"):
            self._direction = inner._direction
        self.combine = combine
        self.units = int(units)

    def _combined(self, y_pred: Any) -> Any:
        y_pred = ops.cast(y_pred, "float32")
        if self.combine == "location":
            return ops.mean(y_pred[..., : self.units], axis=1)
        if self.combine == "binary":
            p = ops.clip(ops.mean(ops.sigmoid(y_pred), axis=1), 1e-7, 1.0 - 1e-7)
            return ops.log(p) - ops.log1p(-p)
        p = ops.mean(ops.softmax(y_pred, axis=-1), axis=1)
        return ops.log(ops.maximum(p, 1e-30))

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.inner.update_state(y_true, self._combined(y_pred), sample_weight=sample_weight)

    def result(self):
        return self.inner.result()

    def reset_state(self):
        self.inner.reset_state()

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "inner": keras.metrics.serialize(self.inner),
            "combine": self.combine,
            "units": self.units,
        }
