"""``toolkit tune``: set up, run, resume or join a sweep, and leave a directory to act on.

The config and its search space are checked before TensorFlow or Keras Tuner is imported,
and the distributed role is turned into Keras Tuner's environment variables first too.
Progress goes to stderr; the last line on stdout is the sweep directory.

Layout of ``<output_dir>/<name>/sweep-<id>/`` (or ``--sweep-dir``): sweep.json,
base_config.yaml, trials.csv, best_config.yaml, best_model.keras, records/, trials/ (the
trial runs), tensorboard/, tuner/ (Keras Tuner's state) and workers/ (heartbeats).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NoReturn

import yaml

from toolkit.config.loading import (
    ConfigSource,
    Overrides,
    dump_config,
    load_config,
    resolve_source,
    validate_config,
    with_absolute_paths,
)
from toolkit.config.schema import ExperimentConfig
from toolkit.environment import TUNER_ENV, restored_environment
from toolkit.errors import (
    ConfigError,
    RunFailed,
    RunInterrupted,
    ToolkitError,
    WorkerInterrupted,
    from_command_line,
    option,
    resume_call,
)
from toolkit.runs import (
    LOCK_FILE,
    DirectoryLock,
    atomic_write_text,
    create_run_directory,
    drop_stale_reports,
    os_error_message,
    read_json,
    sigterm_as_interrupt,
    utc_now,
)
from toolkit.text import counted, summary_line
from toolkit.tracking import nested_under
from toolkit.tuning.records import SweepRecords, require_sweep_directory
from toolkit.tuning.space import SearchSpace, penalised_objective_warning, validate_search_space

# What a resumed (or joined) sweep may change: everything else would make trials incomparable.
RESUMABLE_SETTINGS = ("max_trials", "keep_top_k", "worker_timeout", "max_consecutive_failures")


@dataclass(frozen=True)
class Role:
    """This process's part in a sweep: ``single``, ``chief`` or ``worker``."""

    kind: str
    tuner_id: str | None = None
    address: str | None = None
    port: str | None = None


@dataclass(frozen=True)
class SweepOutcome:
    """How ``SweepSession.run`` ended: the sweep's status and the final run, if one trained."""

    status: str
    final_run: Path | None = None


@contextlib.contextmanager
def tuner_environment() -> Iterator[None]:
    """Keras Tuner's ``KERASTUNER_*`` variables as they were before, once the block ends.

    configure_role writes them into ``os.environ`` (Keras Tuner reads them there, during the
    sweep); left behind, a ``toolkit.tune(role=...)`` in a notebook made every later
    ``toolkit.tune()`` of the process a chief or worker of that sweep. Values the user set
    by hand before are put back as they were."""
    with restored_environment(TUNER_ENV):
        yield


def configure_role(
    role: str | None = None,
    *,
    chief_address: str | None = None,
    chief_port: int | None = None,
    worker_id: str | None = None,
) -> Role:
    """Turn --role/--chief-address/--chief-port/--worker-id into Keras Tuner's env vars.

    Keras Tuner reads KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT
    itself; set by hand, they work without the flags.
    """
    env = os.environ
    given_role = role
    if role not in (None, "chief", "worker"):
        raise ToolkitError(f"role must be chief or worker, got {role!r}")
    if role is None and "KERASTUNER_ORACLE_IP" in env:
        role = "chief" if "chief" in env.get("KERASTUNER_TUNER_ID", "") else "worker"
    if role is None:
        if chief_address or chief_port or worker_id:
            needs = "--role chief|worker" if from_command_line() else "role='chief' or 'worker'"
            raise ToolkitError(
                f"{option('--chief-address')}, {option('--chief-port')} and "
                f"{option('--worker-id')} need {needs}"
            )
        return Role("single")
    address = chief_address or env.get("KERASTUNER_ORACLE_IP") or "127.0.0.1"
    port = str(chief_port) if chief_port is not None else env.get("KERASTUNER_ORACLE_PORT")
    if not port:
        given = f"--role {role}" if from_command_line() else f"role={role!r}"
        raise ToolkitError(f"{given} needs {option('--chief-port')} (or KERASTUNER_ORACLE_PORT)")
    if role == "chief":
        tuner_id = "chief"
    elif worker_id:
        tuner_id = f"worker-{worker_id}"
    elif env.get("KERASTUNER_TUNER_ID") and given_role is None:
        tuner_id = env["KERASTUNER_TUNER_ID"]
    else:
        tuner_id = f"worker-{socket.gethostname()}-{os.getpid()}"
    if role == "worker" and ("chief" in tuner_id or not re.fullmatch(r"[A-Za-z0-9._-]+", tuner_id)):
        raise ToolkitError(
            f"worker id '{tuner_id}' must use only letters, digits, '.', '_', '-' and not contain 'chief'"
        )
    env["KERASTUNER_TUNER_ID"] = tuner_id
    env["KERASTUNER_ORACLE_IP"] = address
    env["KERASTUNER_ORACLE_PORT"] = port
    return Role(role, tuner_id, address, port)


