"""The conv body: convolutional blocks, Conv2D for images and Conv1D for signals (chosen by
the input's rank), then global pooling (or flatten) and the dense blocks of ``model.hidden``.

A block is ``convs`` x (conv -> [batchnorm] -> activation), optionally with a skip
connection around them (projected by a 1x1 convolution when the shapes differ, as in
ResNet), then pooling and dropout. Layers are named ``conv<i>_...`` so ``init_from`` and
``freeze`` can match blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras

from toolkit.config import names
from toolkit.config.schema import ModelConfig
from toolkit.models.bodies.dense import batch_normalization, default_initializer, dense_blocks
from toolkit.models.uncertainty import Uncertainty, dropout


@dataclass(frozen=True)
class ConvBlock:
    """A convolutional block with every inherited setting filled in."""

    filters: int
    kernel_size: int
    strides: int
    convs: int
    padding: str
    pooling: str | None
    pool_size: int
    batchnorm: bool
    dropout: float
    activation: str
    l2: float
    residual: bool


def resolve_conv_blocks(model: ModelConfig) -> list[ConvBlock]:
    """Each block's unset fields from the ``conv:`` section, its activation and L2 from the
    model's when the section leaves them unset."""
    section = model.conv
    blocks = []
    for block in section.blocks:

        def pick(key: str, block=block) -> Any:
            value = getattr(block, key)
            return getattr(section, key) if value is None else value

        activation = pick("activation") or model.activation
        l2 = pick("l2")
        pooling = pick("pooling")
        blocks.append(
            ConvBlock(
                filters=block.filters,
                kernel_size=pick("kernel_size"),
                strides=pick("strides"),
                convs=pick("convs"),
                padding=pick("padding"),
                pooling=None if pooling == "none" else pooling,
                pool_size=pick("pool_size"),
                batchnorm=bool(pick("batchnorm")),
                dropout=float(pick("dropout")),
                activation=activation,
                l2=float(model.l2 if l2 is None else l2),
                residual=bool(pick("residual")),
            )
        )
    return blocks


def _layers(rank: int):
    """Conv, pooling and global pooling classes for inputs of ``rank`` (3: signals, 4: images)."""
    layers = keras.layers
    if rank == 3:
        return (
            layers.Conv1D,
            {"max": layers.MaxPooling1D, "avg": layers.AveragePooling1D},
            {
                "max": layers.GlobalMaxPooling1D,
                "avg": layers.GlobalAveragePooling1D,
            },
        )
    return (
        layers.Conv2D,
        {"max": layers.MaxPooling2D, "avg": layers.AveragePooling2D},
        {
            "max": layers.GlobalMaxPooling2D,
            "avg": layers.GlobalAveragePooling2D,
        },
    )


def build_conv_body(
    features: keras.KerasTensor,
    model: ModelConfig,
    *,
    uncertainty: Uncertainty,
    seed: int,
    join: keras.KerasTensor | None = None,
) -> keras.KerasTensor:
    """Convolutional blocks on ``features`` (batch, H, W, C) or (batch, L, C), pooled to a
    vector, then ``model.hidden``'s dense blocks (with ``join`` concatenated first)."""
    conv, pools, global_pools = _layers(len(features.shape))
    x = features
    for index, block in enumerate(resolve_conv_blocks(model)):
        prefix = f"conv{index}"
        initializer = (
            default_initializer(block.activation)
            if model.initializer == "auto"
            else model.initializer
        )
        initializer = names.INITIALIZER_ALIASES.get(initializer, initializer)
        regularizer = keras.regularizers.L2(block.l2) if block.l2 else None
        shortcut = x
        h = x
        for step in range(block.convs):
            last = step == block.convs - 1
            h = conv(
                block.filters,
                block.kernel_size,
                strides=block.strides if step == 0 else 1,
                padding=block.padding,
                kernel_initializer=initializer,
                kernel_regularizer=regularizer,
                # A bias right before batch normalisation is cancelled by its centring.
                use_bias=not block.batchnorm,
                name=f"{prefix}_conv{step}",
            )(h)
            if block.batchnorm:
                h = batch_normalization(model, name=f"{prefix}_batchnorm{step}")(h)
            if block.residual and last:
                # ResNet order: the skip joins before the block's last activation.
                if shortcut.shape[-1] != block.filters or block.strides != 1:
                    shortcut = conv(
                        block.filters,
                        1,
                        strides=block.strides,
                        padding="same",
                        use_bias=False,
                        kernel_initializer=initializer,
                        name=f"{prefix}_projection",
                    )(shortcut)
                h = keras.layers.Add(name=f"{prefix}_residual")([shortcut, h])
            h = keras.layers.Activation(block.activation, name=f"{prefix}_activation{step}")(h)
        if block.pooling is not None:
            h = pools[block.pooling](block.pool_size, padding="same", name=f"{prefix}_pool")(h)
        if block.dropout > 0:
            h = dropout(
                block.dropout,
                seed=seed + 1000 + index,
                name=f"{prefix}_dropout",
                mc_dropout=uncertainty.mc_dropout,
            )(h)
        x = h
    if model.conv.global_pooling == "flatten":
        x = keras.layers.Flatten(name="flatten")(x)
    else:
        x = global_pools[model.conv.global_pooling](name="global_pool")(x)
    return dense_blocks(x, model, uncertainty=uncertainty, seed=seed, join=join)
