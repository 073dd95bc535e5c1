"""The uncertainty options of ``model:``, resolved once, and the layer factories that honour them.

Bodies and heads make their dense and dropout layers through ``dense`` and ``dropout`` here,
so variational weights (``bayesian``) and MC dropout apply to every body and head without
either of them reading those parts of the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras

from toolkit.config.schema import ModelConfig
from toolkit.models.layers.dense_variational import DenseVariational
from toolkit.models.layers.mc_dropout import MCDropout


@dataclass(frozen=True)
class Uncertainty:
    """``hidden``/``output``: DenseVariational arguments for the body's and the head's dense
    layers (None: point weights); ``mc_dropout``: dropout stays on at prediction."""

    hidden: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    mc_dropout: bool = False

    @classmethod
    def from_config(cls, model: ModelConfig, *, train_size: int) -> Uncertainty:
        """``kl_weight: auto`` spreads the KL term over the training rows: 1 / train_size."""
        bayesian = model.bayesian
        if bayesian is None:
            return cls(mc_dropout=model.mc_dropout)
        kl_weight = 1.0 / train_size if bayesian.kl_weight == "auto" else float(bayesian.kl_weight)
        variational = {
            "prior": bayesian.prior,
            "prior_scale": bayesian.prior_scale,
            "posterior_scale_init": bayesian.posterior_scale_init,
            "kl_weight": kl_weight,
            "estimator": bayesian.estimator,
        }
        return cls(
            hidden=variational if bayesian.layers == "all" else None,
            output=variational,
            mc_dropout=model.mc_dropout,
        )

    def divide_kl(self, members: int) -> Uncertainty:
        """The variational layers' KL weight divided by ``members``: an ensemble's loss is the
        mean of its members' objectives (see ``toolkit.models.ensemble.divide_penalties``)."""

        def divided(variational: dict[str, Any] | None) -> dict[str, Any] | None:
            if variational is None:
                return None
            return {**variational, "kl_weight": variational["kl_weight"] / members}

        return Uncertainty(
            hidden=divided(self.hidden), output=divided(self.output), mc_dropout=self.mc_dropout
        )


def dense(
    units: int,
    *,
    name: str,
    variational: dict[str, Any] | None,
    initializer: str = "glorot_uniform",
    l1: float = 0.0,
    l2: float = 0.0,
    use_bias: bool = True,
    dtype: str | None = None,
) -> keras.layers.Layer:
    """A ``DenseVariational`` layer when ``variational`` is given, else a ``Dense`` one."""
    if variational is not None:
        return DenseVariational(
            units,
            kernel_initializer=initializer,
            use_bias=use_bias,
            name=name,
            dtype=dtype,
            **variational,
        )
    regularizer = keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None
    return keras.layers.Dense(
        units,
        kernel_initializer=initializer,
        kernel_regularizer=regularizer,
        use_bias=use_bias,
        name=name,
        dtype=dtype,
    )


def dropout(rate: float, *, seed: int, name: str, mc_dropout: bool) -> keras.layers.Layer:
    """``MCDropout`` (on at prediction too) when ``mc_dropout``, else Keras' ``Dropout``."""
    if mc_dropout:
        return MCDropout(rate, seed=seed, name=name)
    return keras.layers.Dropout(rate, seed=seed, name=name)