def _check_chief_can_listen(role: Role) -> None:
    """A ToolkitError when the chief could not serve on its address and port.

    Checked before the sweep directory is written: the gRPC server binds only once the
    search starts, and a port in use then left a `failed` sweep in --sweep-dir, which a
    second try with another port refused as "already holds a sweep".
    """
    from toolkit.listening import check_can_listen

    port = int(role.port) if role.port and role.port.isdigit() else -1
    if not 1 <= port <= 65535:
        raise ToolkitError(f"{option('--chief-port')} must be between 1 and 65535, got {role.port}")
    check_can_listen(
        role.address,
        port,
        server="the chief",
        host_option=option("--chief-address"),
        port_option=option("--chief-port"),
    )


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _comparable(config: ExperimentConfig) -> dict[str, Any]:
    data = config.model_dump(mode="json")
    for key in RESUMABLE_SETTINGS:
        data["tuner"].pop(key, None)
    return data


def _first_difference(old: Any, new: Any, path: str = "") -> str | None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            found = _first_difference(
                old.get(key), new.get(key), f"{path}.{key}" if path else str(key)
            )
            if found:
                return found
        return None
    return None if old == new else (path or "config")


# How a refusal names what the caller passes: the command line's flags, or tune()'s
# keywords (``from_command_line``; ``option`` names a flag alone). A notebook's
# ``tune(resume=...)`` was told to "extend it with --set tuner.max_trials=N" and to "drop
# --sweep-dir".


def _passing(flag: str, value: object) -> str:
    """``--resume DIR`` on the command line, ``resume='DIR'`` from Python (a placeholder in
    capitals, ``SWEEP_DIR``, unquoted)."""
    if from_command_line():
        return f"{flag} {value}"
    text = str(value)
    return f"{option(flag)}={text if text.isupper() else repr(text)}"


def _setting(key: str) -> str:
    """How to raise a config value: ``--set KEY=N`` or ``overrides={'KEY': N}``."""
    return f"--set {key}=N" if from_command_line() else f"overrides={{'{key}': N}}"


def _check_unchanged(saved: ExperimentConfig, given: ExperimentConfig, *, worker: bool) -> None:
    changed = _first_difference(_comparable(saved), _comparable(given))
    if changed:
        allowed = ", ".join(f"tuner.{key}" for key in RESUMABLE_SETTINGS)
        if worker:
            raise ConfigError(
                f"{changed}: the worker's config differs from the sweep's base_config.yaml; "
                f"a worker runs the chief's config (only {allowed} may differ)"
            )
        raise ConfigError(
            f"{changed}: {option('--resume')} keeps the sweep's config; only {allowed} may change"
        )


