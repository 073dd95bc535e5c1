"""The real CLI's commands in one fresh process, a later command naming the run an earlier one
trained: ``train`` then ``predict``/``evaluate``/``report`` on its run for one TensorFlow
start-up (about 4 s of CPU) where each command in a process of its own paid it again."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.helpers import cli_in_one_process

# Stands for the run directory printed last (stdout's last line) by the latest call that
# exited 0 and printed an existing directory: ``train`` prints it, as a user would copy it.
RUN = "{run}"


def cli_chain(
    *calls: list[str | Path] | tuple[list[str | Path], Path],
) -> list[subprocess.CompletedProcess]:
    """Each call (``ARGS``, or ``(ARGS, CWD)``) run as ``toolkit.cli.main(ARGS)`` in turn in
    one fresh process, an argument ``RUN`` standing for the run directory the latest
    successful command printed; per call, what ``run_cli(*ARGS)`` gives (its ``args`` with
    RUN replaced). For tests of what commands write and answer, not of a process's start-up
    or of a message printed once per process: later calls see what earlier ones left."""
    return cli_in_one_process(*calls, run_placeholder=RUN)


def train_call(tmp_path: Path, config: dict) -> list[str | Path]:
    """A chain's ``toolkit train`` of ``config`` (written as ``tmp_path/config.yaml``), its
    runs under ``tmp_path/r``: what tests.helpers' train_via_cli runs."""
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))
    return ["train", path, "--set", f"output_dir={tmp_path / 'r'}"]


def trained_run(trained: subprocess.CompletedProcess) -> Path:
    """The run directory a chain's ``toolkit train`` printed, checked to have trained."""
    assert trained.returncode == 0, trained.stderr
    return Path(trained.stdout.strip().splitlines()[-1])
