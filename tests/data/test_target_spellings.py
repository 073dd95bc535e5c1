"""A classifier's target in ``toolkit evaluate --data`` is read as training read it.

Training reads a CSV with pandas, which parses a column of 'true'/'false' as booleans (classes
'True', 'False'); ``evaluate --data`` reads every column as text. The labels of the very file
training read must still be its classes, scored as predict's output of the same rows says.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, log_loss

from tests.helpers import run_cli, tiny_config, train_via_cli


def test_evaluate_data_reads_a_true_false_target_as_the_classes_training_read(tmp_path):
    rng = np.random.default_rng(11)
    rows = 160
    frame = pd.DataFrame({"a": rng.normal(size=rows).round(3), "b": rng.normal(size=rows).round(3)})
    frame["churned"] = np.where(frame["a"] + 0.3 * rng.normal(size=rows) > 0, "true", "false")
    source = tmp_path / "churn.csv"
    frame.to_csv(source, index=False)
    assert ",true\n" in source.read_text()
    config = tiny_config("binary", data={"source": str(source), "target": "churned"})
    config["data"].pop("synthetic")
    run = train_via_cli(tmp_path, config)

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
