"""The run directory: its layout, atomic writes, and run.json bookkeeping.

A run lives at ``<output_dir>/<name>/<run_id>/``. Every file a reader may open while a run
is going (config, metrics, run.json) is written to a temporary file and renamed into place,
so nobody ever sees half a file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import re
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from callbacks._files import atomic_write as atomic_write
from callbacks._files import atomic_write_bytes as atomic_write_bytes
from callbacks._files import atomic_write_text as atomic_write_text
from toolkit.errors import ToolkitError, from_command_line, resume_call, train_call
from toolkit.text import counted

# How long a swallowed interrupt waits before it is raised again: long enough for the
# finalizer it landed in to have returned, short next to an epoch.
REDELIVER_INTERRUPT_SECONDS = 0.02


def redeliver_swallowed_interrupt(unraisable: Any) -> bool:
    """Raise again, in the main thread, a Ctrl-C or SIGTERM that Python dropped; True if
    ``unraisable`` (a ``sys.unraisablehook`` argument) was one.

    Python runs a signal's handler wherever the main thread is; when that is a ``__del__``
    (TensorFlow frees its graphs and variables in them), a weakref or a garbage-collector
    callback, the KeyboardInterrupt cannot propagate: Python prints "Exception ignored in"
    and goes on, and a run went on to its last epoch and exited 0. So it is raised again a
    moment later from a thread, once the finalizer has returned (from the hook itself it
    would land in the hook, where it is dropped too)."""
    if not isinstance(unraisable.exc_value, KeyboardInterrupt):
        return False
    import _thread
    import threading

    # Ctrl-C's handler raises KeyboardInterrupt, as the SIGTERM one does; a daemon thread,
    # so a process that is ending anyway does not wait for it.
    timer = threading.Timer(REDELIVER_INTERRUPT_SECONDS, _thread.interrupt_main)
    timer.daemon = True
    timer.start()
    return True


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a scheduler's time limit or preemption) stops a run or sweep as
    Ctrl-C does: marked interrupted, checkpoints kept, resumable. Either one that lands in
    a finalizer (where Python drops it) is raised again (``redeliver_swallowed_interrupt``)."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    def unraisable_hook(unraisable: Any) -> None:
        if not redeliver_swallowed_interrupt(unraisable):
            previous_hook(unraisable)

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    previous_hook = sys.unraisablehook
    sys.unraisablehook = unraisable_hook
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = previous_hook


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(
        path, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n"
    )


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def os_error_message(error: OSError, what: str) -> str:
    """A one-line message for a filesystem failure a user can act on."""
    reasons = {
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "read-only file system",
        errno.ENOSPC: "no space left on device",
        errno.EDQUOT: "disk quota exceeded",
    }
    reason = reasons.get(error.errno, error.strerror or str(error))
    return f"{what}: {reason}"


@dataclass(frozen=True)
class RunDirectory:
    """Paths of one run's files; the layout other commands and users rely on."""

    path: Path

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    @property
    def model(self) -> Path:
        return self.path / "model.keras"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.json"

    @property
    def history(self) -> Path:
        return self.path / "history.csv"

    @property
    def preprocessing(self) -> Path:
        return self.path / "preprocessing.json"

    @property
    def data_summary(self) -> Path:
        return self.path / "data_summary.json"

    @property
    def model_summary(self) -> Path:
        return self.path / "model_summary.txt"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    def read_run(self) -> dict[str, Any]:
        return read_json(self.run_json)

    def update_run(self, **fields: Any) -> dict[str, Any]:
        record = self.read_run() if self.run_json.exists() else {}
        record.update(fields)
        try:
            atomic_write_json(self.run_json, record)
        except OSError as error:
            if error.errno not in (errno.ENOSPC, errno.EDQUOT) or not self.run_json.exists():
                raise
            # A full disk has no room for the temporary copy, but the old run.json's own
            # blocks have room for the new record (say, status 'failed'): rewrite it in place.
            previous = self.run_json.read_text(encoding="utf-8")
            try:
                self.run_json.write_text(
                    json.dumps(record, indent=2, default=_json_default) + "\n", encoding="utf-8"
                )
            except OSError:
                self.run_json.write_text(previous, encoding="utf-8")
                raise error from None
        return record


