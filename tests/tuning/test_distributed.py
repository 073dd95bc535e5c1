"""Distributed sweeps through Keras Tuner's chief/worker protocol on 127.0.0.1, and bounded waits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import cli_in_one_process
from tests.tuning.conftest import free_port, read_json, read_trials, sweep_config, trial_lines

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
for _name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
    ENV.pop(_name, None)


def _tune(*args, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "toolkit", "tune", *map(str, args)],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def distributed(tmp_path_factory):
    """A chief and two workers on a free port, sharing one sweep directory."""
    tmp_path = tmp_path_factory.mktemp("distributed")
    config = sweep_config(tmp_path, max_trials=4, worker_timeout=30)
    # A conditional field: its condition travels between the chief and the workers.
    config["tuner"]["search_space"]["training.optimizer.name"] = {"choice": ["sgd", "adam"]}
    config["tuner"]["search_space"]["training.optimizer.momentum"] = {
        "float": [0.0, 0.9],
        "when": {"training.optimizer.name": "sgd"},
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    port, sweep = free_port(), tmp_path / "shared-sweep"
    common = ("--chief-port", port, "--sweep-dir", sweep)
    processes = {
        "chief": _tune(path, "--role", "chief", *common, cwd=tmp_path),
        "a": _tune(path, "--role", "worker", "--worker-id", "a", *common, cwd=tmp_path),
        "b": _tune(path, "--role", "worker", "--worker-id", "b", *common, cwd=tmp_path),
    }
    outputs = {}
    try:
        for name, process in processes.items():
            outputs[name] = (*process.communicate(timeout=240), process.returncode)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
    return config, port, sweep, outputs


@pytest.mark.slow
def test_chief_and_two_workers_run_every_trial_once_and_exit(distributed):
    _, _, sweep, outputs = distributed
    for name, (stdout, stderr, code) in outputs.items():
        assert code == 0, f"{name} exited {code}:\n{stderr}"
        assert stdout.strip().splitlines()[-1] == str(sweep)
    record = read_json(sweep / "sweep.json")
    assert record["status"] == "completed" and record["role"] == "chief"
    rows = read_trials(sweep)
    assert sorted(row["trial_id"] for row in rows) == ["0", "1", "2", "3"]
    assert {row["status"] for row in rows} == {"completed"}
    runs = [p.name for p in (sweep / "trials" / "tiny-sweep").iterdir()]
    for row in rows:  # each trial ran exactly once
        assert sum(run.startswith(f"trial-{row['trial_id']}-") for run in runs) == 1
    workers = {
        read_json(sweep / "records" / f"trial-{row['trial_id']}.json")["worker"] for row in rows
    }
    assert workers <= {"worker-a", "worker-b"}
    # The chief reports every trial; each worker the trials it ran.
    assert len(trial_lines(outputs["chief"][1])) == 4
    assert len(trial_lines(outputs["a"][1])) + len(trial_lines(outputs["b"][1])) == 4
    # Keras Tuner printed a condition's value ("sgd") on its own line at every call.
    for name, (_, stderr, _) in outputs.items():
        assert "sgd" not in stderr.splitlines(), f"{name}:\n{stderr}"
    assert (sweep / "best_config.yaml").exists() and (sweep / "best_model.keras").exists()
    assert not list((sweep / "workers").glob("*.beat"))  # workers removed their heartbeats


@pytest.mark.slow
def test_worker_gives_up_when_its_chief_is_gone(distributed):
    _, port, sweep, _ = distributed
    started = time.monotonic()
    worker = _tune(
        "--role", "worker", "--chief-port", port, "--resume", sweep,
        "--set", "tuner.worker_timeout=3", cwd=sweep.parent,
    )  # fmt: skip
    _, stderr = worker.communicate(timeout=120)
    elapsed = time.monotonic() - started
    assert worker.returncode != 0
    assert (
        f"the chief at 127.0.0.1:{port} did not answer within 3 s (tuner.worker_timeout)" in stderr
    )
    assert "Traceback" not in stderr
    assert elapsed < 60  # start-up (TensorFlow import) plus the 3 s wait, not Keras Tuner's hour


def test_worker_without_a_sweep_to_join_gives_up_in_time(write_config, make_sweep_config, tmp_path):
    path = write_config(make_sweep_config(worker_timeout=1))
    started = time.monotonic()
    worker = _tune(
        path,
        "--role",
        "worker",
        "--chief-port",
        free_port(),
        "--sweep-dir",
        tmp_path / "none",
        cwd=tmp_path,
    )
    _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 2
    assert "no sweep appeared at" in stderr and "within 1 s (tuner.worker_timeout)" in stderr
    assert time.monotonic() - started < 30
    assert not (tmp_path / "none").exists()


def test_role_flags_are_checked(write_config, make_sweep_config):
    path = write_config(make_sweep_config())
    # The four commands in one fresh process: each answers with its own exit code and stderr.
    results = cli_in_one_process(
        ["tune", path, "--role", "worker"],
        ["tune", path, "--chief-port", "1234"],
        ["tune", path, "--role", "worker", "--chief-port", "1234", "--worker-id", "my-chief"],
        ["tune", path, "--role", "worker", "--chief-port", "1234"],
    )
    result = results[0]
    assert result.returncode == 2 and "needs --chief-port" in result.stderr
    result = results[1]
    assert result.returncode == 2 and "need --role chief|worker" in result.stderr
    result = results[2]
    assert result.returncode == 2 and "not contain 'chief'" in result.stderr
    result = results[3]
    assert result.returncode == 2 and "a worker needs --sweep-dir" in result.stderr


def test_a_chief_port_in_use_writes_no_sweep_and_another_port_starts_it(
    write_config, make_sweep_config, tmp_path
):
    """The chief bound its port only once the search began: a port in use left a `failed`
    sweep in --sweep-dir, and the same command with a free port then said "already holds a
    sweep"."""
    import socket

    path = write_config(make_sweep_config(worker_timeout=1))
    sweep_dir = tmp_path / "sweep"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # The three chiefs in one fresh process (each its own exit code and stderr), while
        # the port is taken: an address not of this machine is refused before its port is.
        in_use, *others = cli_in_one_process(
            *[
                (["tune", path, "--role", "chief", *flags, "--sweep-dir", sweep_dir], tmp_path)
                for flags in (
                    ("--chief-port", port),
                    ("--chief-port", 0),
                    ("--chief-port", port, "--chief-address", "192.0.2.1"),
                )
            ]
        )
    stderr = in_use.stderr
    assert in_use.returncode == 2, stderr[-2000:]
    assert f"port {port} on 127.0.0.1 is in use" in stderr and "--chief-port" in stderr
    assert "Traceback" not in stderr
    assert not sweep_dir.exists()
    for chief, shown in zip(
        others,
        (
            "--chief-port must be between 1 and 65535, got 0",
            "must be an address of this",
        ),
        strict=True,
    ):
        assert chief.returncode == 2 and shown in chief.stderr, chief.stderr[-2000:]
    assert not sweep_dir.exists()


