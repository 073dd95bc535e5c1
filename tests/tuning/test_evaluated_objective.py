"""A sweep scored by a validation metric of metrics.json (the predictive log-likelihood)."""

from __future__ import annotations

import pytest
import yaml

from tests.helpers import run_cli
from tests.tuning.conftest import read_json, read_trials, sweep_config, sweep_dir_of


@pytest.mark.slow
def test_trials_are_scored_by_their_runs_validation_nll(tmp_path):
    config = sweep_config(
        tmp_path,
        algorithm="grid",
        objective="validation.nll",
        max_trials=2,
        executions_per_trial=2,
        search_space={"model.head": {"choice": ["gaussian", "homoscedastic"]}},
    )
    config["model"]["head"] = "gaussian"
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_cli("tune", path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    sweep = sweep_dir_of(result)
    assert read_json(sweep / "sweep.json")["direction"] == "min"
    for row in read_trials(sweep):
        record = read_json(sweep / "records" / f"trial-{row['trial_id']}.json")
        # the mean over the trial's two seeds of each run's own metrics.json
        scores = [
            read_json(sweep / run["run_dir"] / "metrics.json")["validation"]["nll"]
            for run in record["runs"]
        ]
        assert len(scores) == 2
        assert float(row["objective"]) == pytest.approx(sum(scores) / 2)


@pytest.mark.parametrize(
    ("task", "objective", "named"),
    [
        ("binary", "validation.nll", "a binary model's negative log-likelihood is "),
        ("multiclass", "validation.nll", "a multiclass model's negative log-likelihood is "),
        ("regression", "validation.log_loss", "a regression model's negative log-likelihood is "),
    ],
)
def test_the_log_loss_under_the_other_tasks_name_is_named(tmp_path, task, objective, named):
    """configs/sweep.yaml's objective, validation.nll, kept on a classifier's config was met
    with "did you mean 'validation.f1'?" (the nearest spelling, another measure)."""
    config = sweep_config(tmp_path, objective=objective)
    config["model"]["task"] = task
    config["data"]["source"] = f"synthetic:{task}"
    if task == "regression":
        config["model"]["head"] = "gaussian"
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_cli("validate", path, cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    same = "validation.nll" if objective == "validation.log_loss" else "validation.log_loss"
    assert f"tuner.objective: unknown logged quantity '{objective}' ({named}'{same}'); " in line
    assert "did you mean" not in line
