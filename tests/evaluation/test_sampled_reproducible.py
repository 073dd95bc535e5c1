"""A sampled model (Bayesian layers, MC dropout) predicts the same rows the same way on every
call: its loaded layers start from random generator states, so two evaluations of one run
disagreed with each other and with metrics.json (an income BNN: test RMSE 8956, 8971, 8957)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import toolkit
from tests.helpers import tiny_config
from toolkit.api.run import Run


@pytest.mark.parametrize(
    "model",
    [
        {"head": "gaussian", "bayesian": {"layers": "output"}},
        {"head": "gaussian", "dropout": 0.2, "mc_dropout": True},
    ],
    ids=["bayesian", "mc_dropout"],
)
def test_a_sampled_runs_evaluations_and_predictions_repeat_and_match_metrics_json(tmp_path, model):
    config = tiny_config("regression", model={"hidden": [8], **model})
    config["prediction"] = {"mc_samples": 5}
    trained = toolkit.train(config, output_dir=tmp_path, verbose=0)
    assert trained.status == "completed"
    recorded = trained.metrics["validation"]
    first, second = Run(trained.path), Run(trained.path)  # two loads: two random states
    scores = [first.evaluate(), first.evaluate(), second.evaluate()]
    for score in scores:
        for name in ("rmse", "nll", "coverage"):
            assert score[name] == pytest.approx(recorded[name], rel=1e-9), name
    rows = pd.DataFrame(
        np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32),
        columns=[f"x{i}" for i in range(4)],
    )
    a, b = first.predict(rows), second.predict(rows)
    assert (a["epistemic_std"] > 0).mean() > 0.5  # sampled: the passes differ
    pd.testing.assert_frame_equal(a, b)
