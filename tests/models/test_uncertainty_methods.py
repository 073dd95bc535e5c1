"""Ensembles and the variational training settings, each checked against a computation
written here by hand (TensorFlow gradients of a hand-written NLL, NumPy closed forms)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import tiny_config
from toolkit.config.loading import validate_config
from toolkit.data.pipeline import make_dataset
from toolkit.data.prepared import prepare_data
from toolkit.errors import ConfigError
from toolkit.models.builder import build_model
from toolkit.models.saving import load_model
from toolkit.training.compile import compile_model
from toolkit.training.kl_annealing import KLAnnealing


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test from the same random state (weights, posterior draws, batches): unseeded,
    its numbers depended on which tests had run before it in the process."""
    keras.utils.set_random_seed(0)


def _setup(task: str, model: dict, **sections):
    raw = tiny_config(task, model={"task": task, **model}, **sections)
    raw["data"]["synthetic"] = {"samples": 96, "features": 3}
    config = validate_config(raw)
    data = prepare_data(config)
    network = build_model(config, data.spec, train_size=data.train.rows)
    compile_model(network, config, data.spec, steps_per_epoch=4)
    return data, network


def _first_batch(data, rows: int = 32):
    return next(iter(make_dataset(*data.train.arrays(), batch_size=rows)))


# ------------------------------------------------------------------ ensembles


def test_each_member_learns_from_its_own_loss_only():
    """d(ensemble loss)/d(member m's weights) = (1/M) d(member m's Gaussian NLL)/d(same)."""
    members = 3
    data, network = _setup(
        "regression", {"head": "gaussian", "hidden": [4], "ensemble": {"members": members}}
    )
    x, y = _first_batch(data)
    with tf.GradientTape() as tape:
        loss = network.compute_loss(x, y, network(x, training=True), training=True)
    member = network.get_layer("member1")
    ensemble_gradient = tape.gradient(loss, member.trainable_weights)

    t_mean, t_std = data.spec.target.mean, data.spec.target.std
    features = network.get_layer("impute_standardize")(x["numeric"])
    with tf.GradientTape() as tape:
        output = member(features, training=True)
        mean = (output[:, 0] - t_mean) / t_std
        scale = output[:, 1] / t_std
        target = (tf.cast(y[:, 0], tf.float32) - t_mean) / t_std
        nll = (
            0.5 * math.log(2 * math.pi) + tf.math.log(scale) + 0.5 * ((target - mean) / scale) ** 2
        )
        own = tf.reduce_mean(nll)
    own_gradient = tape.gradient(own, member.trainable_weights)
    for ours, theirs in zip(ensemble_gradient, own_gradient, strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy() / members, rtol=2e-4, atol=1e-7)


@pytest.mark.parametrize(
    "penalty",
    [
        {"l1": 0.02, "hidden": [{"units": 4, "l2": 0.03}, 3]},
        {"hidden": [4, 3], "weight_prior_scale": 0.3},
    ],
)
def test_each_member_pays_its_weight_penalty_as_if_alone(penalty):
    """The training loss is the mean of the members' objectives, so their penalties add
    (1/M) sum_m (l1 |w_m| + l2 w_m^2) over each member's kernels, at the strengths the config
    sets for one network. Keras adds every layer's penalty in full: undivided, each member's
    weight decay pulled M times harder against its data than the config said."""
    members = 3
    data, network = _setup(
        "regression", {"head": "gaussian", **penalty, "ensemble": {"members": members}}
    )
    if "weight_prior_scale" in penalty:
        strengths = [(0.0, 1 / (2 * 0.3**2 * data.train.rows))] * 2
    else:
        strengths = [(0.02, 0.03), (0.02, 0.0)]  # block 0 sets its own l2; both inherit l1
    expected = 0.0
    for index in range(members):
        member = network.get_layer(f"member{index}")
        for block, (l1, l2) in enumerate(strengths):
            kernel = member.get_layer(f"block{block}_dense").kernel.numpy()
            expected += (l1 * np.abs(kernel).sum() + l2 * np.square(kernel).sum()) / members
    x, _ = _first_batch(data)
    network(x, training=False)
    assert sum(float(loss) for loss in network.losses) == pytest.approx(expected, rel=1e-4)


def test_each_bayesian_member_pays_its_kl_as_if_alone():
    """A variational member's KL enters the loss as KL_m / n divided by M, as its likelihood
    does (closed form for the normal prior, from each member's posterior parameters)."""
    members = 2
    data, network = _setup(
        "regression",
        {
            "hidden": [4],
            "bayesian": {"layers": "output", "prior_scale": 0.5},
            "ensemble": {"members": members},
        },
    )
    kl = sum(
        _closed_form_kl(network.get_layer(f"member{index}").get_layer("output"), 0.5)
        for index in range(members)
    )
    x, _ = _first_batch(data)
    network(x, training=True)
    total = sum(float(loss) for loss in network.losses)
    assert total == pytest.approx(kl / (members * data.train.rows), rel=1e-4)


