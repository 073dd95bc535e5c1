"""``data.positive_class``: the class a binary classifier's precision, recall, F1 and PR AUC
score. By default it is the second of the sorted labels, so a table labelled 'fraud'/'legit'
had its metrics scored on 'legit', the common class (recall near 1), while the rare class
went unreported but for one line of per-class accuracy."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from tests.cli_chain import RUN, cli_chain
from tests.helpers import tiny_config


def _fraud(path: Path, n: int = 400) -> pd.DataFrame:
    """Two informative columns, about 1 row in 9 'fraud'."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2))
    p = 1 / (1 + np.exp(-(2.0 * x[:, 0] + x[:, 1] - 3.0)))
    frame = pd.DataFrame(x, columns=["amount", "hour"])
    frame["label"] = np.where(rng.random(n) < p, "fraud", "legit")
    frame.to_csv(path, index=False)
    return frame


def _config(tmp_path: Path, **data) -> dict:
    _fraud(tmp_path / "rows.csv")
    config = tiny_config(
        "binary",
        data={"source": str(tmp_path / "rows.csv"), "target": "label", "test": 0.25, **data},
        output_dir=str(tmp_path / "runs"),
    )
    config["training"]["epochs"] = 20
    config["data"].pop("synthetic")
    return config


def test_the_common_class_as_positive_is_warned_of(write_config, tmp_path):
    # train, then report on its run, in one fresh process (one TensorFlow start-up).
    result, reported = cli_chain(["train", write_config(_config(tmp_path))], ["report", RUN])
    assert result.returncode == 0, result.stderr
    record = json.loads((Path(result.stdout.strip().splitlines()[-1]) / "run.json").read_text())
    [warning] = [w for w in record["warnings"] if "data.positive_class" in w]
    assert warning.startswith(
        "precision, recall, f1 and pr_auc score the positive class 'legit' (the second sorted "
        "label), which holds 8"
    )
    assert warning.endswith("to score the rare class set data.positive_class: fraud")
    assert f"; warning: {warning}" in result.stderr
    # The report's metrics table says which class its precision, recall, f1, pr_auc score.
    run = Path(result.stdout.strip().splitlines()[-1])
    assert reported.returncode == 0, reported.stderr
    assert reported.args[2] == str(run)
    assert (
        "- **positive class (precision, recall, f1, pr_auc)**: legit\n"
        in (run / "report.md").read_text()
    )


@pytest.mark.parametrize("streaming", [False, True])
def test_the_positive_class_is_scored_and_predicted(write_config, tmp_path, streaming):
    config = _config(tmp_path, positive_class="fraud", streaming=streaming)
    out = tmp_path / "predictions.csv"
    # train, then predict, evaluate and report on its run, in one fresh process.
    result, predicted, scored, reported = cli_chain(
        ["train", write_config(config)],
        ["predict", RUN, "--input", tmp_path / "rows.csv", "--output", out],
        ["evaluate", RUN, "--data", tmp_path / "rows.csv"],
        ["report", RUN],
    )
    assert result.returncode == 0, result.stderr
    run = Path(result.stdout.strip().splitlines()[-1])
    assert "data.positive_class" not in result.stderr
    assert json.loads((run / "data_summary.json").read_text())["target"]["classes"] == [
        "legit",
        "fraud",
    ]

    rows = pd.read_csv(tmp_path / "rows.csv")
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.args[2] == scored.args[2] == reported.args[2] == str(run)
    predictions = pd.read_csv(out)
    assert list(predictions.columns) == ["label", "prediction", "probability_fraud"]
    assert scored.returncode == 0, scored.stderr
    ours = json.loads(scored.stdout)["metrics"]

    y, p = (rows["label"] == "fraud").astype(int), predictions["probability_fraud"]
    predicted_labels = np.where(p >= 0.5, "fraud", "legit")
    assert (predicted_labels == predictions["prediction"]).all()
    kept = {"pos_label": "fraud", "zero_division": np.nan}
    expected = {
        "precision": metrics.precision_score(rows["label"], predicted_labels, **kept),
        "recall": metrics.recall_score(rows["label"], predicted_labels, **kept),
        "f1": metrics.f1_score(rows["label"], predicted_labels, **kept),
        "pr_auc": metrics.average_precision_score(y, p),
        "roc_auc": metrics.roc_auc_score(y, p),
    }
    for name, value in expected.items():
        if np.isnan(value):
            assert ours[name] is None, name
        else:
            assert ours[name] == pytest.approx(value, abs=1e-6), name
    # report.md names the class the metrics above were checked against.
    assert reported.returncode == 0, reported.stderr
    assert (
        "- **positive class (precision, recall, f1, pr_auc)**: fraud\n"
        in (run / "report.md").read_text()
    )


