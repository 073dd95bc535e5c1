"""Keras callback that tracks per-layer gradient norms and warns on vanishing/exploding ones."""

from __future__ import annotations

import logging
import math
import os
import warnings
from typing import Any

import keras
import tensorflow as tf

from .periodic_callback import PeriodicCallback

logger = logging.getLogger(__name__)


class GradientNormMonitor(PeriodicCallback):
    """Computes the L2 norm of the loss gradient for each layer on a fixed sample batch.

    Runs at the end of every `every_n_epochs`-th epoch and of the last one (see
    `PeriodicCallback`): a training-mode forward pass on `sample`, the model's own
    `compute_loss` (compiled loss plus `add_loss` and regularization terms), and
    `tf.GradientTape` gradients. The pass runs inside a
    `keras.StatelessScope`, so BatchNorm statistics, dropout seeds and loss trackers
    are left exactly as training left them. TensorFlow backend only.

    A layer is named by its variables' path without the variable name (for example
    `dense_1` or `backbone/dense`). Its norm is taken over all its trainable
    variables that receive a gradient; layers whose variables get none are skipped.

    Args:
        sample: A small `(x, y)` batch; `x` may be an array or a dict of arrays.
        log_dir: If given, norms are written as TensorBoard scalars
            `gradients/<layer>` at step = the epoch counted from 1, to a writer of their own.
        every_n_epochs: Monitor on epochs `n, 2n, ...` (counted from 1) and the last.
        vanishing_threshold: Warn when a layer's norm is below this.
        exploding_threshold: Warn when a layer's norm is above this.
        warn: Also raise each finding as a `RuntimeWarning` (it is always logged); off where
            the log is already shown, so a finding is not printed twice.

    Attributes:
        last_norms: `{layer: norm}` from the most recent check.
        last_epoch: The epoch of `last_norms` (Keras' 0-based index), or None before the
            first check.
    """

    def __init__(
        self,
        sample: tuple[Any, Any],
        log_dir: str | os.PathLike[str] | None = None,
        every_n_epochs: int = 1,
        vanishing_threshold: float = 1e-7,
        exploding_threshold: float = 1e3,
        warn: bool = True,
    ) -> None:
        super().__init__(log_dir=log_dir, every_n_epochs=every_n_epochs)
        if not 0 <= vanishing_threshold < exploding_threshold:
            raise ValueError(
                "Need 0 <= vanishing_threshold < exploding_threshold, got "
                f"{vanishing_threshold} and {exploding_threshold}"
            )
        x, y = sample
        self.sample = (x, y)
        self.vanishing_threshold = vanishing_threshold
        self.exploding_threshold = exploding_threshold
        self.warn = warn
        self.last_norms: dict[str, float] = {}
        self.last_epoch: int | None = None

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "sample": self.sample,
            "vanishing_threshold": self.vanishing_threshold,
            "exploding_threshold": self.exploding_threshold,
            "warn": self.warn,
        }

    def on_sample(self, epoch: int, logs: dict[str, Any]) -> None:
        norms = self.compute_norms()
        self.last_norms = norms
        self.last_epoch = epoch
        self.write_scalars({f"gradients/{name}": norm for name, norm in norms.items()}, epoch)
        for name, norm in norms.items():
            problem = self._diagnose(norm)
            if problem:
                message = f"GradientNormMonitor: epoch {epoch + 1}: layer {name!r} has {problem} gradient norm {norm:.3g}"
                logger.warning(message)
                if self.warn:
                    warnings.warn(message, RuntimeWarning, stacklevel=2)

    def compute_norms(self) -> dict[str, float]:
        """Per-layer gradient norms of the model's loss on `sample`, without side effects."""
        x, y = self.sample
        model = self.model
        variables = list(model.trainable_variables)
        with tf.GradientTape() as tape:
            # The trainable values are given to the scope: a weight regularizer (l2) reads
            # its variable through the scope's mapping, and got None for one not in it.
            # The gradients are taken with respect to these watched copies.
            values = [tf.identity(variable.value) for variable in variables]
            tape.watch(values)
            # collect_losses=True keeps add_loss terms (e.g. KL) in compute_loss; variable
            # updates made inside the scope (BatchNorm, seeds, metrics) are discarded.
            with keras.StatelessScope(
                state_mapping=list(zip(variables, values, strict=True)), collect_losses=True
            ):
                y_pred = model(x, training=True)
                loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
        gradients = tape.gradient(loss, values)

        squares: dict[str, float] = {}
        for variable, gradient in zip(variables, gradients, strict=True):
            if gradient is None:
                continue
            if isinstance(gradient, tf.IndexedSlices):
                gradient = tf.convert_to_tensor(gradient)
            layer = variable.path.rpartition("/")[0] or variable.path
            # float64 so a huge-but-finite gradient is reported as exploding, not inf.
            value = float(tf.reduce_sum(tf.square(tf.cast(gradient, tf.float64))))
            squares[layer] = squares.get(layer, 0.0) + value
        return {layer: math.sqrt(total) for layer, total in squares.items()}

    def _diagnose(self, norm: float) -> str | None:
        if not math.isfinite(norm):
            return "a non-finite"
        if norm < self.vanishing_threshold:
            return "a vanishing"
        if norm > self.exploding_threshold:
            return "an exploding"
        return None
