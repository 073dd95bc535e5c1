"""Custom layers and the Gaussian NLL loss, on real Keras/TensorFlow with tiny data."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from toolkit.models.layers import (
    DenseVariational,
    GaussianHead,
    MCDropout,
    is_stochastic,
    set_stochastic,
)
from toolkit.models.losses import GaussianNLL

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = [
    (estimator, prior)
    for estimator in ("reparameterization", "flipout")
    for prior in ("normal", "scale_mixture")
]


@pytest.fixture(autouse=True)
def _seed() -> None:
    keras.utils.set_random_seed(0)


def _tfd():
    """tfp.distributions, an independent reference (a dependency: never skipped)."""
    import tensorflow_probability as tfp

    return tfp.distributions


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _data(n: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.1 * rng.normal(size=(n, 1))).astype("float32")
    return x, y


# Tiny models, one per layer under test ---------------------------------------------------


def _variational_model(estimator: str, prior: str) -> keras.Model:
    kwargs = {"estimator": estimator, "prior": prior, "kl_weight": 1 / 32}
    inputs = keras.Input((3,))
    h = DenseVariational(8, activation="relu", name="hidden", **kwargs)(inputs)
    outputs = DenseVariational(1, name="out", **kwargs)(h)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.05), "mse")
    return model


def _dropout_model() -> keras.Model:
    inputs = keras.Input((3,))
    h = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
    h = MCDropout(0.3, name="mc_dropout")(h)
    outputs = keras.layers.Dense(1, name="out")(h)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.05), "mse")
    return model


def _head_model(variational: dict | None = None) -> keras.Model:
    inputs = keras.Input((3,))
    h = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
    outputs = GaussianHead(1, variational=variational, name="head")(h)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.05), GaussianNLL())
    return model


MODELS: dict[str, Callable[[], keras.Model]] = {
    **{f"dv_{e}_{p}": (lambda e=e, p=p: _variational_model(e, p)) for e, p in VARIANTS},
    "mc_dropout": _dropout_model,
    "gaussian_head": _head_model,
    "gaussian_head_variational": lambda: _head_model({"kl_weight": 1 / 32, "estimator": "flipout"}),
}


# Fixtures: every tiny model trained and saved once, then reloaded in one fresh process ----


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Train every tiny model, predict deterministically (tracing predict) and save it."""
    folder = tmp_path_factory.mktemp("saved")
    x, y = _data()
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y)
    data = tf.data.Dataset.from_tensors((x, y)).repeat()
    keras.utils.set_random_seed(1)
    models, histories = {}, {}
    for name, build in MODELS.items():
        model = build()
        # 6 epochs x 5 full-batch steps on one iterator: Keras' per-epoch overhead dominates
        # a plain fit(x, y, epochs=30) of these tiny models.
        history = model.fit(data, epochs=6, steps_per_epoch=5, shuffle=False, verbose=0).history
        histories[name] = history["loss"]
        set_stochastic(model, False)
        np.save(folder / f"{name}.expected.npy", model.predict(x, verbose=0))
        model.save(folder / f"{name}.keras")
        models[name] = model
    return {"folder": folder, "models": models, "histories": histories}