class SweepSession:
    """One ``toolkit tune`` invocation: a new sweep, a resumed one, or a worker joining one."""

    def __init__(
        self,
        *,
        records: SweepRecords,
        config: ExperimentConfig,
        space: SearchSpace,
        role: Role,
        resumed: bool,
        verbose: bool,
        final_train: bool,
        output_dir: str | None,
        lock: DirectoryLock | None = None,
        created: tuple[Path, ...] = (),
        progress: bool = True,
    ) -> None:
        self.records = records
        # The folders above the sweep's own that this process made for it, innermost first:
        # a sweep discarded before its first trial removes them again if they are still empty.
        self.created = created
        # Held by the chief or single process until ``run`` ends; workers join the chief's.
        self.lock = lock
        self.heartbeat = None  # a worker's, from when it has joined (``_start_heartbeat``)
        self.config = config
        self.tuner = config.tuner
        self.space = space
        self.role = role
        self.resumed = resumed
        # Records that ended before this process started were reported by the process that
        # was killed; Keras Tuner may hand such a trial out again if the kill came between the
        # toolkit's record and Keras Tuner's own save.
        self.started = utc_now()
        self.verbose = 2 if verbose else 0
        # The sweep's own lines (start, trials, summary, best): toolkit.tune(verbose=False)
        # prints none, as toolkit.train(verbose=0) prints none; warnings print regardless.
        self.progress = progress
        self.final_train = final_train
        self.output_dir = output_dir
        self.base_data = yaml.safe_load(records.base_config.read_text(encoding="utf-8"))
        self.total = None if self.tuner.algorithm == "hyperband" else self.tuner.max_trials

    # ------------------------------------------------------------------ set-up (no TensorFlow)

    @classmethod
    def open(
        cls,
        config: ConfigSource | None,
        *,
        overrides: Overrides = None,
        role: Role,
        resume: str | Path | None = None,
        sweep_dir: str | Path | None = None,
        output_dir: str | Path | None = None,
        final_train: bool = False,
        verbose: bool = False,
        progress: bool = True,
    ) -> SweepSession:
        """A new sweep of ``config``, the sweep at ``resume`` continued, or (a worker) the
        sweep at ``sweep_dir`` joined; checked before TensorFlow starts."""
        options = {
            "role": role,
            "output_dir": output_dir,
            "final_train": final_train,
            "verbose": verbose,
            "progress": progress,
        }
        if role.kind == "worker":
            target = sweep_dir or resume
            if not target:
                raise ToolkitError(
                    f"a worker needs {_passing('--sweep-dir', 'DIR')}: the "
                    "sweep directory its chief writes"
                )
            session = cls._join(Path(target), config, overrides, **options)
            # Beating from the moment it has joined, not once TensorFlow has started: a chief
            # that was already serving gave up ("no worker was alive") on workers still
            # importing TensorFlow, which takes longer than worker_timeout on a busy machine.
            session._start_heartbeat()
            return session
        if role.kind == "chief":
            _check_chief_can_listen(role)
            session = cls._open_own(config, overrides, resume, sweep_dir, **options)
            # Its workers wait for it while it starts TensorFlow (see BoundedOracleClient).
            session._start_heartbeat()
            return session
        return cls._open_own(config, overrides, resume, sweep_dir, **options)

    @classmethod
    def _open_own(
        cls,
        config: ConfigSource | None,
        overrides: Overrides,
        resume: str | Path | None,
        sweep_dir: str | Path | None,
        **options: Any,
    ) -> SweepSession:
        """A new sweep, or the one at ``resume``, for the only or chief process."""
        if resume:
            if config is not None:
                raise ToolkitError(
                    f"{option('--resume')} takes the config from the sweep directory; drop "
                    f"{'CONFIG' if from_command_line() else 'config'} (extend the sweep "
                    f"with {_setting('tuner.max_trials')})"
                )
            if sweep_dir is not None and Path(sweep_dir).resolve() != Path(resume).resolve():
                # It was ignored: the sweep goes on in its own directory.
                raise ToolkitError(
                    f"{option('--resume')} continues the sweep in {resume}; drop "
                    f"{_passing('--sweep-dir', sweep_dir)}"
                )
            return cls._resume(Path(resume), overrides, **options)
        if config is None:
            needed = "a CONFIG file" if from_command_line() else "a config"
            raise ToolkitError(
                f"tune needs {needed} with a tuner: section (or "
                f"{_passing('--resume', 'SWEEP_DIR')})"
            )
        return cls._start(config, overrides, sweep_dir=sweep_dir, **options)

    @classmethod
    def _records(cls, path: Path, config: ExperimentConfig, space: SearchSpace) -> SweepRecords:
        tuner = config.tuner
        columns = list(tuner.search_space) + (
            ["training.epochs"] if tuner.algorithm == "hyperband" else []
        )
        return SweepRecords(
            path,
            objective=tuner.objective,
            direction=tuner.resolved_direction,
            keep_top_k=tuner.keep_top_k,
            columns=columns,
            spread=tuner.cv_folds is not None or tuner.executions_per_trial > 1,
        )

    @classmethod
    def _start(
        cls,
        source: ConfigSource,
        overrides: Overrides,
        *,
        sweep_dir: str | Path | None,
        role: Role,
        output_dir: str | Path | None,
        **options: Any,
    ) -> SweepSession:
        data, origins, label = resolve_source(source, overrides)
        config = validate_config(data, origins, label)
        space = validate_search_space(data, origins, config)
        # As a run's config.yaml: base_config.yaml, and so each trial's config and
        # best_config.yaml, work from any directory (--resume, toolkit train best_config.yaml).
        config = with_absolute_paths(config)
        from toolkit.training.runtime import check_runtime

        check_runtime(config.runtime)  # before the sweep's directory exists
        parent = Path(sweep_dir).parent if sweep_dir else Path(output_dir or config.output_dir)
        if not sweep_dir:
            parent = parent / config.name
        created = _missing_folders(parent)
        try:
            if sweep_dir:
                path = Path(sweep_dir)
                if (path / "sweep.json").exists():
                    raise ToolkitError(
                        f"{path} already holds a sweep; continue it with "
                        f"{_passing('--resume', path)}"
                    )
                path.mkdir(parents=True, exist_ok=True)
            else:
                path = create_run_directory(
                    output_dir or config.output_dir, config.name, prefix="sweep-"
                ).path
        except OSError as error:
            raise ToolkitError(
                os_error_message(error, "cannot create the sweep directory")
            ) from None
        lock = DirectoryLock.acquire(path, what="sweep directory")
        try:
            try:
                records = cls._records(path, config, space)
                atomic_write_text(records.base_config, dump_config(config))
            except OSError as error:
                raise ToolkitError(
                    os_error_message(error, "cannot create the sweep directory")
                ) from None
            # Where --final-train's run goes, absolute: a resumed sweep's final run goes
            # there too, from any directory (it went under the resuming process's
            # ./experiments, away from the sweep, when output_dir was given or relative).
            final_dir = str(Path(output_dir or config.output_dir).expanduser().absolute())
            records.update_sweep(
                sweep_id=path.name,
                name=config.name,
                status="created",
                started=utc_now(),
                ended=None,
                role=role.kind,
                chief=None if role.kind == "single" else f"{role.address}:{role.port}",
                output_dir=final_dir,
                **cls._settings(config),
            )
            return cls(
                records=records,
                config=config,
                space=space,
                role=role,
                resumed=False,
                output_dir=output_dir,
                lock=lock,
                created=created,
                **options,
            )
        except KeyboardInterrupt:
            lock.release()
            cls._delete_new_directory(path, created)  # Ctrl-C as it was being created
            raise
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _resume(
        cls, path: Path, overrides: Overrides, *, role: Role, **options: Any
    ) -> SweepSession:
        path = require_sweep_directory(path)
        # One process continues a sweep at a time; a second would run the same trials.
        lock = DirectoryLock.acquire(path, what="sweep directory")
        try:
            return cls._resume_locked(path, overrides, role=role, lock=lock, **options)
        except KeyboardInterrupt:
            lock.release()
            raise RunInterrupted(path, command="tune") from None
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _resume_locked(
        cls, path: Path, overrides: Overrides, *, role: Role, lock: DirectoryLock, **options: Any
    ) -> SweepSession:
        saved = load_config(path / "base_config.yaml")
        data, origins, label = resolve_source(path / "base_config.yaml", overrides)
        config = validate_config(data, origins, label)
        _check_unchanged(saved, config, worker=False)
        space = validate_search_space(data, origins, config)
        records = cls._records(path, config, space)
        previous = records.read_sweep()
        # Refused before anything is written: a resume that has nothing to do rewrote the
        # sweep's record (its end time, so a 32-second sweep reported 4 minutes).
        finished = (previous.get("counts") or {}).get("finished", 0)
        if config.tuner.max_trials < finished:
            raise ToolkitError(
                f"tuner.max_trials {config.tuner.max_trials} is below the "
                f"{counted(finished, 'trial')} the sweep has finished; give more to extend it"
            )
        planned = previous.get("max_trials", 0)
        complete = previous.get("status") == "completed" and config.tuner.max_trials <= planned
        final_run = previous.get("final_run") or {}
        stopped = _unfinished(final_run) if complete else None
        if stopped:
            # Without --final-train too: "train its best config with --final-train" started
            # a second final run beside the one that stopped.
            then = (
                "wait for its process to end"
                if stopped == "is still training"
                else f"resume it with: {resume_call(final_run['run_dir'])}"
            )
            raise ToolkitError(f"{path}'s final run {final_run['run_dir']} {stopped}; {then}")
        if complete and not options.get("final_train"):
            raise ToolkitError(
                f"{path} already completed; nothing to resume: extend it with "
                f"{_setting('tuner.max_trials')} (N > {planned}), or train its best "
                f"config with {'--final-train' if from_command_line() else 'final_train=True'}"
            )
        records.check_tuner_state()
        # A sweep that tuner.max_consecutive_failures stopped would fail one more trial and
        # stop again (the oracle counts the failures anew): refused with the sweep's reason,
        # unless the limit given now is above the failures in a row.
        failures = records.failures_in_a_row()
        limit = config.tuner.max_consecutive_failures
        if failures >= limit:
            raise ToolkitError(
                f"{path} stopped: {counted(failures, 'trial')} in a row failed "
                f"(tuner.max_consecutive_failures is {limit}); nothing to resume: see why in "
                "trials.csv's reason column, and to run more trials raise the limit with "
                f"{_setting('tuner.max_consecutive_failures')} (N > {failures})"
            )
        drop_stale_reports(path)
        # A sweep started before base_config.yaml held absolute paths gets them now.
        atomic_write_text(records.base_config, dump_config(with_absolute_paths(config)))
        recorded = previous.get("output_dir") or _output_dir_of(path, config)
        if not options.get("output_dir"):
            # The final run goes where the sweep's own would have (an output_dir given now
            # is the caller's choice, as it is for a new sweep).
            options["output_dir"] = recorded
        records.update_sweep(
            output_dir=recorded,
            resumed=[*previous.get("resumed", []), utc_now()],
            role=role.kind,
            chief=None if role.kind == "single" else f"{role.address}:{role.port}",
            **cls._settings(config),
        )
        return cls(
            records=records,
            config=config,
            space=space,
            role=role,
            resumed=True,
            lock=lock,
            **options,
        )

    @classmethod
    def _join(
        cls,
        path: Path,
        source: ConfigSource | None,
        overrides: Overrides,
        *,
        role: Role,
        **options: Any,
    ) -> SweepSession:
        own = None
        timeout = 120.0
        if source is not None:
            data, origins, label = resolve_source(source, overrides)
            own = validate_config(data, origins, label)
            validate_search_space(data, origins, own)
            own = with_absolute_paths(own)  # compared with the chief's absolute paths
            timeout = own.tuner.worker_timeout
        deadline = time.monotonic() + timeout
        while not ((path / "base_config.yaml").exists() and (path / "sweep.json").exists()):
            if time.monotonic() > deadline:
                raise ToolkitError(
                    f"no sweep appeared at {path} within {timeout:g} s (tuner.worker_timeout); "
                    f"is the chief at {role.address}:{role.port} running with --sweep-dir {path}?"
                )
            time.sleep(0.5)
        # The chief's config as it wrote it: the worker's --set must not reach it, or the
        # same change on both sides compared equal and the worker trained another model.
        data, origins, label = resolve_source(path / "base_config.yaml", None)
        config = validate_config(data, origins, label)
        if own is None and overrides:
            given, given_origins, given_label = resolve_source(path / "base_config.yaml", overrides)
            own = validate_config(given, given_origins, given_label)
        if own is not None:
            _check_unchanged(config, own, worker=True)
            config = config.model_copy(
                update={
                    "tuner": config.tuner.model_copy(
                        update={"worker_timeout": own.tuner.worker_timeout}
                    )
                }
            )
        space = SearchSpace(config.tuner, config.model_dump(mode="json"), origins)
        records = cls._records(path, config, space)
        return cls(records=records, config=config, space=space, role=role, resumed=True, **options)

    @staticmethod
    def _settings(config: ExperimentConfig) -> dict[str, Any]:
        tuner = config.tuner
        return {
            "algorithm": tuner.algorithm,
            "objective": tuner.objective,
            "direction": tuner.resolved_direction,
            "max_trials": tuner.max_trials,
            "settings": tuner.model_dump(mode="json", exclude={"search_space"}),
            "search_space": list(tuner.search_space),
        }

    # ------------------------------------------------------------------ running

    def run(self) -> SweepOutcome:
        """Search, then (chief or single process) write the results and, with ``final_train``,
        retrain the best config. A worker's outcome is ``joined``: the chief owns the status."""
        try:
            return self._run()
        finally:
            self.release()

    # What a new sweep has written before its first trial; a directory holding only these
    # (and no file of the user's, as a --sweep-dir given may) is the sweep's own.
    _FIRST_FILES = frozenset({"sweep.json", "base_config.yaml", LOCK_FILE})

    def _discard_if_new(self) -> None:
        """A new sweep stopped by a user mistake in its data before its first trial leaves no
        directory behind, as ``toolkit train`` leaves no run directory: it stayed at status
        'created', which report and --resume then took for a sweep."""
        if self.resumed or self.role.kind != "single":
            return
        self.release()
        self._delete_new_directory(self.records.path, self.created)

    @classmethod
    def _delete_new_directory(cls, path: Path, created: tuple[Path, ...]) -> None:
        """Delete ``path`` if it holds only what a new sweep writes first (with ``created``,
        the folders above it that this process made)."""
        if any(entry.name not in cls._FIRST_FILES for entry in path.iterdir()):
            return
        import shutil

        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):  # the config's name folder, if nothing else is in it
            path.parent.rmdir()
        for folder in created:  # and output_dir, if this process made it for the sweep
            with contextlib.suppress(OSError):
                folder.rmdir()

    def stop_interrupted(self) -> NoReturn:
        """Ctrl-C or SIGTERM outside the trials (TensorFlow starting, the data's first read,
        the oracle being built): it left a new sweep at 'created' or 'running' with a bare
        "toolkit: interrupted" (SIGTERM: no line, the process killed), so report and
        --resume took a sweep that never ran a trial for one. A new sweep without a trial is
        deleted, as train leaves no run directory; any other is marked interrupted and the
        error names ``tune --resume``."""
        path = self.records.path
        if self.role.kind != "worker":
            self._discard_if_new()
        if self.role.kind == "worker":
            self.release()
            raise self._interrupted() from None
        if not path.exists():
            self.release()
            raise KeyboardInterrupt
        self.records.refresh()
        if self.records.read_sweep().get("status") in ("created", "running"):
            self.records.update_sweep(status="interrupted", ended=utc_now(), reason="interrupted")
        self.release()
        raise RunInterrupted(path, command="tune") from None

    def _interrupted(self) -> RunInterrupted:
        """What an interrupted sweep raises: a worker's names the command that rejoins it."""
        if self.role.kind == "worker":
            return WorkerInterrupted(
                self.records.path, address=self.role.address or "", port=self.role.port or ""
            )
        return RunInterrupted(self.records.path, command="tune")

    def release(self) -> None:
        """Let other processes resume the sweep, and (a worker) stop its heartbeat; ``run``
        does it when it ends."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        self._stop_heartbeat()

    def _stop_heartbeat(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()
            self.heartbeat = None

    def _start_heartbeat(self) -> None:
        """A worker's or chief's heartbeat file, touched a few times per ``worker_timeout``."""
        from toolkit.tuning.heartbeat import Heartbeat

        interval = max(0.2, min(5.0, self.tuner.worker_timeout / 4))
        path = (
            self.records.chief_beat
            if self.role.kind == "chief"
            else self.records.workers_dir / f"{self.role.tuner_id}.beat"
        )
        self.heartbeat = Heartbeat(path, interval=interval).start()

    def _run(self) -> SweepOutcome:
        final_run = None
        tracking, parent = self._tracking()
        try:
            with (
                _stdout_to_stderr(),
                _tensorflow_warnings_quiet(not self.verbose),
                sigterm_as_interrupt(),
                nested_under(parent),
            ):
                status, reason = self._search()
                if self.role.kind == "worker":
                    status = "joined"
                else:
                    status = self._finish(status, reason)
                    if status == "completed" and self.final_train:
                        final_run = self._final_train()
        except BaseException as error:
            interrupted = isinstance(error, (RunInterrupted, KeyboardInterrupt))
            if tracking is not None:
                tracking.finish("interrupted" if interrupted else "failed")
            if isinstance(error, KeyboardInterrupt):
                self.stop_interrupted()
            raise
        finally:
            self._stop_heartbeat()
        if tracking is not None:
            best = self.records.read_sweep().get("best_trial") or {}
            tracking.finish(
                status,
                metrics={f"best.{self.tuner.objective}": best.get("objective")},
                artifacts=[
                    self.records.trials_csv,
                    self.records.best_config,
                    self.records.sweep_json,
                ],
            )
        return SweepOutcome(status, final_run)

    def _tracking(self):
        """The sweep's MLflow run that its trials nest under: opened (or, resumed, reopened)
        by the chief or single process; a worker nests its trials under the chief's."""
        from toolkit.tracking import GroupTracking
        from toolkit.tracking.run_tracking import sweep_params

        if self.role.kind == "worker":
            record = self.records.read_sweep().get("tracking") or {}
            return None, (record.get("mlflow") or {}).get("run_id")
        tracking = GroupTracking(
            self.config,
            read=self.records.read_sweep,
            write=self.records.update_sweep,
            params=sweep_params(self.config),
        )
        return tracking, tracking.start(self.records.path.name, kind="sweep", reopen=self.resumed)

    def _search(self) -> tuple[str, str | None]:
        from toolkit import compat
        from toolkit.tuning.client import ChiefLost
        from toolkit.tuning.hypermodel import ConfigHyperModel
        from toolkit.tuning.oracles import make_oracle
        from toolkit.tuning.trial import TrialRunner
        from toolkit.tuning.tuner import SweepTuner

        if not self.verbose:
            compat.quiet_failed_trials()  # the records keep each failed trial's traceback
        compat.quiet_condition_protos()  # Keras Tuner's debugging print, verbose or not
        compat.atomic_tuner_state()  # a killed sweep must leave an oracle.json to resume
        runner = None
        if self.role.kind != "chief":
            runner = TrialRunner(
                space=self.space,
                base_data=self.base_data,
                records=self.records,
                verbose=self.verbose,
                worker=self.role.tuner_id or "main",
            )
            try:
                runner.preflight(self.config)
            except ToolkitError:
                self._discard_if_new()
                raise
        max_epochs = self.tuner.max_epochs or self.config.training.epochs
        oracle = make_oracle(
            self.tuner,
            seed=self.tuner.seed if self.tuner.seed is not None else self.config.seed,
            max_epochs=max_epochs,
        )
        if self.role.kind != "worker":
            oracle.listener = self._on_trial_end
        tuner = SweepTuner(
            oracle=oracle,
            hypermodel=ConfigHyperModel(self.space),
            records=self.records,
            runner=runner,
            worker_timeout=self.tuner.worker_timeout,
            log=self._log,
            total=self.total,
        )
        if self.tuner.algorithm == "grid" and not any(dim.parents for dim in self.space.dimensions):
            # Grid search may run out of combinations before max_trials.
            combinations = math.prod(len(list(hp.values)) for hp in oracle.get_space().space)
            self.total = tuner.total = min(self.total, combinations)
        if self.role.kind != "worker":
            # Announced once the total is known: a grid smaller than max_trials runs fewer.
            self._announce()
            warning = penalised_objective_warning(self.config)
            if warning is not None:
                print(f"toolkit: warning: {warning}", file=sys.stderr, flush=True)
        try:
            try:
                tuner.search()
            finally:
                if runner is not None:
                    runner.finish_plots()  # the last trials' plots, drawn meanwhile
        except KeyboardInterrupt:
            if self.role.kind != "worker":
                self.records.refresh()
                self.records.update_sweep(
                    status="interrupted", ended=utc_now(), reason="interrupted"
                )
            raise self._interrupted() from None
        except ChiefLost as error:
            # Not a user mistake (exit code 2): the chief stopped or its host went away,
            # as a multi-worker peer lost fails a run (exit code 1).
            raise RunFailed(f"worker {self.role.tuner_id}: {error}") from None
        except BaseException as error:
            if self.role.kind != "worker":
                self.records.update_sweep(
                    status="failed", ended=utc_now(), reason=f"{type(error).__name__}: {error}"
                )
            raise
        if tuner.chief_gave_up:
            return "interrupted", tuner.chief_gave_up
        if oracle.stop_reason:
            return "failed", oracle.stop_reason
        return "completed", None

    def _log(self, message: str) -> None:
        """One of the sweep's lines on stderr, unless it runs without ``progress``."""
        if self.progress:
            _log(message)

    def _announce(self) -> None:
        from toolkit.tuning.board import write_experiment

        self.records.update_sweep(status="running", ended=None, reason=None)
        if not any(self.records.tensorboard.glob("events.out.tfevents.*")):
            write_experiment(
                self.records.tensorboard,
                self.space,
                objective=self.tuner.objective,
                max_epochs=(self.tuner.max_epochs or self.config.training.epochs)
                if self.tuner.algorithm == "hyperband"
                else None,
            )
        done = len(self.records.records())
        what = f"{self.tuner.algorithm} search over {counted(len(self.space.names), 'path')}"
        limit = f", up to {counted(self.total, 'trial')}" if self.total else ""
        verb = f"resuming ({counted(done, 'trial')} done)" if self.resumed else "starting"
        self._log(f"sweep {self.records.path}: {verb} a {what}{limit}")

    def _on_trial_end(self, trial: Any) -> None:
        """The oracle's hook (only or chief process): refresh outputs, print one line."""
        record = self.records.read_record(trial.trial_id)
        if record is None:  # failed inside Keras Tuner, before or after the toolkit's runner
            message = (trial.message or "").strip().splitlines()
            record = {
                "trial_id": trial.trial_id,
                "status": "failed",
                "hyperparameters": self.space.decode(trial.hyperparameters.values),
                "reason": message[-1] if message else f"trial ended with status {trial.status}",
                "runs": [],
            }
            self.records.write_record(record)
        self.records.refresh()
        # <=: both are whole seconds, and a kill followed at once by --resume can fall in the
        # same one; no trial of this process ends within the second it started.
        if self.resumed and record.get("ended") and record["ended"] <= self.started:
            self._log(
                f"trial {trial.trial_id} had finished before the interruption; its result is kept"
            )
            return
        self._log(self.records.progress_line(record, total=self.total))

    def _finish(self, status: str, reason: str | None) -> str:
        fields = self.records.refresh()
        counts = fields["counts"]
        if status == "completed" and counts["finished"] and not counts["completed"]:
            status, reason = "failed", "no trial completed"
        self.records.update_sweep(status=status, ended=utc_now(), reason=reason)
        if counts["finished"]:
            self._log("\n" + self.records.summary_table())
        best = fields["best_trial"]
        if best:
            self._log(
                f"best: trial {best['trial_id']}  {self.tuner.objective} {best['objective']:.4g}  "
                f"-> {self.records.best_config}"
            )
        if status == "interrupted":
            self._log(
                f"sweep interrupted: {reason}; resume with: "
                f"{resume_call(self.records.path, command='tune')}"
            )
        elif status == "failed":
            self._log(f"sweep failed: {reason}")
        return status

    def _final_train(self) -> Path:
        from toolkit.training.train import train

        config = load_config(self.records.best_config)
        self._log(f"final training of the best config: {self.records.best_config}")

        def named(run_dir: Path) -> None:
            # In sweep.json from its start: a SIGKILL in the final training left a completed
            # sweep naming no final run, whose --final-train trained a second one beside it.
            self.records.update_sweep(final_run={"run_dir": str(run_dir), "status": "running"})

        try:
            result = train(
                config, output_dir=self.output_dir, verbose=self.verbose, on_created=named
            )
        except RunInterrupted as interrupted:
            # The sweep is complete; its final run goes on with ``toolkit train --resume``,
            # and sweep.json must still say where that run is.
            self.records.update_sweep(
                final_run={"run_dir": str(interrupted.path), "status": "interrupted"}
            )
            raise
        self.records.update_sweep(
            final_run={"run_dir": str(result.run_dir), "status": result.status}
        )
        # The line train prints, with the split's metrics and the run's warnings: the trials'
        # lines give the objective only, and the final run is the one a user reads the test
        # split of ("final run completed: 3 epochs -> RUN" gave no figure at all).
        warnings = read_json(result.run_dir / "run.json").get("warnings")
        line = summary_line(SimpleNamespace(**vars(result), warnings=warnings))
        self._log(f"final run {line} -> {result.run_dir}")
        return result.run_dir


