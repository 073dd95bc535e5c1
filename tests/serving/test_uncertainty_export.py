"""The export endpoint of an ensemble with a conformal calibration gives what predict gives:
the mixture's moments and quantiles, the conformal interval or set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import tiny_config
from toolkit.config.loading import validate_config
from toolkit.training.train import train


def _trained(tmp_path, task: str, model: dict, prediction: dict):
    raw = tiny_config(task, model={"task": task, "hidden": [8], **model}, prediction=prediction)
    result = train(validate_config(raw), output_dir=tmp_path, verbose=0)
    assert result.status == "completed"
    from toolkit.api.run import Run

    return Run(result.run_dir)


@pytest.mark.slow
def test_a_gaussian_ensembles_endpoint_equals_predict_for_split_and_cqr(tmp_path):
    import pandas as pd
    import tensorflow as tf

    from toolkit.evaluation.conformal import ConformalCalibration
    from toolkit.evaluation.posthoc import PostHocCalibration
    from toolkit.evaluation.predict import predict, prediction_frame
    from toolkit.serving.outputs import ServingPlan, serving_function

    run = _trained(
        tmp_path,
        "regression",
        {"head": "gaussian", "ensemble": {"members": 3}},
        {"conformal": {"method": "split", "alpha": 0.1}, "interval": 0.9},
    )
    rows = np.random.default_rng(0).normal(size=(25, 4)).astype("float32")
    frame = pd.DataFrame(rows, columns=[f"x{i}" for i in range(4)])
    # the run's own split calibration, and a CQR one fitted here on the same rows
    validation = frame.assign(target=np.random.default_rng(2).normal(size=25) * 3 + 10)
    from toolkit.data.preprocessing import encode_target, feature_arrays

    cqr = ConformalCalibration.fit(
        predict(run.model, feature_arrays(validation, run.spec), run.config),
        encode_target(validation, run.spec)[:, 0],
        method="cqr",
        alpha=0.2,
        calibrated_on="validation",
    )
    for conformal in (run.conformal, cqr):
        calibration = PostHocCalibration(conformal=conformal)
        expected = prediction_frame(
            predict(run.model, {"numeric": rows}, run.config, calibration=calibration),
            run.spec,
            run.config,
        )
        plan = ServingPlan.of(
            run.model, run.spec, run.config, mc_samples=None, calibration=calibration
        )
        got = serving_function(run.model, plan)({"numeric": tf.constant(rows)})
        assert sorted(got) == sorted(plan.outputs())
        for column in ("prediction", "std", "epistemic_std", "aleatoric_std", "lower", "upper",
                       "conformal_lower", "conformal_upper"):  # fmt: skip
            np.testing.assert_allclose(
                got[column].numpy(), expected[column], rtol=1e-4, atol=1e-4, err_msg=column
            )


@pytest.mark.slow
def test_a_classifier_ensembles_endpoint_gives_predicts_sets(tmp_path):
    import pandas as pd
    import tensorflow as tf

    run = _trained(
        tmp_path, "multiclass", {"ensemble": {"members": 2}}, {"conformal": {"alpha": 0.3}}
    )
    rows = np.random.default_rng(1).normal(size=(25, 4)).astype("float32")
    expected = run.predict(pd.DataFrame(rows, columns=[f"x{i}" for i in range(4)]))
    path = run.export(tmp_path / "exported", format="saved_model")
    served = tf.saved_model.load(str(path)).signatures["serving_default"]
    got = {k: v.numpy() for k, v in served(numeric=tf.constant(rows)).items()}
    classes = run.spec.target.classes
    probabilities = np.stack([expected[f"probability_{c}"] for c in classes], axis=1)
    np.testing.assert_allclose(got["probabilities"], probabilities, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["mutual_information"], expected["mutual_information"], atol=1e-5)
    sets = [
        [c for c, inside in zip(classes, row, strict=True) if inside]
        for row in got["prediction_set"]
    ]
    assert sets == [json.loads(text) for text in expected["prediction_set"]]
    assert list(got["set_size"]) == list(expected["set_size"])


@pytest.mark.slow
def test_a_std_scaled_runs_export_applies_its_factor_as_predict_does(tmp_path):
    """The endpoint of a run with std_scaling.json scales the mixture about its mean by the
    run's factor: its std, parts, interval and conformal interval are predict's."""
    import pandas as pd
    import tensorflow as tf

    run = _trained(
        tmp_path,
        "regression",
        {"head": "gaussian", "ensemble": {"members": 2}},
        {"std_scaling": True, "conformal": {"alpha": 0.1}},
    )
    assert run.std_scale != 1.0
    rows = np.random.default_rng(3).normal(size=(25, 4)).astype("float32")
    expected = run.predict(pd.DataFrame(rows, columns=[f"x{i}" for i in range(4)]))
    path = run.export(tmp_path / "exported", format="saved_model")
    served = tf.saved_model.load(str(path)).signatures["serving_default"]
    got = {k: v.numpy() for k, v in served(numeric=tf.constant(rows)).items()}
    for column in ("prediction", "std", "epistemic_std", "aleatoric_std", "lower", "upper",
                   "conformal_lower", "conformal_upper"):  # fmt: skip
        np.testing.assert_allclose(
            got[column].reshape(-1), expected[column], rtol=1e-4, atol=1e-4, err_msg=column
        )


@pytest.mark.slow
def test_an_mc_dropout_ensembles_endpoint_agrees_with_predict_statistically(tmp_path):
    """An MC-dropout ensemble's passes are one call over the rows repeated --mc-samples
    times, each member's output of each repeat a component: the (passes, rows, members)
    outputs regrouped wrongly would mix rows, and the mean and spread would not be
    predict's."""
    import pandas as pd
    import tensorflow as tf

    run = _trained(
        tmp_path,
        "regression",
        {
            "head": "gaussian",
            "hidden": [{"units": 16, "dropout": 0.3}],
            "mc_dropout": True,
            "ensemble": {"members": 2},
        },
        {"mc_samples": 50},
    )
    rows = np.random.default_rng(4).normal(size=(40, 4)).astype("float32")
    expected = run.predict(pd.DataFrame(rows, columns=[f"x{i}" for i in range(4)]))
    passes = 100
    path = run.export(tmp_path / "exported", format="saved_model", mc_samples=passes)
    assert json.loads((tmp_path / "exported.json").read_text())["mc_samples"] == passes
    served = tf.saved_model.load(str(path)).signatures["serving_default"]
    got = {k: v.numpy() for k, v in served(numeric=tf.constant(rows)).items()}
    _assert_same_mean_and_spread(got, expected, passes=passes, predicted_passes=50)
    aleatoric = np.median(got["aleatoric_std"] / expected["aleatoric_std"].to_numpy())
    assert 0.9 < aleatoric < 1.1, aleatoric


