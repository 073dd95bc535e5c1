"""The shipped binary classifier on a small table: with only the data swapped, its test
accuracy must not swing with the seed, and must stay near logistic regression's where the
truth is linear (issue #16: binary.yaml's fixed weight decay moved Ripley's 200-row Pima
table by 9 points over 8 seeds; its prior on the weights, 1 / (2 s^2 n), holds it to 2).

The table, Pima-like: 200 rows to train and 2,000 to test from a logistic model on 7
features, 4 of them log-normal (skewed, with outliers), 2 with no effect. The reference is
scikit-learn's logistic regression fitted on the same 200 rows (0.70). With the fixed
weight decay 1e-4 binary.yaml had, seeds 1-5 scored 0.632-0.693 (mean 0.674); with the
prior 0.685-0.710 (mean 0.698).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from tests.helpers import QUIET_RUN, REPO
from toolkit.config.loading import load_config
from toolkit.training.train import train

QUIET = [*QUIET_RUN, "data.target=target"]
WEIGHTS = np.array([0.6, -0.4, 0.3, 0.0, 0.8, -0.5, 0.0])


def _table(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    x = rng.normal(size=(rows, len(WEIGHTS)))
    x[:, :4] = np.exp(x[:, :4])
    probability = 1 / (1 + np.exp(-(x @ WEIGHTS - 0.5)))
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(len(WEIGHTS))])
    frame["target"] = np.where(rng.uniform(size=rows) < probability, "yes", "no")
    return frame


@pytest.mark.slow
def test_the_shipped_classifier_on_200_rows_holds_its_accuracy_across_seeds(tmp_path):
    rng = np.random.default_rng(0)
    train_rows, test_rows = _table(200, rng), _table(2000, rng)
    train_rows.to_csv(tmp_path / "train.csv", index=False)
    test_rows.to_csv(tmp_path / "test.csv", index=False)
    features = train_rows.drop(columns="target")
    logistic = LogisticRegression(max_iter=2000).fit(features, train_rows.target)
    reference = logistic.score(test_rows.drop(columns="target"), test_rows.target)

    accuracies = []
    for seed in (1, 2, 3):
        config = load_config(
            REPO / "configs" / "binary.yaml",
            [
                f"data.source={tmp_path / 'train.csv'}",
                f"data.test={tmp_path / 'test.csv'}",
                f"seed={seed}",
                *QUIET,
            ],
        )
        result = train(config, output_dir=tmp_path / "runs", verbose=0)
        assert result.status == "completed"
        accuracies.append(result.metrics["test"]["accuracy"])
    # The old setting: a spread of 0.06 and a mean 0.037 below logistic regression on
    # these seeds; the prior's: 0.013 and 0.010.
    assert max(accuracies) - min(accuracies) <= 0.03, (accuracies, reference)
    assert np.mean(accuracies) >= reference - 0.02, (accuracies, reference)
