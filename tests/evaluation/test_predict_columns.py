"""Every uncertainty column ``toolkit predict`` writes, against the predictive distribution of
a model whose weights are set by hand, so that distribution is known in closed form.

The models are the toolkit's own (``build_model`` from a config), with one linear hidden unit
that passes the standardised input through: h = z = (x - mean_x) / std_x. The expected values
are computed here in NumPy/SciPy from the weights, never from the code's output:

* a Gaussian-head ensemble: an equally weighted mixture of Gaussians, exact;
* a classifier ensemble: the members' average softmax, exact;
* a variational output layer (mean-field Gaussian weights, homoscedastic noise):
  y | x ~ N(mu_w z + mu_b, s_w^2 z^2 + s_b^2) + noise, estimated from Monte-Carlo passes;
* MC dropout on one unit: a two-point distribution, estimated from passes.

Monte-Carlo columns are compared with 5 standard errors of their estimators; over the rows
of a test (each its own comparison) a correct implementation fails with probability below
1e-4 (union bound: 20 rows x 4 columns x 6e-7).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import optimize, special, stats

from tests.helpers import tiny_config
from toolkit.config.loading import validate_config
from toolkit.data.prepared import prepare_data
from toolkit.evaluation import metrics
from toolkit.evaluation.conformal import ConformalCalibration
from toolkit.evaluation.evaluate import running_metrics
from toolkit.evaluation.posthoc import PostHocCalibration
from toolkit.evaluation.predict import predict, prediction_frame
from toolkit.models.builder import build_model

MIN_SCALE = 1e-3  # GaussianHead's floor on the scale


def _built(task: str, model: dict, *, prediction: dict | None = None, source: str | None = None):
    raw = tiny_config(task, model={"task": task, "hidden": [1], "activation": "linear", **model})
    if source:
        raw["data"]["source"] = source
    raw["data"]["synthetic"] = {"samples": 80, "features": 3}
    if prediction:
        raw["prediction"] = prediction
    config = validate_config(raw)
    data = prepare_data(config)
    network = build_model(config, data.spec, train_size=data.train.rows)
    return config, data, network


def _pass_first_input(layer) -> None:
    """A hidden block whose one unit is the first standardised input."""
    kernel, bias = (w.copy() for w in layer.get_weights())
    kernel[:] = 0.0
    kernel[0, 0] = 1.0
    layer.set_weights([kernel, np.zeros_like(bias)])


def _standardised_first_input(data, features: dict) -> np.ndarray:
    first = data.spec.numeric[0]
    return (features["numeric"][:, 0].astype(np.float64) - first.mean) / first.std


def _target_scale(data) -> tuple[float, float]:
    return data.spec.target.mean, data.spec.target.std


def _frame(config, data, network, features):
    predictions = predict(network, features, config)
    return predictions, prediction_frame(predictions, data.spec, config)


# ------------------------------------------------------------------ a Gaussian mixture


GAUSSIAN_MEMBERS = [  # (slope, intercept, raw scale) of each member's mean and scale
    (0.8, -0.4, -1.0),
    (-0.3, 0.5, 0.2),
    (1.5, 0.1, -0.4),
]


def test_a_gaussian_ensemble_writes_the_mixtures_moments_and_quantiles():
    config, data, network = _built(
        "regression",
        {"head": "gaussian", "ensemble": {"members": len(GAUSSIAN_MEMBERS)}},
        prediction={"interval": 0.9},
        source="synthetic:regression",
    )
    for index, (slope, intercept, raw) in enumerate(GAUSSIAN_MEMBERS):
        member = network.get_layer(f"member{index}")
        _pass_first_input(member.get_layer("block0_dense"))
        head = member.get_layer("gaussian_head")
        head.mean_layer.set_weights([np.array([[slope]]), np.array([intercept])])
        head.scale_layer.set_weights([np.zeros((1, 1)), np.array([raw])])
    features, y = data.validation.arrays()
    predictions, frame = _frame(config, data, network, features)

    z = _standardised_first_input(data, features)
    t_mean, t_std = _target_scale(data)
    loc = np.stack([t_mean + t_std * (a * z + b) for a, b, _ in GAUSSIAN_MEMBERS], axis=1)
    scale = np.stack(
        [np.full_like(z, t_std * (np.logaddexp(0, r) + MIN_SCALE)) for *_, r in GAUSSIAN_MEMBERS],
        axis=1,
    )
    mean = loc.mean(axis=1)
    epistemic = np.sqrt(((loc - mean[:, None]) ** 2).mean(axis=1))
    aleatoric = np.sqrt((scale**2).mean(axis=1))
    # the variance of the mixture computed from its second moment, not by the decomposition
    second_moment = (scale**2 + loc**2).mean(axis=1)
    total = np.sqrt(second_moment - mean**2)

    def quantile(row: int, level: float) -> float:
        cdf = lambda v: stats.norm.cdf(v, loc[row], scale[row]).mean() - level  # noqa: E731
        return optimize.brentq(cdf, -1e4, 1e4, xtol=1e-10)

    rows = range(len(z))
    close = {"rtol": 1e-4, "atol": 1e-4 * t_std}
    np.testing.assert_allclose(frame["prediction"], mean, **close)
    np.testing.assert_allclose(frame["epistemic_std"], epistemic, **close)
    np.testing.assert_allclose(frame["aleatoric_std"], aleatoric, **close)
    np.testing.assert_allclose(frame["std"], total, **close)
    np.testing.assert_allclose(frame["lower"], [quantile(i, 0.05) for i in rows], **close)
    np.testing.assert_allclose(frame["upper"], [quantile(i, 0.95) for i in rows], **close)

    running = running_metrics(data.spec, config)
    running.update(predictions, y)
    scores = running.result()
    target = y[:, 0]
    density = stats.norm.pdf(target[:, None], loc, scale).mean(axis=1)
    assert scores["nll"] == pytest.approx(-np.log(density).mean(), rel=1e-4)
    lower, upper = frame["lower"].to_numpy(), frame["upper"].to_numpy()
    assert scores["coverage"] == np.mean((lower <= target) & (target <= upper))


# ------------------------------------------------------------------ a classifier ensemble


def test_a_classifier_ensemble_writes_the_average_probabilities_entropy_and_mutual_information():
    config, data, network = _built(
        "multiclass", {"ensemble": {"members": 2}}, prediction={"conformal": {"alpha": 0.2}}
    )
    rng = np.random.default_rng(5)
    slopes, biases = rng.normal(size=(2, 1, 3)) * 2, rng.normal(size=(2, 3))
    for index in range(2):
        member = network.get_layer(f"member{index}")
        _pass_first_input(member.get_layer("block0_dense"))
        member.get_layer("logits").set_weights([slopes[index], biases[index]])
    features = data.validation.arrays()[0]
    # calibrated on the training rows here: any rows will do for checking the arithmetic
    train_features, train_y = data.train.arrays()
    calibration = ConformalCalibration.fit(
        predict(network, train_features, config),
        train_y[:, 0],
        method="split",
        alpha=0.2,
        calibrated_on="validation",
    )
    predictions = predict(
        network, features, config, calibration=PostHocCalibration(conformal=calibration)
    )
    frame = prediction_frame(predictions, data.spec, config)

    z = _standardised_first_input(data, features)
    member_p = np.stack(
        [special.softmax(z[:, None] * slopes[m] + biases[m], axis=1) for m in range(2)], axis=1
    )
    mean = member_p.mean(axis=1)
    classes = data.spec.target.classes
    for index, label in enumerate(classes):
        np.testing.assert_allclose(frame[f"probability_{label}"], mean[:, index], rtol=1e-5)
    total = stats.entropy(mean, axis=1)
    expected = stats.entropy(member_p, axis=2).mean(axis=1)
    np.testing.assert_allclose(frame["entropy"], total, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(frame["mutual_information"], total - expected, atol=1e-6)
    assert list(frame["prediction"]) == [classes[i] for i in mean.argmax(axis=1)]

    # the set: every class whose 1 - p is within the 0.8-quantile of the training scores
    train_z = _standardised_first_input(data, train_features)
    train_p = np.mean(
        [special.softmax(train_z[:, None] * slopes[m] + biases[m], axis=1) for m in range(2)],
        axis=0,
    )
    train_scores = np.sort(1 - train_p[np.arange(len(train_z)), train_y[:, 0]])
    q = train_scores[int(np.ceil((len(train_scores) + 1) * 0.8)) - 1]
    sets = [json.loads(text) for text in frame["prediction_set"]]
    assert sets == [[c for c, p in zip(classes, row, strict=True) if 1 - p <= q] for row in mean]
    assert list(frame["set_size"]) == [len(s) for s in sets]


# ------------------------------------------------------------------ variational weights


def _softplus_inverse(x: float) -> float:
    return float(np.log(np.expm1(x)))


def test_a_variational_output_layer_writes_its_closed_form_predictive_moments():
    samples = 2000
    config, data, network = _built(
        "regression",
        {"head": "homoscedastic", "bayesian": {"layers": "output"}},
        prediction={"mc_samples": samples},
        source="synthetic:regression",
    )
    _pass_first_input(network.get_layer("block0_dense"))
    head = network.get_layer("gaussian_head")
    mu_w, s_w, mu_b, s_b, raw_noise = 0.7, 0.4, -0.2, 0.25, -0.5
    layer = head.mean_layer
    layer.kernel_loc.assign([[mu_w]])
    layer.kernel_rho.assign([[_softplus_inverse(s_w - 1e-6)]])
    layer.bias_loc.assign([mu_b])
    layer.bias_rho.assign([_softplus_inverse(s_b - 1e-6)])
    head.raw_scale.assign([raw_noise])
    features = {k: v[:20] for k, v in data.validation.arrays()[0].items()}
    _, frame = _frame(config, data, network, features)

    z = _standardised_first_input(data, features)
    t_mean, t_std = _target_scale(data)
    mean = t_mean + t_std * (mu_w * z + mu_b)
    epistemic = t_std * np.sqrt(s_w**2 * z**2 + s_b**2)
    aleatoric = t_std * (np.logaddexp(0, raw_noise) + MIN_SCALE)
    # standard errors: of a mean of S draws, and of a standard deviation (normal draws)
    np.testing.assert_array_less(
        np.abs(frame["prediction"] - mean), 5 * epistemic / np.sqrt(samples)
    )
    np.testing.assert_array_less(
        np.abs(frame["epistemic_std"] - epistemic), 5 * epistemic / np.sqrt(2 * samples)
    )
    np.testing.assert_allclose(frame["aleatoric_std"], aleatoric, rtol=1e-5)
    total = np.sqrt(epistemic**2 + aleatoric**2)
    std_error = epistemic**2 / total / np.sqrt(2 * samples)  # delta method on sqrt(e^2 + a^2)
    np.testing.assert_array_less(np.abs(frame["std"] - total), 5 * std_error)


# ------------------------------------------------------------------ MC dropout


def test_mc_dropout_on_one_unit_writes_its_two_point_distributions_moments():
    rate, samples, slope, intercept = 0.3, 1500, 0.9, 0.2
    config, data, network = _built(
        "regression",
        {"dropout": rate, "mc_dropout": True},
        prediction={"mc_samples": samples, "interval": 0.8},
        source="synthetic:regression",
    )
    _pass_first_input(network.get_layer("block0_dense"))
    network.get_layer("output").set_weights([np.array([[slope]]), np.array([intercept])])
    features = {k: v[:20] for k, v in data.validation.arrays()[0].items()}
    _, frame = _frame(config, data, network, features)

    z = _standardised_first_input(data, features)
    t_mean, t_std = _target_scale(data)
    # h = z / (1 - p) with probability 1 - p, else 0
    mean = t_mean + t_std * (slope * z + intercept)
    spread = t_std * np.abs(slope * z) * np.sqrt(rate / (1 - rate))
    np.testing.assert_array_less(np.abs(frame["prediction"] - mean), 5 * spread / np.sqrt(samples))
    # the sample std is |v| sqrt(q (1 - q)) for the dropped fraction q, v = slope z / (1 - p);
    # by the delta method its standard error is |v| |1 - 2p| / (2 sqrt(S))
    value = t_std * np.abs(slope * z) / (1 - rate)
    std_error = value * abs(1 - 2 * rate) / (2 * np.sqrt(samples))
    np.testing.assert_array_less(np.abs(frame["epistemic_std"] - spread), 5 * std_error)
    np.testing.assert_array_equal(frame["std"], frame["epistemic_std"])
    assert "aleatoric_std" not in frame
    # points have no density: the interval is the Gaussian approximation mean -/+ z std
    half = stats.norm.ppf(0.9) * frame["std"]
    np.testing.assert_allclose(frame["lower"], frame["prediction"] - half, rtol=1e-12)
    np.testing.assert_allclose(frame["upper"], frame["prediction"] + half, rtol=1e-12)


def _deterministic_gaussian():
    """A Gaussian head on the first standardised input z: mean 0.5 z + 0.1 and scale
    softplus(0.3 z - 0.2) + MIN_SCALE, in standardised target units."""
    config, data, network = _built("regression", {"head": "gaussian"}, source="synthetic:sine")
    head = network.get_layer("gaussian_head")
    head.mean_layer.set_weights([np.array([[0.5]]), np.array([0.1])])
    head.scale_layer.set_weights([np.array([[0.3]]), np.array([-0.2])])
    _pass_first_input(network.get_layer("block0_dense"))
    return config, data, network


def test_a_deterministic_gaussian_head_has_no_epistemic_column_and_exact_quantiles():
    config, data, network = _deterministic_gaussian()
    features = data.validation.arrays()[0]
    _, frame = _frame(config, data, network, features)
    z = _standardised_first_input(data, features)
    t_mean, t_std = _target_scale(data)
    mean = t_mean + t_std * (0.5 * z + 0.1)
    scale = t_std * (np.logaddexp(0, 0.3 * z - 0.2) + MIN_SCALE)
    assert "epistemic_std" not in frame
    np.testing.assert_allclose(frame["std"], scale, rtol=1e-5)
    np.testing.assert_allclose(frame["aleatoric_std"], scale, rtol=1e-5)
    np.testing.assert_allclose(frame["lower"], stats.norm.ppf(0.025, mean, scale), rtol=1e-5)
    np.testing.assert_allclose(frame["upper"], stats.norm.ppf(0.975, mean, scale), rtol=1e-5)
    nll = metrics.regression_metrics(
        data.validation.arrays()[1][:, 0], frame["prediction"], std=frame["std"]
    )["nll"]
    assert nll == pytest.approx(
        -stats.norm.logpdf(data.validation.arrays()[1][:, 0], mean, scale).mean(), rel=1e-4
    )


def test_a_table_larger_than_one_call_is_predicted_row_for_row():
    """A deterministic table model runs eagerly on at most 65,536 rows per call: 70,001 rows
    (the validation rows tiled, then shuffled) take two calls, the second a partial one, and
    every row still gets its own closed-form prediction."""
    config, data, network = _deterministic_gaussian()
    validation = data.validation.arrays()[0]
    order = np.random.default_rng(0).permutation(70_001)
    rows = np.arange(70_001) % len(validation["numeric"])
    features = {name: values[rows][order] for name, values in validation.items()}
    predictions, _ = _frame(config, data, network, features)
    z = _standardised_first_input(data, features)
    t_mean, t_std = _target_scale(data)
    np.testing.assert_allclose(predictions.mean, t_mean + t_std * (0.5 * z + 0.1), rtol=1e-5)
    scale = t_std * (np.logaddexp(0, 0.3 * z - 0.2) + MIN_SCALE)
    np.testing.assert_allclose(predictions.std, scale, rtol=1e-5)


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_classifier_columns_start_with_the_prediction(task):
    """As the README and ``Run.predict`` say, and as regression's do: ``prediction``, then
    the probabilities (they came first, the predicted label last)."""
    config, data, network = _built(task, {})
    features = data.validation.arrays()[0]
    frame = prediction_frame(predict(network, features, config), data.spec, config)
    classes = data.spec.target.classes
    reported = classes[1:] if task == "binary" else classes
    assert list(frame.columns) == ["prediction", *(f"probability_{c}" for c in reported)]


@pytest.mark.parametrize(
    ("inputs", "units", "rows"),
    [(20, 128, 65_536), (20, 512, 16_384), (10_001, 4, 1024)],
)
def test_a_table_model_is_called_on_as_many_rows_as_keep_its_widest_layer_near_32_mb(
    inputs, units, rows
):
    """2**23 float32 values per activation: a wide one-hot input (a 10,000-word vocabulary
    and its out-of-vocabulary bucket) is scored 1,024 rows at a time, not 65,536 (2.6 GB)."""
    import keras

    from toolkit.evaluation.predict import _table_chunk_rows

    x = keras.Input(shape=(inputs,))
    model = keras.Model(x, keras.layers.Dense(1)(keras.layers.Dense(units)(x)))
    assert _table_chunk_rows(model) == rows
