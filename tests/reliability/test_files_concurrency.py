"""Files and concurrency: atomic writes, simultaneous runs, unwritable output and a full disk.

SIGKILL during training followed by ``toolkit train --resume``, and SIGINT (exit 130, run.json
``interrupted``), are covered by tests/training/test_resume.py
(``test_sigkill_then_resume_matches_an_uninterrupted_run`` and
``test_sigint_marks_the_run_interrupted_and_keeps_checkpoints``) and are not repeated here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from callbacks._files import TEMPORARY_PREFIX
from tests.helpers import cli_in_one_process, start_train, tiny_config
from tests.reliability._support import assert_nothing_written, assert_one_line_error, write_yaml

WATCHED = ("run.json", "metrics.json", "config.yaml")


# A genuinely full or read-only filesystem is a small tmpfs: CI runs as root on Debian, where
# mounting one works; a developer's unprivileged run skips these cases, CI fails on the skip.
NEEDS_TMPFS = pytest.mark.required("a tmpfs mounted for a full or read-only disk")


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    """Mount a tmpfs at ``path`` for the block, or skip the test where mounting is not allowed."""
    if shutil.which("mount") is None:
        pytest.skip("no mount command here")
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not permitted'})")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


# The note a full disk's line ends with: what the file system holding the file has left.
FREE_SPACE = r" \(([\d.,]+) (bytes|KiB|MiB|GiB|TiB) free on its file system\)"
UNIT_BYTES = {"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def assert_free_space(line: str, disk: Path) -> None:
    """The free space ``line`` gives is what statvfs says ``disk`` has now, within two
    significant digits and a page or two of files written since (run.json's last update)."""
    match = re.search(FREE_SPACE + "$", line)
    assert match, line
    given = float(match.group(1).replace(",", "")) * UNIT_BYTES[match.group(2)]
    stats = os.statvfs(disk)
    free = stats.f_bavail * stats.f_frsize
    assert abs(given - free) <= max(0.05 * free, 8192), (line, free)


# --------------------------------------------------------------------------- two runs at once


@pytest.fixture(scope="module")
def simultaneous_runs(tmp_path_factory):
    """Two ``toolkit train`` processes started together into one output directory, while a
    reader polls every run.json, metrics.json and config.yaml they write."""
    root = tmp_path_factory.mktemp("simultaneous")
    config = tiny_config()
    path = write_yaml(root / "config.yaml", config)
    out = root / "out"
    processes = [start_train(path, out), start_train(path, out)]
    reads: Counter[str] = Counter()
    failures: list[str] = []
    deadline = time.monotonic() + 300
    while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
        for name in WATCHED:
            for file in out.glob(f"*/*/{name}"):
                text = file.read_text(encoding="utf-8")
                try:
                    parsed = yaml.safe_load(text) if name.endswith(".yaml") else json.loads(text)
                    assert isinstance(parsed, dict)
                except Exception as error:  # recorded, asserted on below
                    failures.append(f"{file}: {type(error).__name__}: {text[:80]!r}")
                reads[name] += 1
        time.sleep(0.002)
    results = []
    for process in processes:
        if process.poll() is None:
            process.kill()
        stdout, stderr = process.communicate()
        results.append((process.returncode, stdout, stderr))
    return {"out": out, "results": results, "reads": reads, "failures": failures}


@pytest.mark.slow
def test_simultaneous_runs_get_distinct_directories_and_both_complete(simultaneous_runs):
    run_dirs = []
    for code, stdout, stderr in simultaneous_runs["results"]:
        assert code == 0, stderr
        assert "Traceback" not in stderr
        run_dirs.append(Path(stdout.strip().splitlines()[-1]))
    assert run_dirs[0] != run_dirs[1]
    assert {p.parent for p in run_dirs} == {simultaneous_runs["out"] / "tiny-regression"}
    for run in run_dirs:
        record = json.loads((run / "run.json").read_text())
        assert record["status"] == "completed" and record["run_id"] == run.name
        assert (run / "model.keras").is_file() and (run / "metrics.json").is_file()


@pytest.mark.slow
def test_a_reader_polling_during_training_always_parses_whole_files(simultaneous_runs):
    assert simultaneous_runs["failures"] == []
    reads = simultaneous_runs["reads"]
    assert reads["run.json"] >= 10 and reads["config.yaml"] >= 10, reads
    leftovers = list(simultaneous_runs["out"].rglob(f"{TEMPORARY_PREFIX}*"))
    assert leftovers == []


@pytest.mark.slow
def test_written_files_get_the_usual_permissions(simultaneous_runs):
    umask = os.umask(0o022)
    os.umask(umask)
    for run in (simultaneous_runs["out"] / "tiny-regression").iterdir():
        for name in WATCHED:
            assert (run / name).stat().st_mode & 0o777 == 0o666 & ~umask, (run, name)


# --------------------------------------------------------------------------- unwritable output


def _chmod_blocks_writes(directory: Path) -> bool:
    directory.chmod(0o500)
    try:
        (directory / "probe").touch()
    except PermissionError:
        return True
    (directory / "probe").unlink()
    return False


UNWRITABLE = {
    "under-a-regular-file": ("data.txt is not a directory",),
    "under-dev-full": ("/dev/full is not a directory",),
    "read-only-mount": ("read-only file system",),
    "chmod-0500": ("permission denied",),
    "inside-proc": ("/proc/",),
}


@pytest.fixture(scope="module")
def unwritable(tmp_path_factory) -> dict[str, tuple]:
    """``toolkit train`` of a tiny config into each unwritable output directory of
    UNWRITABLE, in one fresh process (each in its own folder, with its own exit code and
    output: each stops before training, so a process each only repeated the start-up).
    Per case: the result, its folder, and whether the output directory existed after the
    command (looked at while a read-only mount was still mounted); or the reason the case
    cannot be run here (to skip it)."""
    root = tmp_path_factory.mktemp("unwritable")
    config = write_yaml(root / "config.yaml", tiny_config())
    calls: dict[str, tuple[list, Path]] = {}
    cases: dict[str, tuple] = {}
    with contextlib.ExitStack() as stack:
        for kind in UNWRITABLE:
            folder = root / kind
            folder.mkdir()
            if kind == "under-a-regular-file":
                (folder / "data.txt").write_text("a regular file\n")
                out = folder / "data.txt" / "runs"
            elif kind == "under-dev-full":
                out = Path("/dev/full/runs")
            elif kind == "read-only-mount":
                try:
                    out = stack.enter_context(tmpfs(folder / "ro", "ro,size=64k")) / "runs"
                except pytest.skip.Exception as skipped:  # skipped by that test, not all
                    cases[kind] = (str(skipped),)
                    continue
            elif kind == "chmod-0500":
                (folder / "locked").mkdir()
                if not _chmod_blocks_writes(folder / "locked"):
                    (folder / "locked").chmod(0o700)
                    cases[kind] = (
                        "running as root: chmod 0500 does not stop writes (other cases do)",
                    )
                    continue
                out = folder / "locked" / "runs"
            else:
                out = Path(f"/proc/toolkit-reliability-{os.getpid()}")
            calls[kind] = (["train", config, "--output-dir", out], folder)
        results = cli_in_one_process(*calls.values())
        for (kind, (args, folder)), result in zip(calls.items(), results, strict=True):
            cases[kind] = (result, folder, Path(args[-1]).exists())
    return cases


@pytest.mark.parametrize(
    ("kind", "fragments"),
    [
        pytest.param(kind, fragments, marks=NEEDS_TMPFS)
        if kind == "read-only-mount"
        else (kind, fragments)
        for kind, fragments in UNWRITABLE.items()
    ],
)
def test_unwritable_output_dir_is_one_clear_line(kind, fragments, unwritable):
    if len(unwritable[kind]) == 1:
        pytest.skip(unwritable[kind][0])
    result, folder, out_existed = unwritable[kind]
    assert_one_line_error(result, "cannot create a run directory in", *fragments)
    assert not out_existed, f"{kind}: the output directory was created"
    if kind == "chmod-0500":
        (folder / "locked").chmod(0o700)
        assert_nothing_written(folder / "locked")


@pytest.mark.slow
@NEEDS_TMPFS
def test_full_disk_is_one_clear_line_and_the_run_is_marked_failed(cli, write_config, tmp_path):
    config = write_config(tiny_config())
    with tmpfs(tmp_path / "disk", "size=64k") as disk:
        stats = os.statvfs(disk)
        assert stats.f_blocks * stats.f_frsize <= 64 * 1024  # a real 64 KiB filesystem
        result = cli("train", config, "--output-dir", disk / "out", cwd=tmp_path)
        line = assert_one_line_error(result, "no space left on device")
        # The run started (its directory and run.json fit), filled the disk while training
        # and still recorded why it failed.
        run_jsons = list(disk.glob("out/*/*/run.json"))
        assert len(run_jsons) == 1, sorted(disk.rglob("*"))
        record = json.loads(run_jsons[0].read_text())
        assert record["status"] == "failed", record
        # The file being written is named (it said "cannot write: ..." without one).
        assert re.fullmatch(
            rf"cannot write {re.escape(str(run_jsons[0].parent))}/\S+: no space left on device"
            rf"{FREE_SPACE}",
            record["reason"],
        ), record["reason"]
        assert_free_space(record["reason"], disk)
        assert line == f"toolkit: error: {record['reason']}"
        assert list(disk.rglob(f"{TEMPORARY_PREFIX}*")) == []


@pytest.mark.slow
@NEEDS_TMPFS
def test_a_full_disk_during_a_weights_file_is_one_line_without_tracebacks(
    cli, write_config, tmp_path
):
    """The best weights (an HDF5 file of about 270 KB) do not fit: h5py reported the failed
    write twice more, as tracebacks, when the file's object was freed after the error line;
    and the line named the temporary file (.best.tmp.weights.h5), not best.weights.h5.
    Without resume points, as here, best.weights.h5 is written at every improvement (with
    them, when training ends, and a resume point's file is the first not to fit)."""
    raw = tiny_config(model={"task": "regression", "hidden": [256, 256]})
    raw["callbacks"]["backup_and_restore"] = False
    config = write_config(raw)
    with tmpfs(tmp_path / "disk", "size=128k") as disk:
        result = cli("train", config, "--output-dir", disk / "out", cwd=tmp_path)
        line = assert_one_line_error(result, "no space left on device")
        assert [p.name for p in disk.rglob("*.h5")] == []
        (run,) = disk.glob("out/*/*")
        # h5py names the temporary file in its text: the line names the file a user knows.
        checkpoint = run / "checkpoints" / "best.weights.h5"
        assert re.fullmatch(
            rf"toolkit: error: cannot write {re.escape(str(checkpoint))}: no space left on "
            rf"device{FREE_SPACE}",
            line,
        ), line
        assert_free_space(line, disk)


@pytest.mark.slow
@NEEDS_TMPFS
def test_a_full_disk_during_a_background_resume_point_is_one_line(cli, write_config, tmp_path):
    """Resume points and the best weights in them are written by a thread: its failure is
    raised on the training thread, at the next epoch's end, as one line naming the file."""
    config = write_config(tiny_config(model={"task": "regression", "hidden": [256, 256]}))
    with tmpfs(tmp_path / "disk", "size=128k") as disk:
        result = cli("train", config, "--output-dir", disk / "out", cwd=tmp_path)
        line = assert_one_line_error(result, "no space left on device")
        (run,) = disk.glob("out/*/*")
        assert line.startswith(f"toolkit: error: cannot write {run / 'checkpoints' / 'resume'}/")
        assert json.loads((run / "run.json").read_text())["status"] == "failed"


API_TRAIN = """
import json, sys
import toolkit
from tests.helpers import tiny_config
raw = tiny_config(model={"task": "regression", "hidden": [256, 256]})
raw["callbacks"]["backup_and_restore"] = sys.argv[2] == "resume"
try:
    toolkit.train(raw, output_dir=sys.argv[1], verbose=0)
except toolkit.ToolkitError as error:
    print(json.dumps({"type": type(error).__name__, "message": str(error)}))
"""


@pytest.mark.slow
@NEEDS_TMPFS
@pytest.mark.parametrize("written", ["best", "resume"])
def test_a_full_disk_through_the_python_api_is_a_toolkit_error_and_a_clean_exit(tmp_path, written):
    """toolkit.train from Python raised the raw OSError (errno 28) where the CLI prints one
    line, and the process then crashed at exit (SIGSEGV, -11; "Exception ignored in
    ObjectID.__dealloc__"): Keras left the HDF5 file of best.weights.h5 open. Now a
    ToolkitError names the file and the space left, and the process ends normally. The
    best weights (about 270 KB) are written at every improvement without resume points;
    with them, a resume point is the first file not to fit."""
    with tmpfs(tmp_path / "disk", "size=128k") as disk:
        result = subprocess.run(
            [sys.executable, "-c", API_TRAIN, str(disk / "out"), written],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert result.returncode == 0, (result.returncode, result.stderr[-3000:])
        assert "Exception ignored" not in result.stderr, result.stderr[-3000:]
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
        raised = json.loads(result.stdout.strip().splitlines()[-1])
        assert raised["type"] == "ToolkitError"
        (run,) = disk.glob("out/*/*")
        checkpoints = run / "checkpoints"
        file = (
            re.escape(str(checkpoints / "best.weights.h5"))
            if written == "best"
            else rf"{re.escape(str(checkpoints / 'resume'))}/\S+"
        )
        message = raised["message"]
        assert re.fullmatch(rf"cannot write {file}: no space left on device{FREE_SPACE}", message)
        assert_free_space(message, disk)
        record = json.loads((run / "run.json").read_text())
        assert record["status"] == "failed" and record["reason"] == message
        # Nothing half-written: no weights file, no temporary file.
        assert [p.name for p in disk.rglob("*.h5")] == []
        assert list(disk.rglob(f"{TEMPORARY_PREFIX}*")) == []


@pytest.mark.slow
@NEEDS_TMPFS
def test_a_full_disk_during_an_export_names_the_export(cli, tmp_path):
    """TensorFlow reports it as a ResourceExhaustedError naming a file deep in the staging
    folder: the line said "cannot write a file: no space left on device"."""
    import toolkit

    with tmpfs(tmp_path / "disk", "size=4m") as disk:
        # Trained in this process: the export, by the command, is what is checked.
        trained = toolkit.train(tiny_config(), output_dir=disk / "out", verbose=0)
        assert trained.status == "completed", trained.reason
        run = trained.path
        with contextlib.suppress(OSError), open(disk / "filler", "wb") as filler:
            while True:  # until the disk is full
                filler.write(b"\0" * 65536)
                filler.flush()
        result = cli("export", run, cwd=tmp_path)
        assert_one_line_error(
            result,
            f"cannot write the saved_model export {run / 'export' / 'saved_model'}: "
            "no space left on device",
        )
        assert list((run / "export").iterdir()) == []
