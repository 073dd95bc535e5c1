"""What the command line does, as functions: train, resume, repeat, tune, load.

Each checks what it can (config, data, paths, installed extras) before TensorFlow starts and
before anything is written, then does the work and returns an object over the directory it
wrote. The CLI calls these and prints; nothing here prints a result.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from toolkit.api.run import Run
from toolkit.api.run_group import RunGroup
from toolkit.api.sweep import Sweep
from toolkit.config.loading import ConfigSource, Overrides
from toolkit.config.schema import ExperimentConfig
from toolkit.errors import ToolkitError, checked_keywords
from toolkit.runs import open_run_directory


def _check_arguments(**arguments: object) -> None:
    """One ToolkitError line for an argument of the wrong kind, named by its keyword: a path
    given as a number (``output_dir=123``) was a TypeError traceback from pathlib, a
    ``repeats='3'`` one from a comparison, and ``verbose='yes'`` or ``5`` was passed on to
    Keras without a word. A path may be text or a ``pathlib.Path``; None is the default."""
    for name, value in arguments.items():
        if value is None and name not in ("path", "run_dir"):  # those two have no default
            continue
        if name == "repeats":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ToolkitError(f"repeats must be a whole number of at least 1, got {value!r}")
        elif name == "verbose":
            if not isinstance(value, int) or value not in (0, 1, 2):  # True is 1
                raise ToolkitError(
                    "verbose must be 0, 1 or 2 (Keras' progress: none, a bar, a line per "
                    f"epoch), got {value!r}"
                )
        elif not isinstance(value, str | os.PathLike):
            raise ToolkitError(
                f"{name}: expected a path (text or a pathlib.Path), got {type(value).__name__}"
            )


def _config(
    source: ConfigSource, overrides: Overrides, output_dir: str | Path | None
) -> ExperimentConfig:
    """The validated config, its tracker's client installed and its output directory usable."""
    from toolkit.api.configs import load_config
    from toolkit.tracking import check_tracking_available

    config = load_config(source, overrides)
    check_tracking_available(config)
    if config.runtime.distribute != "multi_worker":  # workers write elsewhere
        from toolkit.runs import check_output_dir

        check_output_dir(output_dir or config.output_dir)
    return config


@checked_keywords
def train(
    config: ConfigSource,
    *,
    overrides: Overrides = None,
    output_dir: str | Path | None = None,
    verbose: int | None = None,
) -> Run:
    """Train ``config`` (a YAML path, a mapping or a loaded config) into a new run directory
    under ``output_dir`` (default: the config's ``output_dir``) and return it as a ``Run``.

    A run that fails on a NaN loss returns normally with ``run.status == "failed"`` and the
    reason in ``run.reason``; bad configs, data or paths raise ``ToolkitError`` before
    anything is written. ``verbose``: Keras' progress (0, 1, 2; default the config's).
    """
    from toolkit import startup
    from toolkit.data.prepared import prepare_data
    from toolkit.training.runtime import global_dtype_policy_kept, global_random_state_kept
    from toolkit.training.train import check_before_tensorflow
    from toolkit.training.train import train as train_run

    _check_arguments(output_dir=output_dir, verbose=verbose)
    config = _config(config, overrides, output_dir)
    data = prepare_data(config)  # bad data fails here, before TensorFlow starts
    check_before_tensorflow(config, data)  # a class_weight label or init_from run too
    # The session's random draws go on as they would have (importing TensorFlow draws too).
    with global_random_state_kept():
        startup.import_tensorflow()
        # One model after another in a session: each traces its own step functions, which
        # TensorFlow took for one function retracing (a warning from the third run on).
        with global_dtype_policy_kept(), startup.new_models_traced_quietly():
            result = train_run(config, output_dir=output_dir, data=data, verbose=verbose)
    return Run(result.run_dir)


@checked_keywords
def resume(
    run_dir: str | Path,
    *,
    verbose: int | None = None,
    on_run_end: Callable[[int, Run], None] | None = None,
) -> Run | RunGroup:
    """Continue an interrupted or killed run from its last completed epoch; for a
    ``--repeat`` group, finish it (a ``RunGroup``): its ended seed runs are kept, the stopped
    one continues, the rest are trained, and ``on_run_end(seed, run)`` is called for each."""
    from contextlib import nullcontext

    from toolkit import startup
    from toolkit.config.loading import load_config
    from toolkit.runs import DirectoryLock, RunDirectory, is_repeat_group
    from toolkit.tracking import check_tracking_available
    from toolkit.training.repeat import resume_repeated
    from toolkit.training.runtime import global_dtype_policy_kept, global_random_state_kept
    from toolkit.training.train import check_resumable
    from toolkit.training.train import resume as resume_run

    _check_arguments(run_dir=run_dir, verbose=verbose)
    run = RunDirectory(Path(run_dir))
    lock = nullcontext()
    if run.config.exists() and run.run_json.exists():
        # Taken before TensorFlow starts, so a second resume of a run in use fails at once;
        # the trainer takes it again (the same process may).
        lock = DirectoryLock.acquire(run.path)
    with lock:
        if run.config.exists():
            check_tracking_available(load_config(run.config))
        # A run's refusals (completed, a NaN loss, its data changed...) before TensorFlow
        # starts, as train's; a --repeat group checks its seeds' runs as it reaches them.
        checked = None if is_repeat_group(run) else check_resumable(run.path)
        with global_random_state_kept():
            startup.import_tensorflow()  # before Keras: it quiets TensorFlow's start
            with global_dtype_policy_kept():
                if checked is None:
                    group = resume_repeated(
                        run.path,
                        verbose=verbose or 0,
                        on_run_end=None
                        if on_run_end is None
                        else lambda seed, result: on_run_end(seed, Run(result.run_dir)),
                    )
                    return RunGroup(group.group_dir)
                with startup.new_models_traced_quietly():
                    return Run(resume_run(run_dir, verbose=verbose, checked=checked).run_dir)


