"""``training.class_weight``: a classifier's training loss weighted by class, checked against
scikit-learn's weighted logistic regression on the same rows (a network without hidden
blocks is one), and its mistakes refused in one line before any run exists."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.utils.class_weight import compute_class_weight

from tests.helpers import cli_in_one_process, tiny_config


def _imbalanced(path, n: int, seed: int) -> pd.DataFrame:
    """One informative column, about 1 row in 10 'yes'."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    p = 1 / (1 + np.exp(-(1.5 * x - 3.0)))
    frame = pd.DataFrame({"x": x, "churn": np.where(rng.random(n) < p, "yes", "no")})
    frame.to_csv(path, index=False)
    return frame


def _logistic_config(tmp_path, weights) -> dict:
    """A logistic regression trained to convergence on every row of train.csv: full batches,
    no penalty, no early stopping (the validation loss is unweighted), no temperature."""
    train = _imbalanced(tmp_path / "train.csv", 400, seed=0)
    _imbalanced(tmp_path / "validation.csv", 100, seed=1)
    config = tiny_config(
        "binary",
        data={
            "source": str(tmp_path / "train.csv"),
            "validation": str(tmp_path / "validation.csv"),
            "target": "churn",
        },
        model={"task": "binary", "hidden": []},
        training={
            "epochs": 300,
            "batch_size": len(train),
            "optimizer": {"name": "adam", "learning_rate": 0.1},
            "class_weight": weights,
        },
        callbacks={
            "early_stopping": False,
            "tensorboard": False,
            "learning_curve": False,
            "checkpoint": False,
            "backup_and_restore": False,
        },
        output_dir=str(tmp_path / "runs"),
    )
    config["data"].pop("synthetic")
    return config


# By id: the toolkit's training.class_weight and scikit-learn's class_weight for the same.
WEIGHTINGS = {"balanced": ("balanced", "balanced"), "yes-3": ({"yes": 3.0}, {1: 3.0})}


@pytest.fixture(scope="module")
def weighted_runs(tmp_path_factory) -> dict:
    """Each weighting of WEIGHTINGS trained by ``toolkit train`` (a folder and data of its
    own each), both in one fresh process; then report and predict of each run in a second
    (TensorFlow started once per process, not once per command). By id: the folder and the
    answers of train, report and predict, each checked as from a process of its own."""
    folders, trains = {}, []
    for key, (weights, _) in WEIGHTINGS.items():
        folder = folders[key] = tmp_path_factory.mktemp(f"weighted-{key}")
        path = folder / "config.yaml"
        path.write_text(yaml.safe_dump(_logistic_config(folder, weights), sort_keys=False))
        trains.append((["train", path], folder))
    trained = dict(zip(WEIGHTINGS, cli_in_one_process(*trains), strict=True))
    calls = []
    for key, folder in folders.items():
        assert trained[key].returncode == 0, trained[key].stderr
        run = trained[key].stdout.strip().splitlines()[-1]
        pd.read_csv(folder / "train.csv")[["x"]].to_csv(folder / "rows.csv", index=False)
        calls += [
            ["report", run],
            ["predict", run, "--input", folder / "rows.csv", "--output", folder / "p.csv"],
        ]
    answers = iter(cli_in_one_process(*calls))
    return {
        key: (folder, trained[key], next(answers), next(answers)) for key, folder in folders.items()
    }


