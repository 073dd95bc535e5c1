"""How a ``toolkit`` process starts TensorFlow and ends once the command has returned."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import REPO

# Imports TensorFlow as the command line does, then ends through ``exit_now`` with work still
# pending: a non-daemon thread that writes late, a thread pool left open, an exit handler,
# and buffered stdout.
PROGRAM = """
import atexit, gc, pathlib, sys, threading, time
from concurrent.futures import ThreadPoolExecutor

from toolkit import startup
from toolkit.cli import exit_now

out = pathlib.Path(sys.argv[1])
startup.quiet()
startup.import_tensorflow()
assert "tensorflow" in sys.modules
assert gc.isenabled(), "the collector is back on after the import"
assert gc.get_freeze_count() > 100_000, gc.get_freeze_count()

def late():
    time.sleep(0.5)
    (out / "thread.txt").write_text("thread")

threading.Thread(target=late).start()
pool = ThreadPoolExecutor(1)  # left open: its idle worker ends when the pool is shut down
pool.submit(time.sleep, 0.1)
atexit.register(lambda: (out / "atexit.txt").write_text("atexit"))
print("last line", end="")  # still in the buffer: stdout is a pipe
exit_now(3)
"""


def test_exit_now_finishes_threads_handlers_and_streams(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 3, result.stderr
    assert result.stdout == "last line"
    assert (tmp_path / "thread.txt").read_text() == "thread"
    assert (tmp_path / "atexit.txt").read_text() == "atexit"


def test_a_closed_stdout_ends_quietly():
    """``toolkit ... | head`` whose reader has gone: exit 141 (128 + SIGPIPE) without the
    'toolkit: error: file system error: Broken pipe' line it printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "validate", "configs/regression.yaml", "--print"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdout.close()  # before the command writes its config
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == 141
    assert stderr == ""