@checked_keywords
def train_repeated(
    config: ConfigSource,
    *,
    repeats: int,
    overrides: Overrides = None,
    output_dir: str | Path | None = None,
    verbose: int = 0,
    on_run_end: Callable[[int, Run], None] | None = None,
) -> RunGroup:
    """Train seeds ``seed .. seed+repeats-1`` into one group directory; returns the group,
    whose ``metrics`` hold each metric's mean and std. ``on_run_end(seed, run)`` is called
    after each seed, e.g. to print a line."""
    from toolkit import startup
    from toolkit.training.repeat import train_repeated as repeat_runs
    from toolkit.training.runtime import global_dtype_policy_kept, global_random_state_kept

    _check_arguments(repeats=repeats, output_dir=output_dir, verbose=verbose)
    if repeats < 1:
        raise ToolkitError(f"repeats must be at least 1, got {repeats}")
    config = _config(config, overrides, output_dir)
    with global_random_state_kept():
        startup.import_tensorflow()  # before Keras: it quiets TensorFlow's start
        with global_dtype_policy_kept():
            group = repeat_runs(
                config,
                repeats=repeats,
                output_dir=output_dir,
                verbose=verbose,
                on_run_end=None
                if on_run_end is None
                else lambda seed, result: on_run_end(seed, Run(result.run_dir)),
            )
    return RunGroup(group.group_dir)


@checked_keywords
def tune(
    config: ConfigSource | None = None,
    *,
    overrides: Overrides = None,
    output_dir: str | Path | None = None,
    resume: str | Path | None = None,
    sweep_dir: str | Path | None = None,
    final_train: bool = False,
    verbose: bool = False,
    role: str | None = None,
    chief_address: str | None = None,
    chief_port: int | None = None,
    worker_id: str | None = None,
) -> Sweep:
    """Run a Keras Tuner sweep over ``config``'s ``tuner.search_space`` and return it.

    ``resume``: continue the sweep in that directory (``overrides`` may raise
    ``tuner.max_trials``). ``final_train``: retrain the best config as a normal run
    (``sweep.final_run``). ``role``/``chief_*``/``worker_id``: a distributed sweep, as
    ``toolkit tune --role`` (``sweep_dir`` is then the shared directory). ``verbose``:
    Keras' progress and the sweep's lines (its start, a line per trial, the summary table);
    without it the sweep is as quiet as ``train(verbose=0)``, warnings aside.
    """
    _check_arguments(output_dir=output_dir, resume=resume, sweep_dir=sweep_dir)
    return run_tune(
        config,
        overrides=overrides,
        output_dir=output_dir,
        resume=resume,
        sweep_dir=sweep_dir,
        final_train=final_train,
        verbose=verbose,
        progress=verbose,
        role=role,
        chief_address=chief_address,
        chief_port=chief_port,
        worker_id=worker_id,
    )


def run_tune(
    config: ConfigSource | None = None,
    *,
    overrides: Overrides = None,
    output_dir: str | Path | None = None,
    resume: str | Path | None = None,
    sweep_dir: str | Path | None = None,
    final_train: bool = False,
    verbose: bool = False,
    progress: bool = True,
    role: str | None = None,
    chief_address: str | None = None,
    chief_port: int | None = None,
    worker_id: str | None = None,
) -> Sweep:
    """``tune``, with the sweep's lines on stderr (``progress``) apart from Keras' progress
    (``verbose``): ``toolkit tune`` prints them without ``--verbose``, as ``toolkit train``
    prints its summary line where ``toolkit.train`` prints nothing."""
    from toolkit import startup
    from toolkit.tracking import check_tracking_available
    from toolkit.training.runtime import global_dtype_policy_kept, global_random_state_kept
    from toolkit.tuning.sweep import SweepSession, configure_role, tuner_environment

    # The KERASTUNER_* variables a role sets last as long as this sweep: a later tune() of
    # the same process (a notebook) is not a chief or worker of it.
    with tuner_environment(), global_random_state_kept():
        session = SweepSession.open(
            config,
            overrides=overrides,
            role=configure_role(
                role, chief_address=chief_address, chief_port=chief_port, worker_id=worker_id
            ),
            resume=resume,
            sweep_dir=sweep_dir,
            output_dir=output_dir,
            final_train=final_train,
            verbose=verbose,
            progress=progress,
        )  # config and search space checked before TensorFlow starts
        try:
            check_tracking_available(session.config)
            startup.import_tensorflow()
            startup.import_keras_tuner(bayesian=session.tuner.algorithm == "bayesian")
        except KeyboardInterrupt:
            session.stop_interrupted()
        except BaseException:
            session.release()  # the sweep directory's lock, which run() would release
            raise
        with global_dtype_policy_kept():
            outcome = session.run()
    return Sweep(session.records.path, final_run=outcome.final_run, outcome=outcome.status)


@checked_keywords
def load_run(path: str | Path) -> Run | RunGroup:
    """The run directory at ``path`` (a ``RunGroup`` for a ``--repeat`` group)."""
    _check_arguments(path=path)
    run = open_run_directory(path, need_model=False)
    if run.read_run().get("kind") == "repeat":
        return RunGroup(run.path)
    return Run(run.path)


@checked_keywords
def load_sweep(path: str | Path) -> Sweep:
    """The sweep directory at ``path``."""
    _check_arguments(path=path)
    return Sweep(path)
