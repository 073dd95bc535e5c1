"""Search-space validation: bad paths and ranges are caught before TensorFlow starts."""

from __future__ import annotations

import pytest

from tests.helpers import REPO, cli_without_tensorflow
from tests.reliability._support import assert_one_line_error
from tests.tuning.conftest import sweep_config
from toolkit.config.loading import load_config, resolve_config, validate_config
from toolkit.errors import ConfigError
from toolkit.tuning.space import SearchSpace, penalised_objective_warning, validate_search_space


def check(write_config, config: dict):
    path = write_config(config)
    data, origins = resolve_config(path)
    validated = validate_config(data, origins, str(path))
    return validate_search_space(data, origins, validated)


def with_space(tmp_path, space: dict, **tuner) -> dict:
    return sweep_config(tmp_path, search_space=space, **tuner)


def test_unknown_path_names_the_entry_line_and_suggestion(write_config, tmp_path):
    config = with_space(tmp_path, {"model.dropuot": {"choice": [0.0, 0.1]}})
    with pytest.raises(ConfigError) as error:
        check(write_config, config)
    message = str(error.value)
    assert "tuner.search_space.model.dropuot: unknown key 'dropuot'" in message
    assert "did you mean 'dropout'" in message
    assert message.startswith(f"{tmp_path / 'config.yaml'}:")


def test_bad_choice_value_is_rejected(write_config, tmp_path):
    config = with_space(tmp_path, {"model.dropout": {"choice": [0.0, 1.5]}})
    with pytest.raises(
        ConfigError,
        match=r"tuner\.search_space\.model\.dropout: value 1\.5 gives an invalid config",
    ):
        check(write_config, config)


def test_list_index_out_of_range(write_config, tmp_path):
    config = with_space(tmp_path, {"model.hidden.3": {"int": [4, 8]}})
    with pytest.raises(
        ConfigError, match=r"tuner\.search_space\.model\.hidden\.3.*index 3 out of range"
    ):
        check(write_config, config)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"int": [8, 8]}, "range [8, 8] is empty"),
        ({"float": [0.1, 0.01]}, "range [0.1, 0.01] is empty"),
        ({"float": [0.0, 0.1], "sampling": "log"}, "log sampling needs a lower bound > 0"),
        ({"int": [4, 16], "step": 2.5}, "must be a whole number"),
        ({"int": [4, 16], "step": 32}, "step 32 is larger than the range [4, 16]"),
        ({"float": [1e-4, 1e-1], "sampling": "log", "step": 0.5}, "must be > 1"),
        ({"choice": [4, 4]}, "repeated values"),
        ({"int": [4, 16], "choice": [1, 2]}, "exactly one of int, float, choice, boolean"),
    ],
)
def test_ranges_that_make_no_sense(write_config, tmp_path, entry, expected):
    config = with_space(tmp_path, {"model.hidden.0": entry})
    with pytest.raises(ConfigError) as error:
        check(write_config, config)
    assert expected in str(error.value)
    assert "model.hidden.0" in str(error.value)


@pytest.mark.parametrize(
    ("entry", "hint", "shown"),
    [([0.1, 0.3], "{choice: [0.1, 0.3]}", "[0.1, 0.3]"), (0.3, "{choice: [a, b]}", "0.3")],
)
def test_an_entry_that_is_not_a_mapping_says_what_one_looks_like(
    write_config, tmp_path, entry, hint, shown
):
    """It read pydantic's "Input should be a valid dictionary or instance of
    SearchDimension"."""
    with pytest.raises(ConfigError) as error:
        check(write_config, with_space(tmp_path, {"model.dropout": entry}))
    assert str(error.value).endswith(
        f"tuner.search_space.model.dropout: expected a mapping such as {hint}, "
        f"{{int: [low, high]}}, {{float: [low, high]}} or {{boolean: true}}; got {shown}"
    )


def test_conditional_entry_is_probed_with_its_condition(write_config, tmp_path):
    space = {
        "training.optimizer.name": {"choice": ["adam", "sgd"]},
        "training.optimizer.momentum": {
            "float": [0.0, 0.95],
            "when": {"training.optimizer.name": "sgd"},
        },
    }
    parsed = check(write_config, with_space(tmp_path, space))
    momentum = next(d for d in parsed.dimensions if d.name == "training.optimizer.momentum")
    assert momentum.parents == (("training.optimizer.name", ("sgd",)),)
    assert parsed.names.index("training.optimizer.name") < parsed.names.index(
        "training.optimizer.momentum"
    )
    # Without the condition, adam would get a momentum it does not take.
    del space["training.optimizer.momentum"]["when"]
    with pytest.raises(ConfigError, match="optimizer 'adam' takes no argument 'momentum'"):
        check(write_config, with_space(tmp_path, space))


