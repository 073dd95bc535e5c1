"""Fields of one kind are checked by one definition: a block's activation or initializer gets
exactly the model-level message, and every optional section switches on and off alike."""

from __future__ import annotations

import pytest

from tests.helpers import tiny_config
from toolkit.config import names
from toolkit.config.loading import validate_config
from toolkit.errors import ConfigError


def _error(**model) -> str:
    with pytest.raises(ConfigError) as caught:
        validate_config(tiny_config(model={"task": "regression", **model}))
    return str(caught.value)


@pytest.mark.parametrize(
    ("field", "value", "suggestion"),
    [("activation", "rleu", "relu"), ("initializer", "aut", "auto"), ("initializer", "he", None)],
)
def test_block_and_model_fields_share_one_check(field, value, suggestion):
    if suggestion is None:  # a valid alias passes at both levels
        config = validate_config(
            tiny_config(
                model={"task": "regression", field: value, "hidden": [{"units": 4, field: value}]}
            )
        )
        assert getattr(config.model, field) == getattr(config.model.hidden[0], field) == value
        return
    model_level = _error(**{field: value})
    block_level = _error(hidden=[{"units": 4, field: value}])
    assert model_level.startswith(f"config: model.{field}: unknown {field} '{value}'")
    assert block_level == model_level.replace(f"model.{field}:", f"model.hidden.0.{field}:")
    assert f"(did you mean '{suggestion}'?)" in model_level


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ("bayesian", ("model", "bayesian")),
        ("early_stopping", ("callbacks", "early_stopping")),
        ("gradient_monitor", ("callbacks", "gradient_monitor")),
    ],
)
def test_optional_sections_switch_alike(section, path):
    def load(value):
        raw = tiny_config()
        raw[path[0]] = {**raw.get(path[0], {}), section: value}
        return getattr(getattr(validate_config(raw), path[0]), section)

    assert load(False) is None and load(None) is None
    on = load(True)
    assert on is not None and on == type(on)()  # true: the section with its defaults


def test_every_loss_name_passes_the_loss_check():
    for loss in names.ALL_LOSSES:
        task = next(t for t, allowed in names.LOSSES.items() if loss in allowed)
        head = "gaussian" if loss == "gaussian_nll" else "default"
        raw = tiny_config(task, model={"task": task, "head": head, "loss": loss})
        assert validate_config(raw).model.loss == loss


def test_a_folder_is_table_shards_when_it_holds_csv_or_parquet_files(tmp_path):
    shards, classes, empty = tmp_path / "shards", tmp_path / "classes", tmp_path / "empty"
    shards.mkdir()
    (shards / "part-0.parquet").write_bytes(b"")
    (classes / "cat").mkdir(parents=True)
    (classes / "cat" / "1.png").write_bytes(b"")
    (classes / "labels.csv").write_text("file,label\n")  # beside class folders: images still
    empty.mkdir()

    def kind(source, *, images: bool, **data) -> str:
        config = tiny_config(data={"source": str(source), "target": "y", **data})
        config["model"]["flatten"] = images  # a dense body takes images once flattened
        return validate_config(config).data.input_kind

    assert kind(shards, images=False) == "table"
    assert kind(classes, images=True) == "image"
    # Nothing says otherwise: the folder convention of images; validation needs no data.
    assert kind(empty, images=True) == "image"
    assert kind(tmp_path / "not-yet", images=True) == "image"
    assert kind(classes, images=False, kind="table") == "table"  # data.kind decides
    with pytest.raises(ConfigError, match="flatten applies to images and signals"):
        kind(shards, images=True)


@pytest.mark.parametrize(("value", "shown"), [(None, "null"), (False, "false")])
def test_backbone_weights_null_names_what_is_allowed(value, shown):
    """``weights: null`` (Keras' spelling of random weights) fails saying what is allowed, not
    pydantic's 'Input should be a valid string'."""
    message = _error(
        task="multiclass", body="backbone", backbone={"name": "MobileNetV3Small", "weights": value}
    )
    assert "\n" not in message
    assert message.endswith(
        "model.backbone.weights: backbone weights must be imagenet, none (random initial "
        f"weights) or a path to a .weights.h5 file, got {shown}"
    )


@pytest.mark.parametrize(("value", "meant"), [("ImageNet", "imagenet"), ("None", "none")])
def test_backbone_weights_in_another_spelling_are_pointed_at_it(value, meant):
    """``weights: ImageNet`` (the dataset's own spelling) or ``None`` (Python's, which YAML
    reads as text) listed what is allowed without saying which was meant. The line names
    model.backbone.weights, the setting to change, where it named model.backbone."""
    message = _error(
        task="multiclass", body="backbone", backbone={"name": "MobileNetV3Small", "weights": value}
    )
    assert message.endswith(
        "model.backbone.weights: backbone weights must be imagenet, none or a path to a "
        f".weights.h5 file, got '{value}' (did you mean '{meant}'?)"
    ), message


