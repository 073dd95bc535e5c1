"""``toolkit tune``: set up, run, resume or join a sweep, and leave a directory to act on.

The config and its search space are checked before TensorFlow or Keras Tuner is imported,
and the distributed role is turned into Keras Tuner's environment variables first too.
Progress goes to stderr; the last line on stdout is the sweep directory.

Layout of ``<output_dir>/<name>/sweep-<id>/`` (or ``--sweep-dir``): sweep.json,
base_config.yaml, trials.csv, best_config.yaml, best_model.keras, records/, trials/ (the
trial runs), tensorboard/, tuner/ (Keras Tuner's state) and workers/ (heartbeats).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from toolkit.config.loading import dump_config, load_config, resolve_config, validate_config
from toolkit.config.schema import ExperimentConfig
from toolkit.errors import ConfigError, RunInterrupted, ToolkitError
from toolkit.runs import atomic_write_text, create_run_directory, os_error_message, utc_now
from toolkit.tuning.records import SweepRecords, require_sweep_directory
from toolkit.tuning.space import SearchSpace, validate_search_space

# What a resumed (or joined) sweep may change: everything else would make trials incomparable.
RESUMABLE_SETTINGS = ("max_trials", "keep_top_k", "worker_timeout", "max_consecutive_failures")


@dataclass(frozen=True)
class _Role:
    kind: str  # "single", "chief" or "worker"
    tuner_id: str | None = None
    address: str | None = None
    port: str | None = None


def _configure_role(args: argparse.Namespace) -> _Role:
    """Turn --role/--chief-address/--chief-port/--worker-id into Keras Tuner's env vars.

    Keras Tuner reads KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT
    itself; set by hand, they work without the flags.
    """
    env = os.environ
    role = args.role
    if role is None and "KERASTUNER_ORACLE_IP" in env:
        role = "chief" if "chief" in env.get("KERASTUNER_TUNER_ID", "") else "worker"
    if role is None:
        if args.chief_address or args.chief_port or args.worker_id:
            raise ToolkitError(
                "--chief-address, --chief-port and --worker-id need --role chief|worker"
            )
        return _Role("single")
    address = args.chief_address or env.get("KERASTUNER_ORACLE_IP") or "127.0.0.1"
    port = (
        str(args.chief_port) if args.chief_port is not None else env.get("KERASTUNER_ORACLE_PORT")
    )
    if not port:
        raise ToolkitError(f"--role {role} needs --chief-port (or KERASTUNER_ORACLE_PORT)")
    if role == "chief":
        tuner_id = "chief"
    elif args.worker_id:
        tuner_id = f"worker-{args.worker_id}"
    elif env.get("KERASTUNER_TUNER_ID") and args.role is None:
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
    return _Role(role, tuner_id, address, port)


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
            f"{changed}: --resume keeps the sweep's config; only {allowed} may change"
        )


class Sweep:
    """One ``toolkit tune`` invocation: a new sweep, a resumed one, or a worker joining one."""

    def __init__(
        self,
        *,
        records: SweepRecords,
        config: ExperimentConfig,
        space: SearchSpace,
        role: _Role,
        resumed: bool,
        verbose: bool,
        final_train: bool,
        output_dir: str | None,
    ) -> None:
        self.records = records
        self.config = config
        self.tuner = config.tuner
        self.space = space
        self.role = role
        self.resumed = resumed
        self.verbose = 2 if verbose else 0
        self.final_train = final_train
        self.output_dir = output_dir
        self.base_data = yaml.safe_load(records.base_config.read_text(encoding="utf-8"))
        self.total = None if self.tuner.algorithm == "hyperband" else self.tuner.max_trials

    # ------------------------------------------------------------------ set-up (no TensorFlow)

    @classmethod
    def from_args(cls, args: argparse.Namespace, role: _Role) -> Sweep:
        if role.kind == "worker":
            return cls._join(args, role)
        if args.resume:
            return cls._resume(args, role)
        return cls._start(args, role)

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
    def _start(cls, args: argparse.Namespace, role: _Role) -> Sweep:
        if not args.config:
            raise ToolkitError(
                "tune needs a CONFIG file with a tuner: section (or --resume SWEEP_DIR)"
            )
        data, origins = resolve_config(args.config, args.overrides)
        config = validate_config(data, origins, args.config)
        space = validate_search_space(data, origins, config)
        try:
            if args.sweep_dir:
                path = Path(args.sweep_dir)
                if (path / "sweep.json").exists():
                    raise ToolkitError(
                        f"{path} already holds a sweep; continue it with --resume {path}"
                    )
                path.mkdir(parents=True, exist_ok=True)
            else:
                path = create_run_directory(
                    args.output_dir or config.output_dir, config.name, prefix="sweep-"
                ).path
            records = cls._records(path, config, space)
            atomic_write_text(records.base_config, dump_config(config))
        except OSError as error:
            raise ToolkitError(
                os_error_message(error, "cannot create the sweep directory")
            ) from None
        records.update_sweep(
            sweep_id=path.name,
            name=config.name,
            status="created",
            started=utc_now(),
            ended=None,
            role=role.kind,
            chief=None if role.kind == "single" else f"{role.address}:{role.port}",
            **cls._settings(config),
        )
        return cls._from(args, records, config, space, role, resumed=False)

    @classmethod
    def _resume(cls, args: argparse.Namespace, role: _Role) -> Sweep:
        if args.config:
            raise ToolkitError(
                "--resume takes the config from the sweep directory; drop CONFIG "
                "(extend the sweep with --set tuner.max_trials=N)"
            )
        path = require_sweep_directory(args.resume)
        saved = load_config(path / "base_config.yaml")
        data, origins = resolve_config(path / "base_config.yaml", args.overrides)
        config = validate_config(data, origins, str(path / "base_config.yaml"))
        _check_unchanged(saved, config, worker=False)
        space = validate_search_space(data, origins, config)
        records = cls._records(path, config, space)
        atomic_write_text(records.base_config, dump_config(config))
        previous = records.read_sweep()
        if previous.get("status") == "completed" and config.tuner.max_trials <= previous.get(
            "max_trials", 0
        ):
            _log(f"{path}: the sweep is complete; extend it with --set tuner.max_trials=N")
        records.update_sweep(
            resumed=[*previous.get("resumed", []), utc_now()],
            role=role.kind,
            chief=None if role.kind == "single" else f"{role.address}:{role.port}",
            **cls._settings(config),
        )
        return cls._from(args, records, config, space, role, resumed=True)

    @classmethod
    def _join(cls, args: argparse.Namespace, role: _Role) -> Sweep:
        target = args.sweep_dir or args.resume
        if not target:
            raise ToolkitError(
                "a worker needs --sweep-dir DIR: the sweep directory its chief writes"
            )
        own = None
        timeout = 120.0
        if args.config:
            data, origins = resolve_config(args.config, args.overrides)
            own = validate_config(data, origins, args.config)
            validate_search_space(data, origins, own)
            timeout = own.tuner.worker_timeout
        path = Path(target)
        deadline = time.monotonic() + timeout
        while not ((path / "base_config.yaml").exists() and (path / "sweep.json").exists()):
            if time.monotonic() > deadline:
                raise ToolkitError(
                    f"no sweep appeared at {path} within {timeout:g} s (tuner.worker_timeout); "
                    f"is the chief at {role.address}:{role.port} running with --sweep-dir {path}?"
                )
            time.sleep(0.5)
        data, origins = resolve_config(path / "base_config.yaml", args.overrides)
        config = validate_config(data, origins, str(path / "base_config.yaml"))
        if own is not None:
            _check_unchanged(config, own, worker=True)
            config = config.model_copy(
                update={
                    "tuner": config.tuner.model_copy(
                        update={"worker_timeout": own.tuner.worker_timeout}
                    )
                }
            )
        space = SearchSpace(config.tuner, data, origins)
        return cls._from(args, cls._records(path, config, space), config, space, role, resumed=True)

    @classmethod
    def _from(
        cls,
        args: argparse.Namespace,
        records: SweepRecords,
        config: ExperimentConfig,
        space: SearchSpace,
        role: _Role,
        *,
        resumed: bool,
    ) -> Sweep:
        return cls(
            records=records,
            config=config,
            space=space,
            role=role,
            resumed=resumed,
            verbose=args.verbose,
            final_train=args.final_train,
            output_dir=args.output_dir,
        )

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

    def run(self) -> int:
        """Search, then (chief or single process) write the results; returns the exit code."""
        heartbeat = None
        if self.role.kind == "worker":
            from toolkit.tuning.heartbeat import Heartbeat

            interval = max(0.2, min(5.0, self.tuner.worker_timeout / 4))
            heartbeat = Heartbeat(
                self.records.workers_dir / f"{self.role.tuner_id}.beat", interval=interval
            ).start()
        final_run = None
        try:
            with _stdout_to_stderr(), _sigterm_as_interrupt():
                status, reason = self._search()
                if self.role.kind == "worker":
                    code = 0
                else:
                    code = self._finish(status, reason)
                    if code == 0 and self.final_train:
                        final_run = self._final_train()
        finally:
            if heartbeat is not None:
                heartbeat.stop()
        if final_run is not None:
            print(final_run)
        print(self.records.path)
        return code

    def _search(self) -> tuple[str, str | None]:
        from toolkit import compat
        from toolkit.tuning.client import ChiefLost
        from toolkit.tuning.hypermodel import ConfigHyperModel
        from toolkit.tuning.oracles import make_oracle
        from toolkit.tuning.trial import TrialRunner
        from toolkit.tuning.tuner import SweepTuner

        if not self.verbose:
            # Every trial builds new tf.functions by design; TensorFlow's retracing advice is noise.
            logging.getLogger("tensorflow").setLevel(logging.ERROR)
            compat.quiet_failed_trials()  # the records keep each failed trial's traceback
        runner = None
        if self.role.kind != "chief":
            runner = TrialRunner(
                space=self.space,
                base_data=self.base_data,
                records=self.records,
                verbose=self.verbose,
                worker=self.role.tuner_id or "main",
            )
            runner.preflight(self.config)
        if self.role.kind != "worker":
            self._announce()
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
            log=_log,
            total=self.total,
        )
        if self.tuner.algorithm == "grid" and not any(dim.parents for dim in self.space.dimensions):
            # Grid search may run out of combinations before max_trials.
            combinations = math.prod(len(list(hp.values)) for hp in oracle.get_space().space)
            self.total = tuner.total = min(self.total, combinations)
        try:
            tuner.search()
        except KeyboardInterrupt:
            if self.role.kind != "worker":
                self.records.refresh()
                self.records.update_sweep(
                    status="interrupted", ended=utc_now(), reason="interrupted"
                )
            raise RunInterrupted(self.records.path, command="tune") from None
        except ChiefLost as error:
            raise ToolkitError(f"worker {self.role.tuner_id}: {error}") from None
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
        what = f"{self.tuner.algorithm} search over {len(self.space.names)} paths"
        limit = f", up to {self.total} trials" if self.total else ""
        verb = f"resuming ({done} trials done)" if self.resumed else "starting"
        _log(f"sweep {self.records.path}: {verb} a {what}{limit}")

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
        _log(self.records.progress_line(record, total=self.total))

    def _finish(self, status: str, reason: str | None) -> int:
        fields = self.records.refresh()
        counts = fields["counts"]
        if status == "completed" and counts["finished"] and not counts["completed"]:
            status, reason = "failed", "no trial completed"
        self.records.update_sweep(status=status, ended=utc_now(), reason=reason)
        if counts["finished"]:
            _log("\n" + self.records.summary_table())
        best = fields["best_trial"]
        if best:
            _log(
                f"best: trial {best['trial_id']}  {self.tuner.objective} {best['objective']:.4g}  "
                f"-> {self.records.best_config}"
            )
        if status == "interrupted":
            _log(
                f"sweep interrupted: {reason}; resume with: toolkit tune --resume {self.records.path}"
            )
        elif status == "failed":
            _log(f"sweep failed: {reason}")
        return 0 if status == "completed" else 1

    def _final_train(self) -> Path:
        from toolkit.training.train import train

        config = load_config(self.records.best_config)
        _log(f"final training of the best config: {self.records.best_config}")
        result = train(config, output_dir=self.output_dir, verbose=self.verbose)
        self.records.update_sweep(
            final_run={"run_dir": str(result.run_dir), "status": result.status}
        )
        _log(f"final run {result.status}: {result.epochs} epochs -> {result.run_dir}")
        return result.run_dir


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Keras Tuner and Keras print to stdout; only paths belong there."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A scheduler's SIGTERM stops the sweep like Ctrl-C: state is saved as interrupted."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def prepare_sweep(args: argparse.Namespace) -> Sweep:
    """The sweep ``toolkit tune`` asked for, validated before TensorFlow starts."""
    return Sweep.from_args(args, _configure_role(args))
