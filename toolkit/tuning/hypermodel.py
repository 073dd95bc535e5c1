"""The search space as Keras Tuner hyperparameters, named by their config paths."""

from __future__ import annotations

import contextlib
from typing import Any

import keras_tuner

from toolkit.tuning.space import Dimension, SearchSpace


class ConfigHyperModel(keras_tuner.HyperModel):
    """Declares one hyperparameter per tuned config path; a ``when:`` on a tuned path is a
    conditional scope.

    It builds no model: the tuner turns a trial's values into a config and trains it with the
    toolkit's own builders, so ``build`` only declares the space and returns the values.
    """

    def __init__(self, space: SearchSpace) -> None:
        super().__init__(name="config", tunable=True)
        self.space = space

    def build(self, hp: keras_tuner.HyperParameters) -> dict[str, Any]:
        for dim in self.space.dimensions:
            with contextlib.ExitStack() as scopes:
                for parent, values in dim.parents:
                    scopes.enter_context(hp.conditional_scope(parent, list(values)))
                self._declare(hp, dim)
        return {name: value for name, value in hp.values.items() if name in self.space.names}

    @staticmethod
    def _declare(hp: keras_tuner.HyperParameters, dim: Dimension) -> None:
        spec = dim.spec
        if spec.int is not None:
            hp.Int(
                dim.name,
                min_value=int(spec.int[0]),
                max_value=int(spec.int[1]),
                step=None if spec.step is None else int(spec.step),
                sampling=spec.sampling,
            )
        elif spec.float is not None:
            hp.Float(
                dim.name,
                min_value=float(spec.float[0]),
                max_value=float(spec.float[1]),
                step=spec.step,
                sampling=spec.sampling,
            )
        elif spec.boolean is not None:
            hp.Boolean(dim.name, default=spec.boolean)
        else:
            hp.Choice(dim.name, values=dim.choices)
