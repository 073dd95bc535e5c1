"""A classifier that predicts none of the held-out rows as a class those rows hold: on a table
with 5% positives an unweighted loss left P(positive) below 0.5 on every row, recall 0, and
the run said nothing while its summary line showed accuracy 0.95."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn import metrics

from tests.helpers import cli_in_one_process, run_cli, tiny_config


def _table(path: Path, labels: np.ndarray, seed: int) -> None:
    """Rows whose first column moves the label a little: enough for the probabilities to
    rank the rare rows, too little for any to pass 0.5."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(labels), 3))
    x[:, 0] += np.isin(labels, ["yes", "c"]) * 0.5
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["label"] = labels
    frame.to_csv(path, index=False)


def _config(tmp_path: Path, task: str, train: np.ndarray, validation: np.ndarray) -> dict:
    _table(tmp_path / "train.csv", train, seed=0)
    _table(tmp_path / "validation.csv", validation, seed=1)
    config = tiny_config(
        task,
        data={
            "source": str(tmp_path / "train.csv"),
            "validation": str(tmp_path / "validation.csv"),
            "target": "label",
        },
        output_dir=str(tmp_path / "runs"),
    )
    config["data"].pop("synthetic")
    # Trained until P(rare) has settled near its base rate (about 0.05).
    config["training"] = {
        "epochs": 40,
        "batch_size": 64,
        "optimizer": {"name": "adam", "learning_rate": 0.02},
    }
    return config


def _predicted(cli, run: Path, tmp_path: Path) -> pd.DataFrame:
    out = tmp_path / "predictions.csv"
    result = cli("predict", run, "--input", tmp_path / "validation.csv", "--output", out)
    assert result.returncode == 0, result.stderr
    return pd.read_csv(out)


def _warnings(result) -> list[str]:
    assert result.returncode == 0, result.stderr
    record = json.loads((Path(result.stdout.strip().splitlines()[-1]) / "run.json").read_text())
    return [w for w in record.get("warnings", []) if "predicts no" in w]


def _rare_yes() -> tuple[np.ndarray, np.ndarray]:
    """Training labels with about 5% 'yes', and validation labels with 12 'yes' of 200."""
    rng = np.random.default_rng(2)
    train = np.where(rng.random(600) < 0.05, "yes", "no")
    return train, np.array(["yes"] * 12 + ["no"] * 188)


@pytest.fixture(scope="module")
def rare_yes_run(tmp_path_factory) -> dict:
    """The unweighted binary classifier on the rare-'yes' table, trained once by ``toolkit
    train`` in a fresh process for the two tests that check it (the same config and data
    each trained before), then every predict and evaluate they check, run in one further
    fresh process (TensorFlow started once): by name, each command's answer."""
    folder = tmp_path_factory.mktemp("rare-yes")
    train, validation = _rare_yes()
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump(_config(folder, "binary", train, validation)))
    trained = run_cli("train", config)
    assert trained.returncode == 0, trained.stderr
    run = Path(trained.stdout.strip().splitlines()[-1])
    # Other rows: 20 of the rare class among 80; and rows that hold none of it.
    _table(folder / "new.csv", np.array(["yes"] * 20 + ["no"] * 60), seed=5)
    _table(folder / "common.csv", np.array(["no"] * 50), seed=6)
    calls = {
        "predicted": ["predict", run, "--input", folder / "validation.csv", "--output"],
        "held_out": ["evaluate", run],
        "evaluated": ["evaluate", run, "--data", folder / "new.csv"],
        "predicted_new": ["predict", run, "--input", folder / "new.csv", "--output"],
        "without": ["evaluate", run, "--data", folder / "common.csv"],
    }
    calls["predicted"].append(folder / "predictions.csv")
    calls["predicted_new"].append(folder / "predictions-new.csv")
    answers = cli_in_one_process(*calls.values())
    return {
        "folder": folder,
        "train": train,
        "trained": trained,
        **dict(zip(calls, answers, strict=True)),
    }