@pytest.mark.parametrize(
    ("data", "model", "message"),
    [
        (
            {"positive_class": "frod"},
            {},
            "toolkit: error: data.positive_class 'frod' is not a class of target 'label' (did "
            "you mean 'fraud'?); classes: fraud, legit",
        ),
        (
            {"positive_class": True},
            {},
            "toolkit: error: data.positive_class 'True' is not a class of target 'label'; YAML "
            "reads unquoted yes, no, on and off as true and false: quote the label; classes: "
            "fraud, legit",
        ),
        (
            {"positive_class": "fraud"},
            {"task": "multiclass"},
            "data.positive_class applies to binary classifiers; model.task is 'multiclass'",
        ),
    ],
    ids=["typo", "yaml-boolean", "multiclass"],
)
def test_a_wrong_positive_class_is_one_line_and_no_run(
    cli, write_config, tmp_path, data, model, message
):
    config = _config(tmp_path, **data)
    config["model"] = {**config["model"], **model}
    result = cli("train", write_config(config))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "runs").exists()


def test_init_from_a_run_with_the_other_positive_class_is_refused(write_config, tmp_path):
    """The copied logit is the log-odds of the source's second class: a run choosing the
    other positive class started predicting the opposite (test ROC AUC 1 - the source's)."""
    import toolkit

    source = toolkit.train(_config(tmp_path), verbose=0).path  # positive: 'legit'
    spec = json.loads((source / "preprocessing.json").read_text())
    assert spec["target"]["classes"] == ["fraud", "legit"]

    config = _config(tmp_path, positive_class="fraud")
    config["model"] = {**config["model"], "init_from": str(source)}
    config["name"] = "flipped"
    # The remedy: the source's own positive class, whose copied logit keeps its meaning
    # (named apart, so that the refused run's directory is checked to be absent after both).
    remedy = copy.deepcopy(config)
    remedy["name"] = "remedy"
    remedy["data"]["positive_class"] = "legit"
    remedy["training"]["epochs"] = 1
    remedy["training"]["optimizer"] = {"name": "sgd", "learning_rate": 1e-9}
    # Both trains in one fresh process (one TensorFlow start-up).
    refused, result = cli_chain(
        ["train", write_config(config, "flipped.yaml")],
        ["train", write_config(remedy, "remedy.yaml")],
    )
    assert refused.returncode == 2, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert lines[0].endswith(
        "its output is the probability of 'legit', this run's of 'fraud', so it would start "
        "predicting the opposite class; set data.positive_class: legit (as that run had), "
        "or train without init_from"
    )
    assert not (tmp_path / "runs" / "flipped").exists()

    assert result.returncode == 0, result.stderr
    run = Path(result.stdout.strip().splitlines()[-1])
    # Independent of the toolkit's metrics: sklearn's ROC AUC of each run's predictions of
    # the same rows, for P('legit'), agree (weights copied, not moved).
    frame = pd.read_csv(tmp_path / "rows.csv")
    aucs = []
    for run_dir in (source, run):
        predicted = toolkit.load_run(run_dir).predict(frame.drop(columns="label"))
        aucs.append(
            metrics.roc_auc_score(frame["label"] == "legit", predicted["probability_legit"])
        )
    assert aucs[0] == pytest.approx(aucs[1], abs=1e-3)