@pytest.mark.parametrize("zero", [0, 0.0])
def test_a_zero_test_or_validation_fraction_names_what_to_write(zero):
    """data.test: 0 (meaning no test split) was refused with pydantic's "Input should be
    greater than 0"; it now names null, and validation: 0 says why it cannot be none."""

    def error(**data) -> str:
        with pytest.raises(ConfigError) as caught:
            validate_config(tiny_config(data=data))
        assert "\n" not in str(caught.value)
        return str(caught.value)

    assert error(test=zero) == (
        "config: data.test: 0 holds out no test rows; for no test split use null (the "
        "default), or give a fraction in (0, 1) or a file"
    )
    assert error(validation=zero) == (
        "config: data.validation: 0 holds out no validation rows, and every run validates "
        "(val_loss, early stopping); give a fraction in (0, 1) or a file"
    )
    assert validate_config(tiny_config(data={"test": None})).data.test is None


@pytest.mark.parametrize("body", ["conv", "dense"])
def test_a_backbone_section_under_another_body_names_both_fixes(body):
    """model.body conv (or dense) with a backbone section said what was wrong, not the fix."""
    message = _error(
        task="multiclass",
        body=body,
        flatten=body == "dense",
        backbone={"name": "MobileNetV3Small"},
    )
    assert "\n" not in message
    assert message.endswith(
        f"model: model.backbone is set but model.body is '{body}'; set model.body: backbone "
        f"to use it, or remove model.backbone for the {body} body"
    ), message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"augmentation": {"random_flip": "horizontal"}}, "data.augmentation applies to images"),
        ({"kind": "signal"}, "data.kind 'signal' needs an .npz source"),
        ({"kind": "image"}, "data.kind 'image' does not fit synthetic sources"),
        ({"image": {"column": "path"}}, "data.image.column applies to .csv/.parquet sources"),
    ],
)
def test_data_kind_and_image_options_must_fit_the_source(data, message):
    # A table source with image options is refused by the schema, not later by the data
    # loader with a message about a missing column.
    raw = tiny_config(
        data={**tiny_config()["data"], **data},
        model={"task": "regression", "hidden": [8], "flatten": True},
    )
    with pytest.raises(ConfigError, match=message):
        validate_config(raw)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("training", "optimizer", {"name": "adam", "learning_rate": float("inf")}),
        ("training", "optimizer", {"name": "sgd", "momentum": float("inf")}),
        ("model", "l2", float("inf")),
        ("callbacks", "gradient_monitor", {"exploding_threshold": float("inf")}),
        ("prediction", "interval", float("nan")),
    ],
)
def test_infinite_and_nan_numbers_are_refused(section, key, value):
    # YAML's .inf and .nan are floats: a learning rate of .inf passed and trained to NaN.
    raw = tiny_config()
    raw[section] = {**raw.get(section, {}), key: value}
    with pytest.raises(ConfigError, match=r"finite number, got (inf|nan)"):
        validate_config(raw)


@pytest.mark.parametrize(("validation", "test"), [(0.6, 0.5), (0.5, 0.5)])
def test_validation_and_test_fractions_must_leave_training_rows(validation, test):
    # 0.6 and 0.5 trained on a fifth of the rows in memory (validation was taken from what
    # the test split left) and on none with a split key, where both are shares of the whole.
    raw = tiny_config(data={**tiny_config()["data"], "validation": validation, "test": test})
    with pytest.raises(ConfigError, match=r"add up to 1\.?1?; together they must be below 1"):
        validate_config(raw)
    raw["data"]["test"] = round(0.99 - validation, 2)
    validate_config(raw)


@pytest.mark.parametrize(
    ("section", "key", "value", "shown"),
    [
        ("training", "epochs", True, "epochs: expected a number, got true"),
        ("training", "optimizer", {"name": "adam", "learning_rate": True}, "learning_rate: "),
        ("model", "l2", True, "l2: expected a number, got true"),
        ("model", "hidden", [{"units": 4, "dropout": False}], "dropout: expected a number"),
        ("training", "optimizer", {"name": "sgd", "momentum": True}, "momentum must be a number"),
    ],
)
def test_booleans_are_not_numbers(section, key, value, shown):
    # pydantic read true as 1 and false as 0, and YAML reads yes/no/on/off as them:
    # `epochs: yes` trained one epoch.
    raw = tiny_config()
    raw[section] = {**raw.get(section, {}), key: value}
    with pytest.raises(ConfigError, match=shown):
        validate_config(raw)


