"""A regression target that is never negative (a price, a count) under a Gaussian head: a
network fitted to a skewed target predicts below 0 on held-out rows, and nothing pointed at
``prediction.target_range``, which clips predictions and intervals. A run now ends with a
warning giving the share of held-out rows with a negative prediction (and how many have a
negative lower bound); it says nothing when the range is set or when the training target has
negative values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tests.helpers import cli_in_one_process, tiny_config


def _tables(folder: Path) -> tuple[Path, Path]:
    """Prices: lognormal, heavy-tailed, every one positive; the validation rows a file."""
    rng = np.random.default_rng(11)

    def rows(n: int) -> pd.DataFrame:
        frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
        frame["price"] = np.exp(1.0 + 0.6 * frame["a"] + rng.normal(scale=0.9, size=n))
        return frame

    rows(240).to_csv(folder / "train.csv", index=False)
    rows(80).to_csv(folder / "val.csv", index=False)
    return folder / "train.csv", folder / "val.csv"


def _noisy_tables(folder: Path) -> tuple[Path, Path]:
    """A positive target that is mostly noise around 6 (uniform on 0.5 to 11.5): fitted, the
    predictions stay near 6 while a 95% interval of sd 3.2 reaches below 0."""
    rng = np.random.default_rng(5)
    for name, n in (("noisy_train.csv", 240), ("noisy_val.csv", 80)):
        frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
        frame["price"] = rng.uniform(0.5, 11.5, size=n)
        frame.to_csv(folder / name, index=False)
    return folder / "noisy_train.csv", folder / "noisy_val.csv"


def _config(train: Path, validation: Path, **prediction) -> dict:
    config = tiny_config(
        data={"source": str(train), "validation": str(validation), "target": "price"},
        model={"head": "gaussian", "hidden": [8]},
        training={"epochs": 5, "batch_size": 32},
    )
    config["data"].pop("synthetic")
    if prediction:
        config["prediction"] = prediction
    return config


def test_negative_predictions_of_a_positive_target_point_at_target_range(tmp_path):
    train, validation = _tables(tmp_path)
    shifted = tmp_path / "shifted.csv"
    # One training price below 0: the target can be negative, and no line is due.
    pd.read_csv(train).assign(price=lambda f: f["price"] - f["price"].min() - 0.5).to_csv(
        shifted, index=False
    )
    noisy_train, noisy_validation = _noisy_tables(tmp_path)
    bounds_only = _config(noisy_train, noisy_validation)
    bounds_only["training"].update(epochs=60, optimizer={"name": "adam", "learning_rate": 0.01})
    configs = {
        "plain": _config(train, validation),
        "bounds_only": bounds_only,
        "ranged": _config(train, validation, target_range=[0, None]),
        "negative": _config(shifted, validation),
    }
    calls = []
    for name, config in configs.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(json.dumps(config))
        calls.append(["train", path, "--output-dir", tmp_path / name])
    answers = cli_in_one_process(*calls)
    for answer in answers:
        assert answer.returncode == 0, answer.stderr[-2000:]
    runs = {name: next((tmp_path / name).glob("*/*")) for name in configs}

    # Counted from what predict writes for the held-out rows (the validation file).
    outputs = {name: tmp_path / f"{name}.csv" for name in ("plain", "ranged", "bounds_only")}
    inputs = {"plain": validation, "ranged": validation, "bounds_only": noisy_validation}
    for answer in cli_in_one_process(
        *[["predict", runs[n], "--input", inputs[n], "--output", outputs[n]] for n in outputs]
    ):
        assert answer.returncode == 0, answer.stderr[-2000:]
    table = pd.read_csv(outputs["plain"])
    negative = int((table["prediction"] < 0).sum())
    bounds = int((table["lower"] < 0).sum())
    assert 0 < negative < bounds < len(table) == 80  # the fit reaches below 0, its bounds more

    expected = (
        f"target 'price' is never negative in the training rows, but {negative} of the 80 "
        f"validation rows ({negative / 80:.1%}) have a negative prediction (and {bounds} a "
        "negative interval lower bound); if it cannot be negative (a price, a count), set "
        "prediction.target_range: [0, null] to clip predictions and intervals at 0"
    )
    record = json.loads((runs["plain"] / "run.json").read_text())
    assert record["warnings"] == [expected], negative
    assert f"; warning: {expected}" in answers[0].stderr

    # Lower bounds below 0 with every prediction above it: a symmetric interval of a noisy
    # positive target, no point estimate wrong, and no line.
    noisy = pd.read_csv(outputs["bounds_only"])
    assert (noisy["prediction"] > 0).all() and (noisy["lower"] < 0).sum() > 40
    for name in ("ranged", "negative", "bounds_only"):
        record = json.loads((runs[name] / "run.json").read_text())
        assert not any("target_range" in w for w in record.get("warnings", [])), record
    # The range stated, predict's bounds are clipped at 0: the setting the line names works.
    assert (pd.read_csv(outputs["ranged"])[["prediction", "lower"]] >= 0).all().all()
