"""Keras callback that tracks the KL term and predictive spread of stochastic models."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from ._convert import to_float
from .periodic_callback import PeriodicCallback


class UncertaintyMonitor(PeriodicCallback):
    """Adds `kl` and `predictive_std` to the epoch `logs` for Bayesian / MC-dropout models.

    It measures at the end of every `every_n_epochs`-th epoch and of the last one (see
    `PeriodicCallback`); other epochs' logs do not have the two keys. Keras' TensorBoard
    callback, placed after it, writes them as `epoch_kl` and `epoch_predictive_std`.

    Such models sample new weights or dropout masks on every inference call, so
    `samples` calls `model(validation_x)` give a spread of predictions:

    - `predictive_std`: standard deviation across the samples, averaged over rows
      and output columns. If the output has exactly 2 columns it is read as a
      Gaussian head `(mean, scale)` and only column 0 is used, so the value is the
      epistemic spread of the mean. For multi-output models the first output is used.
    - `kl`: `sum(model.losses)` after the first call (the others run traced and do
      not expose their losses): exact for closed-form KL terms, a one-sample estimate
      for sampled ones. Layers add their KL with `self.add_loss`; note `model.losses`
      also holds weight regularization penalties and any other `add_loss` term.

    The calls pass no `training` argument, which in Keras 3 means inference mode
    for ordinary layers (BatchNorm, plain Dropout). An explicit `training=False`
    would be wrong here: a functional model called with it overrides a hard-coded
    `Dropout(rate)(x, training=True)` and switches MC dropout off.

    Every call runs on the whole of `validation_x` at once, so pass a subset of a
    few hundred rows.

    Args:
        validation_x: Model inputs: an array or a dict of arrays.
        samples: Number of stochastic forward passes; at least 2.
        every_n_epochs: Measure on epochs `n, 2n, ...` (counted from 1) and the last: the
            passes can cost more than a short epoch of training.
    """

    def __init__(self, validation_x: Any, samples: int = 10, every_n_epochs: int = 1) -> None:
        super().__init__(log_dir=None, every_n_epochs=every_n_epochs)
        if samples < 2:
            raise ValueError(f"samples must be >= 2 to measure a spread, got {samples}")
        self.validation_x = validation_x
        self.samples = samples
        self._traced = None

    def get_config(self) -> dict[str, Any]:
        return {
            "validation_x": self.validation_x,
            "samples": self.samples,
            "every_n_epochs": self.every_n_epochs,
        }

    def on_sample(self, epoch: int, logs: dict[str, Any]) -> None:
        logs.update(self.measure())

    def measure(self) -> dict[str, float]:
        """Runs the `samples` forward passes and returns `{"kl": ..., "predictive_std": ...}`.

        The model's seed generators are put back afterwards, so training draws the same
        weight samples and dropout masks whether or not it is monitored.
        """
        seeds = [v for v in self.model.variables if v.path.endswith("seed_generator_state")]
        saved = [keras.ops.convert_to_numpy(v) for v in seeds]
        try:
            # No `training=False`: see the class docstring (it disables MC dropout).
            first = self.model(self.validation_x)
            kl = float(sum(to_float(loss) for loss in self.model.losses))
            predictions = [first] + [
                self._forward(self.validation_x) for _ in range(self.samples - 1)
            ]
        finally:
            for variable, value in zip(seeds, saved, strict=True):
                variable.assign(value)
        stacked = np.stack(
            [
                keras.ops.convert_to_numpy(keras.tree.flatten(p)[0]).astype(np.float64)
                for p in predictions
            ]
        )  # (samples, rows, ...)
        if stacked.ndim == 3 and stacked.shape[-1] == 2:
            stacked = stacked[..., 0]
        return {"kl": kl, "predictive_std": float(np.mean(np.std(stacked, axis=0)))}

    def _forward(self, inputs: Any) -> Any:
        """`model(inputs)`, traced once on TensorFlow: an eager pass of a variational network
        took about 25 ms, the traced one a few."""
        if self._traced is None:
            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                self._traced = tf.function(lambda x: self.model(x), reduce_retracing=True)
            else:
                self._traced = self.model
        return self._traced(inputs)

    def set_model(self, model: keras.Model) -> None:
        super().set_model(model)
        self._traced = None
