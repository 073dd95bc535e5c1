"""Metric functions against closed forms, SciPy and hand-computed values.

The module computes its scores with scikit-learn; these tests compute them independently."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import integrate, stats
from sklearn import metrics as skm

from toolkit.evaluation import metrics


def _strict_json(result: dict) -> None:
    json.dumps(result, allow_nan=False)


# --------------------------------------------------------------------------------------------
# regression
# --------------------------------------------------------------------------------------------


def test_regression_metrics_match_sklearn_and_a_calibrated_gaussian_covers_its_level():
    rng = np.random.default_rng(0)
    y_pred = rng.normal(size=20000)
    std = np.full_like(y_pred, 0.5)
    y_true = y_pred + rng.normal(scale=0.5, size=y_pred.size)
    result = metrics.regression_metrics(y_true, y_pred, std=std, interval=0.95)
    error = y_pred - y_true
    assert result["rmse"] == pytest.approx(np.sqrt(np.mean(error**2)))
    assert result["mae"] == pytest.approx(np.mean(np.abs(error)))
    total = np.sum((y_true - y_true.mean()) ** 2)
    assert result["r2"] == pytest.approx(1 - np.sum(error**2) / total)
    assert result["coverage"] == pytest.approx(0.95, abs=0.01)
    assert result["interval_width"] == pytest.approx(2 * 1.959964 * 0.5, rel=1e-4)
    assert result["nll"] == pytest.approx(-stats.norm(y_pred, std).logpdf(y_true).mean())
    # the expected CRPS of a calibrated Gaussian forecast is sigma / sqrt(pi)
    assert result["crps"] == pytest.approx(0.5 / np.sqrt(np.pi), rel=0.02)
    _strict_json(result)


def test_other_interval_levels_and_an_overconfident_model():
    rng = np.random.default_rng(1)
    y_pred = np.zeros(20000)
    y_true = rng.normal(scale=1.0, size=y_pred.size)
    calibrated = metrics.regression_metrics(y_true, y_pred, std=np.ones_like(y_pred), interval=0.5)
    assert calibrated["coverage"] == pytest.approx(0.5, abs=0.015)
    overconfident = metrics.regression_metrics(y_true, y_pred, std=np.full_like(y_pred, 0.3))
    assert overconfident["coverage"] < 0.7
    assert overconfident["nll"] > calibrated["nll"]


def test_point_metrics_only_without_std():
    result = metrics.regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    assert set(result) == {"rmse", "mae", "r2"}
    assert result["rmse"] == pytest.approx(np.sqrt(4 / 3))
    assert result["mae"] == pytest.approx(2 / 3)
    assert result["r2"] == pytest.approx(1 - 4 / 2)


def test_several_targets_are_averaged_and_column_shapes_align():
    rng = np.random.default_rng(2)
    y = rng.normal(size=(500, 2)) * [1.0, 10.0]
    pred = y + rng.normal(size=(500, 2)) * [0.5, 2.0]
    std = np.tile([0.5, 2.0], (500, 1))
    both = metrics.regression_metrics(y, pred, std=std)
    parts = [metrics.regression_metrics(y[:, j], pred[:, j], std=std[:, j]) for j in range(2)]
    for key in ("rmse", "mae", "r2", "nll", "coverage", "interval_width", "crps"):
        assert both[key] == pytest.approx(np.mean([p[key] for p in parts]), rel=1e-9), key
    # (n,) truth with (n, 1) predictions and std, as a Keras model returns them
    flat = metrics.regression_metrics(y[:, 0], pred[:, :1], std=std[:, :1])
    assert flat == pytest.approx(parts[0])


def test_r2_of_a_constant_target_is_none_and_bad_inputs_raise():
    assert metrics.regression_metrics([2.0, 2.0], [1.0, 3.0])["r2"] is None
    with pytest.raises(ValueError):
        metrics.regression_metrics([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError):
        metrics.regression_metrics([1.0, 2.0], [1.0, 2.0], std=[1.0, -1.0])
    with pytest.raises(ValueError):
        metrics.regression_metrics([1.0], [1.0], std=[1.0], interval=1.5)


def test_crps_matches_numerical_integration():
    for mean, std, y in [(0.3, 1.7, -0.4), (10.0, 0.2, 10.5), (-2.0, 3.0, 4.0)]:
        cdf = stats.norm(mean, std).cdf
        lo, hi = mean - 40 * std, mean + 40 * std
        integral = (
            integrate.quad(lambda t, cdf=cdf: cdf(t) ** 2, lo, y, limit=200)[0]
            + integrate.quad(lambda t, cdf=cdf: (1 - cdf(t)) ** 2, y, hi, limit=200)[0]
        )
        crps = metrics.gaussian_crps(np.array([y]), np.array([mean]), np.array([std]))[0]
        assert float(crps) == pytest.approx(integral, rel=1e-5)


def test_crps_tends_to_the_absolute_error_and_nll_matches_scipy():
    assert float(metrics.gaussian_crps(3.0, 1.0, 1e-9)) == pytest.approx(2.0, abs=1e-6)
    y, mean, std = np.array([0.1, 2.0]), np.array([0.0, 1.0]), np.array([1.0, 0.5])
    assert metrics.gaussian_nll(y, mean, std) == pytest.approx(-stats.norm(mean, std).logpdf(y))


def test_interval_coverage_curve_follows_the_diagonal_when_calibrated():
    rng = np.random.default_rng(3)
    y_pred = rng.normal(size=20000)
    y_true = y_pred + rng.normal(size=y_pred.size)
    curve = metrics.interval_coverage_curve(y_true, y_pred, np.ones_like(y_pred))
    assert curve["expected"] == pytest.approx(np.arange(1, 20) * 0.05)
    assert np.max(np.abs(np.subtract(curve["observed"], curve["expected"]))) < 0.015


# --------------------------------------------------------------------------------------------
# calibration
# --------------------------------------------------------------------------------------------


def test_ece_by_hand():
    # one sample per bin: |0 - 0.1|, |1 - 0.25|, |1 - 0.8|, |1 - 0.9| -> mean 0.3125
    ece = metrics.expected_calibration_error([0, 1, 1, 1], [0.1, 0.25, 0.8, 0.9])
    assert ece == pytest.approx((0.1 + 0.75 + 0.2 + 0.1) / 4)
    # two samples in one bin: confidence 0.65, observed 0.5 -> 0.15; p = 1.0 lands in the last bin
    assert metrics.expected_calibration_error([1, 0], [0.62, 0.68]) == pytest.approx(0.15)
    assert metrics.expected_calibration_error([1], [1.0]) == pytest.approx(0.0)
    # multiclass: top-label confidence vs correctness, 0.9 right and 0.6 wrong
    probabilities = np.array([[0.9, 0.05, 0.05], [0.6, 0.3, 0.1]])
    ece = metrics.expected_calibration_error([0, 1], probabilities)
    assert ece == pytest.approx(0.5 * 0.1 + 0.5 * 0.6)


def test_calibration_bins_count_every_sample():
    rng = np.random.default_rng(4)
    p = rng.uniform(size=1000)
    bins = metrics.calibration_bins((p > 0.5).astype(int), p, n_bins=5)
    assert sum(bins["count"]) == 1000 and len(bins["edges"]) == 6
    _strict_json(bins)


# --------------------------------------------------------------------------------------------
# binary
# --------------------------------------------------------------------------------------------


def test_binary_metrics_match_sklearn_and_ece_separates_calibration():
    rng = np.random.default_rng(1)
    probability = rng.uniform(size=20000)
    y = (rng.uniform(size=probability.size) < probability).astype(int)
    result = metrics.binary_metrics(y, probability)
    predicted = (probability >= 0.5).astype(int)
    tp, fp = np.sum((predicted == 1) & (y == 1)), np.sum((predicted == 1) & (y == 0))
    fn = np.sum((predicted == 0) & (y == 1))
    assert result["accuracy"] == pytest.approx(np.mean(predicted == y))
    assert result["precision"] == pytest.approx(tp / (tp + fp))
    assert result["recall"] == pytest.approx(tp / (tp + fn))
    assert result["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    # ROC AUC is the Mann-Whitney U statistic over positive-negative pairs
    u = stats.mannwhitneyu(probability[y == 1], probability[y == 0]).statistic
    assert result["roc_auc"] == pytest.approx(u / (y.sum() * (1 - y).sum()))
    # average precision: the mean precision at the rank of each positive (no ties here)
    ranked = y[np.argsort(-probability)]
    hits = np.flatnonzero(ranked)
    assert result["pr_auc"] == pytest.approx(np.mean(np.cumsum(ranked)[hits] / (hits + 1)))
    log_likelihood = y * np.log(probability) + (1 - y) * np.log(1 - probability)
    assert result["log_loss"] == pytest.approx(-np.mean(log_likelihood))
    assert result["brier"] == pytest.approx(np.mean((probability - y) ** 2))
    assert result["ece"] < 0.02
    overconfident = np.where(probability > 0.5, 0.999, 0.001)
    assert metrics.binary_metrics(y, overconfident)["ece"] > 0.2
    _strict_json(result)


def test_binary_threshold_and_two_column_probabilities():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.2, 0.4, 0.6, 0.3])
    assert metrics.binary_metrics(y, p, threshold=0.5)["recall"] == pytest.approx(0.5)
    assert metrics.binary_metrics(y, p, threshold=0.25)["recall"] == pytest.approx(1.0)
    two_columns = np.stack([1 - p, p], axis=1)
    assert metrics.binary_metrics(y, two_columns) == metrics.binary_metrics(y, p)


def test_single_class_split_gives_none_not_nan_and_serialises():
    result = metrics.binary_metrics(np.ones(10, dtype=int), np.linspace(0.5, 0.9, 10))
    assert result["roc_auc"] is None
    assert result["pr_auc"] == pytest.approx(1.0)
    _strict_json(result)
    negatives = metrics.binary_metrics(np.zeros(10, dtype=int), np.linspace(0.1, 0.9, 10))
    assert negatives["roc_auc"] is None and negatives["pr_auc"] is None
    # No positive row: recall is 0 / 0; five rows predicted positive, all wrong: precision 0.
    assert negatives["recall"] is None and negatives["precision"] == 0.0
    assert negatives["f1"] == 0.0
    all_right = metrics.binary_metrics(np.zeros(10, dtype=int), np.full(10, 0.2))
    assert [all_right[k] for k in ("precision", "recall", "f1")] == [None, None, None]
    _strict_json(negatives)


def test_outputs_of_a_diverged_model_give_undefined_metrics_not_an_error():
    y = np.array([0, 1, 1, 0])
    regression = metrics.regression_metrics(y * 1.0, [0.1, np.nan, 0.8, np.inf], std=[1.0] * 4)
    assert regression == dict.fromkeys(
        ["rmse", "mae", "r2", "nll", "coverage", "interval_width", "crps"]
    )
    assert set(metrics.binary_metrics(y, [0.1, np.nan, 0.8, 0.3]).values()) == {None}
    multiclass = metrics.multiclass_metrics(
        y, np.array([[0.5, 0.5]] * 3 + [[np.nan, np.nan]]), class_names=["a", "b"]
    )
    assert multiclass["accuracy"] is None and "confusion_matrix" not in multiclass
    for result in (regression, multiclass):
        _strict_json(result)


def test_binary_rejects_labels_other_than_zero_and_one():
    with pytest.raises(ValueError):
        metrics.binary_metrics([0, 2], [0.1, 0.9])
    with pytest.raises(ValueError):
        metrics.binary_metrics([0, 1], [0.1, 1.2])


# --------------------------------------------------------------------------------------------
# multiclass
# --------------------------------------------------------------------------------------------


def test_multiclass_metrics_and_confusion_matrix():
    probabilities = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    y = np.array([0, 1, 2, 1])
    result = metrics.multiclass_metrics(y, probabilities, class_names=["a", "b", "c"])
    assert result["accuracy"] == pytest.approx(0.75)
    assert result["confusion_matrix"] == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert result["log_loss"] == pytest.approx(-np.mean(np.log([0.8, 0.7, 0.7, 0.3])))
    # sum over classes of (p - one-hot)^2, by hand per row: 0.06, 0.14, 0.14, 0.86
    assert result["brier"] == pytest.approx(np.mean([0.06, 0.14, 0.14, 0.86]))
    assert result["class_names"] == ["a", "b", "c"]
    _strict_json(result)


def test_multiclass_matches_sklearn_with_absent_classes_and_top_k():
    rng = np.random.default_rng(5)
    names = ["w", "x", "y", "z", "absent"]
    logits = rng.normal(size=(400, 5)) * 2
    logits[:, 4] -= 5
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(4, p=row[:4] / row[:4].sum()) for row in probabilities])
    result = metrics.multiclass_metrics(y, probabilities, class_names=names, top_k=3)
    predicted = probabilities.argmax(axis=1)
    labels = list(range(5))
    seen = np.union1d(y, predicted)  # a class neither in the split nor predicted has no F1
    assert result["f1_macro"] == pytest.approx(
        skm.f1_score(y, predicted, labels=seen, average="macro", zero_division=0)
    )
    assert result["f1_weighted"] == pytest.approx(
        skm.f1_score(y, predicted, labels=labels, average="weighted", zero_division=0)
    )
    log_loss = -np.mean(np.log(probabilities[np.arange(y.size), y]))
    assert result["log_loss"] == pytest.approx(log_loss)
    assert result["top_k"] == 3
    top3 = np.argsort(-probabilities, axis=1)[:, :3]
    assert result["top_k_accuracy"] == pytest.approx(np.mean((top3 == y[:, None]).any(axis=1)))
    assert len(result["confusion_matrix"]) == 5
    assert result["ece"] == pytest.approx(metrics.expected_calibration_error(y, probabilities))


def test_macro_f1_leaves_out_a_class_neither_in_the_split_nor_predicted():
    # A 5-class model (a rare class of 3 rows fell in training) right on every row of a split
    # holding 4 classes: its macro F1 is 1, not 4/5.
    y = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    probabilities = np.full((8, 5), 0.02)
    probabilities[np.arange(8), y] = 0.92
    result = metrics.multiclass_metrics(y, probabilities, class_names=list("abcde"))
    assert result["accuracy"] == 1.0 and result["f1_macro"] == pytest.approx(1.0)
    # A class predicted but absent from the split is an error and keeps its F1 of 0: by hand,
    # class 0 has precision 1 (its one prediction is right), recall 1/2, F1 2/3; class 4 (one
    # false prediction) F1 0; classes 1-3 F1 1: the mean over the 5 classes is (2/3 + 3) / 5.
    probabilities[0] = [0.02, 0.02, 0.02, 0.02, 0.92]
    probabilities[1] = [0.92, 0.02, 0.02, 0.02, 0.02]
    y = np.array([0, 0, 1, 2, 3, 1, 2, 3])
    probabilities[2:, :] = 0.02
    probabilities[np.arange(2, 8), y[2:]] = 0.92
    result = metrics.multiclass_metrics(y, probabilities, class_names=list("abcde"))
    assert result["f1_macro"] == pytest.approx((2 / 3 + 3 + 0) / 5)


def test_top_k_is_capped_and_skipped_for_two_classes():
    p3 = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]])
    result = metrics.multiclass_metrics([1, 0], p3, class_names=["a", "b", "c"], top_k=5)
    assert result["top_k"] == 2 and result["top_k_accuracy"] == pytest.approx(0.5)
    p2 = np.array([[0.4, 0.6], [0.9, 0.1]])
    result = metrics.multiclass_metrics([1, 0], p2, class_names=["no", "yes"])
    assert "top_k_accuracy" not in result and "top_k" not in result


def test_string_labels_are_mapped_through_class_names():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    by_name = metrics.multiclass_metrics(["cat", "fish"], p, class_names=["cat", "dog", "fish"])
    by_index = metrics.multiclass_metrics([0, 2], p, class_names=["cat", "dog", "fish"])
    assert by_name == by_index
    with pytest.raises(ValueError):
        metrics.multiclass_metrics(["cow", "fish"], p, class_names=["cat", "dog", "fish"])


# --------------------------------------------------------------------------------------------
# repeats and helpers
# --------------------------------------------------------------------------------------------


def test_aggregate_repeats():
    summary = metrics.aggregate_repeats([{"rmse": 1.0, "name": "x"}, {"rmse": 3.0, "name": "x"}])
    assert summary["rmse"]["mean"] == pytest.approx(2.0)
    assert summary["rmse"]["std"] == pytest.approx(np.std([1.0, 3.0], ddof=1))
    assert summary["rmse"]["values"] == [1.0, 3.0]
    assert "name" not in summary


def test_aggregate_repeats_nested_undefined_and_single_values():
    runs = [
        {"test": {"roc_auc": None, "accuracy": 0.5, "confusion_matrix": [[1, 0], [0, 1]]}},
        {"test": {"roc_auc": 0.8, "accuracy": 0.7, "confusion_matrix": [[1, 0], [0, 1]]}},
        {"test": {"roc_auc": 0.6, "accuracy": 0.9}},
    ]
    summary = metrics.aggregate_repeats(runs)
    assert set(summary["test"]) == {"roc_auc", "accuracy"}
    assert summary["test"]["roc_auc"] == {
        "mean": pytest.approx(0.7),
        "std": pytest.approx(np.std([0.8, 0.6], ddof=1)),
        "values": [None, 0.8, 0.6],
    }
    assert metrics.aggregate_repeats([{"rmse": 2.5}])["rmse"] == {
        "mean": 2.5,
        "std": 0.0,
        "values": [2.5],
    }
    undefined = metrics.aggregate_repeats([{"roc_auc": None}, {"roc_auc": None}])
    assert undefined["roc_auc"]["mean"] is None
    _strict_json(summary)
    _strict_json(undefined)


def test_json_safe_and_metric_direction():
    converted = metrics.json_safe({"a": np.float32(1.5), "b": [np.nan, np.int64(3)], "c": np.inf})
    assert converted == {"a": 1.5, "b": [None, 3], "c": None}
    assert metrics.metric_direction("val_loss") == "min"
    assert metrics.metric_direction("roc_auc") == "max"
    assert metrics.metric_direction("val_sparse_categorical_accuracy") == "max"
    assert metrics.metric_direction("crps") == "min"
    assert metrics.metric_direction("coverage") is None
