"""The model registries: lookups by name, every registered body x head (with every uncertainty
option) builds and takes a training step, and the layer names saved models are matched by."""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest

from tests.helpers import tiny_config
from toolkit.config.loading import validate_config
from toolkit.data.pipeline import make_dataset
from toolkit.data.prepared import PreparedData, prepare_data
from toolkit.errors import ConfigError
from toolkit.models import bodies, heads, inputs
from toolkit.models.builder import build_model
from toolkit.models.uncertainty import Uncertainty
from toolkit.training.compile import compile_model

# The task whose data each registered head is trained on. A new head must be added here.
HEAD_TASKS = {
    "regression": "regression",
    "gaussian": "regression",
    "homoscedastic": "regression",
    "binary": "binary",
    "multiclass": "multiclass",
}
UNCERTAINTY = {
    "point": {},
    "variational": {"bayesian": {"layers": "all"}},
    "variational_output": {"bayesian": {"layers": "output"}},
    "mc_dropout": {"dropout": 0.2, "mc_dropout": True},
}
CLASSES = 3


@pytest.mark.parametrize(
    ("module", "name", "expected"),
    [
        (
            inputs,
            "tabel",
            "unknown input kind 'tabel' (did you mean 'table'?); allowed: image, signal, table",
        ),
        (
            bodies,
            "dens",
            "unknown body 'dens' (did you mean 'dense'?); allowed: backbone, conv, dense",
        ),
        (
            heads,
            "gausian",
            "unknown head 'gausian' (did you mean 'gaussian'?); "
            "allowed: binary, gaussian, homoscedastic, multiclass, regression",
        ),
    ],
    ids=["inputs", "bodies", "heads"],
)
def test_an_unknown_name_is_a_one_line_error_with_a_suggestion(module, name, expected):
    with pytest.raises(ConfigError) as raised:
        module.get(name)
    assert str(raised.value) == expected


def test_every_registered_head_has_a_task_here():
    assert set(HEAD_TASKS) == set(heads.HEADS)


# The input each body is tried on: the first its kind of data allows, and the body's own
# settings (the smallest that build). A new body must be added here.
BODY_INPUTS = {
    "dense": ("table", {}),
    "conv": ("signal", {"conv": {"blocks": [4]}}),
    "backbone": (
        "image",
        {
            "backbone": {
                "name": "MobileNetV3Small",
                "weights": "none",
                "alpha": 0.75,
                "minimalistic": True,
                "trainable": True,
            }
        },
    ),
}


