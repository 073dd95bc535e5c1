"""A functional model whose training loss is an ELBO estimated from several forward passes,
with its KL terms annealed."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import ops

from toolkit.models.layers.dense_variational import DenseVariational


@keras.saving.register_keras_serializable(package="toolkit")
class VariationalModel(keras.Model):
    """``keras.Model(inputs, outputs)`` with a training loss of

        mean over ``train_samples`` passes of [likelihood term + other penalties]
        + ``kl_factor`` * KL,

    the ELBO of Blundell et al. (2015) with the expected log-likelihood estimated from
    ``train_samples`` weight samples instead of one (each pass draws new weights and, with
    Flipout, new sign vectors). ``kl_factor`` (a non-trainable variable, 1 by default) is the
    KL annealing weight that ``toolkit.training.kl_annealing`` raises from 0 to 1 over the
    first epochs. Validation and evaluation use one pass and the full KL, so ``val_loss`` is
    comparable across epochs.
    """

    def __init__(self, *args: Any, train_samples: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if train_samples < 1:
            raise ValueError(f"train_samples must be at least 1, got {train_samples}")
        self.train_samples = int(train_samples)
        self.kl_factor = keras.Variable(1.0, trainable=False, dtype="float32", name="kl_factor")

    def _kl(self) -> Any:
        """The KL terms the variational layers added in the latest forward pass, as they
        count in Keras' loss: under a tf.distribute strategy Keras divides every added loss
        by the number of replicas (their gradients are summed), so the part taken back for
        annealing is divided alike (undivided, two replicas trained on -KL/2 at the first
        epoch of a warm-up)."""
        terms = [
            loss
            for layer in self._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, DenseVariational)
            for loss in layer.losses
        ]
        if not terms:
            return 0.0
        kl = ops.sum(ops.stack([ops.cast(t, "float32") for t in terms]))
        return kl / float(tf.distribute.get_strategy().num_replicas_in_sync)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not training:
            return super().compute_loss(x, y, y_pred, sample_weight, training=False)
        total = 0.0
        for index in range(self.train_samples):
            if index:
                y_pred = self(x, training=True)
            # Keras' loss holds the likelihood, regularisers and the KL at full weight.
            full = super().compute_loss(x, y, y_pred, sample_weight, training=True)
            total = total + full - (1.0 - self.kl_factor) * self._kl()
        return total / float(self.train_samples)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "train_samples": self.train_samples}
