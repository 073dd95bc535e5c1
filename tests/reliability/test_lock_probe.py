"""``DirectoryLock.held_elsewhere`` probes (``toolkit compare`` asking whether a run that says
'running' still has a process) against other probes and against ``acquire``."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import REPO
from toolkit.errors import ToolkitError
from toolkit.runs import LOCK_FILE, DirectoryLock

# Probes ``argv[1]`` as fast as it can for ``argv[2]`` seconds, then ends by itself.
_PROBE = """
import sys, time
from toolkit.runs import DirectoryLock
end = time.monotonic() + float(sys.argv[2])
print("probing", flush=True)
while time.monotonic() < end:
    DirectoryLock.held_elsewhere(sys.argv[1])
"""


def _prober(directory: Path, seconds: float) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", _PROBE, str(directory), str(seconds)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "probing"
    return process


def test_two_probes_of_a_killed_runs_lock_both_say_free(tmp_path):
    """Each probe took the lock exclusively for an instant, so a second probe at that instant
    saw it held: a killed run showed as 'running' in toolkit compare."""
    (tmp_path / LOCK_FILE).write_text("12345\n")  # a killed holder's file, locked by nobody
    prober = _prober(tmp_path, seconds=3)
    try:
        seen = []
        while prober.poll() is None:
            seen.append(DirectoryLock.held_elsewhere(tmp_path))
    finally:
        prober.kill()
        prober.wait()
    assert len(seen) > 1000 and not any(seen), f"{sum(seen)} of {len(seen)} probes saw it held"


def test_a_probe_does_not_make_acquire_refuse(tmp_path):
    """acquire refused a free directory when a probe held its lock at that instant, naming
    the killed holder's PID as a process in use."""
    (tmp_path / LOCK_FILE).write_text("12345\n")
    prober = _prober(tmp_path, seconds=3)
    try:
        refused = 0
        attempts = 0
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            attempts += 1
            try:
                lock = DirectoryLock.acquire(tmp_path)
            except ToolkitError:
                refused += 1
            else:
                lock.release()
    finally:
        prober.kill()
        prober.wait()
    assert attempts > 50 and refused == 0, f"{refused} of {attempts} acquires refused"