@functools.cache
def _arrays_file(kind: str, task: str, folder) -> str:
    """An .npz of 64 images (32x32x3) or signals (12 steps, 2 channels) with ``task``'s target."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (64, 32, 32, 3)) if kind == "image" else rng.normal(size=(64, 12, 2))
    y = {"regression": rng.normal(size=64), "binary": np.arange(64) % 2}.get(
        task, np.arange(64) % CLASSES
    )
    path = folder / f"{kind}-{task}.npz"
    np.savez(path, x=x.astype(np.float32), y=y)
    return str(path)


@functools.cache
def _data(task: str, kind: str = "table", folder=None) -> PreparedData:
    raw = tiny_config(
        task, data={"synthetic": {"samples": 64, "features": 3, "categorical_features": 1}}
    )
    raw["data"]["synthetic"]["classes"] = CLASSES
    if kind != "table":
        raw["data"] = {"source": _arrays_file(kind, task, folder), "kind": kind}
        raw["model"] = {"task": task, "body": "conv"}
    return prepare_data(validate_config(raw))


def _model_config(task: str, head: str, uncertainty: dict, body: str = "dense"):
    kind, settings = BODY_INPUTS[body]
    raw = tiny_config(
        task,
        model={"task": task, "head": head, "hidden": [6], "body": body, **settings, **uncertainty},
    )
    if kind != "table":
        raw["data"] = {"source": "x.npz", "kind": kind}
    # Adam, not SGD: its first step moves every weight with a gradient by about the learning
    # rate, where SGD's lr * gradient could round away on a variational scale's rho (the
    # softplus' slope is small there), failing the "every weight moves" check at random.
    raw["training"] = {"epochs": 1, "batch_size": 16, "optimizer": {"name": "adam"}}
    return validate_config(raw)


# Heads and uncertainty options act on the dense top, which every body shares; the full grid
# runs on the dense body, the conv body on a covering set: every head and every uncertainty
# option once. The backbone body (~10 s to build and step each) feeds that same dense top
# (``dense_blocks``) and reads the uncertainty options only for its own dropout's
# mc_dropout: one case, the covering set's mc_dropout one, is its code path.
COVERING = [
    ("regression", "point"),
    ("gaussian", "variational"),
    ("binary", "variational_output"),
    ("multiclass", "mc_dropout"),
    ("homoscedastic", "point"),
]
ONE_CASE = {"backbone": [("multiclass", "mc_dropout")]}
CASES = [
    (body, head, uncertainty)
    for body in sorted(bodies.BODIES)
    for head in sorted(heads.HEADS)
    for uncertainty in sorted(UNCERTAINTY)
    if body == "dense" or (head, uncertainty) in ONE_CASE.get(body, COVERING)
]


def test_every_registered_body_has_an_input_here():
    assert set(BODY_INPUTS) == set(bodies.BODIES)


def test_the_covering_set_covers_every_head_and_uncertainty_option():
    assert {h for h, _ in COVERING} == set(heads.HEADS)
    assert {u for _, u in COVERING} == set(UNCERTAINTY)


@pytest.mark.parametrize(("body", "head", "uncertainty"), CASES)
def test_every_body_and_head_builds_and_takes_a_training_step(
    body, head, uncertainty, tmp_path_factory
):
    """Built straight from the registries, so entries the config cannot reach yet are covered."""
    task = HEAD_TASKS[head]
    kind = BODY_INPUTS[body][0]
    folder = tmp_path_factory.getbasetemp() if kind != "table" else None
    data = _data(task, kind, folder)
    config = _model_config(
        task,
        head if head in ("gaussian", "homoscedastic") else "default",
        UNCERTAINTY[uncertainty],
        body,
    )
    train_size = data.train.rows
    options = Uncertainty.from_config(config.model, train_size=train_size)
    model_inputs, features = inputs.get(kind)(data.spec)
    x = bodies.get(body)(features, config.model, uncertainty=options, seed=config.seed)
    outputs = heads.get(head)(x, data.spec, uncertainty=options)
    model = keras.Model(model_inputs, outputs)
    compile_model(model, config, data.spec, steps_per_epoch=1)

    batch, target = next(iter(make_dataset(*data.train.arrays(), batch_size=16)))
    width = {"gaussian": 2, "homoscedastic": 2, "multiclass": CLASSES}.get(head, 1)
    assert model(batch, training=False).shape == (16, width)
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    loss = model.train_on_batch(batch, target, return_dict=True)["loss"]
    assert np.isfinite(loss)
    unchanged = [
        weight.path
        for weight, old in zip(model.trainable_weights, before, strict=True)
        if np.array_equal(keras.ops.convert_to_numpy(weight), old)
    ]
    assert unchanged == []


def test_layer_names_are_the_ones_saved_models_are_matched_by():
    """``init_from`` and resume points match layers and variables by these names."""
    raw = tiny_config(
        "binary",
        data={"synthetic": {"samples": 64, "features": 3, "categorical_features": 1}},
        model={
            "task": "binary",
            "hidden": [6, {"units": 4, "batchnorm": True, "dropout": 0.1}],
            "residual": True,
        },
    )
    config = validate_config(raw)
    data = prepare_data(config)
    model = build_model(config, data.spec, train_size=data.train.rows)
    categorical = data.spec.categorical[0].name
    # In model.layers order, which is also the order of the variables a resume point holds.
    assert [layer.name for layer in model.layers] == [
        "numeric",
        categorical,
        "impute_standardize",
        f"lookup_{categorical}",
        "features",
        "block0_dense",
        "block0_projection",
        "block0_activation",
        "block0_residual",
        "block1_dense",
        "block1_batchnorm",
        "block1_activation",
        "block1_projection",
        "block1_dropout",
        "block1_residual",
        "logits",
    ]
    assert model.name == "tiny-binary"