@pytest.mark.slow
def test_a_worker_whose_set_changes_the_model_is_refused(write_config, make_sweep_config, tmp_path):
    """A worker's --set reached the chief's base_config.yaml as well as its own config, so
    the two compared equal: the worker trained trials with another model and reported them
    into the chief's sweep."""
    path = write_config(make_sweep_config(worker_timeout=5))
    port, sweep_dir = free_port(), tmp_path / "sweep"
    chief = _tune(
        path, "--role", "chief", "--chief-port", port, "--sweep-dir", sweep_dir, cwd=tmp_path
    )
    try:
        for config in ([path], []):  # with the config file, and joining with none
            worker = _tune(
                *config,
                "--set",
                "model.l2=0.1",
                "--role",
                "worker",
                "--chief-port",
                port,
                "--sweep-dir",
                sweep_dir,
                cwd=tmp_path,
            )
            _, stderr = worker.communicate(timeout=120)
            assert worker.returncode == 2, stderr[-2000:]
            assert "model.l2: the worker's config differs" in stderr
            assert "Traceback" not in stderr
        assert not list(sweep_dir.glob("trials/*"))  # no trial ran with the changed model
    finally:
        _, stderr = chief.communicate(timeout=120)  # no worker left: it gives up by itself
    assert "no worker was alive" in stderr


