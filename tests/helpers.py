"""Helpers shared by the tests: tiny configs on generated data and the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
