"""The real CLI's commands in one fresh process, a later command naming the run an earlier one
trained: ``train`` then ``predict``/``evaluate``/``report`` on its run for one TensorFlow
start-up (about 4 s of CPU) where each command in a process of its own paid it again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.helpers import REPO

# The run directory printed last (the last line of stdout) by the latest call that exited 0
# and printed an existing directory: ``train`` prints it, as a user would copy it.
RUN = "{run}"

# As tests.helpers' one-process runner (each call its own working directory, stdout and stderr
# at the file-descriptor level, a fresh warnings registry), but an argument RUN is replaced by
# the run directory the latest successful train printed. Writes [args, code, stdout, stderr]
# per call to argv[2].
_CHAIN = """
import json, os, sys, tempfile, traceback, warnings
here = os.getcwd()
sys.path.insert(0, here)
from toolkit.cli import main

calls, answers, run = json.loads(open(sys.argv[1]).read()), [], None
for args, cwd in calls:
    if sys.argv[3] in args and run is None:
        raise SystemExit(f"no run printed before {args!r}: {answers[-1] if answers else ''}")
    args = [run if a == sys.argv[3] else a for a in args]
    os.chdir(cwd or here)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            with warnings.catch_warnings():
                code = main(args)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.chdir(here)
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for descriptor in saved:
                os.close(descriptor)
        texts = []
        for stream in (out, err):
            stream.seek(0)
            texts.append(stream.read().decode("utf-8", "replace"))
    answers.append([args, code, *texts])
    printed = texts[0].strip().splitlines()
    if code == 0 and printed and os.path.isdir(printed[-1]):
        run = printed[-1]
open(sys.argv[2], "w").write(json.dumps(answers))
"""


def cli_chain(
    *calls: list[str | Path] | tuple[list[str | Path], Path],
) -> list[subprocess.CompletedProcess]:
    """Each call (``ARGS``, or ``(ARGS, CWD)``) run as ``toolkit.cli.main(ARGS)`` in turn in
    one fresh process, an argument ``RUN`` standing for the run directory the latest
    successful command printed; per call, what ``run_cli(*ARGS)`` gives (its ``args`` with
    RUN replaced). For tests of what commands write and answer, not of a process's start-up
    or of a message printed once per process: later calls see what earlier ones left."""
    jobs = []
    for call in calls:
        arguments, directory = call if isinstance(call, tuple) else (call, None)
        jobs.append([[str(a) for a in arguments], None if directory is None else str(directory)])
    with tempfile.TemporaryDirectory(prefix="cli-chain-") as scratch:
        given, answered = Path(scratch) / "calls.json", Path(scratch) / "answers.json"
        given.write_text(json.dumps(jobs))
        process = subprocess.run(
            [sys.executable, "-c", _CHAIN, str(given), str(answered), RUN],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=600 + 10 * len(jobs),
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        assert process.returncode == 0, process.stderr[-3000:]
        answers = json.loads(answered.read_text())
    return [
        subprocess.CompletedProcess(["toolkit", *arguments], code, stdout, stderr)
        for arguments, code, stdout, stderr in answers
    ]
