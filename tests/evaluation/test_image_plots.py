"""Image evaluation: per-class accuracy is scikit-learn's per-class recall, and the grid of
confidently wrong images shows the misclassified rows a brute-force search ranks first."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import recall_score

from toolkit.evaluation.plots import confidently_wrong
from toolkit.evaluation.plots.images import most_confidently_wrong
from toolkit.evaluation.predict import Predictions
from toolkit.evaluation.running_metrics import RunningMetrics


def _case(seed: int = 0, n: int = 200, classes: int = 4):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) + 2.0 * np.eye(classes)[labels]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, probabilities


def test_per_class_accuracy_is_per_class_recall():
    labels, probabilities = _case()
    running = RunningMetrics("multiclass", class_names=["a", "b", "c", "d", "e"])
    running.update(Predictions("multiclass", np.pad(probabilities, ((0, 0), (0, 1)))), labels)
    result = running.result()["per_class_accuracy"]
    expected = recall_score(labels, probabilities.argmax(axis=1), average=None, labels=range(4))
    np.testing.assert_allclose([result[c] for c in "abcd"], expected)
    assert result["e"] is None  # no examples of that class


def test_the_confidently_wrong_rows_are_the_brute_force_ones():
    labels, probabilities = _case(seed=1)
    chosen = most_confidently_wrong(labels, probabilities, 8)
    wrong = [i for i in range(len(labels)) if probabilities[i].argmax() != labels[i]]
    ranked = sorted(wrong, key=lambda i: (-probabilities[i].max(), i))
    assert list(chosen) == ranked[:8]

    images = np.random.default_rng(2).uniform(0, 255, (len(labels), 6, 6, 3))
    figure = confidently_wrong(images, labels, probabilities, list("abcd"), count=8)
    titles = [ax.get_title() for ax in figure.axes]
    names = list("abcd")
    assert titles == [
        f"{names[labels[i]]} → {names[probabilities[i].argmax()]} ({probabilities[i].max():.2f})"
        for i in ranked[:8]
    ]