def _assert_same_mean_and_spread(got, expected, *, passes: int, predicted_passes: int) -> None:
    """The endpoint's Monte Carlo mean agrees with predict's within the two estimates'
    standard errors (at most a tenth of rows beyond 3), and its epistemic std with
    predict's within 30% (median ratio): both sample the same predictive distribution."""
    spread = expected["epistemic_std"].to_numpy()
    assert np.all(spread > 0)
    z = (got["prediction"] - expected["prediction"].to_numpy()) / (
        spread * np.sqrt(1.0 / passes + 1.0 / predicted_passes)
    )
    assert np.mean(np.abs(z) > 3.0) <= 0.1, z
    ratio = np.median(got["epistemic_std"] / spread)
    assert 0.7 < ratio < 1.3, ratio


@pytest.mark.slow
def test_a_bayesian_endpoint_draws_its_weights_once_per_pass(tmp_path):
    """A DenseVariational layer draws one weight sample per call for the whole batch: its
    passes stay one call each. Run as one call over the rows repeated, every repeat of a row
    would share the draw and the epistemic spread would be 0."""
    import pandas as pd
    import tensorflow as tf

    run = _trained(tmp_path, "regression", {"bayesian": {"layers": "all"}}, {"mc_samples": 50})
    rows = np.random.default_rng(5).normal(size=(40, 4)).astype("float32")
    expected = run.predict(pd.DataFrame(rows, columns=[f"x{i}" for i in range(4)]))
    passes = 32
    path = run.export(tmp_path / "exported", format="saved_model", mc_samples=passes)
    served = tf.saved_model.load(str(path)).signatures["serving_default"]
    got = {k: v.numpy() for k, v in served(numeric=tf.constant(rows)).items()}
    _assert_same_mean_and_spread(got, expected, passes=passes, predicted_passes=50)
