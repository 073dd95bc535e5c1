"""A table with fewer rows than ``training.batch_size`` trains: each epoch is one partial
batch, as Keras trains the last batch of any epoch, in memory and streamed, and in a sweep."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.helpers import cli_in_one_process, tiny_config


def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    frame["colour"] = rng.choice(["red", "green"], size=n)
    frame["target"] = 2 * frame["a"] - frame["b"] + rng.normal(scale=0.1, size=n)
    return frame


def _small_config(root: Path, *, streaming: bool) -> dict:
    """20 training rows and a 5-row validation file, the default batch size (32)."""
    _rows(20, 0).to_csv(root / "train.csv", index=False)
    _rows(5, 1).to_csv(root / "validation.csv", index=False)
    config = tiny_config(
        data={
            "source": str(root / "train.csv"),
            "target": "target",
            "validation": str(root / "validation.csv"),
            "streaming": streaming,
        },
    )
    config["data"].pop("synthetic")
    config["training"] = {"epochs": 2}  # and the default batch size
    return config


def test_a_table_smaller_than_the_batch_trains_in_memory_streamed_and_in_a_sweep(tmp_path):
    from toolkit.config.schema import TrainingConfig

    assert TrainingConfig().batch_size > 20  # the default batch is larger than the table
    calls, outputs = [], []
    for streaming in (False, True):
        config = _small_config(tmp_path, streaming=streaming)
        path = tmp_path / f"streamed-{streaming}.yaml"
        path.write_text(yaml.safe_dump(config))
        outputs.append(tmp_path / f"out-{streaming}")
        calls.append(["train", path, "--output-dir", outputs[-1]])
    sweep = _small_config(tmp_path, streaming=False)
    sweep["tuner"] = {
        "algorithm": "grid",
        "max_trials": 2,
        "search_space": {"training.batch_size": {"choice": [8, 64]}},
    }
    sweep_path = tmp_path / "sweep.yaml"
    sweep_path.write_text(yaml.safe_dump(sweep))
    calls.append(["tune", sweep_path, "--output-dir", tmp_path / "sweep"])
    *trains, tuned = cli_in_one_process(*calls)
    validation = pd.read_csv(tmp_path / "validation.csv")
    for result in trains:
        assert result.returncode == 0, result.stderr
        run = Path(result.stdout.strip().splitlines()[0])
        assert json.loads((run / "data_summary.json").read_text())["rows"] == {
            "train": 20,
            "validation": 5,
        }
        history = pd.read_csv(run / "history.csv")
        assert len(history) == 2 and np.isfinite(history["loss"]).all()
        # The reported validation RMSE is the saved model's on exactly the validation file.
        import tensorflow as tf

        from toolkit.models.saving import load_model

        model = load_model(run / "model.keras")
        inputs = {
            "numeric": tf.constant(validation[["a", "b"]].to_numpy("float32")),
            "colour": tf.constant(validation[["colour"]].to_numpy().astype(str)),
        }
        predicted = np.asarray(model(inputs, training=False)).ravel()
        rmse = float(np.sqrt(np.mean((predicted - validation["target"].to_numpy()) ** 2)))
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["validation"]["rmse"] == pytest.approx(rmse, rel=1e-5)
    assert tuned.returncode == 0, tuned.stderr
    trials = pd.read_csv(Path(tuned.stdout.strip().splitlines()[-1]) / "trials.csv")
    assert sorted(trials["training.batch_size"]) == [8, 64]
    assert (trials["status"] == "completed").all(), trials["reason"]
