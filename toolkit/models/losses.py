"""Custom Keras 3 losses."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@keras.saving.register_keras_serializable(package="toolkit")
class GaussianNLL(keras.losses.Loss):
    """Negative log-likelihood of ``y_true`` under ``Normal(mean, scale)``.

    ``y_pred`` is ``concat([mean, scale], axis=-1)`` of shape ``(batch, 2 * units)``, as
    produced by ``GaussianHead``; ``y_true`` is ``(batch, units)`` or, for one unit,
    ``(batch,)``. Includes the ``0.5 * log(2 * pi)`` constant so values are true NLLs,
    averaged over units (and, with the default reduction, over the batch).
    """

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "gaussian_nll",
        dtype: str | None = None,
    ) -> None:
        # float32 by default even under mixed precision: the NLL of float16 parameters
        # loses too much precision in log/square.
        super().__init__(name=name, reduction=reduction, dtype=dtype or "float32")

    def call(self, y_true: Any, y_pred: Any) -> Any:
        width = y_pred.shape[-1]
        if width is None or width % 2:
            raise ValueError(
                f"y_pred must have an even, known last dimension (mean, scale); got {width}"
            )
        units = width // 2
        mean, scale = y_pred[..., :units], y_pred[..., units:]
        y_true = ops.cast(y_true, mean.dtype)
        if len(y_true.shape) == len(mean.shape) - 1:
            y_true = ops.expand_dims(y_true, -1)
        nll = _HALF_LOG_2PI + ops.log(scale) + 0.5 * ops.square((y_true - mean) / scale)
        return ops.mean(nll, axis=-1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["dtype"] = self.dtype
        return config
