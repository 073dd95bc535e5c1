"""Temperature scaling against an independent maximum-likelihood computation in NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from tests.evaluation._support import count_calibration_predictions, trained_run_and_its_validation
from toolkit.evaluation.temperature import (
    calibration_change,
    fit_temperature,
    mean_probabilities,
)


def _nll(logits: np.ndarray, labels: np.ndarray, t: float) -> float:
    """NLL of one model (one pass, one member) at temperature t, written out directly."""
    z = logits / t
    log_p = z - special.logsumexp(z, axis=1, keepdims=True)
    return -log_p[np.arange(len(labels)), labels].mean()


def test_the_fitted_temperature_minimises_the_nll_and_recovers_the_true_one():
    """Labels drawn from softmax(z / 2.5): the MLE of T is 2.5 up to its sampling error
    (about 1% at 20,000 rows; 10% is 10 standard errors)."""
    rng = np.random.default_rng(8)
    logits = rng.normal(scale=4.0, size=(20000, 5))
    p = special.softmax(logits / 2.5, axis=1)
    labels = (rng.random((20000, 1)) > p.cumsum(axis=1)).sum(axis=1)
    t = fit_temperature("multiclass", logits[None, :, None, :], labels)
    assert t == pytest.approx(2.5, rel=0.1)
    # the derivative of the NLL vanishes there (central difference)
    h = 1e-4 * t
    slope = (_nll(logits, labels, t + h) - _nll(logits, labels, t - h)) / (2 * h)
    assert abs(slope) < 1e-4
    assert _nll(logits, labels, t) <= min(_nll(logits, labels, t * f) for f in (0.97, 1.03))


def test_binary_logits_are_one_column_and_components_average_after_scaling():
    rng = np.random.default_rng(9)
    logits = rng.normal(size=(3, 40, 2, 1))  # 3 passes, 40 rows, 2 members, one logit
    p = mean_probabilities("binary", logits, 1.7)
    positive = special.expit(logits[..., 0] / 1.7).mean(axis=(0, 2))
    np.testing.assert_allclose(p[:, 1], positive, rtol=1e-12)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_calibration_change_reports_ece_and_log_loss_at_1_and_at_t():
    rng = np.random.default_rng(10)
    logits = rng.normal(scale=3.0, size=(500, 1))
    labels = (rng.random(500) < special.expit(logits[:, 0] / 3.0)).astype(int)
    t = fit_temperature("binary", logits[None, :, None, :], labels)
    change = calibration_change("binary", logits[None, :, None, :], labels, t)

    def ece(p: np.ndarray) -> float:  # 10 equal-width bins of P(y = 1)
        bins = np.minimum((p * 10).astype(int), 9)
        gaps = [
            np.sum(bins == b) * abs(labels[bins == b].mean() - p[bins == b].mean())
            for b in range(10)
            if np.any(bins == b)
        ]
        return float(np.sum(gaps) / len(p))

    for key, temperature in (("before", 1.0), ("after", t)):
        p = special.expit(logits[:, 0] / temperature)
        assert change[f"ece_{key}"] == pytest.approx(ece(p), rel=1e-9)
        log_loss = -np.mean(labels * np.log(p) + (1 - labels) * np.log1p(-p))
        assert change[f"log_loss_{key}"] == pytest.approx(log_loss, rel=1e-9)
    assert change["log_loss_after"] <= change["log_loss_before"]


def test_averaged_probabilities_stay_inside_0_1_when_components_agree():
    """50 confident passes (logits of an MC-dropout run on breast_cancer): their log p of
    -1e-23 sum, by logsumexp, to log(50) + 4e-16, so the mean probability was 1 + 4e-16."""
    logits = np.array(
        [60.06, 66.08, 52.40, 53.31, 61.07, 56.56, 60.77, 58.46, 63.78, 45.01] * 5
    ).reshape(50, 1, 1, 1)
    p = mean_probabilities("binary", logits)
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def _separable_rows(task: str, margin: float, n: int = 30):
    """Logits of n rows whose label leads the other classes by ``margin`` (give or take a
    little noise, never reversing it), and the same labels with the most confident row's
    flipped (a confident mistake)."""
    rng = np.random.default_rng(11)
    classes = 2 if task == "binary" else 3
    labels = rng.integers(classes, size=n)
    lead = margin * (1 + rng.uniform(-0.3, 0.3, size=n))
    if task == "binary":
        logits = (np.where(labels == 1, 1.0, -1.0) * lead)[:, None]
    else:
        logits = rng.uniform(-0.1, 0.1, size=(n, classes))
        logits[np.arange(n), labels] += lead
    worst = int(np.argmax(lead))
    flipped = labels.copy()
    flipped[worst] = (flipped[worst] + 1) % classes
    return logits, labels, flipped


def _true_class_probability(task: str, logits: np.ndarray, labels: np.ndarray, t: float):
    """p(label) per row at temperature t, written out directly."""
    if task == "binary":
        p1 = special.expit(logits[:, 0] / t)
        return np.where(labels == 1, p1, 1 - p1)
    return special.softmax(logits / t, axis=1)[np.arange(len(labels)), labels]


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_a_separable_split_sharpens_only_up_to_laplaces_accuracy(task):
    """Every row right: the NLL falls as T -> 0 and has no minimum. A network whose mean
    probability of the true class already reaches (n + 1) / (n + 2) keeps T = 1; an
    underconfident one is sharpened until it does; one mistake gives the NLL a minimum, and
    the fit is the MLE again."""
    n = 30
    target = (n + 1) / (n + 2)
    confident, labels, flipped = _separable_rows(task, margin=6.0)
    assert _true_class_probability(task, confident, labels, 1.0).mean() >= target
    assert fit_temperature(task, confident[None, :, None, :], labels) == 1.0

    timid, labels, _ = _separable_rows(task, margin=2.0)
    stacked = timid[None, :, None, :]
    assert _true_class_probability(task, timid, labels, 1.0).mean() < target
    t = fit_temperature(task, stacked, labels)
    assert 0.25 < t < 1.0
    np.testing.assert_allclose(
        _true_class_probability(task, timid, labels, t).mean(), target, rtol=1e-6
    )

    t = fit_temperature(task, confident[None, :, None, :], flipped)
    assert 0.25 < t < 20.0 and t != 1.0
    nll = lambda t: -np.log(_true_class_probability(task, confident, flipped, t)).mean()  # noqa: E731
    assert nll(t) <= min(nll(t * f) for f in (0.97, 1.03))


def test_a_separable_split_too_timid_to_reach_laplaces_accuracy_stops_at_the_bound():
    rng = np.random.default_rng(3)
    logits = rng.normal(scale=0.05, size=(40, 4))
    labels = logits.argmax(axis=1)
    assert fit_temperature("multiclass", logits[None, :, None, :], labels) == pytest.approx(0.25)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_temperature_and_conformal_sets_share_one_prediction_of_the_validation_rows(
    tmp_path, monkeypatch, task
):
    """The validation rows were predicted once to fit T and again, at T, for the conformal
    scores. One pass now serves both (``model_outputs`` calls counted, the real model behind
    them): T minimises the NLL of those logits, and the scores are 1 - p(true class) of
    their probabilities at T, recomputed here in NumPy."""
    from tests.helpers import tiny_config
    from toolkit.evaluation.calibrate import CALIBRATION_ROWS, calibrate_run

    raw = tiny_config(task, prediction={"temperature_scaling": True, "conformal": {"alpha": 0.1}})
    raw["training"]["epochs"] = 3
    run, data = trained_run_and_its_validation(raw, tmp_path / "runs")
    model = run.model

    features, y = data.validation.sample(CALIBRATION_ROWS, seed=run.config.seed)
    labels = y[:, 0].astype(int)
    model.get_layer("temperature").temperature.assign(1.0)
    logits = np.asarray(model.predict(features, verbose=0), dtype=np.float64)

    calls = count_calibration_predictions(monkeypatch)
    calibration = calibrate_run(run.config, data, model)
    assert len(calls) == 1

    t = calibration.temperature["temperature"]
    if task == "binary":
        logits = np.concatenate([np.zeros_like(logits), logits], axis=1)  # sigmoid as softmax
    if 0.26 < t < 19.9:  # inside the search's bounds [1/4, 20]: the NLL's minimum
        assert _nll(logits, labels, t) <= min(_nll(logits, labels, t * f) for f in (0.99, 1.01))
    p = special.softmax(logits / t, axis=1)
    scores = np.sort(1.0 - p[np.arange(len(labels)), labels])
    np.testing.assert_allclose(calibration.conformal.scores, scores, rtol=1e-5, atol=1e-7)


def test_a_temperature_stopped_at_its_bound_is_flagged_and_warned(tmp_path):
    """On labels drawn at random the NLL falls as T grows (uniform is the best there is),
    and T stopped at 20 without a word; std scaling's factor at its bound said so. Checked
    on the fit alone (logits that carry no information about the labels) and on a run."""
    import json

    import pandas as pd

    import toolkit
    from tests.helpers import tiny_config
    from toolkit.evaluation.temperature import fit_temperature, temperature_at_bound

    rng = np.random.default_rng(0)
    # (passes, rows, members, classes), as the model's raw outputs
    noise_logits, noise_labels = rng.normal(size=(1, 300, 1, 3)) * 3, rng.integers(0, 3, 300)
    assert temperature_at_bound(fit_temperature("multiclass", noise_logits, noise_labels)) == (
        "upper"
    )
    assert temperature_at_bound(1.0) is None

    frame = pd.DataFrame(rng.normal(size=(300, 2)), columns=["a", "b"])
    frame["label"] = rng.choice(["x", "y", "z"], size=300)
    frame.to_csv(tmp_path / "noise.csv", index=False)
    config = tiny_config(
        "multiclass",
        data={"source": str(tmp_path / "noise.csv"), "target": "label", "validation": 0.3},
        prediction={"temperature_scaling": True},
    )
    run = toolkit.train(config, output_dir=tmp_path / "runs", verbose=0)
    bounded = json.loads((run.path / "metrics.json").read_text())["temperature_scaling"]["bounded"]
    assert bounded.startswith("T stopped at its upper bound 20: the probabilities are flattened")
    warnings = json.loads((run.path / "run.json").read_text())["warnings"]
    assert f"prediction.temperature_scaling: {bounded}" in warnings
