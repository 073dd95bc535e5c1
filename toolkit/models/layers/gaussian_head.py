"""Output layer that parameterises a diagonal Gaussian predictive distribution."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from toolkit.models.layers.dense_variational import DenseVariational


@keras.saving.register_keras_serializable(package="toolkit")
class GaussianHead(keras.layers.Layer):
    """Maps features to ``concat([mean, scale], axis=-1)`` of shape ``(..., 2 * units)``.

    A Keras 3 layer cannot return a distribution object, so the head outputs the
    parameters; ``toolkit.models.losses.GaussianNLL`` consumes them. The scale is
    ``softplus(raw) + min_scale``, keeping it positive and bounded away from zero
    (aleatoric uncertainty). With ``variational`` set, the mean and scale projections
    are ``DenseVariational`` layers built with those keyword arguments, so a Bayesian
    network also carries epistemic uncertainty into the head.

    Args:
        units: Number of predicted targets.
        min_scale: Lower bound added to the predicted scale.
        initial_scale: Every predicted scale starts here (1 suits standardised targets).
        variational: ``DenseVariational`` keyword arguments (without ``units``), or
            ``None`` for deterministic ``Dense`` projections.
        kernel_initializer: Kernel initializer of both projections (of the posterior mean
            when variational, unless ``variational`` sets its own).
        bias_initializer: Bias initializer of both projections, likewise.
        homoscedastic: One learned scale for every row (a point estimate, also in a
            variational network) instead of a scale projected from the features.
    """

    def __init__(
        self,
        units: int = 1,
        min_scale: float = 1e-3,
        initial_scale: float = 1.0,
        variational: dict[str, Any] | None = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        homoscedastic: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if units <= 0:
            raise ValueError(f"units must be positive, got {units}")
        if min_scale < 0:
            raise ValueError(f"min_scale must be non-negative, got {min_scale}")
        self.units = int(units)
        self.min_scale = float(min_scale)
        self.initial_scale = float(initial_scale)
        self.variational = dict(variational) if variational is not None else None
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.homoscedastic = bool(homoscedastic)
        # Sublayers inherit this layer's dtype policy (mixed precision).
        common: dict[str, Any] = {
            "units": self.units,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
        }
        # Every scale starts at ``initial_scale`` (1 suits standardised targets): scales drawn
        # near ``min_scale`` give huge NLL gradients, and the network then learns to inflate
        # its variance instead of fitting the mean.
        start = math.log(math.expm1(max(self.initial_scale - self.min_scale, 1e-6)))
        self._scale_start = start
        scale_init = {"bias_initializer": keras.initializers.Constant(start)}
        self.scale_layer = None
        if self.variational is None:
            self.mean_layer = keras.layers.Dense(name="mean", dtype=self.dtype_policy, **common)
            if not self.homoscedastic:
                self.scale_layer = keras.layers.Dense(
                    name="scale",
                    dtype=self.dtype_policy,
                    **{**common, **scale_init, "kernel_initializer": "zeros"},
                )
        else:
            # The user's dict may override the initializers; units, name and dtype are fixed.
            fixed = {"units": self.units, "dtype": self.dtype_policy}
            self.mean_layer = DenseVariational(
                **{**common, **self.variational, **fixed, "name": "mean"}
            )
            if not self.homoscedastic:
                self.scale_layer = DenseVariational(
                    **{**common, **scale_init, **self.variational, **fixed, "name": "scale"}
                )

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.mean_layer.build(input_shape)
        if self.scale_layer is not None:
            self.scale_layer.build(input_shape)
        else:
            self.raw_scale = self.add_weight(
                name="raw_scale",
                shape=(self.units,),
                initializer=keras.initializers.Constant(self._scale_start),
                autocast=False,
            )

    def call(self, inputs: Any) -> Any:
        mean = self.mean_layer(inputs)
        if self.scale_layer is not None:
            raw = self.scale_layer(inputs)
        else:
            raw = ops.zeros_like(mean) + ops.cast(self.raw_scale, mean.dtype)
        scale = ops.softplus(raw) + ops.cast(self.min_scale, mean.dtype)
        return ops.concatenate([mean, scale], axis=-1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape[:-1], 2 * self.units)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "min_scale": self.min_scale,
                "initial_scale": self.initial_scale,
                "variational": self.variational,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "homoscedastic": self.homoscedastic,
            }
        )
        return config
