"""The training loss of an ensemble: the average of its members' own losses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="toolkit")
class EnsembleLoss(keras.losses.Loss):
    """Apply ``base`` to every member of ``y_pred`` of shape ``(batch, members, outputs)`` and
    average over members.

    A member's weights get the gradient of its own loss only (divided by the number of
    members, which Adam's per-weight scaling cancels; the builder divides the members'
    weight penalties and KL terms by the same number), so the members train as independent
    networks that happen to share batches.
    """

    def __init__(
        self, base: keras.losses.Loss | Callable | dict | str, name: str | None = None, **kwargs
    ):
        if isinstance(base, dict | str):
            base = keras.losses.get(base)
        super().__init__(name=name or getattr(base, "name", None) or base.__name__, **kwargs)
        self.base = base
        # A Loss object's call() gives per-row values; a loss function (hinge) already does.
        self._per_row = base.call if isinstance(base, keras.losses.Loss) else base

    def call(self, y_true: Any, y_pred: Any) -> Any:
        members = y_pred.shape[1]
        per_member = [self._per_row(y_true, y_pred[:, index]) for index in range(members)]
        return ops.mean(ops.stack(per_member, axis=-1), axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "base": keras.losses.serialize(self.base)}