def test_booleans_still_switch_sections_and_boolean_fields():
    raw = tiny_config(
        model={"task": "regression", "hidden": [8], "batchnorm": True, "mc_dropout": False},
        callbacks={"tensorboard": False, "early_stopping": True, "learning_curve": False},
        training={"epochs": 2, "batch_size": 16, "jit_compile": False},
    )
    config = validate_config(raw)
    assert config.model.batchnorm is True and config.callbacks.early_stopping is not None


@pytest.mark.parametrize("key", ["features", "categorical"])
def test_a_column_listed_twice_is_refused(key):
    # features: [a, a, b] trained with a as two inputs of the same values.
    raw = tiny_config(data={**tiny_config()["data"], key: ["x0", "x1", "x0"]})
    with pytest.raises(ConfigError, match=rf"data.{key}: lists 'x0' more than once"):
        validate_config(raw)


@pytest.mark.parametrize(
    ("optimizer", "shown"),
    [
        ({"name": "sgd", "momentum": 1.5}, "momentum must be a number in [0, 1], got 1.5"),
        ({"name": "adam", "beta_1": "abc"}, "beta_1 must be a number, got 'abc'"),
        ({"name": "rmsprop", "rho": -0.1}, "rho must be a number in [0, 1], got -0.1"),
        ({"name": "adam", "epsilon": -1}, "epsilon must be a number >= 0, got -1"),
        ({"name": "sgd", "nesterov": "maybe"}, "nesterov must be true or false, got 'maybe'"),
        ({"name": "adam", "gradient_accumulation_steps": 0}, "must be a whole number >= 1"),
        (
            {"name": "adam", "clipnorm": 1.0, "global_clipnorm": 1.0},
            "set one of clipnorm, clipvalue and global_clipnorm, got clipnorm and global_clipnorm",
        ),
    ],
)
def test_optimizer_arguments_keras_would_refuse_late_are_refused_by_the_config(optimizer, shown):
    # Keras checks few of them: momentum 1.5 (and two clipping arguments) raised a traceback
    # after the run directory was written, beta_1 'abc' one at the first training step, and
    # nesterov 'maybe' trained as true.
    raw = tiny_config(training={"optimizer": optimizer})
    with pytest.raises(ConfigError) as caught:
        validate_config(raw)
    assert shown in str(caught.value)


def test_the_optimizer_arguments_of_the_course_pass():
    for optimizer in (
        {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True, "clipnorm": 1.0},
        {"name": "rmsprop", "rho": 0.9, "epsilon": 1e-7, "centered": False},
        {"name": "adam", "beta_1": 0.9, "beta_2": 0.999, "amsgrad": True, "clipvalue": 0.5},
        {"name": "adam", "use_ema": True, "ema_momentum": 0.99, "gradient_accumulation_steps": 2},
        {"name": "ftrl", "learning_rate_power": -0.5, "l1_regularization_strength": 0.0},
    ):
        validate_config(tiny_config(training={"optimizer": optimizer}))


def test_the_keras_2_optimizer_arguments_of_the_course_slides_say_what_replaced_them():
    # The slides' keras.optimizers.RMSprop(lr=0.001, rho=0.9, epsilon=None, decay=0.0): lr
    # and decay got no hint (lr is too short for a did-you-mean), and epsilon: null, Keras
    # 2's "the default", was refused as not a number (before, a traceback in training).
    def error(optimizer):
        with pytest.raises(ConfigError) as caught:
            validate_config(tiny_config(training={"optimizer": optimizer}))
        return str(caught.value)

    assert "takes no argument 'lr' (Keras 3 calls it 'learning_rate')" in error(
        {"name": "rmsprop", "lr": 0.001}
    )
    assert (
        "takes no argument 'decay' (Keras 2's decay, lr / (1 + decay * step), is "
        "training.lr_schedule: {name: inverse_time, decay_steps: 1, decay_rate: 0.01})"
    ) in error({"name": "rmsprop", "decay": 0.01})
    config = validate_config(
        tiny_config(
            training={
                "optimizer": {
                    "name": "rmsprop",
                    "rho": 0.9,
                    "epsilon": None,
                    "clipnorm": None,
                    "clipvalue": 1.0,
                }
            }
        )
    )
    assert config.training.optimizer.arguments == {"rho": 0.9, "clipvalue": 1.0}
    # A null is Keras' default only for an argument the optimizer has: a misspelt one is not
    # let through by its null.
    assert "takes no argument 'epsilonn'" in error({"name": "rmsprop", "epsilonn": None})