def test_condition_on_untuned_path_uses_the_base_config(write_config, tmp_path):
    entry = {"float": [0.0, 0.9], "when": {"training.optimizer.name": "sgd"}}
    config = with_space(tmp_path, {"training.optimizer.momentum": entry})
    config["training"]["optimizer"] = {"name": "sgd", "learning_rate": 0.01}
    parsed = check(write_config, config)
    assert parsed.dimensions[0].parents == ()  # decided once: always active
    config["training"]["optimizer"] = {"name": "adam"}
    with pytest.raises(ConfigError, match="never active"):
        check(write_config, config)


def test_a_condition_on_an_untuned_path_reads_its_default_and_names_a_typo(write_config, tmp_path):
    """``when: {model.batchnorm: false}`` on a config that leaves batchnorm at its default
    (false) was refused as "never active ... the config has not set"; a path that is no
    config field read "the config has not set and ... is not tuned"."""
    entry = {"choice": [0.0, 0.1], "when": {"model.batchnorm": False}}
    config = with_space(tmp_path, {"model.dropout": entry})
    config["model"].pop("batchnorm", None)
    assert check(write_config, config).dimensions[0].parents == ()  # always active
    entry["when"] = {"model.batchnorm": True}
    with pytest.raises(ConfigError) as error:
        check(write_config, config)
    assert str(error.value).endswith(
        "never active: when: needs model.batchnorm in [True], but the config has False and "
        "model.batchnorm is not tuned"
    )
    entry["when"] = {"training.optimizer.nme": "sgd"}
    with pytest.raises(ConfigError) as error:
        check(write_config, config)
    assert str(error.value).endswith(
        "tuner.search_space.model.dropout: when: training.optimizer.nme is not a config path "
        "(did you mean 'training.optimizer.name'?)"
    )


def test_conditions_that_can_never_hold_or_loop(write_config, tmp_path):
    never = {
        "training.optimizer.name": {"choice": ["adam", "sgd"]},
        "training.optimizer.momentum": {
            "float": [0.0, 0.9],
            "when": {"training.optimizer.name": "rmsprop"},
        },
    }
    with pytest.raises(ConfigError, match="never takes any of those values"):
        check(write_config, with_space(tmp_path, never))
    loop = {
        "model.dropout": {"choice": [0.0, 0.1], "when": {"model.l2": 0.0}},
        "model.l2": {"choice": [0.0, 0.01], "when": {"model.dropout": 0.0}},
    }
    with pytest.raises(ConfigError, match="cycle"):
        check(write_config, with_space(tmp_path, loop))


def test_overlapping_paths_and_hyperband_epochs(write_config, tmp_path):
    overlap = {"model.hidden": {"choice": [[8], [8, 8]]}, "model.hidden.0": {"int": [4, 8]}}
    with pytest.raises(ConfigError, match=r"lies inside model\.hidden"):
        check(write_config, with_space(tmp_path, overlap))
    epochs = {"training.epochs": {"int": [2, 4]}}
    with pytest.raises(ConfigError, match=r"hyperband sets training\.epochs itself"):
        check(write_config, with_space(tmp_path, epochs, algorithm="hyperband"))


@pytest.mark.parametrize("algorithm", ["random", "bayesian", "grid"])
def test_max_epochs_outside_hyperband_is_refused(tmp_path, algorithm):
    # Only Hyperband reads it: a random search with max_epochs 4 trained every trial for
    # training.epochs, saying nothing.
    config = sweep_config(tmp_path, algorithm=algorithm, max_epochs=4)
    with pytest.raises(
        ConfigError, match=f"max_epochs applies to the hyperband algorithm, not '{algorithm}'"
    ):
        validate_config(config)
    validate_config(sweep_config(tmp_path, algorithm="hyperband", max_epochs=4))


