"""``build_model``: the one path from the config's ``model:`` section and a fitted feature spec
to a ``keras.Model``, used by train, tune, evaluate and the tests.

A network is ``inputs -> body -> head``, each taken from its own registry
(``toolkit.models.inputs``, ``.bodies``, ``.heads``); the uncertainty options are resolved once
(``toolkit.models.uncertainty``) and apply to whichever body and head are chosen.
"""

from __future__ import annotations

import keras

from toolkit.config.schema import ExperimentConfig
from toolkit.data.preprocessing import FeatureSpec
from toolkit.models import bodies, heads, inputs
from toolkit.models.ensemble import build_members
from toolkit.models.layers.temperature_scale import TemperatureScale
from toolkit.models.uncertainty import Uncertainty
from toolkit.models.variational_model import VariationalModel


def build_model(config: ExperimentConfig, spec: FeatureSpec, *, train_size: int) -> keras.Model:
    """The uncompiled network for ``config``, preprocessing included.

    An ensemble wraps whatever body and head the config names: its output is the members'
    outputs stacked on axis 1, ``(batch, members, outputs)``.
    """
    model_config = config.model
    uncertainty = Uncertainty.from_config(model_config, train_size=train_size)
    # Tables are the only kind of data and dense blocks the only body the config can ask
    # for so far; images, signals and other bodies will be chosen by config fields.
    model_inputs, features = inputs.get("table")(spec)
    body = bodies.get("dense")
    head = heads.get(heads.head_name(model_config))

    def network(x: keras.KerasTensor, seed: int) -> keras.KerasTensor:
        x = body(x, model_config, uncertainty=uncertainty, seed=seed)
        return head(x, spec, uncertainty=uncertainty)

    if model_config.ensemble is None:
        outputs = network(features, config.seed)
    else:
        outputs = build_members(
            features, network, members=model_config.ensemble.members, seed=config.seed
        )
    if config.prediction.temperature_scaling:
        outputs = TemperatureScale(name="temperature", dtype="float32")(outputs)
    name = config.name.replace(".", "_")
    bayesian = model_config.bayesian
    if model_config.variational and (bayesian.train_samples > 1 or bayesian.kl_warmup_epochs):
        return VariationalModel(
            inputs=model_inputs, outputs=outputs, name=name, train_samples=bayesian.train_samples
        )
    return keras.Model(inputs=model_inputs, outputs=outputs, name=name)


def transfer_weights(model: keras.Model, source: keras.Model, *, freeze: int) -> list[str]:
    """Copy weights layer by layer where names and shapes match; freeze the first blocks.

    Returns the names of the layers whose weights were copied.
    """
    copied = []
    source_layers = {layer.name: layer for layer in source.layers}
    for layer in model.layers:
        other = source_layers.get(layer.name)
        if other is None or not layer.weights:
            continue
        mine, theirs = layer.get_weights(), other.get_weights()
        if len(mine) == len(theirs) and all(
            a.shape == b.shape for a, b in zip(mine, theirs, strict=True)
        ):
            layer.set_weights(theirs)
            copied.append(layer.name)
    for layer in model.layers:
        if any(layer.name.startswith(f"block{i}_") for i in range(freeze)):
            layer.trainable = False
    return copied
