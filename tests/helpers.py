"""Helpers shared by the tests: tiny configs on generated data and the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

REPO = Path(__file__).resolve().parents[1]

# Overrides that keep a shipped config's model and training but write no TensorBoard logs,
# plots, baselines, checkpoints or resume points: for tests that train the real configs.
QUIET_RUN = [
    "callbacks.tensorboard=false",
    "callbacks.learning_curve=false",
    "callbacks.checkpoint=false",
    "callbacks.backup_and_restore=false",
    "evaluation.plots=false",
    "evaluation.baselines=false",
]


def tiny_config(task: str = "regression", **sections) -> dict:
    """A config that trains in about a second: generated data, one small block, few epochs."""
    source = {
        "regression": "synthetic:regression",
        "binary": "synthetic:binary",
        "multiclass": "synthetic:multiclass",
    }[task]
    config = {
        "name": f"tiny-{task}",
        "seed": 7,
        "data": {
            "source": source,
            "synthetic": {"samples": 160, "features": 4},
            "validation": 0.25,
        },
        "model": {"task": task, "hidden": [8]},
        "training": {"epochs": 3, "batch_size": 16},
        "callbacks": {"tensorboard": False, "learning_curve": False},
        "evaluation": {"plots": False, "baselines": False},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m toolkit ARGS`` in a fresh process and capture its output."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "toolkit", *map(str, args)],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


def train_via_cli(tmp_path: Path, config: dict, *, name: str = "config") -> Path:
    """Write ``config`` as ``tmp_path/<name>.yaml``, train it with ``toolkit train`` in a fresh
    process (runs under ``tmp_path/r``) and return the run directory it printed."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(config))
    result = run_cli("train", path, "--set", f"output_dir={tmp_path / 'r'}")
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


def predict_via_cli(run: Path, given: Path, out: Path) -> np.ndarray:
    """``toolkit predict RUN --input GIVEN --output OUT`` in a fresh process: the CSV's
    ``prediction`` column, checked to have run without a word of categories never seen."""
    import pandas as pd

    result = run_cli("predict", run, "--input", given, "--output", out)
    assert result.returncode == 0, result.stderr
    assert "never seen" not in result.stderr, result.stderr
    return pd.read_csv(out)["prediction"].to_numpy()


