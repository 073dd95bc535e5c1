"""model.first_layer_l1_prior_scale: a Laplace prior on the first dense block's kernels, an L1
penalty 1 / (b n) per |w| (d / (b n) with first_layer_l1_prior_per_input), each checked
against the penalty computed here with NumPy from the built layer's own weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.helpers import tiny_config
from tests.reliability._support import assert_one_line_error
from toolkit.config.loading import penalty_paths, validate_config
from toolkit.data.prepared import prepare_data
from toolkit.errors import ConfigError
from toolkit.models.builder import build_model

SCALE = 0.2


@pytest.fixture(autouse=True)
def _seed() -> None:
    keras.utils.set_random_seed(0)


def _built(model: dict, features: int = 5):
    raw = tiny_config("regression", model={"task": "regression", "head": "gaussian", **model})
    raw["data"]["synthetic"] = {"samples": 120, "features": features}
    config = validate_config(raw)
    data = prepare_data(config)
    network = build_model(config, data.spec, train_size=data.train.rows)
    x = {name: values[:8] for name, values in data.train.arrays()[0].items()}
    network(x, training=False)  # Keras computes the layers' penalties on a call
    return data, network


def _penalty(layer: keras.layers.Layer) -> float:
    return sum(float(loss) for loss in layer.losses)


def test_the_first_kernel_pays_its_absolute_weights_over_the_scale_and_the_rows():
    """sum |w| / (b n) on block 0's kernel, n the training rows; block 1 pays nothing."""
    data, network = _built({"hidden": [6, 4], "first_layer_l1_prior_scale": SCALE})
    first = network.get_layer("block0_dense")
    expected = np.abs(first.kernel.numpy()).sum() / (SCALE * data.train.rows)
    assert expected > 0
    assert _penalty(first) == pytest.approx(expected, rel=1e-5)
    assert _penalty(network.get_layer("block1_dense")) == 0.0


def test_per_input_multiplies_the_penalty_by_the_first_layers_input_width():
    """d |w| / (b n): d is the columns the first kernel reads, 7 generated numeric ones (its
    kernel has 7 rows, checked too)."""
    data, network = _built(
        {
            "hidden": [6],
            "first_layer_l1_prior_scale": SCALE,
            "first_layer_l1_prior_per_input": True,
        },
        features=7,
    )
    kernel = network.get_layer("block0_dense").kernel.numpy()
    assert kernel.shape[0] == 7
    expected = 7 * np.abs(kernel).sum() / (SCALE * data.train.rows)
    assert _penalty(network.get_layer("block0_dense")) == pytest.approx(expected, rel=1e-5)


def test_it_adds_to_the_gaussian_priors_decay_on_the_same_kernel():
    """With weight_prior_scale s as well: sum |w| / (b n) + sum w^2 / (2 s^2 n) on block 0."""
    data, network = _built(
        {"hidden": [6, 4], "first_layer_l1_prior_scale": SCALE, "weight_prior_scale": 0.1}
    )
    n = data.train.rows
    first = network.get_layer("block0_dense").kernel.numpy()
    second = network.get_layer("block1_dense").kernel.numpy()
    expected = np.abs(first).sum() / (SCALE * n) + np.square(first).sum() / (2 * 0.1**2 * n)
    assert _penalty(network.get_layer("block0_dense")) == pytest.approx(expected, rel=1e-5)
    decay = np.square(second).sum() / (2 * 0.1**2 * n)
    assert _penalty(network.get_layer("block1_dense")) == pytest.approx(decay, rel=1e-5)


def test_each_ensemble_member_pays_its_share():
    """An ensemble's members each pay sum |w_m| / (b n) divided by the M members, as their
    data losses are averaged."""
    members = 2
    data, network = _built(
        {"hidden": [6], "first_layer_l1_prior_scale": SCALE, "ensemble": {"members": members}}
    )
    for index in range(members):
        layer = network.get_layer(f"member{index}").get_layer("block0_dense")
        expected = np.abs(layer.kernel.numpy()).sum() / (SCALE * data.train.rows * members)
        assert _penalty(layer) == pytest.approx(expected, rel=1e-5)


def test_a_report_and_a_sweep_count_it_as_a_weight_penalty():
    """penalty_paths feeds the penalised-objective warning and the report's val_loss label."""
    config = validate_config(
        tiny_config(model={"task": "regression", "first_layer_l1_prior_scale": SCALE})
    )
    assert penalty_paths(config.model.model_dump(mode="json")) == [
        "model.first_layer_l1_prior_scale"
    ]


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            {"first_layer_l1_prior_scale": 1e-30},
            "first_layer_l1_prior_scale 1e-30 is below 1e-19",
        ),
        (
            {"first_layer_l1_prior_scale": SCALE, "l1": 1e-3},
            "model.l1 and first_layer_l1_prior_scale both set the first layer's l1",
        ),
        (
            {"first_layer_l1_prior_scale": SCALE, "hidden": [{"units": 8, "l1": 1e-3}]},
            "model.hidden.0.l1 and first_layer_l1_prior_scale both set the first layer's l1",
        ),
        (
            {"first_layer_l1_prior_scale": SCALE, "bayesian": {"layers": "all"}},
            "with bayesian.layers 'all' it is variational",
        ),
        (
            {"first_layer_l1_prior_scale": SCALE, "hidden": []},
            "this model has body 'dense' and 0 hidden blocks",
        ),
        (
            {"first_layer_l1_prior_per_input": True},
            "first_layer_l1_prior_per_input needs first_layer_l1_prior_scale",
        ),
        (
            {"first_layer_l1_prior_scale": 0},
            "model.first_layer_l1_prior_scale: Input should be greater than 0, got 0",
        ),
        (
            {"first_layer_l1_prior_scale": SCALE, "body": "conv"},
            "this model has body 'conv' and 1 hidden block",
        ),
    ],
)
def test_a_prior_with_nothing_to_act_on_is_refused(model, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(tiny_config(model={"task": "regression", **model}))


def test_the_cli_refuses_per_input_without_a_scale_in_one_line(cli, write_config):
    """A user's mistake through ``toolkit validate``: exit 2, one line, no traceback."""
    config = tiny_config(model={"task": "regression", "first_layer_l1_prior_per_input": True})
    line = assert_one_line_error(cli("validate", write_config(config)))
    assert "first_layer_l1_prior_per_input needs first_layer_l1_prior_scale" in line