@pytest.mark.parametrize(
    "entry",
    [
        {"output_dir": {"choice": ["runs-a", "runs-b"]}},
        {"tuner.max_trials": {"choice": [1, 2]}},
    ],
)
def test_the_sweeps_own_settings_are_not_searched(write_config, tmp_path, entry):
    # output_dir was recorded per trial and ignored: every trial is written under the sweep.
    with pytest.raises(ConfigError, match="is the sweep's own setting"):
        check(write_config, with_space(tmp_path, entry))


def test_an_override_of_a_searched_field_is_refused(write_config, tmp_path):
    """``--set training.batch_size=2`` beside a search over it was dropped without a word
    (every trial took the search space's value); replacing a section above a searched field
    (``--set model.hidden=[8, 8]``: two blocks, the first one's width searched) still works."""
    config = with_space(
        tmp_path,
        {"training.batch_size": {"choice": [16, 32]}, "model.hidden.0": {"int": [4, 8]}},
    )
    path = write_config(config)
    for override, searched in [
        ("training.batch_size=2", "training.batch_size"),
        ("model.hidden.0=6", "model.hidden.0"),
    ]:
        data, origins = resolve_config(path, [override])
        with pytest.raises(ConfigError) as error:
            validate_search_space(data, origins, validate_config(data, origins, str(path)))
        assert str(error.value) == (
            f"--set {override}: {searched} is in the search space ({path}:"
            f"{origins[('tuner', 'search_space', searched)].rsplit(':', 1)[1]}: "
            f"tuner.search_space.{searched}), so every trial takes it from there; drop the "
            "override or change the search space"
        )
    data, origins = resolve_config(path, ["model.hidden=[8, 8]", "training.epochs=2"])
    space = validate_search_space(data, origins, validate_config(data, origins, str(path)))
    assert {dim.name for dim in space.dimensions} == {"training.batch_size", "model.hidden.0"}


def test_a_value_in_place_of_a_block_with_settings_is_refused(write_config, tmp_path):
    """``model.hidden.0: {int: ...}`` over ``hidden: [{units: 8, dropout: 0.3}]`` replaced the
    block, dropping its dropout without a word; the error names the field to tune. A block
    tuned as a whole (a mapping per choice) and a field of it still pass."""
    config = with_space(tmp_path, {"model.hidden.0": {"int": [4, 16], "step": 4}})
    config["model"]["hidden"] = [{"units": 8, "dropout": 0.3}]
    with pytest.raises(ConfigError) as error:
        check(write_config, config)
    assert str(error.value).endswith(
        "tuner.search_space.model.hidden.0: model.hidden.0 is the block {units: 8, dropout: "
        "0.3}; a value there replaces all of it and drops its other settings; tune "
        "model.hidden.0.units to keep them"
    )
    config["tuner"]["search_space"] = {
        "model.hidden.0.units": {"int": [4, 16], "step": 4},
        "model.hidden.0.dropout": {"choice": [0.0, 0.3]},
    }
    check(write_config, config)
    config["tuner"]["search_space"] = {
        "model.hidden.0": {"choice": [{"units": 4, "dropout": 0.1}, {"units": 8, "dropout": 0.2}]}
    }
    check(write_config, config)


def test_any_path_and_non_scalar_choices_apply_like_set(write_config, tmp_path):
    space = {
        "model.hidden": {"choice": [[8], [16, 8]]},
        "training.lr_schedule": {"choice": [None, {"name": "cosine"}]},
        "model.residual": {"boolean": False},
        "training.batch_size": {"choice": [8, 16]},
    }
    config = with_space(tmp_path, space)
    parsed = check(write_config, config)
    hidden = parsed.dimensions[0]
    assert hidden.encoded and hidden.choices == ["[8]", "[16, 8]"]
    values = parsed.decode(
        {
            "model.hidden": "[16, 8]",
            "training.lr_schedule": '{"name": "cosine"}',
            "model.residual": True,
        }
    )
    trial = validate_config(parsed.apply(config, values))
    assert [block.units for block in trial.model.hidden] == [16, 8]
    assert trial.training.lr_schedule.name == "cosine"
    assert trial.model.residual is True
    assert trial.tuner is None


def test_validate_command_checks_the_space_without_tensorflow(write_config, tmp_path):
    good = write_config(sweep_config(tmp_path), name="good.yaml")
    bad = write_config(
        with_space(tmp_path, {"model.dropout": {"choice": [0.0, 1.5]}}), name="bad.yaml"
    )
    result = cli_without_tensorflow(
        (["validate", good], 0),
        (["validate", bad], 2),
        (["tune", bad], 2),
        unimported=("tensorflow", "keras_tuner"),
    )
    assert "tuner random over 2 paths" in result.stdout
    assert result.stderr.count("value 1.5 gives an invalid config") == 2
    assert not (tmp_path / "out").exists()