_FRESH_PROCESS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import tensorflow as tf
    # Two logical CPUs for the MirroredStrategy check; must precede any TF op.
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    import toolkit.models.layers, toolkit.models.losses  # register the toolkit classes
    from toolkit.models.layers import DenseVariational, GaussianHead, MCDropout, set_stochastic
    from toolkit.models.losses import GaussianNLL

    folder = Path(sys.argv[1])
    x, y = np.load(folder / "x.npy"), np.load(folder / "y.npy")
    results = {}
    for path in sorted(folder.glob("*.keras")):
        model = keras.saving.load_model(path)  # safe_mode=True is the default
        prediction = model.predict(x, verbose=0)
        np.save(folder / f"{path.stem}.loaded.npy", prediction)
        record = {"switched": set_stochastic(model, True)}
        if record["switched"]:
            a, b = model.predict(x, verbose=0), model.predict(x, verbose=0)
            record["differs_when_stochastic"] = bool(np.abs(a - b).max() > 1e-6)
        record["loss_class"] = type(model.loss).__name__
        if record["loss_class"] == "GaussianNLL":
            record["loss_value"] = float(model.loss(y, prediction))
        results[path.stem] = record

    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    mirrored = {"replicas": strategy.num_replicas_in_sync}
    with strategy.scope():
        inputs = keras.Input((3,))
        h = DenseVariational(8, activation="relu", kl_weight=1 / 32)(inputs)
        h = MCDropout(0.1)(h)
        head = GaussianHead(1, variational={"estimator": "flipout", "kl_weight": 1 / 32})
        model = keras.Model(inputs, head(h))
        model.compile(keras.optimizers.Adam(0.01), GaussianNLL())
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0).history["loss"]
    a, b = model.predict(x, verbose=0), model.predict(x, verbose=0)
    switched = set_stochastic(model, False)
    c, d = model.predict(x, verbose=0), model.predict(x, verbose=0)
    mirrored.update(
        finite=bool(np.isfinite(history).all()),
        stochastic_differs=bool(np.abs(a - b).max() > 1e-4),
        switched=switched,
        deterministic_equal=bool(np.array_equal(c, d)),
    )
    results["mirrored"] = mirrored
    (folder / "results.json").write_text(json.dumps(results))
    """
)


@pytest.fixture(scope="module")
def fresh_process(trained: dict) -> dict:
    """Reload the saved models, and run a MirroredStrategy check, in one new interpreter."""
    folder = trained["folder"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS_SCRIPT, str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads((folder / "results.json").read_text())


# Training ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODELS))
def test_layer_trains_and_lowers_the_loss(name: str, trained: dict) -> None:
    history = trained["histories"][name]
    assert all(math.isfinite(v) for v in history)
    assert history[-1] < history[0] - 0.2 * abs(history[0])


# Serialization ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer",
    [
        DenseVariational(
            4,
            activation="relu",
            prior="scale_mixture",
            mixture_scales=(0.5, 0.01),
            kl_weight=0.1,
            estimator="flipout",
            seed=3,
        ),
        MCDropout(0.25, seed=7),
        GaussianHead(2, min_scale=0.01, variational={"prior_scale": 0.5}),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_get_config_round_trip(layer: keras.layers.Layer) -> None:
    config = layer.get_config()
    clone = type(layer).from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config


def test_loss_get_config_round_trip() -> None:
    loss = GaussianNLL(reduction="sum", name="nll")
    assert GaussianNLL.from_config(loss.get_config()).get_config() == loss.get_config()


@pytest.mark.parametrize("name", list(MODELS))
def test_save_load_in_fresh_process_gives_identical_deterministic_predictions(
    name: str, trained: dict, fresh_process: dict
) -> None:
    folder = trained["folder"]
    expected = np.load(folder / f"{name}.expected.npy")
    loaded = np.load(folder / f"{name}.loaded.npy")
    np.testing.assert_array_equal(loaded, expected)
    record = fresh_process[name]
    if name == "gaussian_head":
        assert record["switched"] == 0
    else:
        assert record["switched"] > 0
        assert record["differs_when_stochastic"]


def test_compiled_gaussian_nll_survives_save_and_load(trained: dict, fresh_process: dict) -> None:
    record = fresh_process["gaussian_head"]
    assert record["loss_class"] == "GaussianNLL"
    _, y = _data()
    prediction = np.load(trained["folder"] / "gaussian_head.expected.npy")
    expected = float(GaussianNLL()(y, prediction))
    assert record["loss_value"] == pytest.approx(expected, rel=1e-6)


def test_mirrored_strategy(fresh_process: dict) -> None:
    # Reparameterization in the body, flipout in the head, on two logical CPU replicas.
    assert fresh_process["mirrored"] == {
        "replicas": 2,
        "finite": True,
        "stochastic_differs": True,
        "switched": 4,
        "deterministic_equal": True,
    }


# The stochastic switch --------------------------------------------------------------------


def _posterior_mean_forward(model: keras.Model, x: np.ndarray) -> np.ndarray:
    hidden, out = model.get_layer("hidden"), model.get_layer("out")
    h = np.maximum(x @ hidden.kernel_loc.numpy() + hidden.bias_loc.numpy(), 0.0)
    return h @ out.kernel_loc.numpy() + out.bias_loc.numpy()


def _dropout_free_forward(model: keras.Model, x: np.ndarray) -> np.ndarray:
    hidden, out = model.get_layer("hidden"), model.get_layer("out")
    h = np.maximum(x @ hidden.kernel.numpy() + hidden.bias.numpy(), 0.0)
    return h @ out.kernel.numpy() + out.bias.numpy()


@pytest.mark.parametrize(
    ("name", "reference", "n_stochastic"),
    [
        ("dv_reparameterization_normal", _posterior_mean_forward, 2),
        ("dv_flipout_scale_mixture", _posterior_mean_forward, 2),
        ("mc_dropout", _dropout_free_forward, 1),
    ],
)
def test_switch_takes_effect_in_an_already_traced_predict(
    name: str, reference: Callable, n_stochastic: int, trained: dict
) -> None:
    # The fixture traced predict with the switch off; the same object is used throughout.
    model = trained["models"][name]
    x, _ = _data()
    traced = model.predict_function
    assert traced is not None
    assert is_stochastic(model)

    assert set_stochastic(model, True) == n_stochastic
    first, second = model.predict(x, verbose=0), model.predict(x, verbose=0)
    assert np.abs(first - second).max() > 1e-4

    assert set_stochastic(model, False) == n_stochastic
    third, fourth = model.predict(x, verbose=0), model.predict(x, verbose=0)
    np.testing.assert_array_equal(third, fourth)
    np.testing.assert_allclose(third, reference(model, x), rtol=1e-5, atol=1e-5)

    set_stochastic(model, True)
    fifth, sixth = model.predict(x, verbose=0), model.predict(x, verbose=0)
    assert np.abs(fifth - sixth).max() > 1e-4
    assert np.abs(fifth - third).max() > 1e-4
    assert model.predict_function is traced
    set_stochastic(model, False)


def test_training_always_samples_even_when_switched_off() -> None:
    layer = DenseVariational(4, posterior_scale_init=0.5)
    x = np.ones((2, 3), "float32")
    layer.set_stochastic(False)
    assert not layer.is_stochastic
    np.testing.assert_array_equal(layer(x, training=False), layer(x, training=False))
    assert np.abs(layer(x, training=True) - layer(x, training=True)).max() > 1e-3

    head = GaussianHead(1, variational={"posterior_scale_init": 0.5})
    set_stochastic(head, False)  # training=True reaches the head's sublayers too
    np.testing.assert_array_equal(head(x), head(x))
    assert np.abs(head(x, training=True) - head(x, training=True)).max() > 1e-3

    dropout = MCDropout(0.5)
    dropout.set_stochastic(False)
    np.testing.assert_array_equal(dropout(x, training=False), x)
    assert (np.asarray(dropout(np.ones((64, 8), "float32"), training=True)) == 0).any()


def test_set_stochastic_reaches_nested_layers() -> None:
    inner = keras.Sequential([keras.Input((3,)), DenseVariational(4), MCDropout(0.1)], name="inner")
    inputs = keras.Input((3,))
    outputs = GaussianHead(1, variational={})(inner(inputs))
    model = keras.Model(inputs, outputs)
    assert is_stochastic(model)
    assert set_stochastic(model, False) == 4  # 2 in the submodel, 2 inside the head
    assert not any(
        layer.is_stochastic for layer in model._flatten_layers() if hasattr(layer, "set_stochastic")
    )
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    assert not is_stochastic(plain)
    assert set_stochastic(plain, False) == 0


def test_flipout_decorrelates_examples_within_a_batch() -> None:
    x = np.ones((8, 3), "float32")  # identical rows
    reparam = DenseVariational(2, posterior_scale_init=0.5, estimator="reparameterization")
    flipout = DenseVariational(2, posterior_scale_init=0.5, estimator="flipout")
    assert np.ptp(np.asarray(reparam(x)), axis=0).max() < 1e-6  # one weight sample per batch
    assert np.ptp(np.asarray(flipout(x)), axis=0).max() > 1e-2


# KL divergence ----------------------------------------------------------------------------


@pytest.mark.parametrize("prior", ["normal", "scale_mixture"])
def test_kl_scales_linearly_with_kl_weight(prior: str) -> None:
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    layers = [DenseVariational(4, prior=prior, kl_weight=w, seed=11) for w in (1.0, 2.0)]
    models = [keras.Sequential([keras.Input((3,)), layer]) for layer in layers]
    models[1].set_weights(models[0].get_weights())
    kls = []
    for model in models:
        model(x)  # the losses of the last call; a predict() would leave graph tensors there
        assert len(model.losses) == 1
        kls.append(float(model.losses[0]))
    assert kls[0] > 0
    assert kls[1] == pytest.approx(2 * kls[0], rel=1e-6)


def test_normal_prior_kl_is_the_closed_form() -> None:
    layer = DenseVariational(4, prior_scale=0.7, posterior_scale_init=0.2, kl_weight=0.5)
    layer(np.ones((2, 3), "float32"))
    loc = np.concatenate([layer.kernel_loc.numpy().ravel(), layer.bias_loc.numpy()])
    rho = np.concatenate([layer.kernel_rho.numpy().ravel(), layer.bias_rho.numpy()])
    scale = _softplus(rho) + 1e-6
    expected = np.sum(np.log(0.7 / scale) + (scale**2 + loc**2) / (2 * 0.7**2) - 0.5)
    assert float(layer.losses[0]) == pytest.approx(0.5 * expected, rel=1e-5)
    tfd = _tfd()
    tfp_kl = tfd.kl_divergence(tfd.Normal(loc, scale), tfd.Normal(0.0, 0.7)).numpy().sum()
    assert float(layer.losses[0]) == pytest.approx(0.5 * tfp_kl, rel=1e-5)


def test_scale_mixture_kl_estimate_is_unbiased() -> None:
    # A mixture of two identical components is that normal, whose KL is known exactly.
    mixture = DenseVariational(100, prior="scale_mixture", mixture_scales=(0.5, 0.5))
    normal = DenseVariational(100, prior="normal", prior_scale=0.5)
    x = np.ones((1, 100), "float32")
    mixture(x)
    normal(x)
    normal.set_weights(mixture.get_weights())
    estimates = []
    for _ in range(20):
        mixture(x)
        estimates.append(float(mixture.losses[0]))
    normal(x)
    exact = float(normal.losses[0])
    assert np.mean(estimates) == pytest.approx(exact, rel=0.01)
    assert np.std(estimates) > 0


# Mixed precision --------------------------------------------------------------------------


@pytest.fixture
def mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_mixed_precision(mixed_precision) -> None:
    x, y = _data()
    inputs = keras.Input((3,))
    h = DenseVariational(8, activation="relu", kl_weight=1 / 32, name="hidden")(inputs)
    h = MCDropout(0.1)(h)
    h = DenseVariational(8, activation="relu", estimator="flipout", kl_weight=1 / 32)(h)
    head = GaussianHead(1, variational={"estimator": "flipout"}, dtype="float32")
    model = keras.Model(inputs, head(h))
    model.compile(keras.optimizers.Adam(0.05), GaussianNLL())
    layer = model.get_layer("hidden")
    assert layer.compute_dtype == "float16"
    assert layer.kernel_loc.dtype == "float32"
    assert np.asarray(layer(x)).dtype == np.float16
    assert layer.losses[0].dtype == "float32"
    assert head.mean_layer.compute_dtype == "float32"
    history = model.fit(x, y, epochs=3, batch_size=32, verbose=0).history["loss"]
    assert all(math.isfinite(v) for v in history)
    set_stochastic(model, False)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))


# Epistemic uncertainty away from the data ------------------------------------------------


@pytest.mark.parametrize("estimator", ["reparameterization", "flipout"])
def test_predictive_std_grows_far_from_the_training_data(estimator: str) -> None:
    n, noise = 128, 0.1
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, size=(n, 1)).astype("float32")
    y = (np.sin(3 * x) + noise * rng.normal(size=x.shape)).astype("float32")

    def gaussian_nll(y_true, y_pred):  # known noise level; constants dropped
        return keras.ops.mean(keras.ops.square(y_true - y_pred)) / (2 * noise**2)

    kwargs = {"kl_weight": 1 / n, "estimator": estimator}
    model = keras.Sequential(
        [
            keras.Input((1,)),
            DenseVariational(32, activation="relu", **kwargs),
            DenseVariational(1, **kwargs),
        ]
    )
    model.compile(keras.optimizers.Adam(0.02), gaussian_nll)
    steps = 400  # full-batch steps in a single epoch: per-epoch overhead dominates otherwise
    model.fit(np.tile(x, (steps, 1)), np.tile(y, (steps, 1)), batch_size=n, epochs=1, verbose=0)

    inside = np.linspace(-1.0, 1.0, 21, dtype="float32")[:, None]
    outside = np.array([[-4.0], [4.0]], dtype="float32")
    grid = np.concatenate([inside, outside])
    samples = np.stack([np.asarray(model(grid))[:, 0] for _ in range(100)])
    std = samples.std(axis=0)
    assert std[21:].min() >= 3 * std[:21].mean(), std

    set_stochastic(model, False)
    mean = np.asarray(model(inside))[:, 0]
    assert np.sqrt(np.mean((mean - np.sin(3 * inside[:, 0])) ** 2)) < 0.25


# GaussianHead and GaussianNLL -----------------------------------------------------------


def test_gaussian_head_outputs_mean_then_positive_scale() -> None:
    head = GaussianHead(3, min_scale=0.05)
    features = np.random.default_rng(0).normal(size=(7, 5)).astype("float32") * 10
    out = np.asarray(head(features))
    assert out.shape == (7, 6)
    assert head.compute_output_shape((None, 5)) == (None, 6)
    mean = features @ head.mean_layer.kernel.numpy() + head.mean_layer.bias.numpy()
    np.testing.assert_allclose(out[:, :3], mean, rtol=1e-5, atol=1e-5)
    assert (out[:, 3:] >= 0.05).all()


@pytest.mark.parametrize(
    ("units", "flat_target"), [(1, True), (1, False), (2, False)], ids=["1d", "1x1", "1x2"]
)
def test_gaussian_nll_matches_the_normal_log_density(units: int, flat_target: bool) -> None:
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(16, units)).astype("float32")
    scale = rng.uniform(0.1, 2.0, size=(16, units)).astype("float32")
    y = rng.normal(size=(16, units)).astype("float32")
    y_pred = np.concatenate([mean, scale], axis=-1)
    y_true = y[:, 0] if flat_target else y

    value = float(GaussianNLL()(y_true, y_pred))
    expected = -stats.norm.logpdf(y, loc=mean, scale=scale).mean()
    assert value == pytest.approx(expected, rel=1e-5)
    tfp_value = -_tfd().Normal(mean, scale).log_prob(y).numpy().mean()
    assert value == pytest.approx(float(tfp_value), rel=1e-5)

    per_example = np.asarray(GaussianNLL(reduction=None)(y_true, y_pred))
    assert per_example.shape == (16,)
    np.testing.assert_allclose(per_example.mean(), expected, rtol=1e-5)


def test_gaussian_nll_is_float32_for_float16_inputs() -> None:
    y_pred = np.array([[0.0, 1.0]], dtype="float16")
    value = GaussianNLL()(np.array([0.5], "float16"), y_pred)
    assert value.dtype == "float32"
    assert float(value) == pytest.approx(-stats.norm.logpdf(0.5), rel=1e-3)


def test_invalid_arguments_raise() -> None:
    with pytest.raises(ValueError, match="estimator"):
        DenseVariational(2, estimator="local_reparameterization")
    with pytest.raises(ValueError, match="prior"):
        DenseVariational(2, prior="laplace")
    with pytest.raises(ValueError, match="rate"):
        MCDropout(1.0)
    with pytest.raises(ValueError, match="even"):
        GaussianNLL()(np.zeros((2, 1)), np.zeros((2, 3)))


@pytest.mark.parametrize("scale", [0.05, 3.0, 1000.0])
def test_the_posterior_starts_at_posterior_scale_init(scale: float):
    """softplus(rho) + 1e-6 = posterior_scale_init for every kernel and bias entry, checked
    with NumPy's softplus; 1000 overflowed computing rho (an OverflowError traceback)."""
    layer = DenseVariational(2, posterior_scale_init=scale)
    layer.build((None, 3))
    for rho in (layer.kernel_rho, layer.bias_rho):
        assert np.allclose(_softplus(rho.numpy().astype("float64")) + 1e-6, scale, rtol=1e-6)
