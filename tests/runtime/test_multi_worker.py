"""runtime.distribute: multi_worker with two real worker processes on 127.0.0.1.

Both workers run the same ``toolkit train`` with their own ``TF_CONFIG``. The chief (worker 0)
writes the run under --output-dir; worker 1 writes its copy into its temporary directory.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

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


def _start_worker(
    index: int, cluster: dict, config, out, temp, wait: float | None = None
) -> subprocess.Popen:
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
        "TMPDIR": str(temp),
    }
    env.pop("TOOLKIT_CLUSTER_WAIT", None)
    if wait is not None:
        env["TOOLKIT_CLUSTER_WAIT"] = str(wait)
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


def _toolkit_lines(stderr: str) -> list[str]:
    """stderr without TensorFlow's C++ start-up log lines (printed before its log level applies)."""
    return [line for line in stderr.splitlines() if not line.startswith(("I0000", "WARNING: All"))]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def lone_worker(tmp_path):
    """Worker 0 of a two-worker cluster whose worker 1 is never started: (start, port of
    worker 1, output directory); started processes are killed at the end if still alive."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(runtime_config(distribute="multi_worker")))
    out = tmp_path / "out"
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    started: list[subprocess.Popen] = []

    def start(wait: float | None) -> subprocess.Popen:
        started.append(_start_worker(0, cluster, config, out, tmp_path, wait=wait))
        return started[-1]

    yield start, ports, out
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def test_a_worker_whose_peer_never_comes_stops_with_one_line_naming_it(lone_worker):
    start, ports, out = lone_worker
    began = time.monotonic()
    worker = start(wait=3)
    _, stderr = worker.communicate(timeout=60)
    elapsed = time.monotonic() - began
    assert worker.returncode == 2, stderr[-3000:]
    lines = _toolkit_lines(stderr)
    assert len(lines) == 1 and lines[0].startswith("toolkit: error: "), stderr[-3000:]
    assert f"worker 1 (127.0.0.1:{ports[1]}) never joined" in lines[0]
    assert "within 3 s" in lines[0] and "TOOLKIT_CLUSTER_WAIT" in lines[0]
    assert 3 <= elapsed < 3 + 30  # the wait, plus start-up on a loaded machine
    assert not out.exists()  # nothing written: the cluster forms before the run directory


def test_a_peer_that_answers_but_never_registers_is_bounded_by_tensorflow(lone_worker):
    """Worker 1's port answers (a plain socket, not a toolkit worker), so the TCP wait ends;
    TensorFlow's registration then gives up after the same bound and names worker 1."""
    start, ports, out = lone_worker
    with socket.create_server(("127.0.0.1", ports[1])) as impostor:
        impostor.settimeout(60)
        worker = start(wait=3)
        _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 2, stderr[-3000:]
    lines = _toolkit_lines(stderr)
    assert len(lines) == 1, stderr[-3000:]
    assert f"worker 1 (127.0.0.1:{ports[1]}) (TensorFlow: DeadlineExceededError" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_a_worker_waiting_for_its_peer_at_once(lone_worker, sent):
    start, ports, out = lone_worker
    worker = start(wait=None)  # the default wait: minutes
    deadline = time.monotonic() + 60
    while not _answers(ports[0]):  # worker 0 answers on its own port while it waits
        assert worker.poll() is None and time.monotonic() < deadline, worker.communicate()[1]
        time.sleep(0.2)
    sent_at = time.monotonic()
    worker.send_signal(sent)
    _, stderr = worker.communicate(timeout=30)
    assert time.monotonic() - sent_at < 5
    assert worker.returncode == 130, stderr[-3000:]
    assert _toolkit_lines(stderr) == ["toolkit: interrupted"]
    assert not out.exists()