def test_shipped_sweep_config_is_valid():
    path = REPO / "configs" / "sweep.yaml"
    config = load_config(path)
    data, origins = resolve_config(path)
    space = validate_search_space(data, origins, config)
    assert isinstance(space, SearchSpace) and config.tuner.max_trials <= 10


def test_an_entry_that_changes_kind_over_extends_says_how(write_config, tmp_path):
    """A choice over a base's float range was merged into {float, choice, sampling}, and the
    error ("got float, choice") did not say where the float came from or how to drop it."""
    write_config(sweep_config(tmp_path), name="base.yaml")
    lr = "training.optimizer.learning_rate"
    child = {"extends": "base.yaml", "tuner": {"search_space": {lr: {"choice": [0.01, 0.1]}}}}
    with pytest.raises(ConfigError, match="merged key by key, so set the kind you replace"):
        check(write_config, child)
    child["tuner"]["search_space"][lr].update(float=None, sampling="linear")
    assert check(write_config, child) is not None


def test_an_entry_inside_a_null_section_says_it_switches_the_section_on(write_config, tmp_path):
    """A search over model.bayesian.kl_warmup_epochs with ``bayesian: null`` makes every
    trial Bayesian with the section's defaults (layers: all); the error that followed named
    only those defaults, which the config never mentions."""
    config = with_space(tmp_path, {"model.bayesian.kl_warmup_epochs": {"choice": [0, 2]}})
    config["model"]["weight_prior_scale"] = 0.5
    with pytest.raises(ConfigError) as error:
        check(write_config, config)
    assert (
        "tuner.search_space.model.bayesian.kl_warmup_epochs: value 0 switches on "
        "model.bayesian, null in the config, with its defaults, and gives an invalid config: "
        "model: weight_prior_scale applies to point-estimated layers"
    ) in str(error.value)


def test_cross_validation_with_a_calibration_fraction_is_refused(write_config, tmp_path):
    """The folds hold training and validation rows only: with a calibration fraction every
    cross-validated trial failed on "'NoneType' object has no attribute 'sample'"."""
    config = with_space(tmp_path, {"model.dropout": {"choice": [0.0, 0.1]}}, cv_folds=2)
    config["model"]["head"] = "gaussian"
    config["prediction"] = {"conformal": {"calibration": 0.25}}
    with pytest.raises(ConfigError) as error:
        check(write_config, config)
    assert str(error.value).endswith(
        "tuner.cv_folds and prediction.conformal.calibration 0.25 do not combine: each fold "
        "calibrates on its validation fold (calibration: validation)"
    )
    config["prediction"]["conformal"]["calibration"] = "validation"
    check(write_config, config)


def test_the_shipped_sweep_ranks_trials_by_their_fit():
    """sweep.yaml searches the width of a network under a prior on its weights; ranked by
    val_loss, which holds the prior's penalty, a narrower network came first with a worse
    validation NLL (a reviewer's two runs: val_loss 4.01 against 7.32, NLL 1.119 against
    0.886)."""
    config = load_config(REPO / "configs" / "sweep.yaml")
    assert config.tuner.objective == "validation.nll"
    assert penalised_objective_warning(config) is None


@pytest.mark.parametrize(
    ("model", "objective", "fit"),
    [
        ({"weight_prior_scale": 0.5}, "val_loss", "validation.rmse"),
        ({"hidden": [{"units": 8, "l2": 1e-3}]}, "val_loss", "validation.rmse"),
        ({"l1": 1e-4, "head": "gaussian"}, "loss", "validation.nll"),
        ({"task": "binary", "l2": 1e-4}, "val_loss", "validation.log_loss"),
        ({"weight_prior_scale": 0.5}, "validation.rmse", None),
        ({}, "val_loss", None),  # no penalty: val_loss is the fit
    ],
)
def test_a_penalised_objective_over_model_fields_is_warned_of(tmp_path, model, objective, fit):
    config = sweep_config(tmp_path, objective=objective)
    config["model"].update(model)
    if config["model"]["task"] == "binary":
        config["data"]["source"] = "synthetic:binary"
    warning = penalised_objective_warning(validate_config(config))
    if fit is None:
        assert warning is None
    else:
        assert warning.startswith(f"tuner.objective {objective} includes the weight penalty of ")
        assert "changes with model.hidden.0 between trials" in warning
        assert warning.endswith(f"tuner.objective: {fit} compares the trials' fit alone")