def test_a_binary_classifier_that_never_predicts_the_rare_class_says_so(rare_yes_run):
    result, train, folder = rare_yes_run["trained"], rare_yes_run["train"], rare_yes_run["folder"]
    warnings = _warnings(result)

    # Independently of the toolkit's metrics: its own predictions, counted with NumPy.
    predicted = rare_yes_run["predicted"]
    assert predicted.returncode == 0, predicted.stderr
    predictions = pd.read_csv(folder / "predictions.csv")
    truth = pd.read_csv(folder / "validation.csv")["label"].to_numpy()
    assert np.sum(predictions["prediction"].to_numpy() == "yes") == 0
    rows = int(np.sum(truth == "yes"))
    auc = metrics.roc_auc_score(truth == "yes", predictions["probability_yes"])
    share = 100 * np.mean(train == "yes")
    assert warnings == [
        f"the model predicts no validation row as class 'yes' ({rows} rows; {share:.2g}% of "
        "the training rows): recall 0; the "
        f"probabilities still rank its rows with ROC AUC {auc:.2f}, but never make it the "
        "more likely class; to weigh each class alike in the training loss set "
        "training.class_weight: balanced"
    ]
    assert f"; warning: {warnings[0]}" in result.stderr


def test_no_warning_once_class_weight_is_set(cli, write_config, tmp_path):
    train, validation = _rare_yes()
    config = _config(tmp_path, "binary", train, validation)
    config["training"]["class_weight"] = {"no": 1.0, "yes": 1.0}  # set, even if a no-op
    result = cli("train", write_config(config))
    assert _warnings(result) == []
    assert "predicts no" not in result.stderr
    # Silent because class_weight is set: the model still predicts no 'yes'.
    run = Path(result.stdout.strip().splitlines()[-1])
    assert np.sum(_predicted(cli, run, tmp_path)["prediction"].to_numpy() == "yes") == 0


def test_a_multiclass_class_never_predicted_is_named_unless_the_split_lacks_it(
    cli, write_config, tmp_path
):
    """'c' (rare, in the validation file) is named; 'd' (rare, never predicted, but with no
    validation rows) is not: its recall there is undefined, not 0."""
    rng = np.random.default_rng(3)
    train = rng.choice(["a", "b", "c", "d"], size=600, p=[0.48, 0.45, 0.04, 0.03])
    validation = np.array(["a"] * 100 + ["b"] * 90 + ["c"] * 10)
    result = cli("train", write_config(_config(tmp_path, "multiclass", train, validation)))
    warnings = _warnings(result)

    run = Path(result.stdout.strip().splitlines()[-1])
    predicted = _predicted(cli, run, tmp_path)["prediction"].to_numpy()
    truth = pd.read_csv(tmp_path / "validation.csv")["label"].to_numpy()
    counts = {name: int(np.sum(predicted == name)) for name in "abcd"}
    assert counts["c"] == counts["d"] == 0, counts
    assert counts["a"] > 0 and counts["b"] > 0, counts
    rows, share = int(np.sum(truth == "c")), 100 * np.mean(train == "c")
    assert warnings == [
        f"the model predicts no validation row as class 'c' ({rows} rows; {share:.2g}% of the "
        "training rows): recall 0; to weigh each class alike in the training loss set "
        "training.class_weight: balanced"
    ]


def test_evaluate_gives_the_warning_of_the_rows_it_scores(rare_yes_run):
    """toolkit evaluate said nothing where training warned: the same line, of the run's
    held-out split without --data and of the file's rows with it; none for rows that hold
    no row of the rare class."""
    folder, train = rare_yes_run["folder"], rare_yes_run["train"]
    trained_warning = _warnings(rare_yes_run["trained"])

    held_out = rare_yes_run["held_out"]
    assert held_out.returncode == 0, held_out.stderr
    assert held_out.stderr.splitlines() == [f"toolkit: warning: {trained_warning[0]}"]

    # Other rows: 20 of the rare class among 80, scored and counted here with NumPy.
    evaluated = rare_yes_run["evaluated"]
    assert evaluated.returncode == 0, evaluated.stderr
    predicted = rare_yes_run["predicted_new"]
    assert predicted.returncode == 0, predicted.stderr
    predictions = pd.read_csv(folder / "predictions-new.csv")
    truth = pd.read_csv(folder / "new.csv")["label"].to_numpy()
    assert np.sum(predictions["prediction"].to_numpy() == "yes") == 0
    auc = metrics.roc_auc_score(truth == "yes", predictions["probability_yes"])
    share = 100 * np.mean(train == "yes")
    assert evaluated.stderr.splitlines() == [
        "toolkit: warning: the model predicts no row of --data as class 'yes' "
        f"({int(np.sum(truth == 'yes'))} rows; {share:.2g}% of the training rows): recall 0; "
        f"the probabilities still rank its rows with ROC AUC {auc:.2f}, but never make it "
        "the more likely class; to weigh each class alike in the training loss set "
        "training.class_weight: balanced"
    ]

    without = rare_yes_run["without"]
    assert without.returncode == 0, without.stderr
    assert "predicts no" not in without.stderr