def cli_without_tensorflow(
    *calls: tuple[list[str | Path], int], unimported: tuple[str, ...] = ("tensorflow", "keras")
) -> subprocess.CompletedProcess:
    """Run ``toolkit.cli.main(args)`` for each ``(args, exit_code)`` in one fresh process,
    checking each exit code and then that none of ``unimported`` was imported (the command
    answered without starting TensorFlow); the process's output, already checked to exit 0."""
    lines = ["import sys", "from toolkit.cli import main"]
    for args, code in calls:
        lines.append(
            f"assert main({[str(a) for a in args]!r}) == {code}, {[str(a) for a in args]!r}"
        )
    lines.append(f"imported = [m for m in {list(unimported)!r} if m in sys.modules]")
    lines.append("assert not imported, imported")
    result = subprocess.run(
        [sys.executable, "-c", "\n".join(lines)], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    return result


def start_toolkit(*args: str | Path, stdout: int | None = subprocess.PIPE) -> subprocess.Popen:
    """``python -m toolkit ARGS`` in the background (to be killed, or waited on, by the
    caller), its stderr piped as text; ``stdout=subprocess.DEVNULL`` for a server."""
    return subprocess.Popen(
        [sys.executable, "-m", "toolkit", *map(str, args)],
        cwd=REPO,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


def start_train(config: Path, out: Path) -> subprocess.Popen:
    """``toolkit train CONFIG --output-dir OUT`` in the background (to be killed mid-run)."""
    return start_toolkit("train", config, "--output-dir", out)


def wait_for_resume_point(
    out: Path, process: subprocess.Popen, epochs: int, timeout: float = 240
) -> Path:
    """Poll until a run under ``out`` has a resume point of at least ``epochs`` epochs and
    return its directory; fail if training ends (or takes too long) first."""
    import pytest

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for latest in out.glob("*/*/checkpoints/resume/LATEST"):
            text = latest.read_text().strip()
            if text and int(text.removeprefix("epoch-")) >= epochs:
                return latest.parents[2]
        if process.poll() is not None:
            pytest.fail(f"training ended before epoch {epochs}: {process.stderr.read()[-2000:]}")
        time.sleep(0.01)
    process.kill()
    pytest.fail("training did not reach the epoch in time")


def kill_mid_run(out: Path, process: subprocess.Popen, after_epochs: int) -> Path:
    """SIGKILL ``process`` once its run has ``after_epochs`` epochs saved (no chance to clean
    up, as a power cut or the OOM killer); return the run directory, still 'running'."""
    run_dir = wait_for_resume_point(out, process, after_epochs)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    return run_dir


def sigkill_when(
    process: subprocess.Popen, ready: Callable[[], bool], *, timeout: float, poll: float = 0.01
) -> None:
    """SIGKILL ``process`` as soon as ``ready()`` holds (checked every ``poll`` seconds, for
    at most ``timeout``), then wait for it; it is stopped whatever happens. The caller asserts
    that it was killed (``returncode == -SIGKILL``) rather than ending first."""
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            if ready():
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(poll)
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# Takes a lock file as the toolkit locks a run or sweep directory, writes its PID there, says
# so on stdout, and holds the lock for a bounded time (it ends by itself if not killed first).
_HOLD_LOCK = """
import fcntl, os, sys, time
descriptor = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.ftruncate(descriptor, 0)
os.pwrite(descriptor, f"{os.getpid()}\\n".encode(), 0)
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def hold_lock(lock_file: Path, seconds: float = 120) -> subprocess.Popen:
    """Another process holding ``lock_file`` (a run's or sweep's ``.lock``), once it holds it;
    the caller kills it (SIGKILL leaves the kernel to drop the lock)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(lock_file), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``directory`` with its size and modification time."""
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
    }


def assert_same_config(actual: object, expected: object, path: str = "config") -> None:
    """Two ``get_config()`` results are equal in every entry; arrays compared element-wise."""
    import numpy as np

    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), (path, actual, expected)
        for key in expected:
            assert_same_config(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert type(actual) is type(expected) and len(actual) == len(expected), (path, actual)
        for index, (a, b) in enumerate(zip(actual, expected, strict=True)):
            assert_same_config(a, b, f"{path}[{index}]")
    elif isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray) and actual.dtype == expected.dtype, path
        np.testing.assert_array_equal(actual, expected, err_msg=path)
    else:
        assert type(actual) is type(expected) and actual == expected, (path, actual, expected)


def held_out_frame(run):
    """A ``toolkit.Run``'s held-out rows (test, else validation) as the raw frame a user would
    pass to ``predict``: the numeric columns and each categorical column by name."""
    import pandas as pd

    from toolkit.data.prepared import prepare_data
    from toolkit.data.preprocessing import NUMERIC_INPUT

    _, split = prepare_data(run.config, spec=run.spec).held_out
    features, _ = split.sample()
    columns = {}
    for index, feature in enumerate(run.spec.numeric):
        columns[feature.name] = features[NUMERIC_INPUT][:, index]
    for feature in run.spec.categorical:
        columns[feature.name] = features[feature.name][:, 0]
    return pd.DataFrame(columns)


# Runs toolkit.cli.main for each call of argv[1] (a JSON file of [arguments, directory]) in
# this one process, each in its own working directory and with its own stdout and stderr (the
# file descriptors, so output from C code or from a handler that kept the original stream is
# caught too); warnings show as in a fresh process. An argument equal to argv[3], when given,
# stands for the run directory printed last (stdout's last line) by the latest call that
# exited 0 and printed an existing directory, as a user copies what train printed. Writes
# [arguments, code, stdout, stderr, imported] per call to argv[2].
_CALLS_IN_ONE_PROCESS = """
import json, os, sys, tempfile, traceback, warnings
here = os.getcwd()
sys.path.insert(0, here)  # the checkout, also once a call changes directory
from toolkit.cli import main

calls, answers, run = json.loads(open(sys.argv[1]).read()), [], None
placeholder = sys.argv[3] if len(sys.argv) > 3 else None
for args, cwd in calls:
    if placeholder is not None and placeholder in args:
        if run is None:
            raise SystemExit(f"no run printed before {args!r}: {answers[-1] if answers else ''}")
        args = [run if a == placeholder else a for a in args]
    os.chdir(cwd or here)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            with warnings.catch_warnings():  # a fresh registry: each call warns as if alone
                code = main(args)
        except SystemExit as stop:  # argparse's usage errors end with SystemExit(2)
            code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
        except BaseException:  # as the interpreter shows an uncaught exception: exit 1
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.chdir(here)
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for descriptor in saved:
                os.close(descriptor)
        texts = []
        for stream in (out, err):
            stream.seek(0)
            texts.append(stream.read().decode("utf-8", "replace"))
    imported = [m for m in ("tensorflow", "keras") if m in sys.modules]
    answers.append([args, code, *texts, imported])
    printed = texts[0].strip().splitlines()
    if code == 0 and printed and os.path.isdir(printed[-1]):
        run = printed[-1]
open(sys.argv[2], "w").write(json.dumps(answers))
"""


def cli_in_one_process(
    *calls: list[str | Path] | tuple[list[str | Path], Path],
    without_tensorflow: bool = False,
    run_placeholder: str | None = None,
) -> list[subprocess.CompletedProcess]:
    """Each call (``ARGS``, or ``(ARGS, CWD)``) run as ``toolkit.cli.main(ARGS)`` in turn in one
    fresh process; per call, what ``run_cli(*ARGS)`` gives: its exit code, stdout and stderr.
    For tests of what commands write and answer, not of a process's start: TensorFlow starts
    once (about 4 s of CPU) for all of them. Later calls see what earlier ones left behind
    (files written, modules imported), so a test of start-up imports or of a message printed
    once per process needs a process of its own. With ``without_tensorflow``, no call
    imported TensorFlow or Keras (checked after each). An argument ``run_placeholder`` stands
    for the run directory the latest successful command printed (``args`` shows it replaced)."""
    import tempfile

    jobs = []
    for call in calls:
        arguments, directory = call if isinstance(call, tuple) else (call, None)
        jobs.append([[str(a) for a in arguments], None if directory is None else str(directory)])
    with tempfile.TemporaryDirectory(prefix="cli-calls-") as scratch:
        given, answered = Path(scratch) / "calls.json", Path(scratch) / "answers.json"
        given.write_text(json.dumps(jobs))
        process = subprocess.run(
            [sys.executable, "-c", _CALLS_IN_ONE_PROCESS, str(given), str(answered)]
            + ([] if run_placeholder is None else [run_placeholder]),
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=600 + 10 * len(jobs),
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        assert process.returncode == 0, process.stderr[-3000:]
        answers = json.loads(answered.read_text())
    results = []
    for arguments, code, stdout, stderr, imported in answers:
        if without_tensorflow:
            assert not imported, (arguments, imported)
        results.append(subprocess.CompletedProcess(["toolkit", *arguments], code, stdout, stderr))
    return results
