"""Classification plots: curves and bins against hand computations, absent classes, NaN scores."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest
from scipy import stats

from tests.evaluation._support import assert_png
from toolkit.evaluation import plots


@pytest.fixture
def binary():
    rng = np.random.default_rng(1)
    probability = rng.uniform(size=300)
    return (rng.uniform(size=300) < probability).astype(int), probability


def _curves(ax):
    """Legend label -> drawn line, chance and prevalence lines left out."""
    return {line.get_label(): line for line in ax.lines if not line.get_label().startswith("_")}


def test_roc_curve_points_and_auc_by_hand(binary):
    y, score = binary
    ax = plots.roc_curve(y, score, class_names=["no", "yes"]).axes[0]
    curves = _curves(ax)
    auc = stats.mannwhitneyu(score[y == 1], score[y == 0]).statistic / (y.sum() * (1 - y).sum())
    assert list(curves) == ["chance", f"yes (AUC {auc:.3f})"]
    roc = curves[f"yes (AUC {auc:.3f})"]
    # every drawn point after the (0, 0) start is (FPR, TPR) at one of the scores as threshold
    by_threshold = np.array(
        [(np.mean(score[y == 0] >= t), np.mean(score[y == 1] >= t)) for t in np.unique(score)]
    )
    drawn = np.column_stack([roc.get_xdata(), roc.get_ydata()])
    assert drawn[0].tolist() == [0.0, 0.0] and drawn[-1].tolist() == [1.0, 1.0]
    for point in drawn[1:]:
        assert np.isclose(by_threshold, point).all(axis=1).any(), point
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("false positive rate", "true positive rate")


def test_pr_curve_average_precision_by_hand_and_prevalence(binary):
    y, score = binary
    ax = plots.pr_curve(y, score).axes[0]
    ranked = y[np.argsort(-score)]
    precision_at_hits = np.cumsum(ranked)[ranked == 1] / (np.flatnonzero(ranked == 1) + 1)
    ap = precision_at_hits.mean()
    (label,) = [name for name in _curves(ax) if name.startswith("positive")]
    assert label == f"positive (AP {ap:.3f})"
    prevalence = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert prevalence[0].get_ydata()[0] == pytest.approx(y.mean())


def test_multiclass_curves_one_vs_rest_with_an_absent_class():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, size=200)  # class 3 never occurs: its curves are undefined
    probabilities = rng.dirichlet(np.ones(4), size=200)
    names = ["a", "b", "c", "never"]
    roc = plots.roc_curve(labels, probabilities, class_names=names).axes[0]
    drawn = list(_curves(roc))
    assert [d.split(" ")[0] for d in drawn] == ["chance", "a", "b", "c", "micro-average"]
    for c in range(3):
        auc = stats.mannwhitneyu(
            probabilities[labels == c, c], probabilities[labels != c, c]
        ).statistic / ((labels == c).sum() * (labels != c).sum())
        assert f"{names[c]} (AUC {auc:.3f})" in drawn
    assert roc.get_title().endswith("undefined (one class only): never")
    pr = plots.pr_curve(labels, probabilities, class_names=names).axes[0]
    assert pr.get_title().endswith("undefined (no positives): never")
    many = rng.dirichlet(np.ones(12), size=300)
    crowded = plots.roc_curve(rng.integers(0, 12, size=300), many).axes[0]
    assert [d.split(" ")[0] for d in _curves(crowded)] == ["chance", "micro-average"]


def test_reliability_diagram_bins_by_hand(binary):
    y, probability = binary
    fig = plots.reliability_diagram(y, probability, n_bins=5)
    top, bottom = fig.axes
    index = np.minimum((probability * 5).astype(int), 4)
    counts = np.bincount(index, minlength=5)
    observed = np.bincount(index, weights=y, minlength=5) / counts
    confidence = np.bincount(index, weights=probability, minlength=5) / counts
    observed_bars = top.containers[0]
    np.testing.assert_allclose([bar.get_height() for bar in observed_bars], observed)
    np.testing.assert_allclose([bar.get_height() for bar in bottom.patches], counts)
    ece = np.sum(counts / counts.sum() * np.abs(observed - confidence))
    assert top.get_title() == f"Reliability diagram (ECE {ece:.3f}, 5 bins)"
    assert bottom.get_xlabel() == "predicted probability"
    probabilities = np.array([[0.9, 0.05, 0.05], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    top, _ = plots.reliability_diagram([0, 1, 1], probabilities, n_bins=10).axes
    assert [bar.get_height() for bar in top.containers[0]] == [0.0, 1.0, 1.0]  # bins 6, 7, 9


def test_confusion_matrix_rates_counts_and_accuracy():
    counts = np.array([[50, 10], [5, 35]])
    ax = plots.confusion_matrix(counts, ["no", "yes"]).axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), counts / counts.sum(axis=1, keepdims=True))
    assert [t.get_text() for t in ax.texts] == ["50\n83%", "10\n17%", "5\n13%", "35\n88%"]
    assert ax.get_title() == "Confusion matrix (accuracy 85.0%, n = 100)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["no", "yes"]
    empty_row = plots.confusion_matrix(np.diag([5, 6, 0]), ["a", "b", "c"]).axes[0]
    assert empty_row.images[0].get_array()[2].tolist() == [0, 0, 0]


def test_confusion_matrix_percentages_round_half_up():
    """5 of 40 showed as 12% (Python's ':.0%' rounds a half to even); 29 of 200 is 14.4999...%
    in floats. Checked against exact decimal arithmetic rounded half up."""
    counts = np.array([[1, 7, 0], [29, 171, 0], [1, 1, 2]])
    ax = plots.confusion_matrix(counts, ["a", "b", "c"]).axes[0]
    expected = []
    for row in counts.tolist():
        for count in row:
            percent = Decimal(count) * 100 / Decimal(sum(row))
            expected.append(f"{count}\n{percent.quantize(Decimal(1), ROUND_HALF_UP)}%")
    assert expected[:4] == ["1\n13%", "7\n88%", "0\n0%", "29\n15%"]  # the halves in question
    assert [t.get_text() for t in ax.texts] == expected


def test_classification_plots_leave_out_nan_scores(binary, tmp_path):
    y, probability = binary
    probability = probability.copy()
    probability[[4, 9]] = np.nan
    probability[12] = np.inf
    keep = np.isfinite(probability)
    figures = {
        "roc": plots.roc_curve(y, probability),
        "pr": plots.pr_curve(y, probability),
        "reliability": plots.reliability_diagram(y, probability),
    }
    for name, fig in figures.items():
        assert "3 NaN/inf not drawn" in fig.axes[0].get_title(), name
        assert_png(plots.save(fig, tmp_path / f"{name}.png"))
    counts = [bar.get_height() for bar in figures["reliability"].axes[1].patches]
    assert sum(counts) == keep.sum()
    auc = stats.mannwhitneyu(
        probability[keep & (y == 1)], probability[keep & (y == 0)]
    ).statistic / ((keep & (y == 1)).sum() * (keep & (y == 0)).sum())
    assert f"positive (AUC {auc:.3f})" in _curves(figures["roc"].axes[0])
    nothing = plots.reliability_diagram([0, 1], [np.nan, np.nan])
    assert nothing.axes[0].texts[0].get_text() == "no finite probability; 2 NaN/inf not drawn"
