"""``--mc-samples`` of ``toolkit predict`` and ``toolkit evaluate`` (``mc_samples`` of
``Run.predict`` and ``Run.evaluate``): the passes of a stochastic model at prediction, without
retraining or editing the run's config.yaml, which was the only way before."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import toolkit
from tests.helpers import held_out_frame, run_cli, tiny_config

PASSES = 400


@pytest.fixture(scope="module")
def mc_run(tmp_path_factory):
    config = tiny_config(
        model={"task": "regression", "hidden": [16], "dropout": 0.3, "mc_dropout": True},
        prediction={"mc_samples": 5},
        training={"epochs": 3, "batch_size": 16},
    )
    run = toolkit.train(config, output_dir=tmp_path_factory.mktemp("mc") / "runs", verbose=0)
    assert run.status == "completed", run.reason
    return run


def test_predict_takes_the_passes_asked_and_the_command_writes_what_the_api_gives(mc_run, tmp_path):
    from toolkit.data.preprocessing import feature_arrays
    from toolkit.models.layers.stochastic import set_stochastic

    frame = held_out_frame(mc_run).head(12)
    default = mc_run.predict(frame)
    many = mc_run.predict(frame, mc_samples=PASSES)
    assert not np.allclose(default["epistemic_std"], many["epistemic_std"])
    # Against passes made by hand: dropout on, the saved model called PASSES times. The two
    # draw differently, so they agree to the sampling error of PASSES passes.
    model = mc_run.model
    set_stochastic(model, True)
    inputs = feature_arrays(frame, mc_run.spec)
    passes = np.stack([np.asarray(model(inputs)).reshape(-1) for _ in range(PASSES)])
    spread = passes.std(axis=0)
    np.testing.assert_array_less(
        np.abs(many["prediction"] - passes.mean(axis=0)), 5 * spread * np.sqrt(2 / PASSES)
    )
    np.testing.assert_allclose(many["epistemic_std"], spread, rtol=0.25)

    rows = tmp_path / "rows.csv"
    frame.to_csv(rows, index=False)
    output = tmp_path / "predictions.csv"
    result = run_cli(
        "predict", mc_run.path, "--input", rows, "--output", output, "--mc-samples", PASSES
    )
    assert result.returncode == 0, result.stderr
    written = pd.read_csv(output)
    np.testing.assert_allclose(written["epistemic_std"], many["epistemic_std"], rtol=1e-5)


def test_evaluate_takes_the_passes_asked_and_a_deterministic_run_refuses_them(mc_run, tmp_path):
    result = run_cli("evaluate", mc_run.path, "--mc-samples", PASSES)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)["metrics"]
    assert printed == pytest.approx(mc_run.evaluate(mc_samples=PASSES), rel=1e-6)
    assert printed["rmse"] != pytest.approx(mc_run.metrics[mc_run.default_split]["rmse"])

    bad = run_cli("evaluate", mc_run.path, "--mc-samples", 1)
    assert bad.returncode == 2
    assert (
        bad.stderr == "toolkit: error: --mc-samples must be a whole number of at least 2, got 1\n"
    )
    plain = toolkit.train(tiny_config(), output_dir=tmp_path / "runs", verbose=0)
    refused = run_cli(
        "predict", plain.path, "--input", "x.csv", "--output", tmp_path / "p.csv", "--mc-samples", 9
    )
    assert refused.returncode == 2
    assert refused.stderr == (
        "toolkit: error: --mc-samples applies to MC-dropout and Bayesian models; this run's "
        "model is deterministic\n"
    )
    assert not (tmp_path / "p.csv").exists()


def test_a_python_caller_is_told_of_the_keyword_and_the_command_line_of_the_flag(tmp_path):
    plain = toolkit.train(tiny_config(), output_dir=tmp_path / "runs", verbose=0)
    frame = held_out_frame(plain).head(3)
    deterministic = "applies to MC-dropout and Bayesian models; this run's model is deterministic"
    for call in (
        lambda: plain.predict(frame, mc_samples=5),
        lambda: plain.evaluate(frame, mc_samples=5),
        lambda: toolkit.export(plain.path, tmp_path / "saved", mc_samples=5),
    ):
        with pytest.raises(toolkit.ToolkitError) as refused:
            call()
        assert str(refused.value) == f"mc_samples {deterministic}"
    with pytest.raises(toolkit.ToolkitError) as refused:
        plain.evaluate(frame, mc_samples=1)
    assert str(refused.value) == "mc_samples must be a whole number of at least 2, got 1"

    exported = run_cli("export", plain.path, "--output", tmp_path / "saved", "--mc-samples", 5)
    assert exported.returncode == 2
    assert exported.stderr == f"toolkit: error: --mc-samples {deterministic}\n"
    assert not (tmp_path / "saved").exists()
