"""``build_model``: the one path from the config's ``model:`` section and a fitted feature spec
to a ``keras.Model``, used by train, tune, evaluate and the tests.

A network is ``inputs -> body -> head``, each taken from its own registry
(``toolkit.models.inputs``, ``.bodies``, ``.heads``); the uncertainty options are resolved once
(``toolkit.models.uncertainty``) and apply to whichever body and head are chosen.
"""

from __future__ import annotations

import math

import keras

from toolkit.config.schema import ExperimentConfig, ModelConfig
from toolkit.data.preprocessing import FeatureSpec
from toolkit.models import bodies, heads, inputs
from toolkit.models.ensemble import build_members, divide_penalties
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
    if model_config.weight_prior_scale is not None:
        scale = model_config.weight_prior_scale
        # 1 / (2 scale^2 n), divided step by step: scale**2 overflowed (an OverflowError
        # traceback) for a scale of 1e200, whose decay is 0 to float precision.
        model_config = model_config.model_copy(
            update={"l2": 0.5 / max(train_size, 1) / scale / scale}
        )
    model_inputs: dict[str, keras.KerasTensor] = {}
    table = None
    if spec.has_table:
        table_inputs, table = inputs.get("table")(spec)
        model_inputs.update(table_inputs)
    kind = "image" if spec.image is not None else "signal" if spec.signal is not None else None
    if kind is None:
        features, join = table, None
    else:
        # Images and signals go through the body; table columns beside them join its
        # features before the dense blocks.
        array_inputs, features = inputs.get(kind)(spec)
        model_inputs = {**array_inputs, **model_inputs}
        join = table
    if model_config.first_layer_l1_prior_scale is not None:
        model_config = first_layer_prior(
            model_config,
            train_size=train_size,
            inputs=first_layer_width(model_config, features, join),
        )
    if model_config.ensemble is not None:
        # Each member's penalties count 1/members in the loss, as its data loss does.
        model_config = divide_penalties(model_config, model_config.ensemble.members)
        uncertainty = uncertainty.divide_kl(model_config.ensemble.members)
    body = bodies.get(model_config.body)
    head = heads.get(heads.head_name(model_config))

    def network(x: keras.KerasTensor, seed: int, joined: keras.KerasTensor | None):
        x = body(x, model_config, uncertainty=uncertainty, seed=seed, join=joined)
        return head(x, spec, uncertainty=uncertainty)

    if model_config.ensemble is None:
        outputs = network(features, config.seed, join)
    else:
        outputs = build_members(
            features, network, members=model_config.ensemble.members, seed=config.seed, join=join
        )
    if config.prediction.temperature_scaling:
        outputs = TemperatureScale(name="temperature", dtype="float32")(outputs)
    name = config.name.replace(".", "_")
    bayesian = model_config.bayesian
    with inputs.renamed_inputs_quietly():
        if model_config.variational and (bayesian.train_samples > 1 or bayesian.kl_warmup_epochs):
            return VariationalModel(
                inputs=model_inputs,
                outputs=outputs,
                name=name,
                train_samples=bayesian.train_samples,
            )
        return keras.Model(inputs=model_inputs, outputs=outputs, name=name)


def first_layer_width(
    model: ModelConfig, features: keras.KerasTensor, join: keras.KerasTensor | None
) -> int:
    """The number of inputs of the dense body's first kernel: the features' last axis (all
    but the batch axis, flattened, with ``model.flatten``) and the joined table columns."""
    shape = features.shape[1:]
    width = math.prod(shape) if model.flatten else shape[-1]
    return int(width + (join.shape[-1] if join is not None else 0))


def first_layer_prior(model: ModelConfig, *, train_size: int, inputs: int) -> ModelConfig:
    """``model`` with ``first_layer_l1_prior_scale``'s Laplace prior as the first block's l1:
    1 / (b n) per |w| for n training rows, or inputs / (b n) with
    ``first_layer_l1_prior_per_input`` (the schema has checked that nothing else sets it)."""
    scale = model.first_layer_l1_prior_scale
    if model.first_layer_l1_prior_per_input:
        scale = scale / max(inputs, 1)
    # Divided step by step, as weight_prior_scale's decay is: no product to overflow.
    first = model.hidden[0].model_copy(update={"l1": 1.0 / max(train_size, 1) / scale})
    return model.model_copy(update={"hidden": [first, *model.hidden[1:]]})


def block_prefixes(model: ModelConfig) -> list[str]:
    """The layer-name prefixes of the body's blocks in order: convolutional, then dense."""
    conv = [f"conv{i}_" for i in range(len(model.conv.blocks))] if model.body == "conv" else []
    return conv + [f"block{i}_" for i in range(len(model.hidden))]


def matching_layers(model: keras.Model, source: keras.Model) -> list[str]:
    """The layers of ``model`` with weights that ``source`` has under the same name and with
    the same shapes: what ``transfer_weights`` copies."""
    source_layers = {layer.name: layer for layer in source.layers}
    matched = []
    for layer in model.layers:
        other = source_layers.get(layer.name)
        if other is None or not layer.weights:
            continue
        mine, theirs = layer.weights, other.weights
        if len(mine) == len(theirs) and all(
            tuple(a.shape) == tuple(b.shape) for a, b in zip(mine, theirs, strict=True)
        ):
            matched.append(layer.name)
    return matched


def frozen_layers(
    model: keras.Model, *, freeze: int, prefixes: list[str] | None = None
) -> list[keras.layers.Layer]:
    """The layers of the first ``freeze`` blocks (of ``prefixes``, default the dense blocks
    ``block<i>_``)."""
    frozen = tuple((prefixes or [f"block{i}_" for i in range(freeze)])[:freeze])
    return [layer for layer in model.layers if frozen and layer.name.startswith(frozen)]


def transfer_weights(
    model: keras.Model, source: keras.Model, *, freeze: int, prefixes: list[str] | None = None
) -> list[str]:
    """Copy weights layer by layer where names and shapes match; freeze the first ``freeze``
    blocks (of ``prefixes``, default the dense blocks ``block<i>_``).

    Returns the names of the layers whose weights were copied.
    """
    copied = matching_layers(model, source)
    for name in copied:
        model.get_layer(name).set_weights(source.get_layer(name).get_weights())
    for layer in frozen_layers(model, freeze=freeze, prefixes=prefixes):
        layer.trainable = False
    return copied
