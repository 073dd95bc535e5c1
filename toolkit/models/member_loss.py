"""Track one ensemble member's own loss, so each member can keep its own best epoch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="toolkit")
class MemberLoss(keras.metrics.Mean):
    """The mean of ``base`` on member ``index`` of ``y_pred`` (``(batch, members, outputs)``):
    the data term of that member's objective, without its weight penalty or KL term, which
    is what its held-out fit is judged on."""

    def __init__(self, base: keras.losses.Loss | Callable | dict | str, index: int, **kwargs: Any):
        if isinstance(base, dict | str):
            base = keras.losses.get(base)
        kwargs.setdefault("name", f"member{index}_loss")
        super().__init__(**kwargs)
        self.base = base
        self.index = int(index)
        # A Loss object's call() gives per-row values; a loss function (hinge) already does.
        self._per_row = base.call if isinstance(base, keras.losses.Loss) else base

    def update_state(self, y_true, y_pred, sample_weight=None):
        per_row = self._per_row(y_true, ops.cast(y_pred[:, self.index], "float32"))
        return super().update_state(per_row, sample_weight=sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "base": keras.losses.serialize(self.base),
            "index": self.index,
        }
