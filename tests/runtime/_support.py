"""Helpers for the runtime tests: the tiny config, free ports, training via the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from tests.helpers import REPO, tiny_config


def runtime_config(**runtime) -> dict:
    """The tiny regression config, deterministic, with one string (categorical) feature."""
    return tiny_config(
        data={
            "source": "synthetic:regression",
            "synthetic": {"samples": 160, "features": 4, "categorical_features": 1},
            "validation": 0.25,
        },
        runtime={"deterministic": True, **runtime},
    )


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 right now (held open together so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def last_line(stdout: str) -> Path:
    return Path(stdout.strip().splitlines()[-1])


class CliRun:
    """``toolkit train`` in a background process, so independent runs overlap in time.

    Its output goes to files (a full pipe would stall a process nobody reads yet).
    """

    def __init__(self, config: dict, directory: Path, env: dict | None = None):
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        self._stdout, self._stderr = directory / "stdout.txt", directory / "stderr.txt"
        with self._stdout.open("w") as stdout, self._stderr.open("w") as stderr:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "toolkit", "train", path, "--output-dir", directory / "out"],
                cwd=REPO,
                stdout=stdout,
                stderr=stderr,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
            )
        self._run_dir: Path | None = None

    def wait(self, timeout: float = 240) -> Path:
        """The run directory once training has succeeded (killed after ``timeout`` seconds)."""
        if self._run_dir is None:
            try:
                self._process.wait(timeout=timeout)
            finally:
                self.stop()
            assert self._process.returncode == 0, self._stderr.read_text()[-3000:]
            self._run_dir = last_line(self._stdout.read_text())
        return self._run_dir

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=30)


def train(config: dict, directory: Path, env: dict | None = None) -> Path:
    """Train ``config`` with the CLI in ``directory`` and return the run directory."""
    return CliRun(config, directory, env).wait()


def run_record(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def history(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "history.csv")


def assert_same_curves(actual: Path, expected: Path, rtol: float = 1e-4) -> None:
    """Loss and validation loss per epoch agree (distribution only reorders float sums)."""
    a, b = history(actual), history(expected)
    assert list(a["epoch"]) == list(b["epoch"])
    for column in ("loss", "val_loss"):
        np.testing.assert_allclose(a[column], b[column], rtol=rtol)