@pytest.mark.parametrize(
    ("model", "searched"),
    [
        ({"bayesian": {"layers": "all"}}, "model.bayesian.prior_scale"),
        ({"bayesian": {"layers": "all"}}, "model.hidden.0"),
        (
            {"bayesian": {"layers": "output"}, "weight_prior_scale": 0.5},
            "model.bayesian.prior_scale",
        ),
    ],
)
def test_the_kl_term_in_val_loss_is_warned_of(tmp_path, model, searched):
    """Keras' val_loss holds the variational layers' kl_weight * KL(q || p), which changes with
    the prior and the number of weights: a fully variational network searched over
    prior_scale on val_loss had no warning, and bnn.yaml's named model.weight_prior_scale's
    penalty, which prior_scale does not change."""
    space = {searched: {"choice": [8, 16] if searched == "model.hidden.0" else [0.1, 1.0]}}
    config = sweep_config(tmp_path, objective="val_loss", search_space=space)
    config["model"].update(head="gaussian", **model)
    warning = penalised_objective_warning(validate_config(config))
    assert warning == (
        f"tuner.objective val_loss includes the KL term of model.bayesian, which changes with "
        f"{searched} between trials, so it can rank a worse fit first; tuner.objective: "
        "validation.nll compares the trials' fit alone"
    )


def test_a_penalised_objective_is_not_warned_of_when_the_model_is_not_searched(tmp_path):
    config = sweep_config(tmp_path, search_space={"training.batch_size": {"choice": [16, 32]}})
    config["model"]["weight_prior_scale"] = 0.5
    assert penalised_objective_warning(validate_config(config)) is None


def test_the_positive_class_is_not_searched(cli, write_config, tmp_path):
    """A grid over data.positive_class [fraud, legit] with objective validation.f1 named the
    'legit' trial best (f1 0.90 against 0.50): the common class's f1 beside the rare one's."""
    config = sweep_config(
        tmp_path,
        algorithm="grid",
        objective="validation.f1",
        search_space={"data.positive_class": {"choice": ["fraud", "legit"]}},
    )
    config["model"]["task"] = "binary"
    config["data"]["source"] = "synthetic:binary"
    line = assert_one_line_error(cli("validate", write_config(config)))
    assert line.endswith(
        "tuner.search_space.data.positive_class: data.positive_class chooses the class that "
        "precision, recall, f1 and pr_auc score, so trials would be ranked on different "
        "classes' scores; set it under data:, outside the search space"
    )


def test_a_search_over_the_ensembles_best_epoch_is_refused_on_an_objective_from_training(
    cli, write_config, tmp_path
):
    """A grid over model.ensemble.best_epoch [per_member, shared] scored on val_loss ran both
    trials to the same history (the members' epochs are chosen after training) and named the
    first one best on a tie (0.8654 and 0.8654); validation.nll scores the final models."""
    config = sweep_config(
        tmp_path,
        algorithm="grid",
        objective="val_loss",
        search_space={"model.ensemble.best_epoch": {"choice": ["per_member", "shared"]}},
    )
    config["model"]["ensemble"] = {"members": 2}
    line = assert_one_line_error(cli("validate", write_config(config)))
    assert line.endswith(
        "tuner.search_space.model.ensemble.best_epoch: model.ensemble.best_epoch is chosen "
        "after training, so tuner.objective val_loss, logged during training, is the same for "
        "every value; score the trials on the final model with a validation.<metric> "
        "objective (validation.nll, validation.log_loss)"
    )
    config["tuner"]["objective"] = "validation.rmse"
    assert cli("validate", write_config(config)).returncode == 0