@pytest.mark.slow
def test_sigterm_stops_a_training_worker_and_marks_its_run_interrupted(tmp_path):
    """TensorFlow's coordination service installs a SIGTERM handler that only takes note;
    without the toolkit's taken back, ``kill`` of a training worker did nothing at all. The
    other worker then fails with one line (it printed TensorFlow's traceback before)."""
    config = tmp_path / "config.yaml"
    long = runtime_config(distribute="multi_worker")
    long["training"]["epochs"] = 1000  # far longer than the test waits
    config.write_text(yaml.safe_dump(long))
    out = tmp_path / "out"
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = [_start_worker(i, cluster, config, out, tmp_path) for i in range(2)]
    try:
        deadline = time.monotonic() + 120
        while len(histories := list(out.glob("*/*/history.csv"))) != 1 or (
            len(histories[0].read_text().splitlines()) < 3  # two epochs done
        ):
            assert all(w.poll() is None for w in workers) and time.monotonic() < deadline
            time.sleep(0.2)
        sent_at = time.monotonic()
        workers[0].send_signal(signal.SIGTERM)
        _, stderr = workers[0].communicate(timeout=60)
        stopped_after = time.monotonic() - sent_at
        _, survivor = workers[1].communicate(timeout=120)  # it fails once its peer is gone
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=30)
    assert workers[0].returncode == 130, stderr[-3000:]
    assert stopped_after < 10
    assert "toolkit: interrupted; resume with: toolkit train --resume" in stderr
    record = run_record(histories[0].parent)
    assert record["status"] == "interrupted"
    # The survivor: one line naming the worker that left, exit code 1, its run marked failed.
    assert workers[1].returncode == 1, survivor[-3000:]
    lines = _toolkit_lines(survivor)
    assert len(lines) == 1, survivor[-3000:]
    assert lines[0].startswith(
        f"toolkit: error: training stopped: worker 0 ({cluster['worker'][0]}) left the cluster"
    )
    survivor_run = Path(lines[0].rpartition("; ")[2].removesuffix(" is marked failed"))
    assert survivor_run.is_relative_to(tmp_path)  # worker 1's copy, in its TMPDIR
    assert run_record(survivor_run)["status"] == "failed"
    assert run_record(survivor_run)["reason"] in lines[0]


def test_without_tf_config_multi_worker_trains_in_this_process_alone(tmp_path, monkeypatch):
    """No TF_CONFIG: the strategy is local, so there is no cluster to wait for."""
    from tests.helpers import run_cli

    monkeypatch.delenv("TF_CONFIG", raising=False)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(runtime_config(distribute="multi_worker")))
    result = run_cli("train", config, "--output-dir", tmp_path / "out", timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    record = run_record(last_line(result.stdout))
    assert record["status"] == "completed"
    assert record["strategy"] == "MultiWorkerMirroredStrategy" and record["replicas"] == 1


def test_a_worker_given_the_chiefs_run_to_resume_is_pointed_at_its_own_copy(tmp_path, monkeypatch):
    """The chief's "resume with: toolkit train --resume RUN", run on every task, sent worker 1
    into the chief's directory: on a shared file system the chief's lock refused it (or, on
    its own machine, there was no such folder), and the chief waited TOOLKIT_CLUSTER_WAIT
    seconds for it before failing too. Each task resumes the run it wrote; a worker's is its
    copy under $TMPDIR/toolkit-worker<N>-*, which the line now names at once."""
    import shutil

    from tests.helpers import REPO, run_cli, snapshot
    from toolkit.training.multi_worker import refuse_the_chiefs_run_on_a_worker

    monkeypatch.delenv("TF_CONFIG", raising=False)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(runtime_config(distribute="multi_worker")))
    trained = run_cli("train", config, "--output-dir", tmp_path / "out", timeout=120)
    assert trained.returncode == 0, trained.stderr[-3000:]
    chief_run = Path(last_line(trained.stdout))
    # As a worker leaving mid-training leaves it: the chief's run failed, the worker's copy
    # (the same files, under its own run id) in its temporary directory.
    record = run_record(chief_run)
    (chief_run / "run.json").write_text(json.dumps({**record, "status": "failed"}))
    temp = tmp_path / "worker-tmp"
    copy = temp / "toolkit-worker1-x1y2" / chief_run.parent.name / "20261207-000000-000000-abcd"
    shutil.copytree(chief_run, copy)

    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}),
        "TMPDIR": str(temp),
        "TOOLKIT_CLUSTER_WAIT": "30",
    }
    before = snapshot(chief_run)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "toolkit", "train", "--resume", str(chief_run)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr == (
        f"toolkit: error: {chief_run} is not this task's copy of the multi-worker run (worker 1 "
        f"of TF_CONFIG writes its own under {temp}/toolkit-worker1-*/{chief_run.parent.name}/); "
        "resume that copy on this task, with the same TF_CONFIG, while the chief resumes its "
        f"run: the latest here is {copy}: toolkit train --resume {copy}\n"
    )
    assert time.monotonic() - started < 25  # no wait for a cluster
    assert snapshot(chief_run) == before

    # The copy it names is resumed as it is; the chief (worker 0) resumes its own run.
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr("tempfile.tempdir", None)
    monkeypatch.setenv("TF_CONFIG", env["TF_CONFIG"])
    refuse_the_chiefs_run_on_a_worker(copy)
    chief = {"cluster": cluster, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(chief))
    refuse_the_chiefs_run_on_a_worker(chief_run)
