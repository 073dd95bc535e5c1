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


def test_a_sweep_on_a_relative_path_resumes_and_trains_its_best_from_another_directory(
    tmp_path,
):
    """base_config.yaml and best_config.yaml kept 'data/rows.csv': --resume and training the
    best config failed anywhere but the directory the sweep started in."""
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=80)})
    frame["target"] = 2.0 * frame["x"] + rng.normal(size=80)
    frame.to_csv(project / "data" / "rows.csv", index=False)
    config = tiny_config(data={"source": "data/rows.csv"})
    config["data"].pop("synthetic")
    config["training"]["epochs"] = 1
    config["tuner"] = {
        "algorithm": "grid",
        "max_trials": 1,
        "search_space": {"model.dropout": {"choice": [0.0, 0.1]}},
    }
    (project / "config.yaml").write_text(yaml.safe_dump(config))
    env = {"PYTHONPATH": str(REPO)}  # this checkout's toolkit, whatever the directory
    started = run_cli(
        "tune", "config.yaml", "--output-dir", tmp_path / "sweeps", cwd=project, env=env
    )
    assert started.returncode == 0, started.stderr
    sweep = Path(started.stdout.strip().splitlines()[-1])
    data = str(project / "data" / "rows.csv")
    for name in ("base_config.yaml", "best_config.yaml"):
        assert yaml.safe_load((sweep / name).read_text())["data"]["source"] == data, name

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    resumed = run_cli(
        "tune", "--resume", sweep, "--set", "tuner.max_trials=2", cwd=elsewhere, env=env
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((sweep / "sweep.json").read_text())["counts"]["completed"] == 2
    best = run_cli(
        "train",
        sweep / "best_config.yaml",
        "--output-dir",
        tmp_path / "runs",
        cwd=elsewhere,
        env=env,
    )
    assert best.returncode == 0, best.stderr


def test_a_relative_path_beside_the_config_is_named(tmp_path):
    """A config kept next to its CSV, 'source: rows.csv', run from another directory: train
    said only 'data.source not found: rows.csv', though the file sits beside the config.
    validate, train and tune now say where relative paths are read from and where it is."""
    project = tmp_path / "project"
    (project / "configs").mkdir(parents=True)
    frame = pd.DataFrame({"x": np.arange(40.0), "target": np.arange(40.0) % 3})
    frame.to_csv(project / "configs" / "rows.csv", index=False)
    config = tiny_config(data={"source": "rows.csv"})
    config["data"].pop("synthetic")
    config["tuner"] = {"max_trials": 1, "search_space": {"model.dropout": {"choice": [0.0]}}}
    (project / "configs" / "my.yaml").write_text(yaml.safe_dump(config))
    env = {"PYTHONPATH": str(REPO)}
    expected = (
        "toolkit: error: data.source not found: rows.csv (relative paths are read from the "
        f"current directory, {project}, not the config's; it is at "
        f"{project / 'configs' / 'rows.csv'}: give that path, or run toolkit from "
        f"{project / 'configs'})\n"
    )
    for command in ("validate", "train", "tune"):
        result = run_cli(command, "configs/my.yaml", cwd=project, env=env)
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr == expected, command
        assert result.stdout == ""
    assert sorted(p.name for p in project.iterdir()) == ["configs"]  # no experiments/

    # Run from the config's directory, the path is found.
    validated = run_cli("validate", "my.yaml", cwd=project / "configs", env=env)
    assert validated.returncode == 0, validated.stderr
