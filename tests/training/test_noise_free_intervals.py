"""A regressor whose intervals come from the spread of its MC passes alone (model.head:
default, no model of the noise in the data) wrote 95% lower/upper covering under half the
held-out rows (mc_dropout.yaml on a 1,500-row hetero table: 0.41 of validation, 0.44 of test)
with nothing but the summary's coverage to say so. The run now ends with a warning naming the
fixes; a Gaussian head, or conformal intervals, say nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tests.helpers import cli_in_one_process, tiny_config

LINE = (
    "lower/upper, the central 0.95 interval of the spread of the model's passes or members "
    "alone (no model of the noise in the data), covered {coverage:.2f} of the validation rows; "
    "set model.head: gaussian for that noise, or prediction.conformal for intervals "
    "calibrated to cover"
)


def _tables(folder: Path) -> tuple[Path, Path]:
    """y = 2 a + noise of sd 1: the mean is easy, the noise is most of each row's error."""
    rng = np.random.default_rng(3)
    for name, n in (("train.csv", 400), ("val.csv", 150)):
        frame = pd.DataFrame(rng.normal(size=(n, 2)), columns=["a", "b"])
        frame["y"] = 2.0 * frame["a"] + rng.normal(size=n)
        frame.to_csv(folder / name, index=False)
    return folder / "train.csv", folder / "val.csv"


def test_intervals_of_the_passes_spread_alone_that_miss_are_warned_of(tmp_path):
    train, validation = _tables(tmp_path)
    base = tiny_config(
        data={"source": str(train), "validation": str(validation), "target": "y"},
        model={"hidden": [16], "dropout": 0.1, "mc_dropout": True},
        training={"epochs": 20, "batch_size": 32},
    )
    base["data"].pop("synthetic")
    base["prediction"] = {"mc_samples": 10}
    configs = {
        "points": base,
        "gaussian": {**base, "model": {**base["model"], "head": "gaussian"}},
        "conformal": {**base, "prediction": {"mc_samples": 10, "conformal": {"method": "split"}}},
    }
    calls = []
    for name, config in configs.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(json.dumps(config))
        calls.append(["train", path, "--output-dir", tmp_path / name])
        calls.append(
            ["predict", "RUN", "--input", validation, "--output", tmp_path / f"{name}.csv"]
        )
    for answer in cli_in_one_process(*calls, run_placeholder="RUN"):
        assert answer.returncode == 0, answer.stderr[-2000:]
    runs = {name: next((tmp_path / name).glob("*/*")) for name in configs}
    warnings = {
        name: json.loads((run / "run.json").read_text()).get("warnings", [])
        for name, run in runs.items()
    }

    # The coverage it names, counted from the predictions toolkit predict wrote.
    rows = pd.read_csv(tmp_path / "points.csv")
    coverage = float(np.mean((rows["lower"] <= rows["y"]) & (rows["y"] <= rows["upper"])))
    metrics = json.loads((runs["points"] / "metrics.json").read_text())
    assert metrics["validation"]["coverage"] == coverage
    assert coverage < 0.95 - 3 * np.sqrt(0.95 * 0.05 / 150), coverage
    assert LINE.format(coverage=coverage) in warnings["points"], warnings["points"]

    # A Gaussian head models the noise; conformal columns are the calibrated intervals.
    assert not [w for w in warnings["gaussian"] if w.startswith("lower/upper")]
    assert not [w for w in warnings["conformal"] if w.startswith("lower/upper")]
    gaussian = pd.read_csv(tmp_path / "gaussian.csv")
    assert (
        np.mean((gaussian["lower"] <= gaussian["y"]) & (gaussian["y"] <= gaussian["upper"])) > 0.85
    )
