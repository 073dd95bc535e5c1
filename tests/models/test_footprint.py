"""The memory estimate that refuses a model too large for the machine is a lower bound: never
more weights than Keras builds, never more optimizer slots than Keras makes."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.helpers import tiny_config
from toolkit.config.loading import validate_config
from toolkit.data.prepared import prepare_data
from toolkit.models.builder import build_model
from toolkit.models.footprint import dense_weights, optimizer_slots


@pytest.mark.parametrize(
    "arguments",
    [
        {"name": "sgd"},
        {"name": "sgd", "momentum": 0.9},
        {"name": "rmsprop"},
        {"name": "rmsprop", "momentum": 0.9, "centered": True},
        {"name": "adam"},
        {"name": "adam", "amsgrad": True, "use_ema": True},
        {"name": "adamw"},
        {"name": "adagrad"},
        {"name": "adadelta"},
        {"name": "adamax"},
        {"name": "adafactor"},
        {"name": "nadam", "gradient_accumulation_steps": 2},
        {"name": "ftrl"},
        {"name": "lion"},
        {"name": "lamb"},
    ],
    ids=lambda arguments: "-".join(map(str, arguments.values())),
)
def test_optimizer_slots_are_the_full_size_variables_keras_makes(arguments):
    from toolkit.training.compile import build_optimizer

    config = validate_config(tiny_config(training={"optimizer": arguments}))
    optimizer = build_optimizer(config.training, total_steps=10)
    layer = keras.layers.Dense(7, use_bias=False)
    layer.build((None, 5))
    optimizer.build(layer.trainable_variables)
    full_size = [v for v in optimizer.variables if tuple(v.shape) == (5, 7)]
    assert optimizer_slots(config.training.optimizer) == len(full_size)


TABLE = {"synthetic": {"samples": 80, "features": 4, "categorical_features": 1}}
# scikit-learn's digits as 8x8x1 images, flattened into the dense blocks.
IMAGES = {"source": "sklearn:digits", "kind": "image", "synthetic": None}


MODELS = {
    "dense": {"hidden": [16, 8]},
    "residual-batchnorm": {"hidden": [16, 8], "residual": True, "batchnorm": True},
    "bayesian-all": {"hidden": [16], "bayesian": {"layers": "all"}},
    "bayesian-output": {"hidden": [16], "bayesian": {"layers": "output"}},
    "ensemble": {"hidden": [12], "ensemble": {"members": 3}},
}


@pytest.mark.parametrize(
    ("task", "data", "model"),
    [
        *(
            pytest.param(task, TABLE, model, id=f"{task}-{name}")
            for task in ("regression", "multiclass")
            for name, model in MODELS.items()
        ),
        pytest.param("multiclass", IMAGES, {"hidden": [16], "flatten": True}, id="images"),
    ],
)
def test_estimated_weights_are_the_kernels_of_the_built_model(task, data, model):
    config = tiny_config(task, data=data, model={"task": task, **model})
    if config["data"]["synthetic"] is None:
        del config["data"]["synthetic"]
    config = validate_config(config)
    data = prepare_data(config)
    built = build_model(config, data.spec, train_size=data.train.rows)
    trainable = sum(int(np.prod(w.shape)) for w in built.trainable_weights)
    # The kernels of the blocks and the head, as Keras names them; residual projections are
    # left out of the estimate, as are biases and batch normalisation.
    kernels = sum(
        int(np.prod(w.shape))
        for w in built.trainable_weights
        if w.path.rsplit("/", 1)[-1] in ("kernel", "kernel_loc", "kernel_rho")
        and "projection" not in w.path
    )
    estimate = dense_weights(config.model, data.spec)
    assert estimate == kernels <= trainable, (estimate, kernels, trainable)
