"""Bad configs through the real CLI: exit 2, one line naming the key and what is allowed.

Every case runs ``toolkit train --output-dir`` (or ``toolkit validate``) in a fresh process and
checks that nothing was written: configs are validated before any run directory exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.helpers import tiny_config
from tests.reliability._support import (
    assert_nothing_written,
    assert_one_line_error,
    with_values,
    write_yaml,
)


@dataclass(frozen=True)
class Case:
    """One bad config: changes to the tiny config (or raw YAML), extra CLI args, expectations."""

    fragments: tuple[str, ...]
    values: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    command: str = "train"


BINARY = {"data.source": "synthetic:binary", "model.task": "binary"}
SEARCH = {"algorithm": "random", "max_trials": 2}

CASES = [
    # Unknown keys and mistyped names.
    pytest.param(
        Case(("'modle'", "did you mean 'model'", "allowed:"), {"modle": {"task": "regression"}}),
        id="unknown-top-level-key",
    ),
    pytest.param(
        Case(
            ("training.epoch", "unknown key 'epoch'", "did you mean 'epochs'"),
            {"training.epoch": 3},
        ),
        id="unknown-nested-key",
    ),
    pytest.param(
        Case(
            ("training.optimizer", "unknown optimizer 'adamm'", "did you mean 'adam'", "sgd"),
            {"training.optimizer": {"name": "adamm"}},
        ),
        id="mistyped-optimizer",
    ),
    pytest.param(
        Case(
            ("optimizer 'sgd' takes no argument 'momentun'", "did you mean 'momentum'", "allowed:"),
            {"training.optimizer": {"name": "sgd", "momentun": 0.9}},
        ),
        id="mistyped-optimizer-argument",
    ),
    pytest.param(
        Case(
            ("model.activation", "unknown activation 'rleu'", "did you mean 'relu'", "gelu"),
            {"model.activation": "rleu"},
        ),
        id="mistyped-activation",
    ),
    pytest.param(
        Case(
            ("model.hidden.0.activation", "unknown activation 'geluu'", "did you mean 'gelu'"),
            {"model.hidden": [{"units": 8, "activation": "geluu"}]},
        ),
        id="mistyped-block-activation",
    ),
    pytest.param(
        Case(
            ("model.loss", "unknown loss 'mean_squard_error'", "mean_squared_error"),
            {"model.loss": "mean_squard_error"},
        ),
        id="mistyped-loss",
    ),
    pytest.param(
        Case(
            ("data.source", "unknown dataset 'diabetis'", "did you mean 'diabetes'", "digits"),
            {"data.source": "sklearn:diabetis"},
        ),
        id="mistyped-dataset",
    ),
    pytest.param(
        Case(
            ("data.source", "unknown data source 'data.txt'", ".csv"), {"data.source": "data.txt"}
        ),
        id="unknown-source-format",
    ),
    pytest.param(
        Case(("model.task", "'regression', 'binary' or 'multiclass'"), {"model.task": "regresion"}),
        id="mistyped-task",
    ),
    pytest.param(
        Case(
            ("model.initializer", "unknown initializer 'he_norml'", "did you mean 'he_normal'"),
            {"model.initializer": "he_norml"},
        ),
        id="mistyped-initializer",
    ),
    pytest.param(
        Case(
            ("training.lr_schedule", "unknown learning-rate schedule 'cosin'", "cosine"),
            {"training.lr_schedule": {"name": "cosin"}},
        ),
        id="mistyped-schedule",
    ),
    pytest.param(
        Case(
            ("callbacks.early_stopping.monitor", "'val_acc'", "allowed:", "val_loss"),
            {"callbacks.early_stopping": {"monitor": "val_acc"}},
        ),
        id="unknown-monitor",
    ),
    pytest.param(
        Case(
            ("model", "metric 'accuracy' does not fit task 'regression'", "mae"),
            {"model.metrics": ["accuracy"]},
        ),
        id="metric-of-another-task",
    ),
    # Wrong types.
    pytest.param(
        Case(("training.epochs", "valid integer", "'ten'"), {"training.epochs": "ten"}),
        id="epochs-not-a-number",
    ),
    pytest.param(
        Case(("training.batch_size", "integer", "3.5"), {"training.batch_size": 3.5}),
        id="batch-size-fractional",
    ),
    pytest.param(
        Case(("model.hidden", "list of layer widths", "'64,32'"), {"model.hidden": "64,32"}),
        id="hidden-not-a-list",
    ),
    pytest.param(
        Case(("data.features", "valid list", "'x0'"), {"data.features": "x0"}),
        id="features-not-a-list",
    ),
    pytest.param(
        Case(
            ("callbacks.csv_logger", "valid boolean", "'maybe'"), {"callbacks.csv_logger": "maybe"}
        ),
        id="boolean-not-a-boolean",
    ),
    pytest.param(
        # A boolean or a word: the words must be named, not only "a valid boolean".
        Case(
            ("data.streaming", "should be true, false or 'auto'", "'maybe'"),
            {"data.streaming": "maybe"},
        ),
        id="streaming-neither-a-boolean-nor-auto",
    ),
    pytest.param(
        # A word or a number: the word and the number's range, not only "less than 1".
        Case(
            ("prediction.conformal.calibration", "'validation' or a number > 0 and < 1", "1.2"),
            {"prediction.conformal": {"method": "split", "calibration": 1.2}},
        ),
        id="calibration-fraction-above-one",
    ),
    pytest.param(
        Case(
            ("prediction.conformal.calibration", "'validation' or a number > 0 and < 1", "'valid'"),
            {"prediction.conformal": {"method": "split", "calibration": "valid"}},
        ),
        id="calibration-neither-word-nor-number",
    ),
    pytest.param(
        Case(
            ("model.bayesian.kl_weight", "'auto' or a number > 0", "-1"),
            {"model.bayesian": {"layers": "output", "kl_weight": -1}},
        ),
        id="kl-weight-negative",
    ),
    # Zero, negative and out-of-range numbers.
    pytest.param(
        Case(("training.epochs", "greater than 0", "got 0"), {"training.epochs": 0}),
        id="zero-epochs",
    ),
    pytest.param(
        Case(("training.batch_size", "greater than 0", "-8"), {"training.batch_size": -8}),
        id="negative-batch-size",
    ),
    pytest.param(
        Case(("model.hidden.0: Input", "greater than 0", "got 0"), {"model.hidden": [0]}),
        id="zero-width-layer",
    ),
    pytest.param(
        Case(("model.hidden.1: Input", "greater than 0", "-4"), {"model.hidden": [8, -4]}),
        id="negative-width-layer",
    ),
    pytest.param(
        Case(("model.dropout", "less than 1", "1.0"), {"model.dropout": 1.0}),
        id="dropout-one",
    ),
    pytest.param(
        Case(("model.dropout", "greater than or equal to 0", "-0.1"), {"model.dropout": -0.1}),
        id="dropout-negative",
    ),
    pytest.param(
        Case(
            ("model.hidden.0.dropout", "less than 1", "1.5"),
            {"model.hidden": [{"units": 8, "dropout": 1.5}]},
        ),
        id="block-dropout-above-one",
    ),
    pytest.param(
        Case(
            ("training.optimizer.learning_rate", "greater than 0", "got 0"),
            {"training.optimizer": {"name": "adam", "learning_rate": 0}},
        ),
        id="learning-rate-zero",
    ),
    pytest.param(
        Case(
            ("training.optimizer.learning_rate", "greater than 0", "-0.01"),
            {"training.optimizer": {"name": "adam", "learning_rate": -0.01}},
        ),
        id="learning-rate-negative",
    ),
    pytest.param(
        Case(("data.validation", "less than 1", "1.5"), {"data.validation": 1.5}),
        id="validation-fraction-above-one",
    ),
    pytest.param(
        Case(("seed", "greater than or equal to 0", "-1"), {"seed": -1}),
        id="negative-seed",
    ),
    pytest.param(
        Case(("name", "pattern", "../escape"), {"name": "../escape"}),
        id="name-with-path-separators",
    ),
    # Malformed hidden lists ([] is a linear model: the head on the inputs).
    pytest.param(
        Case(("model.hidden.0", "greater than 0", "got 0"), {"model.hidden": [0]}),
        id="hidden-width-zero",
    ),
    pytest.param(
        Case(
            ("model.hidden", "entry 1", "positive integer or a mapping", "'wide'"),
            {"model.hidden": [8, "wide"]},
        ),
        id="hidden-entry-a-string",
    ),
    pytest.param(
        Case(("model.hidden", "entry 0", "True"), {"model.hidden": [True]}),
        id="hidden-entry-a-boolean",
    ),
    pytest.param(
        Case(
            ("model.hidden.0", "'width'", "allowed:", "units"),
            {"model.hidden": [{"width": 8}]},
        ),
        id="hidden-block-unknown-key",
    ),
    # Combinations that do not fit together.
    pytest.param(
        Case(
            ("model", "loss 'mse' does not fit task 'binary'", "allowed:", "binary_crossentropy"),
            {**BINARY, "model.loss": "mse"},
        ),
        id="loss-does-not-fit-task",
    ),
    pytest.param(
        Case(
            ("model", "head 'gaussian' needs task 'regression'", "got task 'binary'"),
            {**BINARY, "model.head": "gaussian"},
        ),
        id="gaussian-head-on-classifier",
    ),
    pytest.param(
        Case(
            ("model.task 'binary'", "synthetic:regression", "regression dataset"),
            {"model.task": "binary"},
        ),
        id="task-does-not-fit-dataset",
    ),
    pytest.param(
        Case(("mc_dropout needs dropout > 0",), {"model.mc_dropout": True}),
        id="mc-dropout-without-dropout",
    ),
    pytest.param(
        Case(
            ("tuner.search_space", "model.hiden"),
            {"tuner": {**SEARCH, "search_space": {"model.hiden": {"int": [8, 32]}}}},
            command="validate",
        ),
        id="search-space-path-does-not-exist",
    ),
    pytest.param(
        Case(
            ("tuner.search_space", "model.dropout", "less than 1"),
            {"tuner": {**SEARCH, "search_space": {"model.dropout": {"float": [0.0, 1.5]}}}},
            command="validate",
        ),
        id="search-space-range-outside-the-schema",
    ),
    # Files: YAML syntax, extends, the file itself.
    pytest.param(
        Case(
            ("invalid YAML", ":4", "expected ',' or ']'"),
            text="name: x\nmodel:\n  hidden: [8, 16\nseed: 1\n",
        ),
        id="invalid-yaml",
    ),
    pytest.param(
        Case(("duplicate key 'seed'", ":3"), text="name: x\nseed: 1\nseed: 2\n"),
        id="duplicate-key",
    ),
    pytest.param(Case(("config file is empty",), text="# nothing\n"), id="empty-file"),
    pytest.param(
        Case(("expected a mapping of keys at the top", "list"), text="- name: x\n"),
        id="top-level-list",
    ),
    pytest.param(
        Case(("data", "required key is missing"), text="name: x\nmodel: {task: regression}\n"),
        id="missing-required-section",
    ),
    pytest.param(
        Case(("extends: file not found", "base.yaml"), {"extends": "base.yaml"}),
        id="missing-extends-file",
    ),
    pytest.param(
        Case(
            ("extends: cycle of config files", "other.yaml", "config.yaml"),
            {"extends": "other.yaml"},
            files={"other.yaml": "extends: config.yaml\nseed: 3\n"},
        ),
        id="extends-cycle",
    ),
    pytest.param(
        Case(("extends: expected a path or a list of paths",), {"extends": {"file": "a.yaml"}}),
        id="extends-not-a-path",
    ),
    pytest.param(
        Case(("cannot read config file",), text=None, files={"config.yaml": "\udcff"}),
        id="config-not-utf8",
    ),
    # YAML that made PyYAML or the loader raise something other than a YAML error: a
    # traceback (a NUL byte, a list as a key, [[[...]]] thousands deep).
    pytest.param(
        Case(
            ("config.yaml:2: invalid YAML", "control character U+0000"),
            text="name: x\nseed: 1\x00\n",
            command="validate",
        ),
        id="yaml-nul-character",
    ),
    pytest.param(
        Case(
            ("config.yaml:2: a key must be text, got a list",),
            text="name: x\n? [data, model]\n: 1\n",
            command="validate",
        ),
        id="yaml-list-as-key",
    ),
    # A YAML tree too big to walk: nine anchors of nine aliases each (300 bytes, 9**9 values
    # expanded) hung validate; an alias inside its anchor and deep nesting were a
    # RecursionError traceback.
    pytest.param(
        Case(
            ("config.yaml: invalid YAML: more than 1,000,000 values", "alias"),
            text="".join(
                f"l{level}: &l{level} [{', '.join([f'*l{level - 1}' if level else 'x'] * 9)}]\n"
                for level in range(9)
            )
            + "name: x\n",
            command="validate",
        ),
        id="yaml-alias-bomb",
    ),
    pytest.param(
        Case(
            ("config.yaml:2: invalid YAML: an alias (*name) inside its own anchor",),
            text="name: x\nloop: &loop [*loop]\n",
            command="validate",
        ),
        id="yaml-recursive-alias",
    ),
    pytest.param(
        Case(
            ("config.yaml", "invalid YAML: nested more than 64 levels deep"),
            text="name: x\ndescription: " + "[" * 600 + "]" * 600 + "\n",
            command="validate",
        ),
        id="yaml-nested-too-deep",
    ),
    pytest.param(
        Case(
            ("config.yaml: invalid YAML: nested more than 64 levels deep",),
            text="name: x\ndescription: " + "[" * 5000 + "]" * 5000 + "\n",
            command="validate",
        ),
        id="yaml-nested-beyond-the-parser",
    ),
    # Accepted silently before: a Bayesian section with no Bayesian layers (a plain network
    # trained, the section's settings unused) and a metric listed twice (mae and mae_1).
    *(
        pytest.param(
            Case(
                (
                    "model.bayesian.layers: 'none' would make a Bayesian model with no Bayesian "
                    "layers",
                    "drop model.bayesian",
                    "allowed: all, output",
                ),
                {"model.bayesian": {"layers": "none"}},
                command=command,
            ),
            id=f"bayesian-without-layers-{command}",
        )
        for command in ("train", "validate")
    ),
    *(
        pytest.param(
            Case(
                ("model.metrics: 'mae' is listed twice; list each metric once",),
                {"model.metrics": ["mae", "rmse", "mae"]},
                command=command,
            ),
            id=f"metric-listed-twice-{command}",
        )
        for command in ("train", "validate")
    ),
    *(
        pytest.param(
            # validate said "valid"; train refused it only after reading the data.
            Case(
                ("data: features lists the target column 'target'", "remove it from data.features"),
                {"data.features": ["x0", "target"]},
                command=command,
            ),
            id=f"target-listed-as-feature-{command}",
        )
        for command in ("train", "validate")
    ),
    # A column named 'yes' or 'null': "got True" alone did not say YAML took the text.
    pytest.param(
        Case(
            (
                "--set data.target=yes",
                "data.target: Input should be a valid string, got True",
                "YAML reads unquoted yes, no, on, off, true and false as booleans",
                "quote",
            ),
            args=("--set", "data.target=yes"),
            command="validate",
        ),
        id="set-target-named-yes",
    ),
    pytest.param(
        Case(
            ("data.features.1: Input should be a valid string, got None", "null and ~ as nothing"),
            {"data.features": ["x0", None]},
        ),
        id="feature-named-null",
    ),
    # --set overrides.
    pytest.param(
        Case(
            ("--set model.hiden=3", "unknown key 'hiden'", "did you mean 'hidden'", "allowed:"),
            args=("--set", "model.hiden=3"),
        ),
        id="set-unknown-key",
    ),
    pytest.param(
        Case(
            ("--set model.hidden.5=3", "index 5 out of range", "the list has 1 item)"),
            args=("--set", "model.hidden.5=3"),
        ),
        id="set-index-out-of-range",
    ),
    pytest.param(
        Case(("--set epochs", "expected KEY=VALUE"), args=("--set", "epochs")),
        id="set-without-value",
    ),
    pytest.param(
        Case(
            ("--set seed.value=3", "cannot set a key inside seed"), args=("--set", "seed.value=3")
        ),
        id="set-inside-a-scalar",
    ),
    pytest.param(
        Case(
            ("--set training.epochs=-1", "training.epochs", "greater than 0"),
            args=("--set", "training.epochs=-1"),
        ),
        id="set-invalid-value",
    ),
    pytest.param(
        # YAML reads {yes:5} as the key 'yes:5' with no value: "'yes:5': expected a positive
        # number, got None" did not say that a space after the colon was missing.
        Case(
            (
                "--set training.class_weight={yes:5}: 'yes:5' is read as a key with no value",
                "space after the colon, {yes: 5}",
            ),
            args=("--set", "training.class_weight={yes:5}"),
            command="validate",
        ),
        id="set-flow-mapping-colon-without-space",
    ),
    pytest.param(
        Case(
            (
                "config.yaml:4: 'model.dropout:0.1' is read as a key with no value",
                "{model.dropout: 0.1}",
            ),
            text="name: x\ndata: {source: synthetic:regression}\nmodel: {task: regression}\n"
            "tuner: {search_space: {model.dropout:0.1}}\n",
            command="validate",
        ),
        id="file-flow-mapping-colon-without-space",
    ),
    pytest.param(
        # A RecursionError traceback: --set values were read by yaml.safe_load unmeasured.
        Case(
            ("--set description=[[[", "value is not valid YAML"),
            args=("--set", "description=" + "[" * 5000 + "]" * 5000),
            command="validate",
        ),
        id="set-value-nested-too-deep",
    ),
    pytest.param(
        # validate accepted it; train was a ValueError traceback when Keras made it a float32.
        Case(
            ("callbacks.early_stopping: min_delta: 1e+300", "beyond float32's range"),
            {"callbacks.early_stopping": {"min_delta": 1e300}},
        ),
        id="number-beyond-float32",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_bad_config_is_one_clear_line_and_leaves_nothing(case: Case, cli, tmp_path):
    config = tmp_path / "config.yaml"
    for name, text in case.files.items():
        if "\udcff" in text:  # not UTF-8: raw bytes
            (tmp_path / name).write_bytes(b"name: \xff\xfe\x00bad\n")
        else:
            (tmp_path / name).write_text(text)
    if case.text is not None:
        config.write_text(case.text)
    elif not config.exists():
        write_yaml(config, with_values(tiny_config(), case.values))
    out = tmp_path / "out"
    if case.command == "train":
        result = cli("train", config, *case.args, "--output-dir", out, cwd=tmp_path)
    else:
        result = cli(case.command, config, *case.args, cwd=tmp_path)
    assert_one_line_error(result, *case.fragments)
    assert_nothing_written(out)
    assert not (tmp_path / "experiments").exists()


def test_missing_config_file(cli, tmp_path):
    result = cli("train", tmp_path / "nope.yaml", "--output-dir", tmp_path / "out", cwd=tmp_path)
    assert_one_line_error(result, "nope.yaml", "config file not found")
    assert_nothing_written(tmp_path / "out")


def test_the_catalogue_has_at_least_25_distinct_cases():
    assert len({param.id for param in CASES}) == len(CASES) >= 25


def test_a_run_directory_in_place_of_a_config_names_its_config(cli, tmp_path):
    # `toolkit train RUN_DIR` said "cannot read config file ([Errno 21] Is a directory: ...)".
    run = tmp_path / "experiments" / "demo" / "20261206-000000-000000-abcd"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("name: demo\n")
    result = cli("train", run, "--output-dir", tmp_path / "out", cwd=tmp_path)
    assert_one_line_error(
        result,
        f"{run} is a directory, not a config file: a run's config is {run / 'config.yaml'}",
        f"toolkit train --resume {run} continues a stopped run",
    )
    assert "Errno" not in result.stderr
    assert_nothing_written(tmp_path / "out")