def _wait_for(predicate, timeout: float, what: str, processes=()) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        for process in processes:
            if process.poll() is not None:
                pytest.fail(f"{what}: a process ended early: {process.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)


@pytest.mark.slow
def test_chief_requeues_a_dead_workers_trial_gives_up_alone_and_resumes(tmp_path):
    config = sweep_config(tmp_path, max_trials=2, worker_timeout=3)
    config["training"]["epochs"] = 100  # a trial of a few seconds, to be killed inside
    config["callbacks"]["early_stopping"] = False
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    port, sweep = free_port(), tmp_path / "shared-sweep"
    common = ("--chief-port", port, "--sweep-dir", sweep)
    chief = _tune(path, "--role", "chief", *common, cwd=tmp_path)
    worker = _tune(path, "--role", "worker", "--worker-id", "a", *common, cwd=tmp_path)
    try:
        # Worker a is inside its first trial (epochs logged) when it is killed.
        _wait_for(
            lambda: any(
                len(p.read_text().splitlines()) > 2
                for p in sweep.glob("trials/tiny-sweep/trial-0-*/history.csv")
            ),
            timeout=180,
            what="worker a training trial 0",
            processes=(chief, worker),
        )
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        _, stderr = chief.communicate(timeout=120)
    finally:
        for process in (chief, worker):
            if process.poll() is None:
                process.kill()
    # The chief handed the trial back once a's heartbeat was 3 s old, then, with no worker
    # left for another 3 s, stopped; the sweep is resumable.
    assert "chief: worker worker-a stopped beating; trial 0 goes back to the queue" in stderr
    assert chief.returncode == 1, stderr
    reason = "no worker was alive for 3 s (tuner.worker_timeout)"
    assert f"sweep interrupted: {reason}; resume with: toolkit tune --resume {sweep}" in stderr
    record = read_json(sweep / "sweep.json")
    assert record["status"] == "interrupted" and record["reason"] == reason
    assert not (sweep / "records" / "trial-0.json").exists()

    # A new chief and worker b finish the sweep, trial 0 included.
    chief = _tune("--role", "chief", "--chief-port", port, "--resume", sweep, cwd=tmp_path)
    worker = _tune(
        "--role", "worker", "--worker-id", "b", "--chief-port", port, "--resume", sweep,
        cwd=tmp_path,
    )  # fmt: skip
    outputs = {}
    try:
        for name, process in (("chief", chief), ("b", worker)):
            outputs[name] = (*process.communicate(timeout=240), process.returncode)
    finally:
        for process in (chief, worker):
            if process.poll() is None:
                process.kill()
    for name, (_, stderr, code) in outputs.items():
        assert code == 0, f"{name} exited {code}:\n{stderr}"
    rows = {row["trial_id"]: row for row in read_trials(sweep)}
    assert sorted(rows) == ["0", "1"] and {row["status"] for row in rows.values()} == {"completed"}
    assert read_json(sweep / "records" / "trial-0.json")["worker"] == "worker-b"
    assert read_json(sweep / "sweep.json")["status"] == "completed"
    # Worker a's run of trial 0 was cut short; worker b's is the trial's record.
    runs = sorted(p.name for p in (sweep / "trials" / "tiny-sweep").glob("trial-0-*"))
    assert len(runs) == 2


def test_a_worker_beats_from_when_it_joins_before_tensorflow_starts(tmp_path):
    """A worker's heartbeat began only once TensorFlow had started (seconds, more on a busy
    machine), so a chief already serving gave up ("no worker was alive for N s") on workers
    that were still starting: test_chief_requeues_a_dead_workers_trial_gives_up_alone_and_resumes
    failed so under CPU load, its resumed chief ending before worker b had beaten once."""
    from toolkit.tuning.sweep import Role, SweepSession

    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep_config(tmp_path, worker_timeout=3), sort_keys=False))
    sweep = tmp_path / "shared-sweep"
    SweepSession.open(path, role=Role("single"), sweep_dir=sweep).release()  # the chief's files
    worker = SweepSession.open(
        path, role=Role("worker", "worker-a", "127.0.0.1", "1"), sweep_dir=sweep
    )
    beat = sweep / "workers" / "worker-a.beat"
    try:
        assert beat.exists()  # right after joining, before run() imports anything
        first = beat.stat().st_mtime_ns
        _wait_for(lambda: beat.stat().st_mtime_ns > first, timeout=30, what="a second beat")
    finally:
        worker.release()
    assert not beat.exists()  # released: the heartbeat stopped and its file is gone


def test_a_worker_waits_for_a_chief_that_beats_but_does_not_serve_yet(monkeypatch):
    """A chief and its workers started together all import TensorFlow first; a worker whose
    first call came more than worker_timeout before the chief served gave up on a chief that
    was only starting. Until the chief first answers, a call waits on while its heartbeat is
    fresh, and gives up once the heartbeat stops."""
    from keras_tuner.src import protos

    from toolkit.tuning.client import BoundedOracleClient, ChiefLost

    port = free_port()  # nobody listens: a chief not serving yet
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(port))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker-a")
    checks = []

    def alive() -> bool:  # beats for the first three checks, then stops
        checks.append(time.monotonic())
        return len(checks) <= 3

    client = BoundedOracleClient(
        object(), timeout=0.3, address=f"127.0.0.1:{port}", chief_alive=alive
    )
    started = time.monotonic()
    with pytest.raises(ChiefLost, match=r"did not answer within 0\.3 s"):
        client.stub.GetSpace(protos.get_service().GetSpaceRequest())
    assert len(checks) == 4  # three more waits while it beat, then lost
    assert time.monotonic() - started >= 4 * 0.3
    with pytest.raises(ChiefLost):  # lost for good: later calls fail at once
        client.stub.GetSpace(protos.get_service().GetSpaceRequest())
    assert len(checks) == 4


