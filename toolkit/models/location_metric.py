"""Track a point-prediction metric on the location column of a Gaussian head."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="toolkit")
class LocationMetric(keras.metrics.Metric):
    """Wrap a metric so it sees only the predicted mean of ``[mean, scale]`` outputs."""

    def __init__(self, inner: keras.metrics.Metric | dict, units: int = 1, **kwargs):
        inner = (
            inner if isinstance(inner, keras.metrics.Metric) else keras.metrics.deserialize(inner)
        )
        kwargs.setdefault("name", inner.name)
        super().__init__(**kwargs)
        self.inner = inner
        # Read by Keras' callbacks in mode auto (early stopping on val_rmse), by name.
        if hasattr(inner, "_direction"):
            self._direction = inner._direction
        self.units = int(units)

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.inner.update_state(y_true, y_pred[..., : self.units], sample_weight=sample_weight)

    def result(self):
        return self.inner.result()

    def reset_state(self):
        self.inner.reset_state()

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "inner": keras.metrics.serialize(self.inner),
            "units": self.units,
        }
