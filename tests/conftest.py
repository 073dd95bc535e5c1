"""Fixtures: a config writer and the CLI runner; TensorFlow kept quiet."""

from __future__ import annotations

import os

import pytest
import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

from tests.helpers import run_cli


@pytest.fixture
def write_config(tmp_path):
    """Write a config dict as YAML in tmp_path and return its path."""

    def write(config: dict, name: str = "config.yaml"):
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    return write


@pytest.fixture
def cli():
    return run_cli
