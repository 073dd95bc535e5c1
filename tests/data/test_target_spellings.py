"""A classifier's target in ``toolkit evaluate --data`` is read as training read it.

Training reads a CSV with pandas, which parses a column of 'true'/'false' as booleans (classes
'True', 'False'); ``evaluate --data`` reads every column as text. The labels of the very file
training read must still be its classes, scored as predict's output of the same rows says.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, log_loss

from tests.helpers import cli_in_one_process, run_cli, tiny_config, train_via_cli
from tests.reliability._support import assert_one_line_error


@pytest.fixture(scope="module")
def true_false_run(tmp_path_factory) -> tuple[pd.DataFrame, Path]:
    """A binary run trained on a CSV target of 'true'/'false' (classes True, False), with
    the frame it was trained on."""
    tmp_path = tmp_path_factory.mktemp("true-false")
    rng = np.random.default_rng(11)
    rows = 160
    frame = pd.DataFrame({"a": rng.normal(size=rows).round(3), "b": rng.normal(size=rows).round(3)})
    frame["churned"] = np.where(frame["a"] + 0.3 * rng.normal(size=rows) > 0, "true", "false")
    source = tmp_path / "churn.csv"
    frame.to_csv(source, index=False)
    assert ",true\n" in source.read_text()
    config = tiny_config("binary", data={"source": str(source), "target": "churned"})
    config["data"].pop("synthetic")
    return frame, train_via_cli(tmp_path, config)


def test_evaluate_data_reads_a_true_false_target_as_the_classes_training_read(
    true_false_run, tmp_path
):
    frame, run = true_false_run
    held_out = tmp_path / "held_out.csv"
    frame.iloc[100:].to_csv(held_out, index=False)
    result = run_cli("evaluate", run, "--data", held_out)
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)["metrics"]
    assert scores["class_names"] == ["False", "True"]

    out = tmp_path / "predictions.csv"
    result = run_cli("predict", run, "--input", held_out, "--output", out)
    assert result.returncode == 0, result.stderr
    predicted = pd.read_csv(out)
    truth = frame["churned"].iloc[100:].to_numpy() == "true"
    assert scores["accuracy"] == accuracy_score(truth, predicted["prediction"].to_numpy())
    np.testing.assert_allclose(
        scores["log_loss"], log_loss(truth, predicted["probability_True"]), rtol=1e-4
    )


def test_evaluate_data_names_labels_of_another_type_than_the_runs(true_false_run, tmp_path):
    # 0/1 labels for a run trained on True/False were "classes not seen in training: 0, 1"
    # with the advice to drop those rows (every row); the line now names both kinds.
    frame, run = true_false_run
    coded = tmp_path / "coded.csv"
    frame.iloc[100:].assign(churned=(frame["churned"] == "true").astype(int)).to_csv(
        coded, index=False
    )
    # Some of the run's labels and one it never saw: a new class, named as before.
    renamed = tmp_path / "renamed.csv"
    part = frame.iloc[100:].copy()
    part.iloc[:3, part.columns.get_loc("churned")] = "maybe"
    part.to_csv(renamed, index=False)
    wrong_type, unseen = cli_in_one_process(
        ["evaluate", run, "--data", coded], ["evaluate", run, "--data", renamed]
    )
    assert_one_line_error(
        wrong_type,
        f"--data {coded}: labels 0, 1 in target column 'churned' (numbers) are not the run's "
        "labels False, True (booleans); recode the column",
    )
    assert_one_line_error(
        unseen,
        f"--data {renamed}: target column 'churned' has classes not seen in training: maybe;",
        "known: False, True",
    )


@pytest.mark.parametrize(
    ("classes", "label_type", "given", "words"),
    [
        (
            ["0", "1"],
            "int",
            [True, False],
            "labels False, True in target column 'y' (booleans) "
            "are not the run's labels 0, 1 (numbers)",
        ),
        (
            ["no", "yes"],
            "str",
            ["0", "1", "1"],
            "labels 0, 1 in target column 'y' (numbers) are not the run's labels no, yes (text)",
        ),
        # A run from before label_type: its kind is read from its labels; a label as spelt.
        (
            ["False", "True"],
            "str",
            ["1.0", "0"],
            "labels 0, 1.0 in target column 'y' (numbers) "
            "are not the run's labels False, True (booleans)",
        ),
    ],
    ids=["booleans-for-numbers", "numbers-for-text", "run-without-label-type"],
)
def test_labels_of_another_type_are_named_with_both_kinds(classes, label_type, given, words):
    from toolkit.data.preprocessing import FeatureSpec, classes_target, encode_target
    from toolkit.errors import DataError

    spec = FeatureSpec([], [], classes_target("y", "binary", classes, label_type))
    with pytest.raises(DataError) as caught:
        encode_target(pd.DataFrame({"y": given}), spec, what="data")
    assert str(caught.value) == f"data: {words}; recode the column to the run's labels"