# Inside a run or sweep directory: the lock its writer holds, and that writer's PID.
LOCK_FILE = ".lock"
# Seconds ``DirectoryLock.acquire`` keeps trying a lock that is held before it refuses: longer
# than a ``held_elsewhere`` probe holds it, short enough not to be noticed in a refusal.
PROBE_PATIENCE = 0.5

# Directories this process holds: path -> (descriptor, depth), so a function that locks can
# call another that locks the same directory (resume through the API and the trainer).
_held: dict[Path, tuple[int, int]] = {}


class DirectoryLock:
    """An exclusive lock on a run or sweep directory, so two processes never write one at
    once (two ``--resume`` of the same run). ``flock`` on ``LOCK_FILE``: the kernel releases
    it when the holder ends in any way, SIGKILL included, so a killed run can be resumed.

    The holder deletes ``LOCK_FILE`` before it lets go, so a finished run leaves none behind;
    a killed one leaves it unlocked, and the next ``acquire`` takes it over.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def acquire(cls, path: str | Path, *, what: str = "run directory") -> DirectoryLock:
        """Lock ``path``, or a ToolkitError naming it and the PID holding it; nothing is
        written when the lock is taken."""
        key = Path(path).resolve()
        if key in _held:
            descriptor, depth = _held[key]
            _held[key] = (descriptor, depth + 1)
            return cls(key)
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, as before
            return cls(key)
        lock = key / LOCK_FILE
        # A held_elsewhere probe (toolkit compare's, report's) holds the lock for an instant:
        # a refusal is only given once the lock has stayed held this long.
        patience = time.monotonic() + PROBE_PATIENCE
        while True:
            try:
                descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as error:
                message = os_error_message(error, f"cannot lock {what} {path}")
                raise ToolkitError(message) from None
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() < patience:
                    os.close(descriptor)
                    time.sleep(0.002)
                    continue
                holder = _lock_holder(descriptor)
                os.close(descriptor)
                raise ToolkitError(
                    f"{what} {path} is in use by another toolkit process (pid {holder}); "
                    "wait for it to end, or stop it and try again"
                ) from None
            if _still_named(descriptor, lock):
                break
            # Locked a file its holder deleted as it let go (opened before the deletion): a
            # third process may hold a new one under the name by now. Lock the named file.
            os.close(descriptor)
        with contextlib.suppress(OSError):  # the PID only informs; a full disk keeps the lock
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        _held[key] = (descriptor, 1)
        return cls(key)

    @staticmethod
    def held_here(path: str | Path) -> bool:
        """Whether this process already holds the lock of ``path`` (it is writing it)."""
        return Path(path).resolve() in _held

    @staticmethod
    def held_elsewhere(path: str | Path) -> bool:
        """Whether another process holds the lock of ``path`` now, asked without writing:
        no lock file, or one nobody holds (a killed holder's), is False."""
        try:
            import fcntl
        except ImportError:  # not POSIX: no locks to ask about
            return False
        lock = Path(path) / LOCK_FILE
        while True:
            try:
                descriptor = os.open(lock, os.O_RDONLY)
            except OSError:
                return False
            try:
                # Shared: two probes at once (two `toolkit compare`) both get it, where an
                # exclusive probe made the other see the lock held and a killed run running.
                # A holder's exclusive lock still refuses it.
                fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            else:
                # Opened a file its holder deleted as it let go: a new holder may lock a new
                # file under the name by now. Ask the named one.
                if _still_named(descriptor, lock):
                    return False
            finally:
                os.close(descriptor)  # releases the probe's lock, if it took it

    def release(self) -> None:
        """Undo one ``acquire``; the last one unlocks."""
        if self.path not in _held:
            return
        descriptor, depth = _held.pop(self.path)
        if depth > 1:
            _held[self.path] = (descriptor, depth - 1)
            return
        # Deleted while still locked, so nobody can lock the name between the deletion and
        # the unlock; closing the descriptor releases the flock.
        with contextlib.suppress(OSError):
            (self.path / LOCK_FILE).unlink()
        os.close(descriptor)

    def __enter__(self) -> DirectoryLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _still_named(descriptor: int, lock: Path) -> bool:
    """Whether ``lock`` still names the file ``descriptor`` has open."""
    try:
        named = os.stat(lock)
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _lock_holder(descriptor: int) -> str:
    """The PID the holder wrote (it may still be writing it: a short wait)."""
    import time

    for _ in range(20):
        text = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
        if text:
            return text
        time.sleep(0.025)
    return "unknown"


# A temporary file of ``atomic_write_locked``: held under ``flock`` by its writer until it is
# renamed onto its target, so an unlocked one is a killed writer's leftover.
LOCKED_TEMPORARY = ".tmp-locked-"


def _locked_temporaries(target: Path) -> list[Path]:
    """The temporary files ``atomic_write_locked`` names for ``target``, beside it."""
    name = re.compile(rf"{re.escape(LOCKED_TEMPORARY)}[0-9a-f]{{12}}-{re.escape(target.name)}")
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return []
    return [path for path in entries if name.fullmatch(path.name)]


def remove_stale_temporaries(target: str | Path) -> list[Path]:
    """Delete the temporary files of ``atomic_write_locked`` for ``target`` that no process
    holds (their writer was killed: SIGKILL, out of memory); returns them. One a live writer
    holds is left alone: two processes may write the same target."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no way to tell a live writer's file from a leftover
        return []
    removed = []
    for path in _locked_temporaries(Path(target)):
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except OSError:
            continue  # gone meanwhile (its writer renamed it), or unreadable: not ours to judge
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _still_named(descriptor, path):
                path.unlink(missing_ok=True)
                removed.append(path)
        except BlockingIOError:
            pass  # a live writer's
        except OSError:
            pass  # cannot delete it (permissions): left as it is
        finally:
            os.close(descriptor)
    return removed


def atomic_write_locked(target: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Like ``atomic_write``, for files a user names (``toolkit predict --output``): the
    temporary file beside ``target`` is ``.tmp-locked-<random>-<name>``, held under ``flock``
    from its creation until it is renamed onto ``target``, and the temporaries a killed
    writer left for ``target`` are deleted first. ``write(handle)`` writes into the open
    binary file; it is flushed to disk before the rename. Returns ``target``.

    Why not a file without a name (``O_TMPFILE``, linked in at the end): it cannot replace an
    existing file in one step, and not every filesystem (NFS) has it.
    """
    target = Path(target)
    remove_stale_temporaries(target)
    try:
        import fcntl
    except ImportError:  # not POSIX: the plain temporary file, which a kill leaves behind
        return atomic_write(target, lambda path: _write_file(path, write))
    while True:
        temporary = target.with_name(f"{LOCKED_TEMPORARY}{secrets.token_hex(6)}-{target.name}")
        handle = open(temporary, "xb")  # noqa: SIM115 (closed below, after the rename)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()  # another process's sweep holds it, to delete it: a new name
            continue
        if _still_named(handle.fileno(), temporary):
            break
        handle.close()  # deleted by a sweep between its creation and our lock: a new name
    try:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
        os.replace(temporary, target)
    finally:
        handle.close()  # unlocks, after the rename: a sweep never sees it unlocked
        temporary.unlink(missing_ok=True)  # when something failed before the rename
    return target


def _write_file(path: Path, write: Callable[[BinaryIO], object]) -> None:
    with open(path, "wb") as handle:
        write(handle)


REPORT_FILES = ("report.html", "report.md")
# The seed runs' curves a repeat group's report draws in the group's plots/.
SEED_CURVES = "seed_curves.png"


def drop_stale_reports(directory: Path) -> None:
    """Delete a report written while the run or sweep was killed: once it resumes, the page
    that says "killed" would stay beside a record that says completed."""
    for name in REPORT_FILES:
        (Path(directory) / name).unlink(missing_ok=True)


# What ``atomic_write`` names its temporary file (``.tmp-<12 hex digits>-<name>``); a
# predict output's ``.tmp-locked-...`` is not one (its writer may be alive, and holds it).
_STALE_TEMPORARY = re.compile(r"\.tmp-[0-9a-f]{12}-")


def drop_stale_temporaries(directory: Path) -> None:
    """Delete the temporary files of atomic writes that a killed process left in a run
    directory (``.tmp-<random>-conformal.json`` beside the conformal.json written once it
    resumed). Called under the run's lock, so no live writer of the run owns one."""
    for path in Path(directory).rglob(".tmp-*"):
        if _STALE_TEMPORARY.match(path.name) and path.is_file():
            with contextlib.suppress(OSError):
                path.unlink()


def new_run_id() -> str:
    """Sortable by start time; the random suffix keeps simultaneous runs apart."""
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%d-%H%M%S-%f") + "-" + secrets.token_hex(2)


def create_run_directory(output_dir: str | Path, name: str, *, prefix: str = "") -> RunDirectory:
    """Make a fresh, unique run directory (never reuses an existing one)."""
    parent = Path(output_dir).expanduser() / name
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for _ in range(20):
            path = parent / f"{prefix}{new_run_id()}"
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return RunDirectory(path)
    except OSError as error:
        raise ToolkitError(
            os_error_message(error, f"cannot create a run directory in {parent}")
        ) from None
    raise ToolkitError(f"cannot create a unique run directory in {parent}")


def disk_full_message(error: BaseException) -> str | None:
    """``"cannot write PATH: no space left on device (N free on its file system)"`` if
    ``error`` (or what caused it) is a full disk or quota, else None. Libraries such as h5py
    report it only in their text."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current)
        # h5py's OSError has errno 28 and no filename: the file is named in its text, as in
        # TensorFlow's errors ("{{function_node ...}} PATH; No space left on device").
        match = re.search(r"filename = '([^']+)'", text) or re.search(
            r"(\S+); No space left on device", text
        )
        named = current.filename if isinstance(current, OSError) else None
        named = named or (match.group(1) if match else None)
        if isinstance(current, OSError) and current.errno == errno.EDQUOT:
            return os_error_message(current, f"cannot write {named or 'a file'}")
        if (
            (isinstance(current, OSError) and current.errno == errno.ENOSPC)
            or "No space left on device" in text
            or "errno = 28," in text
        ):
            return f"cannot write {named or 'a file'}: no space left on device{_free_space(named)}"
        current = current.__cause__ or current.__context__
    return None


def _free_space(named: str | None) -> str:
    """`` (40 KiB free on its file system)``: the space a user can still write where the
    file was going (the partial file already removed), so the line says how much is
    missing; empty when the folder cannot be asked, or for a device such as /dev/full."""
    if named is None:
        return ""
    from toolkit.data.memory import readable_bytes

    path = Path(named)
    if path.exists() and not (path.is_file() or path.is_dir()):
        return ""
    folder = path.parent
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    try:
        stats = os.statvfs(folder)
    except (OSError, AttributeError):  # AttributeError: no statvfs (Windows)
        return ""
    return f" ({readable_bytes(stats.f_bavail * stats.f_frsize)} free on its file system)"


def check_output_dir(output_dir: str | Path) -> None:
    """Fail fast, leaving nothing behind, when run directories cannot be made in ``output_dir``."""
    path = Path(output_dir).expanduser()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    what = f"cannot create a run directory in {path}"
    if not existing.is_dir():
        raise ToolkitError(f"{what}: {existing} is not a directory")
    try:  # a real probe: access() says yes to root even where mkdir fails (/proc, ro mounts)
        os.rmdir(tempfile.mkdtemp(dir=existing, prefix=".toolkit-probe-"))
    except OSError as error:
        raise ToolkitError(os_error_message(error, what)) from None


def _read_json_or_none(path: Path) -> Any:
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def no_model_message(run: RunDirectory) -> str:
    """Why a run directory has no model.keras: still training, killed or interrupted (with
    the command that continues it), or its status."""
    record = run.read_run()
    status = str(record.get("status", "unknown"))
    if status == "running" and DirectoryLock.held_elsewhere(run.path):
        return f"{run.path} has no model.keras yet: it is still training"
    if is_retired_attempt(record):
        return f"{run.path} has no model.keras: {record['reason']} ({retired_elsewhere()})"
    if status in ("running", "interrupted"):
        how = "was killed" if status == "running" else "was interrupted"
        sweep = sweep_of_trial(run.path)
        if sweep is not None:
            # `train --resume` would finish it outside the sweep, which never reads it.
            return (
                f"{run.path} has no model.keras: its training {how} before the end; it is a "
                f"trial of the sweep {sweep}, and {resume_call(sweep, command='tune')} runs it "
                "again"
            )
        return (
            f"{run.path} has no model.keras: its training {how} before the end; "
            f"{resume_call(run.path)} continues it"
        )
    sweep = run.path.parent.parent.parent
    if status == "completed" and run.path.parent.parent.name == "trials":
        settings = (_read_json_or_none(sweep / "sweep.json") or {}).get("settings") or {}
        if "keep_top_k" in settings:
            # The sweep deleted it; "(run status: completed)" read as a run gone wrong.
            kept = counted(settings["keep_top_k"], "trial")
            return (
                f"{run.path} has no model.keras: its sweep keeps the models of its best {kept} "
                f"only (tuner.keep_top_k); train this trial's config again with: "
                f"{train_call(run.path / 'config.yaml')}"
            )
    return f"{run.path} has no model.keras (run status: {status})"


def sweep_of_trial(path: Path) -> Path | None:
    """The sweep directory whose trial run ``path`` is (``SWEEP/trials/<name>/trial-*``), or
    None: a sweep trains its trials itself, and runs an unfinished one again on resume."""
    if path.parent.parent.name != "trials" or not path.name.startswith("trial-"):
        return None
    sweep = path.parent.parent.parent
    return sweep if (sweep / "sweep.json").exists() else None


# How run.json of a sweep trial's abandoned attempt starts its reason
# (``SweepRecords.retire_abandoned_runs``).
RETIRED_REASON = "the sweep stopped during this trial"


def retired_elsewhere() -> str:
    """Where a retired attempt points its user: the sweep, continued by ``toolkit tune
    --resume`` (``toolkit.tune(resume=...)`` from Python)."""
    call = "toolkit tune --resume" if from_command_line() else "toolkit.tune(resume=...)"
    return f"its new attempt is beside it; {call} on the sweep continues it"


def is_retired_attempt(record: dict[str, Any]) -> bool:
    """Whether run.json is that of a sweep trial's attempt that a resumed sweep ran again
    from the start: continuing it would train outside the sweep, which never reads it."""
    reason = str(record.get("reason") or "")
    return record.get("status") == "interrupted" and reason.startswith(RETIRED_REASON)


def _held_runs(directory: Path) -> list[Path]:
    """The run, ``--repeat`` group and sweep directories right inside ``directory``."""
    try:
        children = [child for child in directory.iterdir() if child.is_dir()]
    except OSError:
        return []
    return [
        child
        for child in children
        if (child / "run.json").is_file() or (child / "sweep.json").is_file()
    ]


def _started(run: Path) -> str:
    # A run id sorts by start time; a group's or sweep's has its prefix in front of it.
    return run.name.removeprefix("repeat-").removeprefix("sweep-")


def held_runs_hint(path: str | Path) -> str:
    """``"; it holds 3 runs: pass one, e.g. the newest, PATH"`` when ``path`` is the folder of
    a config's runs (``experiments/diabetes-mlp``) or a run in it that does not exist (the
    README's ``<run_id>`` typed as it is), else ``""``: what to pass instead."""
    path = Path(path)
    folder, where = (path, "it") if path.is_dir() else (path.parent, str(path.parent))
    runs = _held_runs(folder)
    if not runs:
        return ""
    newest = max(runs, key=_started)
    return f"; {where} holds {counted(len(runs), 'run')}: pass one, e.g. the newest, {newest}"


def _file_message(path: Path) -> str:
    """Why the file ``path`` is no run and what to pass instead: for an experiment config,
    the run directories ``toolkit train`` makes of it (``<output_dir>/<name>/<run_id>``),
    naming the newest when there are some."""
    generic = "pass the run directory toolkit train printed (<output_dir>/<name>/<run_id>)"
    config = None
    if path.suffix.lower() in {".yaml", ".yml"}:
        from toolkit.config.loading import load_config

        try:
            config = load_config(path)
        except Exception:  # not a valid config: what to pass is all there is to say
            config = None
    if config is None:
        return f"{path} is a file, not a run directory: {generic}"
    folder = Path(config.output_dir).expanduser() / config.name
    runs = _held_runs(folder)
    if not runs:
        return f"{path} is a config, not a run directory: {generic}; it has no runs in {folder}"
    newest = max(runs, key=_started)
    return (
        f"{path} is a config, not a run directory; its runs are in {folder} "
        f"({counted(len(runs), 'run')}): pass one, e.g. the newest, {newest}"
    )


def _export_source(path: Path) -> str | None:
    """``"; it is the saved_model export of the run RUN: pass that run ..."`` when ``path`` is
    an export, or a run's ``export/`` folder, found by the description ``toolkit export``
    writes beside each export (``<export>.json``); else None."""
    if (path / "run.json").exists():
        return None  # a run (the common case) reads nothing more
    inside = [path / f"{name}.json" for name in ("saved_model", "model.onnx", "model.tflite")]
    for description in [path.with_name(path.name + ".json"), *inside]:
        record = _read_json_or_none(description) if description.is_file() else None
        if isinstance(record, dict) and {"format", "run", "endpoint"} <= record.keys():
            what = (
                "holds the exports"
                if description in inside
                else f"is the {record['format']} export"
            )
            return (
                f"; it {what} of the run {record['run']}: pass that run, whose model.keras "
                "predict, evaluate and export read (serve an export itself, see the README's "
                "Export)"
            )
    return None


def open_run_directory(path: str | Path, *, need_model: bool = True) -> RunDirectory:
    """An existing run directory, checked to hold what commands read."""
    run = RunDirectory(Path(path))
    exported = _export_source(run.path)
    if exported is not None:
        # `toolkit predict RUN/export/saved_model` read as a missing run or a bare folder.
        raise ToolkitError(f"{run.path} is not a run directory{exported}")
    if run.path.is_file():
        # `toolkit evaluate configs/regression.yaml` said "run directory not found" of a
        # file that is there, leaving the user to wonder whether the path was mistyped.
        raise ToolkitError(_file_message(run.path))
    if not run.path.is_dir():
        raise ToolkitError(f"run directory not found: {run.path}{held_runs_hint(run.path)}")
    if not run.config.exists() or not run.run_json.exists():
        sweep = run.path / "sweep.json"
        if sweep.exists():
            best = (_read_json_or_none(sweep) or {}).get("best_trial") or {}
            example = f", e.g. its best trial {run.path / best['run_dir']}" if best else ""
            raise ToolkitError(
                f"{run.path} is a sweep, not a run; pass one of its trials' runs{example} "
                "(or train the best config with toolkit tune --final-train)"
            )
        raise ToolkitError(
            f"{run.path} is not a run directory (no config.yaml and run.json)"
            f"{held_runs_hint(run.path)}"
        )
    if need_model and not run.model.exists():
        raise ToolkitError(no_model_message(run))
    return run


def enclosing_runs(path: str | Path) -> list[tuple[Path, str]]:
    """The run, ``--repeat`` group and sweep directories that hold ``path`` (itself
    included, links followed), innermost first, each with its kind ("run", "--repeat
    group", "sweep"): directories with a run.json or sweep.json. Commands that write files
    of their own (compare) keep them out of these, where they would mix with the run's."""
    found = []
    for directory in [Path(path).resolve(), *Path(path).resolve().parents]:
        if (directory / "sweep.json").is_file():
            found.append((directory, "sweep"))
        elif (directory / "run.json").is_file():
            group = is_repeat_group(RunDirectory(directory))
            found.append((directory, "--repeat group" if group else "run"))
    return found


def is_repeat_group(run: RunDirectory) -> bool:
    """Whether ``run`` is a ``--repeat`` group directory (its run.json says so)."""
    record = _read_json_or_none(run.run_json) or {}
    return isinstance(record, dict) and record.get("kind") == "repeat"


def refuse_repeat_group(run: RunDirectory) -> None:
    """A ToolkitError when ``run`` is a ``--repeat`` group: resuming it as one run would
    train a single seed into the group directory over its aggregated metrics; the group is
    resumed as a whole by ``toolkit train --resume`` (``toolkit.resume``)."""
    if is_repeat_group(run):
        raise ToolkitError(
            f"{run.path} is a --repeat group, not one run: finish it with "
            f"toolkit train --resume {run.path}"
        )
