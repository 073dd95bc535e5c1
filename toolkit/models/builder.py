"""Build a ``keras.Model`` from the config's ``model:`` section and a fitted feature spec.

Train, tune, evaluate and the tests all come through ``build_model``: one path from config
to model. Heads are looked up in a small explicit registry keyed by (task, head).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras

from toolkit.config import names
from toolkit.config.schema import BayesianConfig, ExperimentConfig, ModelConfig
from toolkit.data.preprocessing import FeatureSpec
from toolkit.models.inputs import build_inputs
from toolkit.models.layers.dense_variational import DenseVariational
from toolkit.models.layers.gaussian_head import GaussianHead
from toolkit.models.layers.mc_dropout import MCDropout
from toolkit.models.layers.target_scale import TargetScale

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


def _variational_kwargs(bayesian: BayesianConfig, train_size: int) -> dict[str, Any]:
    kl_weight = 1.0 / train_size if bayesian.kl_weight == "auto" else float(bayesian.kl_weight)
    return {
        "prior": bayesian.prior,
        "prior_scale": bayesian.prior_scale,
        "kl_weight": kl_weight,
        "estimator": bayesian.estimator,
    }


def _dense(
    units: int,
    *,
    name: str,
    initializer: str = "glorot_uniform",
    l1: float = 0.0,
    l2: float = 0.0,
    variational: dict[str, Any] | None = None,
    use_bias: bool = True,
    dtype: str | None = None,
) -> keras.layers.Layer:
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


def build_body(
    features: keras.KerasTensor,
    model: ModelConfig,
    *,
    variational: dict[str, Any] | None,
    seed: int,
) -> keras.KerasTensor:
    """Dense blocks: dense -> [batchnorm] -> activation -> [batchnorm] -> dropout (+ residual)."""
    x = features
    for index, block in enumerate(resolve_blocks(model)):
        prefix = f"block{index}"
        shortcut = x
        h = _dense(
            block.units,
            name=f"{prefix}_dense",
            initializer=block.initializer,
            l1=block.l1,
            l2=block.l2,
            variational=variational,
            # A bias right before batch normalisation is cancelled by its centring.
            use_bias=block.batchnorm != "before",
        )(x)
        if block.batchnorm == "before":
            h = keras.layers.BatchNormalization(name=f"{prefix}_batchnorm")(h)
        h = keras.layers.Activation(block.activation, name=f"{prefix}_activation")(h)
        if block.batchnorm == "after":
            h = keras.layers.BatchNormalization(name=f"{prefix}_batchnorm")(h)
        if block.dropout > 0:
            if model.mc_dropout:
                h = MCDropout(block.dropout, seed=seed + index, name=f"{prefix}_dropout")(h)
            else:
                h = keras.layers.Dropout(
                    block.dropout, seed=seed + index, name=f"{prefix}_dropout"
                )(h)
        if block.residual:
            if shortcut.shape[-1] != block.units:
                shortcut = keras.layers.Dense(
                    block.units, use_bias=False, name=f"{prefix}_projection"
                )(shortcut)
            h = keras.layers.Add(name=f"{prefix}_residual")([shortcut, h])
        x = h
    return x


HeadBuilder = Callable[[keras.KerasTensor, FeatureSpec, "dict[str, Any] | None"], keras.KerasTensor]


def _regression_head(x, spec: FeatureSpec, variational):
    z = _dense(1, name="output", variational=variational, dtype="float32")(x)
    return TargetScale(spec.target.mean, spec.target.std, name="target_scale")(z)


def _gaussian_head(x, spec: FeatureSpec, variational):
    z = GaussianHead(units=1, variational=variational, name="gaussian_head", dtype="float32")(x)
    return TargetScale(spec.target.mean, spec.target.std, gaussian=True, name="target_scale")(z)


def _binary_head(x, spec: FeatureSpec, variational):
    return _dense(1, name="logits", variational=variational, dtype="float32")(x)


def _multiclass_head(x, spec: FeatureSpec, variational):
    return _dense(
        len(spec.target.classes), name="logits", variational=variational, dtype="float32"
    )(x)


HEADS: dict[tuple[str, str], HeadBuilder] = {
    ("regression", "default"): _regression_head,
    ("regression", "gaussian"): _gaussian_head,
    ("binary", "default"): _binary_head,
    ("multiclass", "default"): _multiclass_head,
}


def build_model(config: ExperimentConfig, spec: FeatureSpec, *, train_size: int) -> keras.Model:
    """The uncompiled network for ``config``, preprocessing included."""
    model_config = config.model
    bayesian = model_config.bayesian
    variational = (
        _variational_kwargs(bayesian, train_size)
        if bayesian is not None and bayesian.layers != "none"
        else None
    )
    inputs, features = build_inputs(spec)
    hidden_variational = variational if bayesian is not None and bayesian.layers == "all" else None
    x = build_body(features, model_config, variational=hidden_variational, seed=config.seed)
    outputs = HEADS[(model_config.task, model_config.head)](x, spec, variational)
    return keras.Model(inputs=inputs, outputs=outputs, name=config.name.replace(".", "_"))


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
