"""A trained run keeps its conformal scores and temperature, and ``toolkit predict`` (a real
subprocess) applies them: the intervals and sets are recomputed here from conformal.json's raw
scores and the model's uncalibrated logits, not from the code's stored quantile."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import special

from tests.helpers import tiny_config
from toolkit.config.loading import validate_config
from toolkit.training.train import train


def _quantile(saved: dict, alpha: float, *, seed: int) -> float:
    """The randomised quantile (the default): the ceil((n + 1)(1 - alpha) - 1 + U)-th
    smallest score, U the run seed's first uniform draw (tiny_config's seed is 7)."""
    ordered = sorted(saved["scores"])
    u = np.random.default_rng(seed).uniform()
    assert saved["randomization"] == pytest.approx(u)
    rank = math.ceil((len(ordered) + 1) * (1 - alpha) - 1 + u)
    return ordered[rank - 1] if rank <= len(ordered) else math.inf


def _train(tmp_path, task: str, model: dict, prediction: dict):
    raw = tiny_config(task, model={"task": task, "hidden": [8], **model}, prediction=prediction)
    raw["data"]["synthetic"] = {"samples": 240, "features": 3}
    raw["training"]["epochs"] = 4
    result = train(validate_config(raw), output_dir=tmp_path / "runs", verbose=0)
    assert result.status == "completed"
    return result


def _predict(cli, run_dir, rows: pd.DataFrame, tmp_path) -> pd.DataFrame:
    rows.to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "predictions.csv"
    result = cli("predict", run_dir, "--input", tmp_path / "rows.csv", "--output", out)
    assert result.returncode == 0, result.stderr
    return pd.read_csv(out)


def _rows(count: int = 25) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(rng.normal(size=(count, 3)), columns=["x0", "x1", "x2"])


@pytest.mark.slow
def test_predict_applies_the_runs_conformal_scores_to_an_ensembles_intervals(cli, tmp_path):
    result = _train(
        tmp_path,
        "regression",
        {"head": "gaussian", "ensemble": {"members": 2}},
        {"conformal": {"method": "split", "alpha": 0.1, "calibration": 0.25}},
    )
    saved = json.loads((result.run_dir / "conformal.json").read_text())
    rows = json.loads((result.run_dir / "data_summary.json").read_text())
    assert saved["rows"] == len(saved["scores"]) == rows["rows"]["calibration"] == 45
    q = _quantile(saved, 0.1, seed=7)
    predictions = _predict(cli, result.run_dir, _rows(), tmp_path)
    half = q * predictions["std"]
    np.testing.assert_allclose(predictions["conformal_lower"], predictions["prediction"] - half)
    np.testing.assert_allclose(predictions["conformal_upper"], predictions["prediction"] + half)
    test_metrics = result.metrics["validation"]
    assert 0.0 <= test_metrics["conformal_coverage"] <= 1.0
    assert result.metrics["conformal"]["quantile"] == pytest.approx(q)


@pytest.mark.slow
def test_predict_gives_temperature_scaled_probabilities_and_their_prediction_sets(cli, tmp_path):
    from toolkit.models.saving import load_model

    result = _train(
        tmp_path,
        "binary",
        {},
        {"temperature_scaling": True, "conformal": {"alpha": 0.2}},
    )
    report = result.metrics["temperature_scaling"]
    t = report["temperature"]
    assert report["validation"]["log_loss_after"] <= report["validation"]["log_loss_before"]
    assert {"ece_before", "ece_after"} <= set(
        report["test"] if "test" in report else report["validation"]
    )
    # the model file carries T: its raw logits times T are the uncalibrated logits
    model = load_model(result.run_dir / "model.keras")
    rows = _rows()
    logits = model.predict({"numeric": rows.to_numpy("float32")}, verbose=0)[:, 0]
    model.get_layer("temperature").temperature.assign(1.0)
    raw = model.predict({"numeric": rows.to_numpy("float32")}, verbose=0)[:, 0]
    np.testing.assert_allclose(logits, raw / t, rtol=1e-5)

    predictions = _predict(cli, result.run_dir, rows, tmp_path)
    positive = special.expit(raw / t)
    classes = json.loads((result.run_dir / "preprocessing.json").read_text())["target"]["classes"]
    np.testing.assert_allclose(predictions[f"probability_{classes[1]}"], positive, rtol=1e-5)
    saved = json.loads((result.run_dir / "conformal.json").read_text())
    q = _quantile(saved, 0.2, seed=7)
    expected = [
        [c for c, p in zip(classes, (1 - p1, p1), strict=True) if 1 - p <= q] for p1 in positive
    ]
    assert [json.loads(s) for s in predictions["prediction_set"]] == expected

    # The run's report says what was fitted: T and q as metrics.json holds them.
    from toolkit.evaluation.report import write_report
    from toolkit.evaluation.report.document import format_value

    text = write_report(result.run_dir)[1].read_text()
    assert f"**temperature T**: {format_value(t)}" in text
    quantile = result.metrics["conformal"]["quantile"]
    assert f"**quantile q**: {format_value(quantile)}" in text
    assert f"**calibration rows**: {saved['rows']}" in text