@pytest.mark.parametrize(
    ("path", "choices"),
    [
        ("prediction.mc_samples", [10, 50]),
        ("prediction.interval", [0.8, 0.95]),
        ("prediction.std_scaling", [False, True]),
        ("prediction.conformal.alpha", [0.05, 0.1]),
    ],
)
def test_a_search_over_a_prediction_setting_is_refused_on_an_objective_from_training(
    cli, write_config, tmp_path, path, choices
):
    """Prediction settings act on the trained model: a sweep of ensemble.yaml over
    prediction.mc_samples [50, 10] on val_loss trained both trials alike (0.9744 and 0.9744)
    and named the first best. validation.<metric> scores the final models, and is accepted."""
    config = sweep_config(
        tmp_path, algorithm="grid", objective="val_loss", search_space={path: {"choice": choices}}
    )
    config["model"].update(head="gaussian", mc_dropout=True, dropout=0.1)
    config["prediction"] = {"conformal": {"method": "split"}}
    line = assert_one_line_error(cli("validate", write_config(config)))
    assert line.endswith(
        f"tuner.search_space.{path}: {path} is applied after training, so tuner.objective "
        "val_loss, logged during training, is the same for every value; score the trials on "
        "the final model with a validation.<metric> objective (validation.nll, "
        "validation.log_loss)"
    ), line
    assert not (tmp_path / "out").exists()
    config["tuner"]["objective"] = "validation.nll"
    assert cli("validate", write_config(config)).returncode == 0


def test_a_search_over_mc_samples_of_a_model_that_draws_nothing_is_refused(
    cli, write_config, tmp_path
):
    """A model without MC dropout or Bayesian layers is run once whatever mc_samples says: a
    sweep of ensemble.yaml over it gave identical trials. A search that also varies
    model.mc_dropout may draw, and is accepted."""
    space = {"prediction.mc_samples": {"choice": [10, 50]}}
    config = sweep_config(tmp_path, objective="validation.nll", search_space=space)
    config["model"].update(head="gaussian", ensemble={"members": 2})
    line = assert_one_line_error(cli("validate", write_config(config)))
    assert line.endswith(
        "tuner.search_space.prediction.mc_samples: prediction.mc_samples is the number of "
        "passes of an MC-dropout or Bayesian model, and this model draws nothing at "
        "prediction (no model.mc_dropout: true or model.bayesian), so every value gives the "
        "same trial; remove it from the search space"
    ), line
    assert not (tmp_path / "out").exists()
    config["model"]["dropout"] = 0.1
    space["model.mc_dropout"] = {"choice": [True, False]}
    assert len(check(write_config, config).dimensions) == 2


@pytest.mark.parametrize(
    ("path", "choices", "weights"),
    [
        ("model.bayesian.kl_weight", [0.0001, 0.01], "0.0001, 0.01"),
        ("model.bayesian", [False, True], "auto, none"),
    ],
)
def test_a_search_over_the_kl_weight_is_refused_on_val_loss(
    cli, write_config, tmp_path, path, choices, weights
):
    """Keras' loss holds kl_weight * KL(q || p): bnn.yaml over kl_weight [0.0001, 0.01] on a
    hetero table scored val_loss 1.42 against 3.07, where the validation NLLs (1.331 and
    1.354) differed by 0.02. validation.nll scores the fit, and is accepted."""
    config = sweep_config(
        tmp_path, algorithm="grid", objective="val_loss", search_space={path: {"choice": choices}}
    )
    config["model"].update(head="gaussian", bayesian={"layers": "output"})
    line = assert_one_line_error(cli("validate", write_config(config)))
    assert line.endswith(
        f"tuner.search_space.{path}: {path} changes the weight of the KL term in the loss each "
        f"trial trains on ({weights}), so tuner.objective val_loss would rank trials by that "
        "weight; score them on the final model with a validation.<metric> objective "
        "(validation.nll, validation.log_loss)"
    ), line
    assert not (tmp_path / "out").exists()
    config["tuner"]["objective"] = "validation.nll"
    assert cli("validate", write_config(config)).returncode == 0
    # What does not change the weight is searched on val_loss as before.
    config["tuner"].update(
        objective="val_loss", search_space={"model.bayesian.prior_scale": {"choice": [0.5, 1.0]}}
    )
    assert cli("validate", write_config(config)).returncode == 0


def test_a_search_over_the_conformal_calibration_fraction_is_allowed_on_val_loss(
    write_config, tmp_path
):
    """A calibration fraction holds its rows out of training, so val_loss does change."""
    space = {"prediction.conformal.calibration": {"choice": [0.1, 0.2]}}
    config = sweep_config(tmp_path, objective="val_loss", search_space=space)
    config["prediction"] = {"conformal": {"method": "split"}}
    assert len(check(write_config, config).dimensions) == 1


