"""Test files run longest first, so that two workers finish together.

``make test`` gives each xdist worker whole files (``--dist loadfile``: a file's tests share
its module-scoped trained runs), handing out the next file as a worker frees up. xdist's own
order, most tests first, put files with few but long tests (sweeps, resume, distributed) at
the end, where one worker went on alone for minutes. Handing out the longest files first
(the longest-processing-time rule) leaves only short files for the end. Each file's seconds
come from ``tests/durations.json``; a file not in it counts one second per test.

``TOOLKIT_RECORD_DURATIONS=tests/durations.json make test`` measures them again: the
seconds of every test's setup, call and teardown, summed per file.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

DURATIONS = Path(__file__).with_name("durations.json")
RECORD = "TOOLKIT_RECORD_DURATIONS"
UNKNOWN_SECONDS_PER_TEST = 1.0

_measured: defaultdict[str, float] = defaultdict(float)


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _known_seconds() -> dict[str, float]:
    try:
        return json.loads(DURATIONS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    known = _known_seconds()
    tests_per_file: defaultdict[str, int] = defaultdict(int)
    for item in items:
        tests_per_file[_file_of(item.nodeid)] += 1

    def seconds(path: str) -> float:
        return known.get(path, UNKNOWN_SECONDS_PER_TEST * tests_per_file[path])

    # A stable sort: a file's tests keep their order, and so do files of equal cost.
    items.sort(key=lambda item: -seconds(_file_of(item.nodeid)))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if os.environ.get(RECORD):
        _measured[_file_of(report.nodeid)] += report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get(RECORD)
    # Under xdist every report reaches the controller; the workers write nothing.
    if not path or hasattr(session.config, "workerinput") or not _measured:
        return
    measured = {name: round(seconds, 1) for name, seconds in sorted(_measured.items())}
    Path(path).write_text(json.dumps(measured, indent=1) + "\n", encoding="utf-8")