@pytest.mark.parametrize("key", list(WEIGHTINGS))
def test_weighted_training_matches_scikit_learns_weighted_logistic_regression(weighted_runs, key):
    weights, sklearn_weights = WEIGHTINGS[key]
    folder, result, reported, predicted = weighted_runs[key]
    assert result.returncode == 0, result.stderr
    run = result.stdout.strip().splitlines()[-1]

    rows = pd.read_csv(folder / "train.csv")
    labels = (rows["churn"] == "yes").astype(int).to_numpy()
    expected = dict(
        zip(
            ["no", "yes"],
            compute_class_weight("balanced", classes=np.array([0, 1]), y=labels),
            strict=True,
        )
    )
    if weights != "balanced":
        expected = {"no": 1.0, "yes": 3.0}
    record = json.loads((Path(run) / "run.json").read_text())
    assert record["class_weight"] == pytest.approx(expected, rel=1e-6)

    # report and predict ran in one fresh process (the fixture's second): their answers are
    # checked as from processes of their own.
    assert reported.returncode == 0, reported.stderr
    shown = ", ".join(f"{label} {weight:.4g}" for label, weight in expected.items())
    report = (Path(run) / "report.md").read_text()
    assert f"- **class weights (training loss)**: {shown}" in report

    assert predicted.returncode == 0, predicted.stderr
    ours = pd.read_csv(folder / "p.csv")["probability_yes"].to_numpy()
    reference = LogisticRegression(C=1e6, class_weight=sklearn_weights, max_iter=10_000)
    theirs = reference.fit(rows[["x"]], labels).predict_proba(rows[["x"]])[:, 1]
    assert np.abs(ours - theirs).max() < 1e-3
    # The weighting moved the probabilities: unweighted, the mean is the base rate.
    assert theirs.mean() > labels.mean() + 0.05


# Each mistake with (part of) the line that refuses it.
WRONG_CLASS_WEIGHTS = [
    (
        {"training": {"class_weight": {True: 5}}},
        "toolkit: error: training.class_weight: 'True' is not a class of target 'churn'; "
        "YAML reads unquoted yes, no, on and off as true and false: quote the labels "
        "('yes': 5); classes: no, yes",
    ),
    (
        {"training": {"class_weight": {"yse": 5}}},
        "toolkit: error: training.class_weight: 'yse' is not a class of target 'churn' "
        "(did you mean 'yes'?); classes: no, yes",
    ),
    (
        {"model": {"task": "regression"}, "training": {"class_weight": "balanced"}},
        "training.class_weight weighs the classes of a classifier (model.task binary or "
        "multiclass); a regression target has none",
    ),
    (
        {"training": {"class_weight": "Balanced"}},
        "training.class_weight: expected 'balanced' or a mapping {label: weight, ...}, got "
        "'Balanced' (did you mean 'balanced'?)",
    ),
    (
        {"training": {"class_weight": {"yes": 0}}},
        "training.class_weight: 'yes': expected a positive number, got 0",
    ),
]


@pytest.fixture(scope="module")
def wrong_class_weights(tmp_path_factory) -> dict:
    """Every mistake in WRONG_CLASS_WEIGHTS trained by ``toolkit train`` (a folder and data
    of its own each), all in one fresh process: its answer and output_dir, by message."""
    answers, calls = {}, []
    for index, (overrides, message) in enumerate(WRONG_CLASS_WEIGHTS):
        folder = tmp_path_factory.mktemp(f"wrong-{index}")
        config = _logistic_config(folder, None)
        for section, values in overrides.items():
            config[section] = {**config[section], **values}
        path = folder / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        calls.append((["train", path], folder))
        answers[message] = folder / "runs"
    results = cli_in_one_process(*calls)
    return {
        message: (result, runs)
        for (message, runs), result in zip(answers.items(), results, strict=True)
    }


@pytest.mark.parametrize(("overrides", "message"), WRONG_CLASS_WEIGHTS)
def test_a_wrong_class_weight_is_one_line_and_no_run(wrong_class_weights, overrides, message):
    result, runs = wrong_class_weights[message]
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not runs.exists()


def test_a_label_that_is_no_class_is_refused_before_tensorflow_starts(write_config, tmp_path):
    """train read the data, then started TensorFlow (about 3 s of CPU) before refusing a
    class_weight label the target does not hold; the data tells, so it refuses first now."""
    from tests.helpers import cli_without_tensorflow

    path = write_config(_logistic_config(tmp_path, {"yse": 5}))
    result = cli_without_tensorflow((["train", path], 2))
    assert result.stderr == (
        "toolkit: error: training.class_weight: 'yse' is not a class of target 'churn' "
        "(did you mean 'yes'?); classes: no, yes\n"
    )
    assert not (tmp_path / "runs").exists()