def test_a_float_range_over_a_whole_number_field_is_refused_before_any_trial(
    cli, write_config, tmp_path
):
    """``training.batch_size: {float: [16, 64]}`` passed validation (both ends are whole and
    valid) and every trial then failed on the value Keras Tuner drew between them (38.22:
    'sweep failed: no trial completed'). A step that keeps the values whole is accepted."""
    import keras_tuner

    from toolkit.config.schema import ExperimentConfig

    batch = "training.batch_size"
    config = with_space(tmp_path, {batch: {"float": [16, 64]}})
    # Keras Tuner's own draws from this range: fractional, so no trial's config validates.
    hp = keras_tuner.HyperParameters()
    hp.Float(batch, 16, 64)
    draws = [hp.space[0].random_sample(seed) for seed in range(5)]
    assert all(not float(draw).is_integer() for draw in draws), draws
    with pytest.raises(Exception, match="valid integer"):
        ExperimentConfig.model_validate({**config, "training": {"batch_size": draws[0]}})

    line = assert_one_line_error(cli("validate", write_config(config)))
    assert line.endswith(
        "tuner.search_space.training.batch_size: value 40.5 gives an invalid config: Input "
        "should be a valid integer, got 40.5 (a number with a fractional part); a float range "
        "draws fractional values such as 40.5, so use {int: [16, 64]} for a field of whole "
        "numbers"
    ), line
    config["tuner"]["search_space"][batch]["step"] = 2.5  # 16, 18.5, ...
    assert "value 18.5 gives" in assert_one_line_error(cli("validate", write_config(config)))
    config["tuner"]["search_space"][batch]["step"] = 16  # 16.0, 32.0, 48.0, 64.0: whole
    assert cli("validate", write_config(config)).returncode == 0
    assert not (tmp_path / "out").exists()


def test_a_grid_over_a_float_range_needs_a_step(cli, write_config, tmp_path):
    """A grid over ``{float: [0, 0.5]}`` without a step ran Keras Tuner's own values: the lower
    end (the default), then ten values inside the range in no sorted order, never 0.5, and
    nothing said so. A grid now needs the step (or a choice); random and Bayesian searches
    sample the range and take it as it is."""
    import keras_tuner

    # Keras Tuner's own values for the range, as the grid would have tried them.
    hp = keras_tuner.HyperParameters()
    hp.Float("d", 0.0, 0.5)
    picked = list(hp.space[0].values)
    assert len(picked) == 10 and 0.5 not in picked and picked != sorted(picked)

    space = {"model.dropout": {"float": [0.0, 0.5]}}
    line = assert_one_line_error(
        cli("validate", write_config(with_space(tmp_path, space, algorithm="grid")))
    )
    assert line.endswith(
        "tuner: search_space.model.dropout: a grid tries every value, and the float range "
        "[0, 0.5] has no step (Keras Tuner would pick its own: the lower end, then ten values "
        "inside the range, unsorted); add a step, or list the values as {choice: [...]}"
    )
    stepped = {"model.dropout": {"float": [0.0, 0.5], "step": 0.25}}
    check(write_config, with_space(tmp_path, stepped, algorithm="grid"))
    check(write_config, with_space(tmp_path, space, algorithm="random"))


def test_a_search_over_the_loss_is_refused_on_keras_loss_as_objective(cli, write_config, tmp_path):
    """A grid over model.head [default, gaussian] on val_loss ranked the default head's mean
    squared error (0.40) against the Gaussian head's NLL (1.10), numbers in different units,
    and named the first best. A search that changes the loss is scored on a metric of the
    final model instead; heads that train on the same loss still compare on val_loss."""
    heads = {"model.head": {"choice": ["default", "gaussian"]}}
    line = assert_one_line_error(cli("validate", write_config(with_space(tmp_path, heads))))
    assert line.endswith(
        "tuner.search_space.model.head: model.head changes the loss each trial trains on "
        "(gaussian_nll, mse), so tuner.objective val_loss would rank trials on different "
        "losses; score them on the final model with a validation.<metric> objective "
        "(validation.rmse)"
    )
    losses = {"model.loss": {"choice": ["mse", "huber"]}}
    with pytest.raises(ConfigError, match=r"model\.loss changes the loss each trial trains on"):
        check(write_config, with_space(tmp_path, losses, objective="loss"))
    check(write_config, with_space(tmp_path, heads, objective="validation.rmse"))
    same = {"model.head": {"choice": ["gaussian", "homoscedastic"]}}
    check(write_config, with_space(tmp_path, same))
