"""A ``--repeat`` group stopped by SIGTERM, and ``--resume`` given a group, through the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO, run_cli, tiny_config


def _files(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``directory`` with its size and modification time."""
    return {
        str(path.relative_to(directory)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def interrupted_group(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """``toolkit train --repeat 3`` sent SIGTERM once its first seed has finished."""
    directory = tmp_path_factory.mktemp("interrupted")
    config = tiny_config(tracking={"mlflow": {"uri": str(directory / "mlruns")}})
    config["training"]["epochs"] = 40
    (directory / "config.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "toolkit", "train", str(directory / "config.yaml")]
    command += ["--repeat", "3", "--output-dir", str(directory / "out")]
    process = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    try:
        first = process.stderr.readline()  # "seed 7 (1/3) completed: ..."; seed 8 starts next
        assert first.startswith("seed 7 (1/3) "), first
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    result = subprocess.CompletedProcess(command, process.returncode, stdout, first + stderr)
    groups = list((directory / "out" / "tiny-regression").glob("repeat-*"))
    assert len(groups) == 1, groups
    return result, groups[0]


@pytest.mark.slow
def test_sigterm_marks_the_group_interrupted(interrupted_group):
    """The group's run.json said "running" for good after Ctrl-C or SIGTERM."""
    result, group = interrupted_group
    assert result.returncode == 130, result.stderr
    record = json.loads((group / "run.json").read_text())
    assert record["status"] == "interrupted"
    assert record["ended"] is not None
    assert record["completed_runs"] == 1 and len(record["runs"]) == 1
    assert "during seed 8, after 1 of 3 seeds" in record["reason"]
    assert not (group / "metrics.json").exists()  # no mean over the seeds that happened to end
    # Not the seed's "resume with" line, which read as resuming the group.
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"toolkit: interrupted; the --repeat group {group} is not resumed: train it again"
    ), result.stderr
    seed_runs = [path for path in group.glob("seeds/*/seed-8-*") if path.is_dir()]
    if " (the seed run" in last:  # SIGTERM came during seed 8's training, not before it
        assert last.endswith(f"resumes on its own: toolkit train --resume {seed_runs[0]})")
    # Its MLflow run ends as the seed's does, not left RUNNING.
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3's file store switch
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=record["tracking"]["mlflow"]["uri"])
    assert client.get_run(record["tracking"]["mlflow"]["run_id"]).info.status == "KILLED"


@pytest.mark.slow
def test_resume_of_a_group_is_one_line_and_writes_nothing(interrupted_group):
    """--resume of a group trained seed 7 into the group directory, over its run.json, then
    failed with a message about load_run."""
    _, group = interrupted_group
    # Where `toolkit compare` of two seed runs puts its output by default: not a seed run.
    (group / "seeds" / "tiny-regression" / "compare").mkdir(exist_ok=True)
    before = _files(group)
    result = run_cli("train", "--resume", group)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    line = result.stderr.strip()
    # SIGTERM may come before seed 8's directory exists: then no seed run is named.
    unfinished = [path for path in group.glob("seeds/*/seed-8-*") if path.is_dir()]
    named = f"resume its unfinished seed run {unfinished[0]}, or " if unfinished else ""
    assert line == (
        f"toolkit: error: {group} is a --repeat group (1 of 3 seed runs recorded), and --resume "
        f"continues one run: {named}train the group again with --repeat 3"
    )
    assert _files(group) == before
    assert not (group / ".lock").exists()


def test_resume_refuses_repeat_and_output_dir(tmp_path):
    """--repeat and --output-dir were ignored silently by --resume."""
    for flags in (["--repeat", "3"], ["--output-dir", str(tmp_path / "elsewhere")]):
        result = run_cli("train", "--resume", tmp_path, *flags)
        assert result.returncode == 2
        assert result.stderr == (
            "toolkit: error: --resume continues one run in its own directory; "
            "drop --repeat and --output-dir\n"
        )
    assert list(tmp_path.iterdir()) == []