def test_a_worker_whose_chief_is_gone_fails_with_exit_code_1_not_a_usage_error(tmp_path):
    """A worker whose chief did not answer exited 2, the code of a user's mistake; a lost
    chief fails the worker's part as a lost peer fails a run: one line, exit code 1."""
    from toolkit.tuning.sweep import Role, SweepSession

    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep_config(tmp_path, worker_timeout=2), sort_keys=False))
    sweep = tmp_path / "shared-sweep"
    SweepSession.open(path, role=Role("single"), sweep_dir=sweep).release()  # the chief's files
    port = free_port()  # no chief serves on it
    worker = _tune(
        "--role", "worker", "--worker-id", "a", "--chief-port", port, "--sweep-dir", sweep,
        cwd=tmp_path,
    )  # fmt: skip
    try:
        _, stderr = worker.communicate(timeout=180)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 1, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == (
        f"toolkit: error: worker worker-a: the chief at 127.0.0.1:{port} did not answer within "
        "2 s (tuner.worker_timeout); is it running?"
    )
    assert "Traceback" not in stderr


@pytest.mark.slow
def test_an_interrupted_worker_names_the_command_that_rejoins_and_it_does(tmp_path):
    """Ctrl-C in a worker said "resume with: toolkit tune --resume SWEEP", which without
    --role worker and the chief's port is not a worker's command. The line it prints now is
    run as it is, and that worker finishes the sweep with the chief."""
    import shlex

    config = sweep_config(tmp_path, max_trials=2, worker_timeout=15)
    config["training"]["epochs"] = 100  # a trial of a few seconds, to be interrupted inside
    config["callbacks"]["early_stopping"] = False
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    port, sweep = free_port(), tmp_path / "shared-sweep"
    chief = _tune(path, "--role", "chief", "--chief-port", port, "--sweep-dir", sweep, cwd=tmp_path)
    worker = _tune(
        path, "--role", "worker", "--worker-id", "a", "--chief-port", port, "--sweep-dir", sweep,
        cwd=tmp_path,
    )  # fmt: skip
    rejoined = None
    try:
        _wait_for(
            lambda: any(
                len(p.read_text().splitlines()) > 2
                for p in sweep.glob("trials/tiny-sweep/trial-0-*/history.csv")
            ),
            timeout=180,
            what="worker a training trial 0",
            processes=(chief, worker),
        )
        worker.send_signal(signal.SIGINT)
        _, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 130, stderr[-2000:]
        last = stderr.strip().splitlines()[-1]
        expected = (
            f"toolkit tune --role worker --chief-address 127.0.0.1 --chief-port {port} "
            f"--sweep-dir {shlex.quote(str(sweep))}"
        )
        assert last == f"toolkit: interrupted; rejoin the sweep with: {expected}"
        command = shlex.split(last.split(": ", 2)[2])
        assert command[:2] == ["toolkit", "tune"]
        rejoined = _tune(*command[2:], cwd=tmp_path)
        outputs = {}
        for name, process in (("chief", chief), ("rejoined", rejoined)):
            outputs[name] = (*process.communicate(timeout=300), process.returncode)
    finally:
        for process in (chief, worker, rejoined):
            if process is not None and process.poll() is None:
                process.kill()
    for name, (_, stderr, code) in outputs.items():
        assert code == 0, f"{name} exited {code}:\n{stderr[-3000:]}"
    rows = read_trials(sweep)
    assert sorted(row["trial_id"] for row in rows) == ["0", "1"]
    assert {row["status"] for row in rows} == {"completed"}
    assert read_json(sweep / "sweep.json")["status"] == "completed"


def test_an_interrupted_worker_in_python_is_told_the_call_that_rejoins():
    """From Python the same worker is told the ``toolkit.tune`` call, keywords and all."""
    from toolkit.errors import WorkerInterrupted

    error = WorkerInterrupted(Path("/shared/my sweep"), address="10.0.0.1", port="8000")
    assert str(error) == (
        "interrupted; rejoin the sweep with: toolkit.tune(role='worker', "
        "chief_address='10.0.0.1', chief_port=8000, sweep_dir='/shared/my sweep')"
    )
    assert error.command_line() == (
        "interrupted; rejoin the sweep with: toolkit tune --role worker --chief-address "
        "10.0.0.1 --chief-port 8000 --sweep-dir '/shared/my sweep'"
    )
