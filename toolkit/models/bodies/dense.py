"""The dense body: blocks of dense -> [batchnorm] -> activation -> [batchnorm] -> dropout,
with optional residual connections; ``flatten`` first for images and signals. The same
blocks are the top of the ``conv`` and ``backbone`` bodies. Layer names (``block<i>_dense``
...) are what ``init_from`` and resume points match, so they do not change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras

from toolkit.config import names
from toolkit.config.schema import ModelConfig
from toolkit.models.uncertainty import Uncertainty, dense, dropout

_RELU_FAMILY = {"relu", "leaky_relu", "elu", "gelu", "swish", "silu", "mish", "relu6", "celu"}


@dataclass(frozen=True)
class Block:
    """A hidden block with every inherited setting filled in."""

    units: int
    activation: str
    dropout: float
    batchnorm: str | None
    l1: float
    l2: float
    initializer: str
    residual: bool


def default_initializer(activation: str) -> str:
    """He for the ReLU family, LeCun for SELU (self-normalising), Glorot otherwise."""
    if activation in _RELU_FAMILY:
        return "he_normal"
    if activation == "selu":
        return "lecun_normal"
    return "glorot_uniform"


def batch_normalization(model: ModelConfig, *, name: str) -> keras.layers.BatchNormalization:
    """Batch normalisation at ``model.batchnorm_momentum``, with the batch statistics of the
    global batch when the model is built under a strategy of several replicas: each
    replica's own part of the batch trained another network than one device did (two
    logical CPUs: loss 0.555 against 0.483 after 3 epochs). One device keeps Keras' own
    two-pass moments (the synchronised ones compute E[x^2] - E[x]^2)."""
    import tensorflow as tf

    return keras.layers.BatchNormalization(
        momentum=model.batchnorm_momentum,
        synchronized=tf.distribute.get_strategy().num_replicas_in_sync > 1,
        name=name,
    )


def resolve_blocks(model: ModelConfig) -> list[Block]:
    """Fill each block's unset fields from the model-level defaults."""
    blocks = []
    for block in model.hidden:

        def pick(key: str, block=block) -> Any:
            value = getattr(block, key)
            return getattr(model, key) if value is None else value

        activation = pick("activation")
        initializer = pick("initializer")
        if initializer == "auto":
            initializer = default_initializer(activation)
        initializer = names.INITIALIZER_ALIASES.get(initializer, initializer)
        batchnorm = pick("batchnorm")
        blocks.append(
            Block(
                units=block.units,
                activation=activation,
                dropout=float(pick("dropout")),
                batchnorm="before" if batchnorm is True else (batchnorm or None),
                l1=float(pick("l1")),
                l2=float(pick("l2")),
                initializer=initializer,
                residual=bool(pick("residual")),
            )
        )
    return blocks


def build_dense_body(
    features: keras.KerasTensor,
    model: ModelConfig,
    *,
    uncertainty: Uncertainty,
    seed: int,
    join: keras.KerasTensor | None = None,
) -> keras.KerasTensor:
    """``model.hidden``'s blocks on top of ``features`` (flattened first with
    ``model.flatten``), with the table features ``join`` concatenated to them."""
    x = features
    if model.flatten and len(x.shape) > 2:
        x = keras.layers.Flatten(name="flatten")(x)
    return dense_blocks(x, model, uncertainty=uncertainty, seed=seed, join=join)


def dense_blocks(
    features: keras.KerasTensor,
    model: ModelConfig,
    *,
    uncertainty: Uncertainty,
    seed: int,
    join: keras.KerasTensor | None = None,
) -> keras.KerasTensor:
    """``model.hidden``'s blocks on a batch of vectors (``features`` and ``join``)."""
    x = features
    if join is not None:
        x = keras.layers.Concatenate(name="joined")([x, join])
    for index, block in enumerate(resolve_blocks(model)):
        prefix = f"block{index}"
        shortcut = x
        h = dense(
            block.units,
            name=f"{prefix}_dense",
            variational=uncertainty.hidden,
            initializer=block.initializer,
            l1=block.l1,
            l2=block.l2,
            # A bias right before batch normalisation is cancelled by its centring.
            use_bias=block.batchnorm != "before",
        )(x)
        if block.batchnorm == "before":
            h = batch_normalization(model, name=f"{prefix}_batchnorm")(h)
        h = keras.layers.Activation(block.activation, name=f"{prefix}_activation")(h)
        if block.batchnorm == "after":
            h = batch_normalization(model, name=f"{prefix}_batchnorm")(h)
        if block.dropout > 0:
            h = dropout(
                block.dropout,
                seed=seed + index,
                name=f"{prefix}_dropout",
                mc_dropout=uncertainty.mc_dropout,
            )(h)
        if block.residual:
            if shortcut.shape[-1] != block.units:
                shortcut = keras.layers.Dense(
                    block.units, use_bias=False, name=f"{prefix}_projection"
                )(shortcut)
            h = keras.layers.Add(name=f"{prefix}_residual")([shortcut, h])
        x = h
    return x
