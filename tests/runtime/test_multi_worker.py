"""runtime.distribute: multi_worker with two real worker processes on 127.0.0.1.

Both workers run the same ``toolkit train`` with their own ``TF_CONFIG``. The chief (worker 0)
writes the run under --output-dir; worker 1 writes its copy into its temporary directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from tests.helpers import REPO
from tests.runtime._support import (
    assert_same_curves,
    free_ports,
    last_line,
    run_record,
    runtime_config,
)


def _start_worker(index: int, cluster: dict, config, out, temp) -> subprocess.Popen:
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
        "TMPDIR": str(temp),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "toolkit", "train", str(config), "--output-dir", str(out)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.slow
def test_two_workers_train_the_same_weights_and_only_the_chief_writes_the_run(
    reference_run, tmp_path
):
    from toolkit.models.saving import load_model

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(runtime_config(distribute="multi_worker")))
    out = tmp_path / "out"
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    temps = [tmp_path / f"tmp{index}" for index in range(2)]
    for temp in temps:
        temp.mkdir()
    workers = [_start_worker(i, cluster, config, out, temps[i]) for i in range(2)]
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate(timeout=240))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=30)
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr[-3000:]

    chief_dir, worker_dir = (last_line(stdout) for stdout, _ in outputs)
    assert list(out.glob("*/*")) == [chief_dir]  # one run under --output-dir: the chief's
    assert worker_dir.is_relative_to(temps[1])  # worker 1 wrote into its own temp directory

    chief, other = run_record(chief_dir), run_record(worker_dir)
    for record, index in ((chief, 0), (other, 1)):
        assert record["status"] == "completed"
        assert record["strategy"] == "MultiWorkerMirroredStrategy"
        assert record["replicas"] == 2 and record["workers"] == 2
        assert record["worker_task"] == {"type": "worker", "index": index}
        assert record["task"] == "regression"
    assert "/job:worker/replica:0/task:1/device:CPU:0" in chief["devices"]

    for a, b in zip(
        load_model(chief_dir / "model.keras").get_weights(),
        load_model(worker_dir / "model.keras").get_weights(),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    # Each worker trains on its half of every global batch: the same steps as one device.
    assert_same_curves(chief_dir, reference_run.wait())
