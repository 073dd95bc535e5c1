"""Fixtures for the evaluation tests: synthetic run and sweep directories (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.evaluation._support import write_repeat_group, write_run, write_sweep


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_run(tmp_path, "run-a")


@pytest.fixture
def repeat_dir(tmp_path: Path) -> Path:
    return write_repeat_group(tmp_path)


@pytest.fixture
def sweep_dir(tmp_path: Path) -> Path:
    return write_sweep(tmp_path)
