"""A ``--repeat`` group stopped by SIGTERM or SIGKILL, and ``--resume`` of the group, through
the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.helpers import run_cli, sigkill_when, start_toolkit, tiny_config


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
    command = [
        "train",
        directory / "config.yaml",
        "--repeat",
        "3",
        "--output-dir",
        directory / "out",
    ]
    process = start_toolkit(*command)
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
    assert record["reason"].endswith(f"toolkit train --resume {group} finishes it")
    assert not (group / "metrics.json").exists()  # no mean over the seeds that happened to end
    # Not the seed's "resume with" line, which would resume that seed's run alone.
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"toolkit: interrupted; finish the --repeat group with: toolkit train --resume {group}"
    ), result.stderr
    # Its MLflow run ends as the seed's does, not left RUNNING.
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3's file store switch
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=record["tracking"]["mlflow"]["uri"])
    assert client.get_run(record["tracking"]["mlflow"]["run_id"]).info.status == "KILLED"


def _seed_runs(group: Path, seed: int) -> list[Path]:
    return sorted(path for path in group.glob(f"seeds/*/seed-{seed}-*") if path.is_dir())


# Each seed's epochs in the killed group: seed 8 is killed as soon as 3 are saved, with 9
# still to run, room for a late kill (30 before: the epochs after the kill only cost time).
KILLED_GROUP_EPOCHS = 12


def _killed_during_seed_8(directory: Path) -> Path:
    """``toolkit train --repeat 3`` SIGKILLed (no chance to clean up) once seed 8's run has
    saved 3 epochs; returns the group directory, its run.json still 'running'."""
    config = tiny_config(callbacks={"early_stopping": False})
    config["training"]["epochs"] = KILLED_GROUP_EPOCHS
    (directory / "config.yaml").write_text(yaml.safe_dump(config))
    out = directory / "out"
    process = start_toolkit("train", directory / "config.yaml", "--repeat", 3, "--output-dir", out)
    pattern = "tiny-regression/repeat-*/seeds/tiny-regression/seed-8-*/checkpoints/resume/LATEST"

    def three_epochs_saved() -> bool:
        saved = [p.read_text().strip() for p in out.glob(pattern)]
        return bool(saved and saved[0] and int(saved[0].removeprefix("epoch-")) >= 3)

    sigkill_when(process, three_epochs_saved, timeout=240)
    assert process.returncode == -signal.SIGKILL, process.stderr
    (group,) = out.glob("tiny-regression/repeat-*")
    return group


@pytest.mark.slow
def test_a_killed_group_is_finished_by_resume(tmp_path):
    """--resume of a group was refused: only each seed's run could be resumed, one by one,
    and the group never got its metrics.json."""
    group = _killed_during_seed_8(tmp_path)
    assert json.loads((group / "run.json").read_text())["status"] == "running"
    (seed_7,), (seed_8,) = _seed_runs(group, 7), _seed_runs(group, 8)
    assert _seed_runs(group, 9) == []
    assert json.loads((seed_8 / "run.json").read_text())["status"] == "running"
    # A report of the killed group says so; it stayed, saying "killed", after the resume,
    # with its curves of the seeds ended then.
    report = run_cli("report", group)
    assert report.returncode == 0, report.stderr
    assert "(killed)" in (group / "report.md").read_text()
    assert (group / "plots" / "seed_curves.png").exists()
    kept = _files(seed_7)

    result = run_cli("train", "--resume", group)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(group)
    lines = result.stderr.strip().splitlines()
    assert [line.split(" completed:")[0] for line in lines[:3]] == [
        "seed 7 (1/3)",
        "seed 8 (2/3)",
        "seed 9 (3/3)",
    ], result.stderr
    assert lines[3].startswith("mean ± std over 3 seeds, ")
    # Seed 7's finished run is kept as it was; seed 8's goes on in its own directory from its
    # last saved epoch; seed 9 is trained; no seed is trained twice.
    assert _files(seed_7) == kept
    assert _seed_runs(group, 8) == [seed_8] and len(_seed_runs(group, 9)) == 1
    record_8 = json.loads((seed_8 / "run.json").read_text())
    assert record_8["status"] == "completed" and record_8["resumed_at_epoch"] >= 4
    history = pd.read_csv(seed_8 / "history.csv")
    assert history["epoch"].tolist() == list(range(1, KILLED_GROUP_EPOCHS + 1))
    # The group's mean and std, recomputed from each seed run's own metrics.json.
    record = json.loads((group / "run.json").read_text())
    assert record["status"] == "completed" and record["completed_runs"] == 3
    runs = [group / member for member in record["runs"]]
    assert runs == [seed_7, seed_8, _seed_runs(group, 9)[0]]
    rmse = pd.Series(
        [json.loads((r / "metrics.json").read_text())["validation"]["rmse"] for r in runs]
    )
    metrics = json.loads((group / "metrics.json").read_text())
    assert metrics["seeds"] == [7, 8, 9]
    assert metrics["repeats"]["validation"]["rmse"]["mean"] == pytest.approx(rmse.mean())
    assert metrics["repeats"]["validation"]["rmse"]["std"] == pytest.approx(rmse.std())
    assert not (group / ".lock").exists()
    assert not (group / "report.md").exists() and not (group / "report.html").exists()
    assert not (group / "plots").exists()

    again = run_cli("train", "--resume", group)
    assert again.returncode == 2
    assert again.stderr == f"toolkit: error: {group} already completed; nothing to resume\n"


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


@pytest.mark.slow
def test_a_resumed_group_that_stops_on_a_user_error_is_marked_failed(tmp_path):
    """The group's run.json said "running" for good when its resume stopped on a user error
    (here its data changed since the group began), and report then called it killed."""
    rows = 160
    frame = pd.DataFrame({"a": range(rows), "b": [i % 7 for i in range(rows)]})
    frame["target"] = 2.0 * frame["a"] - frame["b"]
    frame.to_csv(tmp_path / "data.csv", index=False)
    config = tiny_config(data={"source": str(tmp_path / "data.csv"), "target": "target"})
    config["training"]["epochs"] = 40
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    process = start_toolkit(
        "train", tmp_path / "config.yaml", "--repeat", "3", "--output-dir", tmp_path / "out"
    )
    try:
        first = process.stderr.readline()
        assert first.startswith("seed 7 (1/3) "), first
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    (group,) = (tmp_path / "out" / "tiny-regression").glob("repeat-*")

    # The data went bad meanwhile: seed 8 (resumed, or trained afresh if the signal came
    # before it began) stops on it.
    frame.loc[3, "target"] = None
    frame.to_csv(tmp_path / "data.csv", index=False)
    result = run_cli("train", "--resume", group)
    assert result.returncode == 2, result.stderr
    kept, line = result.stderr.splitlines()  # seed 7's line (kept as it was), the error
    assert kept.startswith("seed 7 (1/3) completed: ") and line.startswith("toolkit: error: ")
    record = json.loads((group / "run.json").read_text())
    assert record["status"] == "failed" and record["ended"] is not None, record
    assert record["reason"] == "seed 8: DataError: " + line.removeprefix("toolkit: error: ")
    assert record["completed_runs"] == 1
    assert not (group / "metrics.json").exists() and not (group / ".lock").exists()