def test_members_start_from_different_weights_and_the_model_saves_as_one_file(tmp_path):
    data, network = _setup(
        "binary",
        {"hidden": [4], "ensemble": {"members": 2}},
        prediction={"temperature_scaling": True},
    )
    first = network.get_layer("member0").get_layer("block0_dense").get_weights()[0]
    second = network.get_layer("member1").get_layer("block0_dense").get_weights()[0]
    assert not np.allclose(first, second)
    network.get_layer("temperature").temperature.assign(1.7)
    path = tmp_path / "model.keras"
    network.save(path)
    again = load_model(path)
    x, _ = _first_batch(data)
    np.testing.assert_allclose(again(x).numpy(), network(x).numpy(), rtol=1e-6)
    assert again.output.shape[1:] == (2, 1)  # (members, one logit)


# ------------------------------------------------------------------ variational training


def _softplus(x):
    return np.logaddexp(0.0, x)


def _variational_linear(**bayesian):
    """A regression network whose only weights are one variational output unit on one
    standardised input: y_std = w * z + b."""
    data, network = _setup(
        "regression",
        {
            "hidden": [1],
            "activation": "linear",
            "bayesian": {"layers": "output", "prior_scale": 0.5, **bayesian},
        },
        data={"source": "synthetic:sine", "synthetic": {"samples": 96}},
    )
    block = network.get_layer("block0_dense")
    block.set_weights([np.ones((1, 1)), np.zeros(1)])
    return data, network


def _closed_form_kl(layer, prior_scale: float) -> float:
    loc = np.concatenate([layer.kernel_loc.numpy().ravel(), layer.bias_loc.numpy()])
    rho = np.concatenate([layer.kernel_rho.numpy().ravel(), layer.bias_rho.numpy()])
    scale = _softplus(rho) + 1e-6
    kl = np.log(prior_scale / scale) + (scale**2 + loc**2) / (2 * prior_scale**2) - 0.5
    return float(kl.sum())


def test_kl_annealing_scales_the_kl_in_training_and_validation_keeps_it_whole():
    data, network = _variational_linear(kl_warmup_epochs=4, posterior_scale_init=1e-4)
    layer = network.get_layer("output")
    layer.kernel_loc.assign([[0.6]])
    layer.bias_loc.assign([0.1])
    x, y = _first_batch(data)
    z = (x["numeric"].numpy()[:, 0] - data.spec.numeric[0].mean) / data.spec.numeric[0].std
    target = (y.numpy()[:, 0] - data.spec.target.mean) / data.spec.target.std
    data_term = np.mean((target - (0.6 * z + 0.1)) ** 2)  # the posterior is 1e-4 wide
    kl = _closed_form_kl(layer, 0.5) / data.train.rows  # kl_weight auto = 1 / n
    for factor in (0.0, 0.25, 1.0):
        network.kl_factor.assign(factor)
        training = network.compute_loss(x, y, network(x, training=True), training=True)
        evaluation = network.compute_loss(x, y, network(x, training=False), training=False)
        assert float(training) == pytest.approx(data_term + factor * kl, rel=2e-3)
        assert float(evaluation) == pytest.approx(data_term + kl, rel=2e-3)


def test_the_kl_weight_warms_up_linearly_from_zero_over_the_first_epochs():
    data, network = _variational_linear(kl_warmup_epochs=3)
    seen = []
    probe = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(float(network.kl_factor.numpy()))
    )
    network.fit(
        make_dataset(*data.train.arrays(), batch_size=32),
        epochs=5,
        callbacks=[KLAnnealing(3), probe],
        verbose=0,
    )
    np.testing.assert_allclose(seen, [0.0, 1 / 3, 2 / 3, 1.0, 1.0], rtol=1e-6)
    assert float(network.kl_factor.numpy()) == 1.0  # prediction and saving see the full KL


@pytest.mark.parametrize("samples", [1, 8])
def test_training_samples_average_the_likelihood_term(samples):
    """With w ~ N(m_w, s_w), b ~ N(m_b, s_b) shared by the batch, E[mean_i (t_i - w z_i - b)^2]
    = mean_i (t_i - m_w z_i - m_b)^2 + s_w^2 mean(z^2) + s_b^2. Over 300 evaluations the
    K-sample loss must have that mean (5 standard errors) and a K times smaller variance
    than one sample's (s^2 = 0.05^2 keeps the loss nearly linear in w and b, so nearly
    normal: the ratio of two 300-draw variances then lies within a factor 2 of its value
    with probability above 1 - 1e-4)."""
    data, network = _variational_linear(train_samples=samples, posterior_scale_init=0.05)
    layer = network.get_layer("output")
    layer.kernel_loc.assign([[0.3]])
    layer.bias_loc.assign([-0.8])
    x, y = _first_batch(data)
    z = (x["numeric"].numpy()[:, 0] - data.spec.numeric[0].mean) / data.spec.numeric[0].std
    target = (y.numpy()[:, 0] - data.spec.target.mean) / data.spec.target.std
    s = _softplus(layer.kernel_rho.numpy()[0, 0]) + 1e-6
    s_b = _softplus(layer.bias_rho.numpy()[0]) + 1e-6
    kl = _closed_form_kl(layer, 0.5) / data.train.rows
    expected = np.mean((target - 0.3 * z + 0.8) ** 2) + s**2 * np.mean(z**2) + s_b**2 + kl

    loss = tf.function(lambda: network.compute_loss(x, y, network(x, training=True)))
    draws = np.array([float(loss()) for _ in range(300)])
    single_variance = 4 * s**2 * np.mean((target - 0.3 * z + 0.8) * z) ** 2 + 4 * s_b**2 * (
        np.mean(target - 0.3 * z + 0.8) ** 2
    )  # the variance of the loss's linear part in (w, b), for one sample
    assert abs(draws.mean() - expected) < 5 * math.sqrt(single_variance / samples / 300)
    assert single_variance / samples / 2 < draws.var(ddof=1) < 2 * single_variance / samples


