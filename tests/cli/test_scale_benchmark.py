"""benchmarks/scale.py subtracts the import a command pays from a sweep's wall time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_benchmarks_import_is_the_one_the_command_line_makes():
    """Its child imported Keras plainly: with Keras' scikit-learn wrappers and the collector
    walking the import's objects, about 1.3 s of CPU the command line does not pay, which
    understated the sweep's share outside training and import."""
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "scale.py"), "--child", "import"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    child = json.loads(done.stdout.strip().splitlines()[-1])
    assert child["import"] > 0
    # The command line's import (toolkit.startup): scikit-learn left out, the objects frozen.
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import gc, sys; from toolkit import startup; startup.quiet(); "
            "startup.import_tensorflow(); print('sklearn' in sys.modules, gc.get_freeze_count() > 0)",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["False", "True"]
    assert child.get("sklearn") is False
    assert child.get("frozen", 0) > 0
