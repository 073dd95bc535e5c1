"""A ``toolkit predict`` killed mid-write: its temporary file is deleted by the next one."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import toolkit
from tests.helpers import hold_lock, run_cli, sigkill_when, start_toolkit, tiny_config

ROWS = 300_000  # a few seconds of writing on 2 cores: time to kill it midway


@pytest.fixture(scope="module")
def run_and_rows(tmp_path_factory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("predict-killed")
    config = tiny_config()
    config["training"]["epochs"] = 1
    # Trained in this process: the predict commands are what is checked.
    trained = toolkit.train(config, output_dir=directory / "out", verbose=0)
    assert trained.status == "completed", trained.reason
    rows = directory / "rows.csv"
    values = np.random.default_rng(0).normal(size=(ROWS, 4))
    pd.DataFrame(values, columns=[f"x{i}" for i in range(4)]).to_csv(rows, index=False)
    return trained.path, rows


@pytest.mark.slow
def test_the_next_predict_deletes_a_killed_ones_temporary_file(run_and_rows, tmp_path):
    """A SIGKILLed predict left `.tmp-...-predictions.csv` beside the output for good."""
    run, rows = run_and_rows
    output = tmp_path / "predictions.csv"
    process = start_toolkit("predict", run, "--input", rows, "--output", output)
    sigkill_when(
        process,
        lambda: any(p.stat().st_size for p in tmp_path.glob(".tmp-*predictions.csv")),
        timeout=120,
        poll=0.005,
    )
    assert process.returncode == -signal.SIGKILL, "predict ended before it could be killed"
    (left,) = tmp_path.glob(".tmp-*predictions.csv")
    assert not output.exists()  # nothing half-written under the output's name

    # Another predict writing the same output now: its temporary file is held, not stale.
    live = tmp_path / f".tmp-locked-{'ab' * 6}-predictions.csv"
    holder = hold_lock(live)
    # Not the form of a predict temporary file: not the toolkit's to delete.
    foreign = tmp_path / ".tmp-locked-mine-predictions.csv"
    foreign.write_text("x\n")
    # A few rows: how many the next predict writes has no part in what it deletes.
    few = tmp_path / "few.csv"
    pd.read_csv(rows, nrows=10).to_csv(few, index=False)
    try:
        result = run_cli("predict", run, "--input", few, "--output", output)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 0, result.stderr
    assert not left.exists()
    assert live.exists() and foreign.exists()
    assert len(pd.read_csv(output)) == 10
