"""One permission policy for every file the toolkit writes: ``0666 & ~umask``, like any
ordinary file, whichever writer made it (text, bytes, savefig, model.save, a copy); and a
failed atomic write leaves neither a temporary file nor a changed target."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from callbacks._files import TEMPORARY_PREFIX, atomic_write, atomic_write_bytes, atomic_write_text
from tests.helpers import REPO
from tests.reliability._support import write_yaml
from tests.tuning.conftest import sweep_config

# Not the usual 0022, so a hard-coded 0644 (or mkstemp's 0600) shows up as a difference.
UMASK = 0o027


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.parametrize(
    "write",
    [
        lambda path: atomic_write_text(path, "text\n"),
        lambda path: atomic_write_bytes(path, b"\x00bytes"),
        lambda path: atomic_write(path, lambda temporary: temporary.write_bytes(b"via callback")),
    ],
    ids=["text", "bytes", "callback"],
)
def test_new_and_replaced_files_get_0666_minus_umask(tmp_path, write):
    target = tmp_path / "file.bin"
    with umask(UMASK):
        write(target)
        assert _mode(target) == 0o666 & ~UMASK
        target.chmod(0o600)  # a replaced file takes the policy's mode, not the old file's
        write(target)
    assert _mode(target) == 0o666 & ~UMASK
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]


@pytest.mark.parametrize("name", ["model.keras", "best.weights.h5"])
def test_the_writer_gets_a_hidden_path_beside_the_target_ending_with_its_name(tmp_path, name):
    """``model.save`` insists on ``.keras`` and ``save_weights`` on ``.weights.h5``."""
    seen = []
    atomic_write(
        tmp_path / name,
        lambda temporary: seen.append(temporary) or temporary.write_bytes(b"zip"),
    )
    (temporary,) = seen
    assert temporary.parent == tmp_path and temporary.name.endswith(f"-{name}")
    assert temporary.name.startswith(TEMPORARY_PREFIX)
    assert (tmp_path / name).read_bytes() == b"zip"
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")

    def half_then_fail(temporary: Path) -> None:
        temporary.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


@pytest.mark.required("/dev/full, the kernel's always-full device")
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_a_full_disk_names_the_file_being_written(tmp_path):
    """A write through an open file on a full disk raises ENOSPC without a filename, and
    h5py's names its file only in its text: the one line said "cannot write: no space
    left on device". /dev/full gives the kernel's real ENOSPC on every write."""
    import h5py

    from toolkit.runs import disk_full_message

    def into_full_disk(temporary: Path) -> None:
        temporary.write_text("half")
        with open("/dev/full", "wb") as full:
            full.write(b"metrics")

    target = tmp_path / "metrics.json"
    with pytest.raises(OSError) as raised:
        atomic_write(target, into_full_disk)
    assert raised.value.filename == str(target)  # the file, not its temporary
    # The space left where the file was going (tmp_path's file system, with room to spare:
    # the write went to /dev/full) ends the line.
    message = disk_full_message(raised.value)
    assert message.startswith(f"cannot write {target}: no space left on device (")
    assert message.endswith(" free on its file system)")
    assert list(tmp_path.iterdir()) == []

    with pytest.raises(OSError) as raised, h5py.File("/dev/full", "w") as weights:
        weights["kernel"] = [0.0] * 1000
    assert raised.value.filename is None
    assert disk_full_message(raised.value) == "cannot write /dev/full: no space left on device"


def test_an_interrupted_write_leaves_no_temporary(tmp_path):
    def interrupted(temporary: Path) -> None:
        temporary.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "run.json", interrupted)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_every_file_of_a_sweep_and_its_runs_follows_the_umask(tmp_path):
    """A sweep under umask 027: each trial is a full run (checkpoints, TensorBoard, plots,
    learning curve, model.keras), and the sweep adds trials.csv, best_config.yaml and the
    copied best_model.keras."""
    config = sweep_config(tmp_path, max_trials=2)
    config["callbacks"] = {"tensorboard": {"histogram_freq": 1}, "learning_curve": True}
    config["evaluation"] = {"plots": True, "baselines": False}
    path = write_yaml(tmp_path / "sweep.yaml", config)
    result = subprocess.run(
        [sys.executable, "-m", "toolkit", "tune", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        umask=UMASK,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    sweep = Path(result.stdout.strip().splitlines()[-1])
    files = [p for p in sweep.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    expected = {"best_model.keras", "model.keras", "best.weights.h5", "learning_curves.png"}
    assert expected <= names, sorted(names)
    assert any(name.startswith("events.out.tfevents") for name in names)
    wrong = {str(p.relative_to(sweep)): oct(_mode(p)) for p in files if _mode(p) != 0o640}
    assert wrong == {}
    assert list(sweep.rglob(f"{TEMPORARY_PREFIX}*")) == []
