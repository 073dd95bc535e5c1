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


@pytest.mark.slow
def test_a_sampled_run_gives_a_row_the_same_numbers_however_the_input_is_split(tmp_path):
    # The same 110 rows were predicted up to 6 apart read as one file or as three shards,
    # and evaluate disagreed with predict on one 77,000-row file: the draws followed the
    # chunks. 70,000 rows cross a block boundary (BLOCK_ROWS) inside a shard.
    config = tiny_config("regression", model={"hidden": [8], "dropout": 0.2, "mc_dropout": True})
    config["prediction"] = {"mc_samples": 3}
    trained = toolkit.train(config, output_dir=tmp_path / "out", verbose=0)
    run = Run(trained.path)
    target = run.spec.target.name
    rng = np.random.default_rng(1)
    rows = pd.DataFrame(rng.normal(size=(70_000, 4)), columns=[f"x{i}" for i in range(4)])
    rows[target] = rows.sum(axis=1) + rng.normal(size=len(rows))
    rows.to_csv(tmp_path / "all.csv", index=False)
    (tmp_path / "shards").mkdir()
    for index, (start, stop) in enumerate([(0, 110), (110, 66_000), (66_000, 70_000)]):
        rows.iloc[start:stop].to_csv(tmp_path / "shards" / f"part-{index}.csv", index=False)

    whole = run.predict(tmp_path / "all.csv")
    assert (whole["epistemic_std"] > 0).mean() > 0.5  # sampled: the passes differ
    pd.testing.assert_frame_equal(run.predict(tmp_path / "shards"), whole)
    pd.testing.assert_frame_equal(run.predict(rows), whole)
    scores = [run.evaluate(tmp_path / "all.csv"), run.evaluate(tmp_path / "shards")]
    assert scores[0] == pytest.approx(scores[1], rel=1e-12)
    y = rows[target].to_numpy()
    residual = y - whole["prediction"].to_numpy()
    assert scores[0]["rmse"] == pytest.approx(np.sqrt(np.mean(residual**2)), rel=1e-9)
    inside = (whole["lower"] <= y) & (y <= whole["upper"])
    assert scores[0]["coverage"] == pytest.approx(inside.mean(), rel=1e-12)
