"""The uncertainty settings validate like every other field: one line naming what is wrong
and what is allowed, and every one of them can be swept."""

from __future__ import annotations

import pytest

from tests.helpers import tiny_config
from tests.reliability._support import assert_one_line_error
from toolkit.config.loading import validate_config
from toolkit.errors import ConfigError
from toolkit.tuning.space import validate_search_space


def _error(task: str = "regression", model: dict | None = None, **sections) -> str:
    raw = tiny_config(task, model={"task": task, **(model or {})}, **sections)
    with pytest.raises(ConfigError) as caught:
        validate_config(raw)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("task", "model", "sections", "expected"),
    [
        ("binary", {}, {"prediction": {"conformal": {"method": "cqr"}}}, "needs task 'regression'"),
        (
            "regression",
            {},
            {"prediction": {"conformal": {"method": "cqr"}}},
            "needs predictive quantiles",
        ),
        ("regression", {}, {"prediction": {"temperature_scaling": True}}, "applies to classifiers"),
        ("binary", {}, {"prediction": {"std_scaling": True}}, "applies to regressors"),
        ("regression", {}, {"prediction": {"std_scaling": True}}, "needs a predictive std"),
        (
            "regression",
            {},
            {"prediction": {"conformal": {"alpha": 1.5}}},
            "prediction.conformal.alpha",
        ),
        ("regression", {}, {"prediction": {"conformal": {"calibration": "test"}}}, "'validation'"),
        ("regression", {"ensemble": {"members": 1}}, {}, "model.ensemble.members"),
        (
            "binary",
            {"head": "homoscedastic"},
            {},
            "head 'homoscedastic' needs task 'regression', got task 'binary': set model.head: default",
        ),
        (
            "regression",
            {"bayesian": {"layers": "none", "train_samples": 4}},
            {},
            "'none' would make a Bayesian model with no Bayesian layers",
        ),
        ("regression", {"bayesian": {"posterior_scale_init": 0}}, {}, "posterior_scale_init"),
        ("regression", {"bayesian": {"kl_warmup_epochs": -1}}, {}, "kl_warmup_epochs"),
        (
            "regression",
            {},
            {
                "data": {"source": "shards/*.csv", "streaming": True, "validation": 0.2},
                "prediction": {"conformal": {"calibration": 0.2}},
            },
            "calibration as a fraction needs the data in memory; with data.streaming: true",
        ),
    ],
)
def test_a_wrong_uncertainty_setting_is_one_clear_line(task, model, sections, expected):
    assert expected in _error(task, model, **sections)


def test_the_sections_switch_on_with_their_defaults():
    raw = tiny_config(
        "regression",
        model={"task": "regression", "ensemble": True},
        prediction={"conformal": True},
    )
    config = validate_config(raw)
    assert config.model.ensemble.members == 5
    assert (config.prediction.conformal.method, config.prediction.conformal.alpha) == (
        "split",
        0.05,
    )
    assert config.prediction.conformal.calibration == "validation"


def test_every_uncertainty_setting_can_be_swept():
    raw = tiny_config(
        "regression",
        model={"task": "regression", "head": "gaussian", "bayesian": {"layers": "output"}},
    )
    raw["tuner"] = {
        "max_trials": 2,
        # The prediction settings act after training: a final model's metric scores them.
        "objective": "validation.nll",
        "search_space": {
            "model.head": {"choice": ["gaussian", "homoscedastic"]},
            "model.ensemble.members": {"int": [2, 5]},
            "model.bayesian.prior_scale": {"float": [0.1, 1.0], "sampling": "log"},
            "model.bayesian.posterior_scale_init": {"float": [0.001, 0.1], "sampling": "log"},
            "model.bayesian.kl_weight": {"float": [1e-4, 1e-2], "sampling": "log"},
            "model.bayesian.kl_warmup_epochs": {"int": [0, 20]},
            "model.bayesian.train_samples": {"choice": [1, 4]},
            "prediction.conformal.method": {"choice": ["split", "cqr"]},
            "prediction.conformal.alpha": {"choice": [0.05, 0.1]},
            "prediction.std_scaling": {"choice": [False, True]},
        },
    }
    config = validate_config(raw)
    space = validate_search_space(raw, {}, config)
    assert len(space.dimensions) == 10


def test_a_sweep_may_pick_trials_by_a_validation_metric_the_model_gives():
    raw = tiny_config("regression", model={"task": "regression", "head": "gaussian"})
    raw["tuner"] = {
        "objective": "validation.nll",
        "search_space": {"model.l2": {"choice": [0.0, 1e-4]}},
    }
    assert validate_config(raw).tuner.resolved_direction == "min"
    raw["model"]["head"] = "default"
    with pytest.raises(ConfigError, match="needs a predictive distribution"):
        validate_config(raw)
    raw["tuner"]["objective"] = "validation.nlll"
    with pytest.raises(ConfigError, match=r"did you mean 'validation\.nll'"):
        validate_config(raw)


