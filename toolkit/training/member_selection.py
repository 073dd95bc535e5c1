"""Keep each ensemble member at its own best validation epoch."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np


class MemberSelection(keras.callbacks.Callback):
    """At the end of training, set every member of an ensemble to the weights of the epoch
    with its own best validation loss (``val_member<i>_loss``).

    Trained apart, as Lakshminarayanan et al. (2017) train them, each network stops at its
    own best epoch. Trained as one model, early stopping restores one shared epoch: the
    one where the members' average loss was best, at which each member sits at its own
    distance from its optimum. Place it after EarlyStopping in the callback list, so its
    choice replaces the shared one that EarlyStopping restores. Its state (each member's
    best loss, epoch and weights) is part of the run's resume point. Epochs before
    ``start_from_epoch`` (early stopping's) are not candidates, as they are not for early
    stopping's own choice.
    """

    def __init__(self, members: int, start_from_epoch: int = 0):
        super().__init__()
        self.members = int(members)
        self.start_from_epoch = int(start_from_epoch)
        self.best: list[float | None] = [None] * self.members
        self.best_epochs: list[int | None] = [None] * self.members
        self.best_weights: list[list[np.ndarray] | None] = [None] * self.members

    def _member(self, index: int) -> keras.Model:
        return self.model.get_layer(f"member{index}")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if epoch < self.start_from_epoch:
            return
        for index in range(self.members):
            current = logs.get(f"val_member{index}_loss")
            if current is None or not math.isfinite(current):
                continue
            if self.best[index] is None or current < self.best[index]:
                self.best[index] = float(current)
                self.best_epochs[index] = epoch
                self.best_weights[index] = [np.array(w) for w in self._member(index).get_weights()]

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.restore()

    def restore(self) -> None:
        """Set every member that has a best epoch to its weights then."""
        for index, weights in enumerate(self.best_weights):
            if weights is not None:
                self._member(index).set_weights(weights)

    @property
    def kept_epochs(self) -> list[int | None]:
        """The epoch (from 1, as run.json counts) whose weights each member keeps."""
        return [None if epoch is None else epoch + 1 for epoch in self.best_epochs]

    # ------------------------------------------------------------------ resume

    def resume_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """What a resume point records: the best losses and epochs (JSON) and weights."""
        arrays = {
            f"{index:03d}/{position:05d}": weight
            for index, weights in enumerate(self.best_weights)
            if weights is not None
            for position, weight in enumerate(weights)
        }
        return {"best": list(self.best), "best_epochs": list(self.best_epochs)}, arrays

    def resume_from(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.best = list(state["best"])
        self.best_epochs = list(state["best_epochs"])
        self.best_weights = [
            None
            if self.best_epochs[index] is None
            else [arrays[key] for key in sorted(k for k in arrays if k.startswith(f"{index:03d}/"))]
            for index in range(self.members)
        ]