def _output_dir_of(path: Path, config: ExperimentConfig) -> str:
    """The output directory of a sweep whose sweep.json predates recording it: the one
    above ``<output_dir>/<name>/sweep-<id>``, else (a ``--sweep-dir`` of its own) the
    config's ``output_dir`` as a new sweep there would take it."""
    if path.name.startswith("sweep-") and path.parent.name == config.name:
        return str(path.absolute().parent.parent)
    return str(Path(config.output_dir).expanduser().absolute())


def _missing_folders(folder: Path) -> tuple[Path, ...]:
    """``folder`` and each of its parents that does not exist yet, innermost first."""
    missing = []
    folder = folder.expanduser().absolute()
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    return tuple(missing)


def _unfinished(final_run: dict[str, Any]) -> str | None:
    """How the sweep's final run stopped part-way ("was interrupted", "was killed"), or None
    when it did not or has been resumed to its end since (its own run.json says; sweep.json's
    status is what it was when the sweep let go of it, "running" when it was killed)."""
    if final_run.get("status") not in ("interrupted", "running"):
        return None
    run_json = Path(final_run["run_dir"]) / "run.json"
    try:
        status = read_json(run_json).get("status")
    except (OSError, ValueError):
        return None
    if status == "running":
        return (
            "is still training" if DirectoryLock.held_elsewhere(run_json.parent) else "was killed"
        )
    return "was interrupted" if status == "interrupted" else None


@contextlib.contextmanager
def _tensorflow_warnings_quiet(quiet: bool) -> Iterator[None]:
    """Within (when ``quiet``): TensorFlow's logger shows errors only. Every trial builds new
    tf.functions by design, so TensorFlow's retracing advice is noise. The level is put back
    afterwards: ``toolkit.tune()`` in a notebook left TensorFlow's warnings off for the rest
    of the session (and a later test in the same process could no longer see them)."""
    logger = logging.getLogger("tensorflow")
    previous = logger.level
    if quiet:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Keras Tuner and Keras print to stdout; only paths belong there."""
    with contextlib.redirect_stdout(sys.stderr):
        yield