def test_a_sweep_without_a_predictive_distribution_cannot_pick_trials_by_interval_width():
    # validation.interval_width passed validation for a plain regressor, whose metrics.json
    # has no interval_width: every trial then failed with "objective ... missing".
    raw = tiny_config("regression", model={"task": "regression"})
    raw["tuner"] = {
        "objective": "validation.interval_width",
        "search_space": {"model.l2": {"choice": [0.0, 1e-4]}},
    }
    with pytest.raises(ConfigError, match="needs a predictive distribution"):
        validate_config(raw)


def test_prior_scale_with_the_scale_mixture_prior_is_refused():
    # The mixture's components are fixed: prior_scale 0.01 trained exactly as 1.0 did (same
    # metrics, deterministic runs), and a sweep over it compared identical runs.
    bayesian = {"layers": "all", "prior": "scale_mixture", "prior_scale": 0.01}
    raw = tiny_config(model={"task": "regression", "hidden": [8], "bayesian": bayesian})
    with pytest.raises(ConfigError) as caught:
        validate_config(raw)
    assert "prior_scale 0.01 applies to prior 'normal'" in str(caught.value)
    assert "0.5 N(0, 1) + 0.5 N(0, 0.0025^2)" in str(caught.value)
    bayesian["prior_scale"] = 1.0  # the mixture's wide component, as written back to config.yaml
    validate_config(raw)


@pytest.mark.parametrize(
    ("model", "path"),
    [({"l2": 0.5}, "model.l2"), ({"hidden": [8, {"units": 8, "l1": 0.1}]}, "model.hidden.1.l1")],
)
def test_a_weight_penalty_on_a_fully_variational_dense_network_is_refused(model, path):
    # DenseVariational layers take no regularizer: with bayesian.layers 'all', model.l2 0.5
    # trained exactly as 0 did (identical metrics on deterministic runs).
    bayesian = {"layers": "all"}
    raw = tiny_config(model={"task": "regression", "hidden": [8], "bayesian": bayesian, **model})
    with pytest.raises(ConfigError) as caught:
        validate_config(raw)
    assert f"{path} applies to point-estimated layers" in str(caught.value)
    bayesian["layers"] = "output"  # the hidden layers are point estimates: the penalty applies
    validate_config(raw)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (
            "prediction.conformal.alpha=0.95",
            "prediction.conformal.alpha: 0.95 is the share of rows the intervals or sets may "
            "miss, so they would cover 5%; alpha is at most 0.5 (for 95% coverage write 0.05)",
        ),
        (
            "prediction.interval=0.05",
            "prediction.interval: 0.05 is the central interval's coverage, so it would cover 5% "
            "of the rows; interval is at least 0.5 (for a miss rate of 0.05 write 0.95)",
        ),
    ],
)
def test_a_coverage_and_a_miss_rate_written_for_each_other_are_refused(
    cli, write_config, tmp_path, setting, expected
):
    """prediction.interval is a coverage (0.95) and prediction.conformal.alpha a miss rate
    (0.05): each took the other's value, and a hetero table's run trained with 5% intervals
    and sets (test coverage 0.053, conformal_coverage 0.06) without a word. 0.5 is allowed."""
    config = tiny_config("regression", output_dir=str(tmp_path / "out"))
    config["model"]["head"] = "gaussian"
    config["prediction"] = {"conformal": {"method": "split"}}
    path = write_config(config)
    line = assert_one_line_error(cli("train", path, "--set", setting))
    assert line == f"toolkit: error: --set {setting}: {expected}", line
    assert not (tmp_path / "out").exists()
    key = setting.split("=")[0]
    assert cli("validate", path, "--set", f"{key}=0.5").returncode == 0


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (
            "model.ensemble=5",
            "model.ensemble: a section of settings (members, best_epoch): give a mapping such as "
            "{members: 5}, true for its defaults or false to leave it out; got 5",
        ),
        (
            "prediction.conformal=split",
            "prediction.conformal: a section of settings (method, alpha, calibration, "
            "randomized): give a mapping such as {method: split}, true for its defaults or false "
            'to leave it out; got "split"',
        ),
        (
            "model.bayesian=[1]",
            "model.bayesian: a section of settings (layers, prior, prior_scale, "
            "posterior_scale_init, kl_weight, kl_warmup_epochs, train_samples, estimator): give "
            "a mapping such as {layers: ...}, true for its defaults or false to leave it out; "
            "got [1]",
        ),
    ],
)
def test_a_section_given_a_single_value_names_its_settings(cli, write_config, setting, expected):
    """``model.ensemble: 5`` read "Input should be a valid dictionary or instance of
    EnsembleConfig", a Python class no config or README names."""
    path = write_config(tiny_config("regression"))
    line = assert_one_line_error(cli("validate", path, "--set", setting))
    assert line == f"toolkit: error: --set {setting}: {expected}", line
    for value, members in ((True, 5), (False, None), (None, None), ({"members": 3}, 3)):
        ensemble = validate_config(tiny_config("regression", model={"ensemble": value}))
        assert getattr(ensemble.model.ensemble, "members", None) == members
