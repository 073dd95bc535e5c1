"""Sizes that do not fit in memory, through the real CLI: one line naming the setting, and
nothing half-written.

Sizes that clearly cannot fit are refused before anything is written (exit 2). Nothing here
allocates more than a tiny run does: the refused sizes are never allocated.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import tiny_config
from tests.reliability._support import assert_nothing_written, assert_one_line_error, write_yaml

UNITS = {"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def _meminfo(field: str) -> int:
    """Bytes of a /proc/meminfo field (Linux)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/meminfo")


def _stated_available(line: str) -> int:
    """The bytes a message says the machine has available."""
    amount = re.search(r"this machine has ([\d.,]+) (\w+) available", line)
    assert amount, line
    return int(float(amount.group(1).replace(",", "")) * UNITS[amount.group(2)])


def test_synthetic_samples_beyond_memory_are_refused_before_anything_is_written(cli, tmp_path):
    """NumPy's MemoryError ('Unable to allocate 2.18 TiB') was a traceback with exit 1."""
    config = tiny_config()
    config["data"]["synthetic"] = {"samples": 100_000_000_000, "features": 3}
    out = tmp_path / "out"
    result = cli("train", write_yaml(tmp_path / "config.yaml", config), "--output-dir", out)
    # 1e11 x 3 x 8 bytes = 2.18 TiB
    line = assert_one_line_error(
        result,
        "data.synthetic: 100,000,000,000 samples x 3 features need 2.2 TiB as float64",
        "lower data.synthetic.samples",
    )
    assert _stated_available(line) <= _meminfo("MemTotal")
    assert_nothing_written(out)


# tiny_config's 4 columns: 4 x 1e6 + 1e6 x 1e6 + 1e6 x 1 (the head) kernel weights.
WEIGHTS = 4 * 10**6 + 10**12 + 10**6


@pytest.mark.parametrize(
    ("model", "fragments"),
    [
        pytest.param(
            {},
            (
                # With Adam's two slots each: 3 x 4 bytes x 1,000,005,000,000 = 10.9 TiB.
                f"model.hidden [1000000, 1000000]: at least {WEIGHTS:,} weights, x 3 with the "
                "2 slots adam keeps per weight, need 11 TiB as float32",
                "lower model.hidden",
            ),
            id="dense",
        ),
        pytest.param(
            {"ensemble": {"members": 5}},
            (
                f"model.hidden [1000000, 1000000] in 5 ensemble members: at least "
                f"{5 * WEIGHTS:,} weights",
                "need 55 TiB as float32",
                "lower model.hidden or model.ensemble.members",
            ),
            id="ensemble",
        ),
    ],
)
def test_a_model_beyond_memory_is_refused_before_the_run_directory_exists(
    model: dict, fragments: tuple[str, ...], cli, tmp_path
):
    """TensorFlow's ResourceExhaustedError ('OOM when allocating tensor with
    shape[100000,100000]') was a traceback with exit 1, after ten seconds of retrying, and
    left a run directory marked failed. On the CPU: a GPU's memory is not estimated."""
    config = tiny_config(runtime={"device": "cpu"})
    config["model"] = {**config["model"], "hidden": [1_000_000, 1_000_000], **model}
    out = tmp_path / "out"
    result = cli("train", write_yaml(tmp_path / "config.yaml", config), "--output-dir", out)
    line = assert_one_line_error(result, *fragments)
    assert _stated_available(line) <= _meminfo("MemTotal")
    assert_nothing_written(out)
