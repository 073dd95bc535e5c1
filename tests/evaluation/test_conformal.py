"""Conformal prediction against its finite-sample theory, on synthetic data in NumPy.

For n calibration scores and a test score exchangeable with them (continuous, no ties), the
split-conformal set at level alpha covers with probability exactly k / (n + 1), where
k = ceil((n + 1)(1 - alpha)) (Vovk et al. 2005; Lei et al. 2018, Theorem 2.2). The coverage
tests repeat calibration and test draws R times and compare the mean coverage with k / (n + 1).
Per replicate the coverage has variance at most k(n + 1 - k) / ((n + 1)^2 (n + 2)) (its
conditional Beta part) plus alpha(1 - alpha) / m (the m test rows); each test allows 4.5
standard errors of the mean over R replicates, which a correct implementation exceeds with
probability below 1e-5 (normal tail; the mean of R >= 1000 bounded terms is normal to well
within that). With n = 199, m = 50 and R = 3000 that is +-0.0028; an off-by-one in the rank
(the k-th vs the (k+1)-th score) moves the mean by 1 / (n + 1) = 0.005, 8 standard errors.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from toolkit.evaluation.conformal import (
    ConformalCalibration,
    conformal_metrics,
    conformal_quantile,
    set_labels,
)
from toolkit.evaluation.predict import Predictions

ALPHA = 0.05
N_CAL, N_TEST, REPLICATES = 199, 50, 3000


def _exact_coverage(n: int, alpha: float) -> float:
    return math.ceil((n + 1) * (1 - alpha)) / (n + 1)


def _tolerance(n: int, alpha: float, m: int, replicates: int) -> float:
    k = math.ceil((n + 1) * (1 - alpha))
    conditional = k * (n + 1 - k) / ((n + 1) ** 2 * (n + 2))
    per_replicate = conditional + alpha * (1 - alpha) / m
    return 4.5 * math.sqrt(per_replicate / replicates)


@pytest.mark.parametrize(
    ("n", "alpha", "rank"),
    [(19, 0.05, 19), (99, 0.1, 90), (100, 0.1, 91), (9, 0.2, 8), (1000, 0.05, 951)],
)
def test_the_quantile_is_the_ceil_n_plus_1_times_1_minus_alpha_th_smallest_score(n, alpha, rank):
    scores = np.random.default_rng(n).permutation(np.arange(1, n + 1, dtype=float))
    # the scores are 1..n, so the rank-th smallest is the number rank itself
    assert conformal_quantile(scores, alpha) == rank


def test_too_few_calibration_rows_give_an_infinite_quantile_and_every_class():
    assert conformal_quantile(np.arange(18.0), 0.05) == math.inf  # needs 19 rows at 0.05
    calibration = ConformalCalibration("multiclass", "split", 0.05, np.zeros(5), "validation")
    predictions = Predictions("multiclass", np.array([[0.9, 0.1, 0.0]]))
    calibration.apply(predictions)
    assert predictions.prediction_sets.tolist() == [[True, True, True]]


def _heteroscedastic(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """x ~ U(-2, 2); y | x ~ N(sin 2x, (0.2 + 0.5|x|)^2)."""
    x = rng.uniform(-2, 2, size=rows)
    return x, np.sin(2 * x) + (0.2 + 0.5 * np.abs(x)) * rng.normal(size=rows)


def _regression_predictions(x: np.ndarray) -> Predictions:
    """A deliberately wrong model: the mean is off by 0.3 and the std too small and constant
    in the wrong places, so only the conformal step can make the coverage right."""
    mean = np.sin(2 * x) + 0.3
    std = 0.3 + 0.1 * (x > 0)
    return Predictions("regression", mean, std, locations=mean[:, None], scales=std[:, None])


@pytest.mark.parametrize("method", ["split", "cqr"])
def test_regression_coverage_is_exactly_k_over_n_plus_1_on_average(method):
    rng = np.random.default_rng(20260101 if method == "split" else 20260102)
    covered = np.empty(REPLICATES)
    for replicate in range(REPLICATES):
        x, y = _heteroscedastic(rng, N_CAL + N_TEST)
        predictions = _regression_predictions(x)
        calibration_rows = Predictions(
            "regression",
            predictions.mean[:N_CAL],
            predictions.std[:N_CAL],
            locations=predictions.locations[:N_CAL],
            scales=predictions.scales[:N_CAL],
        )
        calibration = ConformalCalibration.fit(
            calibration_rows, y[:N_CAL], method=method, alpha=ALPHA, calibrated_on="validation"
        )
        test_rows = Predictions(
            "regression",
            predictions.mean[N_CAL:],
            predictions.std[N_CAL:],
            locations=predictions.locations[N_CAL:],
            scales=predictions.scales[N_CAL:],
        )
        calibration.apply(test_rows)
        covered[replicate] = conformal_metrics(test_rows, y[N_CAL:])["conformal_coverage"]
    expected = _exact_coverage(N_CAL, ALPHA)
    assert abs(covered.mean() - expected) < _tolerance(N_CAL, ALPHA, N_TEST, REPLICATES)


def test_split_intervals_are_the_mean_plus_minus_q_std_with_q_from_the_sorted_scores():
    rng = np.random.default_rng(3)
    x, y = _heteroscedastic(rng, 60)
    predictions = _regression_predictions(x)
    calibration = ConformalCalibration.fit(
        predictions, y, method="split", alpha=0.1, calibrated_on="validation"
    )
    scores = np.sort(np.abs(y - predictions.mean) / predictions.std)
    q = scores[math.ceil(61 * 0.9) - 1]  # the 55th smallest of 60
    assert calibration.quantile == pytest.approx(q)
    calibration.apply(predictions)
    np.testing.assert_allclose(predictions.conformal_lower, predictions.mean - q * predictions.std)
    np.testing.assert_allclose(predictions.conformal_upper, predictions.mean + q * predictions.std)


def test_cqr_adjusts_the_models_own_quantiles_additively():
    """Romano et al. (2019): E = max(lo - y, y - hi); interval [lo - Q, hi + Q]."""
    from scipy import stats

    rng = np.random.default_rng(4)
    x, y = _heteroscedastic(rng, 80)
    predictions = _regression_predictions(x)
    calibration = ConformalCalibration.fit(
        predictions, y, method="cqr", alpha=0.1, calibrated_on="validation"
    )
    lo = predictions.mean + predictions.std * stats.norm.ppf(0.05)
    hi = predictions.mean + predictions.std * stats.norm.ppf(0.95)
    q = np.sort(np.maximum(lo - y, y - hi))[math.ceil(81 * 0.9) - 1]
    assert calibration.quantile == pytest.approx(q)
    calibration.apply(predictions)
    np.testing.assert_allclose(predictions.conformal_lower, lo - q, rtol=1e-8)
    np.testing.assert_allclose(predictions.conformal_upper, hi + q, rtol=1e-8)


def _class_probabilities(rng: np.random.Generator, rows: int, classes: int) -> np.ndarray:
    logits = rng.normal(scale=1.5, size=(rows, classes))
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def test_prediction_sets_cover_exactly_k_over_n_plus_1_on_average():
    rng = np.random.default_rng(20260103)
    classes = 5
    covered = np.empty(REPLICATES)
    sizes = np.empty(REPLICATES)
    for replicate in range(REPLICATES):
        truth = _class_probabilities(rng, N_CAL + N_TEST, classes)
        labels = (rng.random((N_CAL + N_TEST, 1)) > truth.cumsum(axis=1)).sum(axis=1)
        # the model is overconfident: it squares and renormalises the true probabilities
        model = truth**2 / (truth**2).sum(axis=1, keepdims=True)
        calibration = ConformalCalibration.fit(
            Predictions("multiclass", model[:N_CAL]),
            labels[:N_CAL],
            method="split",
            alpha=ALPHA,
            calibrated_on="validation",
        )
        test_rows = calibration.apply(Predictions("multiclass", model[N_CAL:]))
        result = conformal_metrics(test_rows, labels[N_CAL:])
        covered[replicate], sizes[replicate] = result["set_coverage"], result["mean_set_size"]
    expected = _exact_coverage(N_CAL, ALPHA)
    assert abs(covered.mean() - expected) < _tolerance(N_CAL, ALPHA, N_TEST, REPLICATES)
    assert 1.0 < sizes.mean() < classes  # informative sets: neither singletons nor everything


def test_a_set_holds_every_class_whose_score_is_within_the_quantile():
    calibration = ConformalCalibration(
        "multiclass", "split", 0.3, np.array([0.1, 0.4, 0.6]), "validation"
    )
    assert calibration.quantile == 0.6  # ceil(4 * 0.7) = 3rd smallest
    predictions = calibration.apply(
        Predictions("multiclass", np.array([[0.7, 0.2, 0.1], [0.45, 0.45, 0.1]]))
    )
    assert predictions.prediction_sets.tolist() == [[True, False, False], [True, True, False]]
    assert set_labels(predictions.prediction_sets, ["a", "b", "c"]) == ['["a"]', '["a", "b"]']


def test_a_set_names_its_classes_in_the_target_type():
    """An integer or boolean target's sets held the labels' text (``["0", "1"]``), which the
    ``prediction`` column (0, True) never equals; they now hold JSON numbers and booleans."""
    sets = np.array([[True, False], [True, True]])
    assert set_labels(sets, np.array([0, 7])) == ["[0]", "[0, 7]"]
    assert set_labels(sets, np.array([False, True])) == ["[false]", "[false, true]"]
    assert [json.loads(s) for s in set_labels(sets, np.array([0, 7]))] == [[0], [0, 7]]


def test_a_calibration_survives_its_json_round_trip():
    calibration = ConformalCalibration(
        "regression", "split", 0.1, np.array([0.5, 1.5, 2.5]), "calibration", normalized=True
    )
    text = calibration.to_json()
    assert json.loads(text)["rows"] == 3
    again = ConformalCalibration.from_json(text)
    assert (again.task, again.method, again.alpha, again.calibrated_on, again.normalized) == (
        "regression",
        "split",
        0.1,
        "calibration",
        True,
    )
    np.testing.assert_array_equal(again.scores, calibration.scores)


@pytest.mark.parametrize(("n", "alpha"), [(29, 0.05), (10, 0.05), (19, 0.05), (57, 0.1), (7, 0.3)])
def test_the_randomised_rank_averages_n_plus_1_times_1_minus_alpha_over_u(n, alpha):
    """Closed form: with scores 1..n the quantile is its rank (n + 1 when it is +inf), and
    the test row's score is below the k-th of n + 1 exchangeable continuous scores with
    probability k / (n + 1); so E_U[rank] / (n + 1) is the expected coverage, exactly
    1 - alpha. U on a midpoint grid of 10,000 points integrates the step function of U to
    within 1e-4 in rank; an off-by-one rank would be off by 1."""
    scores = np.arange(1.0, n + 1)
    grid = (np.arange(10_000) + 0.5) / 10_000
    ranks = [min(conformal_quantile(scores, alpha, u), n + 1) for u in grid]
    assert np.mean(ranks) == pytest.approx((n + 1) * (1 - alpha), abs=2e-4)
    # the conservative quantile's rank is ceil((n + 1)(1 - alpha)), above that unless integer
    assert min(conformal_quantile(scores, alpha), n + 1) == math.ceil((n + 1) * (1 - alpha))


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_randomised_conformal_covers_exactly_1_minus_alpha_with_29_calibration_rows(task):
    """Wine's case: n = 29, alpha = 0.05, where the conservative quantile covers 29/30.
    R = 4000 replicates, each a fresh calibration set, U and m = 200 test rows. Per
    replicate the coverage's variance is at most 1 / (4(n + 2)) (a Beta given the rank)
    + 1 / (4(n + 1)^2) (the rank moving with U) + 1 / (4m) (the test rows); 4.5 standard
    errors of the mean (false failure below 1e-5) is +-0.0070, and 29/30 is 0.0167 away."""
    n, m, replicates = 29, 200, 4000
    rng = np.random.default_rng(20261204 if task == "regression" else 20261205)
    covered = np.empty(replicates)
    for replicate in range(replicates):
        u = float(rng.uniform())
        if task == "regression":
            x, y = _heteroscedastic(rng, n + m)
            p = _regression_predictions(x)
            rows = [
                Predictions("regression", p.mean[s], p.std[s]) for s in (slice(n), slice(n, None))
            ]
        else:
            truth = _class_probabilities(rng, n + m, 4)
            y = (rng.random((n + m, 1)) > truth.cumsum(axis=1)).sum(axis=1)
            rows = [Predictions("multiclass", truth[s]) for s in (slice(n), slice(n, None))]
        calibration = ConformalCalibration.fit(
            rows[0], y[:n], method="split", alpha=ALPHA, calibrated_on="validation", randomization=u
        )
        scores = conformal_metrics(calibration.apply(rows[1]), y[n:])
        covered[replicate] = scores[
            "conformal_coverage" if task == "regression" else "set_coverage"
        ]
    per_replicate = 1 / (4 * (n + 2)) + 1 / (4 * (n + 1) ** 2) + 1 / (4 * m)
    assert abs(covered.mean() - (1 - ALPHA)) < 4.5 * math.sqrt(per_replicate / replicates)


def _confident_classifier(rng: np.random.Generator, rows: int, classes: int, task: str):
    """Labels and the probabilities of a classifier right on 97% of rows with logit gaps of
    40-60: p(top) rounds to 1.0 in float64, so 1 - p(true) computed naively is exactly 0
    on those rows. Probabilities come from logits as ``toolkit predict`` computes them."""
    from toolkit.evaluation.predict import _probabilities

    labels = rng.integers(classes, size=rows)
    right = rng.random(rows) < 0.97
    top = np.where(right, labels, (labels + rng.integers(1, classes, size=rows)) % classes)
    gap = rng.uniform(40.0, 60.0, size=rows)
    if task == "binary":
        logits = np.where(top == 1, gap, -gap)[:, None]
    else:
        logits = rng.normal(size=(rows, classes))
        logits[np.arange(rows), top] += gap
    return labels, _probabilities(task, logits)


@pytest.mark.parametrize(("task", "classes"), [("multiclass", 3), ("binary", 2)])
def test_a_confident_classifiers_sets_still_cover_1_minus_alpha(task, classes):
    """Scores of near-one-hot probabilities are continuous when 1 - p is the sum of the other
    classes' probabilities, so the randomised quantile covers exactly 0.95 in expectation
    (the tolerance as in the test above, +-0.007). Computed as 1.0 - p they tie at 0 on the
    rows the model gets right, and the sets cover at least as often as it is right: 0.98."""
    n, m, replicates = 29, 200, 4000
    rng = np.random.default_rng(20261206)
    covered = np.empty(replicates)
    for replicate in range(replicates):
        labels, p = _confident_classifier(rng, n + m, classes, task)
        calibration = ConformalCalibration.fit(
            Predictions(task, p[:n]),
            labels[:n, None],
            method="split",
            alpha=ALPHA,
            calibrated_on="validation",
            randomization=float(rng.uniform()),
        )
        sets = calibration.apply(Predictions(task, p[n:]))
        covered[replicate] = conformal_metrics(sets, labels[n:, None])["set_coverage"]
    per_replicate = 1 / (4 * (n + 2)) + 1 / (4 * (n + 1) ** 2) + 1 / (4 * m)
    assert abs(covered.mean() - (1 - ALPHA)) < 4.5 * math.sqrt(per_replicate / replicates)


def test_an_alpha_too_small_for_the_calibration_rows_is_a_run_warning(tmp_path):
    """40 validation rows at alpha 0.001: (n + 1)(1 - alpha) - 1 + U > n for every U in
    (0.041, 1), so (here) the quantile is infinite and every interval the whole line. It was
    silent; metrics.json said conformal_coverage 1.0 with a null width."""
    import pandas as pd

    import toolkit
    from tests.helpers import tiny_config

    config = tiny_config(
        "regression", model={"head": "gaussian"}, prediction={"conformal": {"alpha": 0.001}}
    )
    run = toolkit.train(config, output_dir=tmp_path, verbose=0)
    assert run.status == "completed"
    n = len(run.conformal.scores)
    assert n == 40 and (n + 1) * 0.001 < 1  # the rank can pass n
    assert math.isinf(run.conformal.quantile)
    named = [w for w in run.warnings if w.startswith("prediction.conformal.alpha 0.001 needs")]
    assert named == [
        "prediction.conformal.alpha 0.001 needs about 999 calibration rows, this run has 40: "
        "every conformal interval is unbounded; raise alpha or calibrate on more rows"
    ]
    rows = pd.DataFrame(np.zeros((2, 4), dtype=np.float32), columns=[f"x{i}" for i in range(4)])
    assert np.isinf(run.predict(rows)["conformal_upper"]).all()
