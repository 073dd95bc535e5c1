"""The small pieces of the runtime: chief election, sharding, run.json fields.

Whether Keras needs the multi-worker patch is a behaviour check: tests/test_compat.py.
"""

from __future__ import annotations

import json
import tempfile

import pytest
import yaml

from tests.helpers import run_cli, tiny_config
from toolkit.errors import ToolkitError
from toolkit.training import multi_worker, runtime


def _tf_config(monkeypatch, cluster: dict, task_type: str, index: int) -> None:
    config = {"cluster": cluster, "task": {"type": task_type, "index": index}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))


def test_the_chief_is_worker_zero_or_the_chief_task(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert multi_worker.task() is None and multi_worker.is_chief()
    workers = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    _tf_config(monkeypatch, workers, "worker", 0)
    assert multi_worker.is_chief()
    _tf_config(monkeypatch, workers, "worker", 1)
    assert not multi_worker.is_chief()
    with_chief = {"chief": ["127.0.0.1:0"], **workers}
    _tf_config(monkeypatch, with_chief, "chief", 0)
    assert multi_worker.is_chief()
    _tf_config(monkeypatch, with_chief, "worker", 0)
    assert not multi_worker.is_chief()
    monkeypatch.setenv("TF_CONFIG", "not json")
    with pytest.raises(ToolkitError, match="TF_CONFIG"):
        multi_worker.task()


def test_only_the_chief_writes_under_the_output_directory(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp"))
    (tmp_path / "temp").mkdir()
    workers = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    _tf_config(monkeypatch, workers, "worker", 0)
    assert multi_worker.worker_output_dir(tmp_path / "out") == tmp_path / "out"
    _tf_config(monkeypatch, workers, "worker", 1)
    scratch = multi_worker.worker_output_dir(tmp_path / "out")
    assert scratch.parent == tmp_path / "temp" and scratch.name.startswith("toolkit-worker1-")
    assert scratch != multi_worker.worker_output_dir(tmp_path / "out")  # fresh each run


def test_datasets_are_sharded_by_data_across_workers():
    import tensorflow as tf

    dataset = multi_worker.shard_by_data(tf.data.Dataset.range(4))
    policy = dataset.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA
    assert list(dataset.as_numpy_iterator()) == [0, 1, 2, 3]


def test_run_json_fields_of_the_default_strategy():
    import tensorflow as tf

    assert runtime.strategy_info(tf.distribute.get_strategy()) == {
        "strategy": "default",
        "replicas": 1,
    }


@pytest.mark.parametrize("value", ["two", "0", "-1"])
def test_a_bad_cpu_device_count_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv(runtime.CPU_DEVICES_ENV, value)
    with pytest.raises(ToolkitError, match=runtime.CPU_DEVICES_ENV):
        runtime._cpu_devices_from_env()


@pytest.mark.parametrize(
    ("setting", "env", "message"),
    [
        ([], {"TOOLKIT_CPU_DEVICES": "two"}, "TOOLKIT_CPU_DEVICES must be a positive integer"),
        (["--set", "runtime.device=gpu"], {"CUDA_VISIBLE_DEVICES": ""}, "no GPU is visible"),
    ],
)
def test_a_runtime_mistake_leaves_no_run_directory(tmp_path, setting, env, message):
    """Both were one line and exit 2, but after the run directory was made: it stayed, with
    run.json 'failed' and the ToolkitError as its reason."""
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(tiny_config()))
    out = tmp_path / "out"
    done = run_cli("train", tmp_path / "c.yaml", *setting, "--output-dir", out, env=env)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("toolkit: error: ") and message in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("command", [["train", "--repeat", "2"], ["tune"]])
def test_a_runtime_mistake_leaves_no_group_or_sweep_directory(tmp_path, command):
    """--repeat left a repeat-<id> group directory; tune a sweep that failed with 'no trial
    completed' (exit 1), its trials each failing on TOOLKIT_CPU_DEVICES."""
    config = tiny_config()
    if command == ["tune"]:
        config["tuner"] = {"max_trials": 1, "search_space": {"model.dropout": {"choice": [0.0]}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    env = {"TOOLKIT_CPU_DEVICES": "two"}
    done = run_cli(command[0], tmp_path / "c.yaml", *command[1:], "--output-dir", out, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "toolkit: error: TOOLKIT_CPU_DEVICES must be a positive integer, got 'two'"
    ]
    assert not out.exists()


@pytest.mark.parametrize("value", ["soon", "0", "-5", "inf", "nan"])
def test_a_bad_cluster_wait_is_one_line_before_anything_starts(monkeypatch, value):
    from toolkit.config.schema import RuntimeConfig

    monkeypatch.setenv("TOOLKIT_CLUSTER_WAIT", value)
    with pytest.raises(ToolkitError, match="TOOLKIT_CLUSTER_WAIT must be a positive number"):
        runtime.check_runtime(RuntimeConfig(distribute="multi_worker"))
    runtime.check_runtime(RuntimeConfig())  # only multi_worker waits for a cluster
    monkeypatch.setenv("TOOLKIT_CLUSTER_WAIT", "2.5")
    assert multi_worker.cluster_wait() == 2.5
    monkeypatch.delenv("TOOLKIT_CLUSTER_WAIT")
    assert multi_worker.cluster_wait() == multi_worker.DEFAULT_CLUSTER_WAIT