def test_validate_refuses_a_class_weight_label_the_data_does_not_hold(tmp_path):
    """validate said "valid" for {cat: 2.0} on labels dog and bird, which train refused: it
    reads the target of a scikit-learn dataset, a CSV file (compressed too) or a Parquet
    file, without TensorFlow, and refuses with train's line; train's own check agrees, and
    a label the data holds is valid."""
    from tests.helpers import cli_without_tensorflow

    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x": rng.normal(size=60), "animal": rng.choice(["dog", "bird"], 60)})
    frame.to_csv(tmp_path / "pets.csv", index=False)
    frame.to_csv(tmp_path / "pets.csv.gz", index=False)
    frame.to_parquet(tmp_path / "pets.parquet")
    calls, expected = [], []

    def add(name: str, data: dict, task: str, weights: dict, code: int, line: str) -> None:
        config = tiny_config(task, data=data, training={"class_weight": weights})
        config["data"].pop("synthetic")
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        calls.append((["validate", path], code))
        expected.append(line)

    refused = (
        "toolkit: error: training.class_weight: 'cat' is not a class of target 'animal'; "
        "classes: bird, dog"
    )
    for source in ("pets.csv", "pets.csv.gz", "pets.parquet"):
        data = {"source": str(tmp_path / source), "target": "animal"}
        add(source, data, "binary", {"cat": 2.0}, 2, refused)
    add(
        "pets-valid",
        {"source": str(tmp_path / "pets.csv"), "target": "animal"},
        "binary",
        {"dog": 2.0},
        0,
        "valid",
    )
    # The labels scikit-learn's frame holds (not the toolkit's reading of them).
    from sklearn.datasets import load_iris

    iris = sorted(load_iris().target_names)
    add(
        "iris",
        {"source": "sklearn:iris"},
        "multiclass",
        {"rose": 2.0},
        2,
        "toolkit: error: training.class_weight: 'rose' is not a class of target 'target'; "
        f"classes: {', '.join(iris)}",
    )
    result = cli_without_tensorflow(*calls)
    lines = [line for line in result.stdout.splitlines() + result.stderr.splitlines() if line]
    for line in expected:
        assert any(line in answer for answer in lines), (line, result.stdout, result.stderr)
    assert sum("toolkit: error" in line for line in lines) == 4, lines
    # train refuses the same label with the same line.
    train = cli_in_one_process(["train", tmp_path / "pets.csv.yaml"], without_tensorflow=True)
    assert train[0].returncode == 2 and train[0].stderr.strip() == refused


def test_a_repeat_groups_report_names_its_class_weights_and_positive_class(
    cli, write_config, tmp_path
):
    """report.md of ``--repeat 2`` showed the seeds' mean precision and recall with neither
    the weighted loss nor the class they score: run.json of a group holds neither."""
    config = _logistic_config(tmp_path, "balanced")
    config["data"]["positive_class"] = "yes"
    config["training"]["epochs"] = 2
    result = cli("train", write_config(config), "--repeat", "2")
    assert result.returncode == 0, result.stderr
    group = result.stdout.strip().splitlines()[-1]
    reported = cli("report", group)
    assert reported.returncode == 0, reported.stderr

    labels = (pd.read_csv(tmp_path / "train.csv")["churn"] == "yes").astype(int).to_numpy()
    no, yes = compute_class_weight("balanced", classes=np.array([0, 1]), y=labels)
    report = (Path(group) / "report.md").read_text()
    assert f"- **class weights (training loss)**: no {no:.4g}, yes {yes:.4g}\n" in report
    assert "- **positive class (precision, recall, f1, pr_auc)**: yes\n" in report