def test_gradient_monitor_thresholds_out_of_order_are_refused():
    # vanishing_threshold 1e9 beside the default exploding_threshold 1e3 passed validation and
    # raised the callback's ValueError as a traceback after the run directory was written.
    raw = tiny_config(callbacks={"gradient_monitor": {"vanishing_threshold": 1.0e9}})
    with pytest.raises(ConfigError) as caught:
        validate_config(raw)
    assert "vanishing_threshold 1e+09 must be below exploding_threshold 1000" in str(caught.value)


def test_a_metric_of_another_task_reads_as_the_loss_does_and_xavier_is_glorot():
    # "model: unknown metric for task 'binary' 'f1'" put the task between the word and its
    # value; and the slides' Xavier initialisation, Keras' Glorot, was unknown.
    with pytest.raises(ConfigError) as caught:
        validate_config(tiny_config("binary", model={"task": "binary", "metrics": ["acuracy"]}))
    assert "metric 'acuracy' does not fit task 'binary' (did you mean 'accuracy'?)" in str(
        caught.value
    )
    for alias, keras_name in (("xavier", "glorot_uniform"), ("xavier_normal", "glorot_normal")):
        config = validate_config(tiny_config(model={"initializer": alias}))
        assert names.INITIALIZER_ALIASES[config.model.initializer] == keras_name


def test_a_weight_prior_scale_whose_decay_is_no_float32_is_refused():
    # 1e-200 squared is 0: building the model divided by it (a ZeroDivisionError traceback).
    message = _error(weight_prior_scale=1e-200)
    assert message.startswith("config: model: weight_prior_scale 1e-200 is below 1e-19")
    float32_max = float.fromhex("0x1.fffffep+127")
    decay = 0.5 / 1e-19**2
    assert decay < float32_max
    validate_config(tiny_config(model={"task": "regression", "weight_prior_scale": 1e-19}))


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"nme": "cosine"}, "got the keys nme (did you mean 'name'?)"),
        ({}, "got no keys"),
        ("cosin", "a schedule is a mapping such as {name: cosine}, got 'cosin' (did you mean"),
    ],
)
def test_a_schedule_without_its_name_says_what_names_are(schedule, expected):
    """pydantic's own line was "Unable to extract tag using discriminator 'name'"."""
    with pytest.raises(ConfigError) as caught:
        validate_config(tiny_config(training={"lr_schedule": schedule}))
    message = str(caught.value)
    assert message.startswith("config: training.lr_schedule: a schedule ")
    assert expected in message
    assert ", ".join(sorted(names.SCHEDULES)) in message
    assert "discriminator" not in message


def test_columns_named_by_whole_numbers_need_no_quotes(tmp_path):
    """A CSV whose target column is a year, ``--set data.target=2021``: YAML reads 2021 as a
    number and the config refused it ('Input should be a valid string, got 2021'), so the
    column could be named only as '"2021"'. Training reads the right columns: the target's
    mean and std in preprocessing.json are pandas' on the training file, and 7 is categorical."""
    import json

    import numpy as np
    import pandas as pd

    from tests.helpers import REPO, run_cli

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.normal(size=120), "7": rng.integers(0, 3, 120)})
    frame["2021"] = 2 * frame["a"] + frame["7"] + rng.normal(size=120)
    frame.iloc[:90].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[90:].to_csv(tmp_path / "validation.csv", index=False)
    out = tmp_path / "runs"
    result = run_cli(
        "train",
        REPO / "configs" / "regression.yaml",
        *("--set", f"data.source={tmp_path / 'train.csv'}"),
        *("--set", f"data.validation={tmp_path / 'validation.csv'}"),
        *("--set", "data.test=null", "--set", "data.target=2021"),
        *("--set", "data.features=[a, 7]", "--set", "data.categorical=[7]"),
        *("--set", "training.epochs=2", "--set", f"output_dir={out}"),
    )
    assert result.returncode == 0, result.stderr
    (run_dir,) = out.glob("*/*/")
    spec = json.loads((run_dir / "preprocessing.json").read_text())
    assert spec["target"]["name"] == "2021"
    training = frame.iloc[:90]["2021"]
    assert spec["target"]["mean"] == pytest.approx(training.mean())
    assert spec["target"]["std"] == pytest.approx(training.std(ddof=0), rel=1e-6)
    assert [c["name"] for c in spec["numeric"]] == ["a"]
    assert [c["name"] for c in spec["categorical"]] == ["7"]
    # true is no column name: still refused.
    config = tiny_config(data={"source": "synthetic:regression", "target": True})
    with pytest.raises(ConfigError, match=r"data\.target: Input should be a valid string"):
        validate_config(config)
