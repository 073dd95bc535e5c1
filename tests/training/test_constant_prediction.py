"""A regressor whose predictions hardly vary while its target does says so: a penalty that
zeroed the first layer (first_layer_l1_prior_scale far too small for the table: regression.yaml's
100 on 3,000 columns and 200 rows) otherwise reads as a weak model, with no hint at why."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import toolkit
from tests.helpers import tiny_config
from toolkit.evaluation.predict import Predictions
from toolkit.evaluation.running_metrics import RunningMetrics


def test_the_prediction_spread_is_numpys_std_over_every_chunk():
    rng = np.random.default_rng(3)
    mean, y = rng.normal(2.0, 0.5, 300), rng.normal(-1.0, 4.0, 300)
    running = RunningMetrics("regression")
    for start, stop in itertools.pairwise([0, 1, 90, 91, 300]):
        running.update(Predictions("regression", mean[start:stop]), y[start:stop])
    predicted, target = running.prediction_spread
    assert predicted == pytest.approx(np.std(mean), rel=1e-12)
    assert target == pytest.approx(np.std(y), rel=1e-12)
    assert RunningMetrics("binary", class_names=["a", "b"]).prediction_spread is None


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(240, 30)), columns=[f"x{i}" for i in range(30)])
    frame["y"] = 3.0 * frame["x0"] - 2.0 * frame["x1"] + rng.normal(0.0, 0.5, len(frame))
    path = tmp_path_factory.mktemp("wide") / "rows.csv"
    frame.to_csv(path, index=False)
    return path, frame


def _trained(path, tmp_path, scale):
    config = tiny_config(
        "regression",
        data={"source": str(path), "target": "y", "validation": 0.25},
        model={"task": "regression", "hidden": [16], "first_layer_l1_prior_scale": scale},
        training={
            "epochs": 40,
            "batch_size": 32,
            "optimizer": {"name": "adam", "learning_rate": 0.01},
        },
    )
    return toolkit.train(config, output_dir=tmp_path, verbose=0)


@pytest.mark.slow
def test_a_first_layer_zeroed_by_its_prior_is_named_with_the_remedy(table, tmp_path):
    path, frame = table
    run = _trained(path, tmp_path / "zeroed", 0.001)  # L1 1 / (0.001 x 180) = 5.6 per |w|
    # Independently of the run's tallies: its predictions of every row hardly vary.
    predicted = run.predict(frame.drop(columns="y"))["prediction"].to_numpy()
    assert np.std(predicted) < 0.02 * np.std(frame["y"])
    (line,) = [w for w in run.warnings if "hardly vary" in w]
    assert line.startswith("the predictions of the 180 training rows scored hardly vary (std ")
    assert line.endswith(
        "model.first_layer_l1_prior_scale 0.001 can set every first-layer weight to zero on a "
        "table of many columns for its rows: try a scale 10 times larger"
    )

    # Without the prior the same network fits the two columns and nothing is said.
    fitted = _trained(path, tmp_path / "fitted", None)
    assert np.std(fitted.predict(frame.drop(columns="y"))["prediction"]) > 0.5 * np.std(frame["y"])
    assert not [w for w in fitted.warnings if "hardly vary" in w]
