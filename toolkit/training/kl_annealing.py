"""KL annealing: the KL term's weight warms up linearly over the first epochs."""

from __future__ import annotations

import keras


def kl_factor(epoch: int, warmup_epochs: int) -> float:
    """The KL multiplier of 0-based ``epoch``: 0 at the first epoch, rising linearly to 1 at
    epoch ``warmup_epochs`` (Sønderby et al., 2016; Bowman et al., 2016), 1 without warm-up."""
    if warmup_epochs <= 0:
        return 1.0
    return min(1.0, epoch / warmup_epochs)


class KLAnnealing(keras.callbacks.Callback):
    """Set ``model.kl_factor`` (a ``VariationalModel``'s variable) at the start of every
    epoch. It depends on the epoch number only, so a resumed run anneals as an uninterrupted
    one would."""

    def __init__(self, warmup_epochs: int) -> None:
        super().__init__()
        self.warmup_epochs = int(warmup_epochs)

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.model.kl_factor.assign(kl_factor(epoch, self.warmup_epochs))

    def on_train_end(self, logs=None) -> None:
        self.model.kl_factor.assign(1.0)
