"""A text column with a different value in every training row (an id, a date) taken in as a
categorical feature by ``data.features: null``: the run completes with a warning naming it."""

from __future__ import annotations

import numpy as np
import pandas as pd

import toolkit
from tests.helpers import tiny_config


def _table(path, n: int = 120) -> str:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "id": [f"customer-{i:05d}" for i in range(n)],
            "visit": pd.date_range("2024-01-01", periods=n).strftime("%Y-%m-%d"),
            "colour": rng.choice(["red", "green", "blue"], size=n),
            "x": rng.normal(size=n),
        }
    )
    frame["target"] = 2.0 * frame["x"] + rng.normal(size=n)
    frame.to_csv(path, index=False)
    return str(path)


def test_identifier_columns_are_named_in_the_runs_warnings(tmp_path):
    config = tiny_config(data={"source": _table(tmp_path / "data.csv")})
    config["data"].pop("synthetic")
    run = toolkit.train(config, output_dir=tmp_path / "runs", verbose=0)
    assert run.status == "completed"
    named = [w for w in run.warnings if "has a different value in each of the 90" in w]
    assert [w.split("'")[1] for w in named] == ["id", "visit"]  # not colour
    assert all("leave it out with data.features" in w for w in named)

    config["data"]["features"] = ["colour", "x"]
    run = toolkit.train(config, output_dir=tmp_path / "runs", verbose=0)
    assert run.warnings == []
