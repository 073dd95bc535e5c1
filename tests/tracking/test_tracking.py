"""MLflow tracking against a real local file store, read back through MLflow's own client;
and a tracking server that is down does not cost the run."""

from __future__ import annotations

import json
import socket
import time

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import toolkit
from tests.helpers import tiny_config


def _client(store):
    import os

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3's file store switch
    return MlflowClient(tracking_uri=str(store))


def _runs(client, experiment: str):
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment}"
    return client.search_runs([found.experiment_id])


@pytest.mark.slow
def test_a_run_is_logged_and_reads_back(tmp_path):
    store = tmp_path / "mlruns"
    config = tiny_config(
        "regression",
        model={"task": "regression", "hidden": [8], "head": "gaussian"},
        prediction={"std_scaling": True, "conformal": {"method": "split"}},
        evaluation={"plots": True, "baselines": False},
        tracking={"mlflow": {"uri": str(store), "experiment": "tiny"}},
    )
    run = toolkit.train(config, output_dir=tmp_path / "out", verbose=0)
    assert run.status == "completed"
    client = _client(store)
    (logged,) = _runs(client, "tiny")
    run_id = run.record["tracking"]["mlflow"]["run_id"]
    assert logged.info.run_id == run_id and logged.info.status == "FINISHED"
    params = logged.data.params
    assert params["training.epochs"] == "3" and params["model.task"] == "regression"
    assert params["data.source"] == "synthetic:regression"
    # Per-epoch metrics at step = the epoch counted from 1, the values history.csv holds.
    history = pd.read_csv(run.directory.history)
    logged_loss = client.get_metric_history(run_id, "val_loss")
    assert [m.step for m in logged_loss] == history["epoch"].tolist() == [1, 2, 3]
    assert [m.value for m in logged_loss] == pytest.approx(history["val_loss"].tolist(), rel=1e-6)
    # Final metrics as metrics.json has them.
    metrics = json.loads(run.directory.metrics.read_text())
    assert logged.data.metrics["validation.rmse"] == pytest.approx(metrics["validation"]["rmse"])
    # And what calibration fitted, which the run's intervals depend on.
    fitted = {
        "std_scaling.factor": metrics["std_scaling"]["factor"],
        "std_scaling.validation.nll_after": metrics["std_scaling"]["validation"]["nll_after"],
        "conformal.quantile": metrics["conformal"]["quantile"],
        "conformal.rows": metrics["conformal"]["rows"],
    }
    assert {name: logged.data.metrics.get(name) for name in fitted} == pytest.approx(fitted)
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {
        "model",
        "plots",
        "config.yaml",
        "metrics.json",
        "report.html",
        "report.md",
    } <= artifacts
    assert [a.path for a in client.list_artifacts(run_id, "model")] == ["model/model.keras"]
    assert client.list_artifacts(run_id, "plots")
    # No tracking warning. The tiny model's lower bounds of a target that is never negative
    # in its training rows (10 + 3 N(0, 1)) may reach below 0: that data warning alone.
    assert all(
        w.startswith("target 'target' is never negative in the training rows")
        for w in run.record.get("warnings", [])
    )


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends: nobody listens


@pytest.mark.slow
def test_an_unreachable_server_does_not_cost_the_run(tmp_path, capsys):
    uri = f"http://127.0.0.1:{_closed_port()}"
    config = tiny_config(
        "regression", tracking={"mlflow": {"uri": uri, "timeout": 1, "retries": 0}}
    )
    started = time.monotonic()
    run = toolkit.train(config, output_dir=tmp_path / "out", verbose=0)
    assert time.monotonic() - started < 60
    assert run.status == "completed"
    for name in ("model.keras", "metrics.json", "history.csv", "config.yaml", "preprocessing.json"):
        assert (run.path / name).exists(), name
    assert len(run.history) == 3
    (warning,) = run.record["warnings"]
    assert warning.startswith(f"tracking: MLflow at {uri} failed to start a run")
    assert warning.endswith("the run goes on without tracking")
    assert capsys.readouterr().err.count("toolkit: warning: tracking:") == 1


@pytest.mark.slow
def test_sweep_trials_and_repeats_nest_under_their_parent(tmp_path):
    store = tmp_path / "mlruns"
    tracking = {"mlflow": {"uri": str(store), "experiment": "nested"}}
    config = tiny_config(
        "regression",
        training={"epochs": 2, "batch_size": 16},
        tracking=tracking,
        tuner={
            "algorithm": "random",
            "max_trials": 2,
            "search_space": {
                "model.hidden.0": {"choice": [4, 8]},
                "training.optimizer.learning_rate": {"float": [1e-3, 1e-2], "sampling": "log"},
            },
        },
    )
    sweep = toolkit.tune(config, output_dir=tmp_path / "out")
    assert sweep.status == "completed"
    group = toolkit.train_repeated(
        {k: v for k, v in config.items() if k != "tuner"}, repeats=2, output_dir=tmp_path / "out"
    )
    client = _client(store)
    runs = _runs(client, "nested")
    by_id = {r.info.run_id: r for r in runs}
    sweep_id = sweep.record["tracking"]["mlflow"]["run_id"]
    group_id = group.record["tracking"]["mlflow"]["run_id"]
    children = {
        parent: sorted(
            r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") == parent
        )
        for parent in (sweep_id, group_id)
    }
    trial_dirs = sorted(p.name for p in (sweep.path / "trials" / "tiny-regression").iterdir())
    assert children[sweep_id] == trial_dirs and len(trial_dirs) == 2
    assert children[group_id] == sorted(r.path.name for r in group.runs)
    assert by_id[sweep_id].data.tags["toolkit.kind"] == "sweep"
    # A searched path is logged as its search dimension, not the base value no trial used,
    # and the search space is not repeated under tuner.search_space.
    sweep_params = by_id[sweep_id].data.params
    assert sweep_params["model.hidden.0"] == 'searched {"choice": [4, 8]}'
    assert sweep_params["training.optimizer.learning_rate"] == (
        'searched {"float": [0.001, 0.01], "sampling": "log"}'
    )
    assert not [key for key in sweep_params if key.startswith("tuner.search_space")]
    assert sweep_params["tuner.max_trials"] == "2"
    best = sweep.best_trial["objective"]
    assert by_id[sweep_id].data.metrics["best.val_loss"] == pytest.approx(best)
    assert "validation.rmse.mean" in by_id[group_id].data.metrics
    # The group's seed parameter is every seed its runs used, not the first alone.
    assert by_id[group_id].data.params["seed"] == str([run.config.seed for run in group.runs])
    assert {a.path for a in client.list_artifacts(sweep_id)} >= {"trials.csv", "best_config.yaml"}
