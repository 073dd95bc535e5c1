"""Sizes that do not fit in memory, through the real CLI: one line naming the setting, and
nothing half-written.

Sizes that clearly cannot fit are refused before anything is written (exit 2). Nothing here
allocates more than a tiny run does: the refused sizes are never allocated.
"""

from __future__ import annotations

import re
from pathlib import Path

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