def test_a_prior_on_the_point_layers_is_weight_decay_that_fades_with_the_rows():
    """weight_prior_scale s: the hidden (point) kernels add sum(w^2) / (2 s^2 n) to
    the loss, n the training rows, beside the variational layer's KL / n."""
    data, network = _setup(
        "regression",
        {
            "hidden": [5, 4],
            "weight_prior_scale": 0.2,
            "bayesian": {"layers": "output"},
        },
    )
    kernels = [network.get_layer(f"block{i}_dense").kernel.numpy() for i in (0, 1)]
    expected = sum(float(np.sum(k**2)) for k in kernels) / (2 * 0.2**2 * data.train.rows)
    output = network.get_layer("output")
    assert output.kl_weight == pytest.approx(1 / data.train.rows)
    x, _ = _first_batch(data)
    network(x, training=False)
    decay = sum(float(loss) for i in (0, 1) for loss in network.get_layer(f"block{i}_dense").losses)
    assert decay == pytest.approx(expected, rel=1e-4)


def test_a_plain_networks_prior_weighs_its_kernels_by_the_training_rows():
    """On a network without variational layers the prior is its weight decay: the loss is
    the mean binary cross-entropy plus sum(w^2) / (2 s^2 n) over the hidden kernels, checked
    against the batch's cross-entropy computed with NumPy from the network's own outputs."""
    data, network = _setup("binary", {"hidden": [6, 3], "weight_prior_scale": 0.5})
    kernels = [network.get_layer(f"block{i}_dense").kernel.numpy() for i in (0, 1)]
    decay = sum(float(np.sum(k**2)) for k in kernels) / (2 * 0.5**2 * data.train.rows)
    x, y = _first_batch(data)
    probability = tf.sigmoid(network(x, training=False)[:, :1]).numpy()[:, 0]
    target = y.numpy().reshape(-1)
    cross_entropy = -np.mean(target * np.log(probability) + (1 - target) * np.log(1 - probability))
    loss = float(network.compute_loss(x, y, network(x, training=False)))
    assert loss == pytest.approx(cross_entropy + decay, rel=1e-4)


@pytest.mark.parametrize(
    ("model", "bayesian", "message"),
    [
        ({"l2": 1e-3}, {}, "l2 and weight_prior_scale both set"),
        ({}, {"layers": "all"}, "with bayesian.layers 'all' a dense body has none"),
    ],
)
def test_a_prior_on_the_point_layers_is_refused_where_it_has_nothing_to_set(
    model, bayesian, message
):
    bayesian = {"layers": "output", **bayesian}
    raw = tiny_config(
        "regression",
        model={"task": "regression", "weight_prior_scale": 0.2, "bayesian": bayesian, **model},
    )
    with pytest.raises(ConfigError, match=message):
        validate_config(raw)


def test_a_run_that_keeps_weights_from_the_kl_warm_up_says_so(tmp_path):
    """A warm-up as long as training (or early stopping that restores one of its epochs)
    keeps weights trained on part of the KL: the run completed with no warning."""
    import json

    import toolkit

    def warnings(epochs: int) -> list[str]:
        config = tiny_config(
            "regression",
            model={"task": "regression", "hidden": [4], "bayesian": {"kl_warmup_epochs": 3}},
            training={"epochs": epochs, "batch_size": 16},
            callbacks={"tensorboard": False, "learning_curve": False, "early_stopping": False},
        )
        run = toolkit.train(config, output_dir=tmp_path / str(epochs), verbose=0)
        return json.loads((run.path / "run.json").read_text()).get("warnings") or []

    assert (
        "model.bayesian.kl_warmup_epochs 3: the weights kept are epoch 3's, trained before the "
        "KL term reached its full weight (epoch 4); raise training.epochs (now 3) or lower the "
        "warm-up"
    ) in warnings(3)
    assert not [w for w in warnings(4) if "kl_warmup_epochs" in w]


def test_a_huge_weight_prior_scale_is_no_weight_decay():
    """1 / (2 s^2 n) for s = 1e30 (larger scales are beyond float32 and refused by validate)
    is 0 as a float32, Keras' l2: the penalty is nothing, not an error or a NaN."""
    data, network = _setup("regression", {"hidden": [5], "weight_prior_scale": 1e30})
    x, _ = _first_batch(data)
    network(x, training=False)
    assert sum(float(loss) for loss in network.get_layer("block0_dense").losses) == 0.0
