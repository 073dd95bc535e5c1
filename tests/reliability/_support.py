"""Assertions shared by the reliability tests: one-line errors and nothing left on disk."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import yaml


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit 2, exactly one line on stderr, no traceback, every fragment in that line."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and result.stderr.endswith("\n"), result.stderr[-2000:]
    assert lines[0].startswith("toolkit: error: "), lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), (fragment, lines[0])
    return lines[0]


def assert_nothing_written(directory: Path) -> None:
    """The output directory was never created, or holds no files at all."""
    assert not directory.exists() or not [p for p in directory.rglob("*") if p.is_file()], sorted(
        directory.rglob("*")
    )


def with_values(config: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with dotted key paths set (``{"model.hidden": [0]}``)."""
    result = copy.deepcopy(config)
    for dotted, value in values.items():
        node = result
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return result


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
