"""A run trained on a relative data path stays usable from any directory: the run's
config.yaml records where the data was read (toolkit evaluate re-reads its test split)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from tests.helpers import REPO, run_cli, tiny_config


def test_a_run_on_a_relative_path_evaluates_from_another_directory(tmp_path):
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=120), "colour": rng.choice(["a", "b"], 120)})
    frame["target"] = 2.0 * frame["x"] + rng.normal(size=120)
    frame.to_csv(project / "data" / "rows.csv", index=False)
    config = tiny_config(data={"source": "data/rows.csv", "test": 0.2})
    config["data"].pop("synthetic")
    (project / "config.yaml").write_text(yaml.safe_dump(config))
    env = {"PYTHONPATH": str(REPO)}  # this checkout's toolkit, whatever the directory
    trained = run_cli(
        "train", "config.yaml", "--output-dir", tmp_path / "runs", cwd=project, env=env
    )
    assert trained.returncode == 0, trained.stderr
    run = trained.stdout.strip().splitlines()[-1]

    saved = yaml.safe_load((Path(run) / "config.yaml").read_text())
    assert saved["data"]["source"] == str(project / "data" / "rows.csv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    scored = run_cli("evaluate", run, cwd=elsewhere, env=env)
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["split"] == "test"
