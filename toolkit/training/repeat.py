"""``toolkit train --repeat N``: the same experiment over N seeds, reported as mean ± std."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.config.loading import dump_config, load_config, with_absolute_paths
from toolkit.config.schema import ExperimentConfig
from toolkit.errors import GroupInterrupted, RunInterrupted, ToolkitError
from toolkit.evaluation.metrics import aggregate_repeats
from toolkit.runs import (
    SEED_CURVES,
    DirectoryLock,
    RunDirectory,
    atomic_write_json,
    atomic_write_text,
    create_run_directory,
    disk_full_message,
    drop_stale_reports,
    utc_now,
)
from toolkit.startup import new_models_traced_quietly
from toolkit.training.train import RunResult, train

if TYPE_CHECKING:
    from toolkit.data.prepared import PreparedData
    from toolkit.tracking import GroupTracking


@dataclass(frozen=True)
class RepeatResult:
    """The group directory, its status, the aggregated metrics.json and every seed's run."""

    group_dir: Path
    status: str
    metrics: dict[str, Any]
    runs: list[RunResult]


def train_repeated(
    config: ExperimentConfig,
    *,
    repeats: int,
    output_dir: str | Path | None = None,
    verbose: int = 0,
    on_run_end: Callable[[int, RunResult], None] | None = None,
) -> RepeatResult:
    """Train seeds ``seed .. seed+N-1`` into ``<output_dir>/<name>/repeat-<id>/seeds/`` and write
    the group's run.json and metrics.json (each metric's mean, std and values per split).

    ``on_run_end(seed, result)`` is called after each seed's run, e.g. to print a line.
    """
    from toolkit.training.train import check_before_run

    # The first seed's checks, data included, before the group's directory exists: a data
    # mistake left a failed group with no runs. Its data is the first seed's (same seed).
    data = check_before_run(config)
    group = create_run_directory(output_dir or config.output_dir, config.name, prefix="repeat-")
    # Held while the group is written, as a run's: toolkit report refuses it meanwhile, and
    # tells a group whose process was killed from one still going.
    with DirectoryLock.acquire(group.path):
        seeds = [config.seed + index for index in range(repeats)]
        return _train_group(
            config, group, seeds=seeds, verbose=verbose, on_run_end=on_run_end, first_data=data
        )


def resume_repeated(
    group_dir: str | Path,
    *,
    verbose: int = 0,
    on_run_end: Callable[[int, RunResult], None] | None = None,
) -> RepeatResult:
    """Finish a ``--repeat`` group that was interrupted or killed: each seed's run that ended
    (completed or failed) is kept as it is, the one that was stopped is resumed from its last
    epoch, the seeds never started are trained; then the group's metrics.json is written as
    an uninterrupted group's. ``on_run_end`` is called for every seed, kept ones included."""
    group = RunDirectory(Path(group_dir))
    # Held for the whole resume, as by the group's first process: a second resume of the
    # same group fails at once naming this one.
    with DirectoryLock.acquire(group.path):
        record = group.read_run()
        if record.get("status") == "completed":
            raise ToolkitError(f"{group.path} already completed; nothing to resume")
        seeds = [int(seed) for seed in record.get("seeds") or []]
        if not seeds:
            raise ToolkitError(f"{group.run_json} names no seeds; train the group again")
        config = load_config(group.config)
        group.update_run(
            status="running",
            ended=None,
            reason=None,
            resumed=[*record.get("resumed", []), utc_now()],
        )
        _drop_stale_report(group.path)
        return _train_group(
            config, group, seeds=seeds, verbose=verbose, on_run_end=on_run_end, resuming=True
        )


def _drop_stale_report(group_dir: Path) -> None:
    """Delete a report written while the group was killed or interrupted, with the seed
    curves it drew: once resumed, a page saying "killed" (and curves of the seeds ended
    then) stayed beside a group that says completed, as a run's or sweep's does not."""
    drop_stale_reports(group_dir)
    plots = group_dir / "plots"
    (plots / SEED_CURVES).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # only the report draws there: gone if it is empty
        plots.rmdir()


def _seed_run(group: RunDirectory, seed: int) -> Path | None:
    """The run directory an earlier process of the group made for ``seed``, if any (the
    latest, should there be several)."""
    found = sorted(
        path.parent for path in group.path.glob(f"seeds/*/seed-{seed}-*/run.json") if path.is_file()
    )
    return found[-1] if found else None


def _kept_or_resumed(group: RunDirectory, seed: int, *, verbose: int) -> RunResult | None:
    """The result of ``seed``'s run from an earlier process of the group: read back when it
    ended, resumed when it was stopped; None when there is none to continue (the seed then
    trains from the start)."""
    from toolkit.runs import read_json
    from toolkit.training.train import resume

    path = _seed_run(group, seed)
    if path is None or not (path / "config.yaml").is_file():
        return None  # never started, or killed before its config was written
    record = read_json(path / "run.json")
    if record.get("status") in ("completed", "failed"):
        metrics = read_json(path / "metrics.json") if (path / "metrics.json").exists() else {}
        return RunResult(
            path, record["status"], metrics, int(record.get("epochs") or 0), record.get("reason")
        )
    return resume(path, verbose=verbose)


def _train_group(
    config: ExperimentConfig,
    group: RunDirectory,
    *,
    seeds: list[int],
    verbose: int,
    on_run_end: Callable[[int, RunResult], None] | None,
    resuming: bool = False,
    first_data: PreparedData | None = None,
) -> RepeatResult:
    """The seeds' runs, then the group's metrics.json and final run.json; ``resuming``: keep
    or continue the runs an earlier process of the group left (see ``resume_repeated``).
    ``first_data``: the first seed's data, already read (not read again for its run)."""
    if not resuming:
        atomic_write_text(
            group.config, seeds_header(seeds) + dump_config(with_absolute_paths(config))
        )
        group.update_run(
            run_id=group.path.name,
            name=config.name,
            task=config.model.task,
            kind="repeat",
            status="running",
            started=utc_now(),
            ended=None,
            seeds=seeds,
            runs=[],
        )
    from toolkit.tracking import GroupTracking, nested_under
    from toolkit.tracking.run_tracking import config_params

    # The group's tracked parameters name every seed its runs used, not the first alone.
    tracking = GroupTracking(
        config,
        read=group.read_run,
        write=group.update_run,
        params={**config_params(config), "seed": str(seeds)},
    )
    results: list[RunResult] = []
    started = tracking.start(group.path.name, kind="repeat", reopen=resuming)
    with new_models_traced_quietly(), nested_under(started):
        try:
            for seed in seeds:
                result = _kept_or_resumed(group, seed, verbose=verbose) if resuming else None
                if result is None:
                    result = train(
                        config.model_copy(update={"seed": seed}),
                        output_dir=group.path / "seeds",
                        verbose=verbose,
                        run_prefix=f"seed-{seed}-",
                        data=first_data,
                    )
                    first_data = None  # each later seed splits its own data
                results.append(result)
                group.update_run(runs=[str(r.run_dir.relative_to(group.path)) for r in results])
                if on_run_end is not None:
                    on_run_end(seed, result)
        except (KeyboardInterrupt, RunInterrupted):
            # The seed's own run marks itself interrupted; without this the group's run.json
            # would say "running" for good. The signal may also come between two seeds.
            completed_runs = sum(r.status == "completed" for r in results)
            _mark_interrupted(group, tracking, seeds[len(results) :], len(seeds), completed_runs)
            # The seed's own "resume with" line would resume that run alone: name the group.
            raise GroupInterrupted(group.path) from None
        except Exception as error:
            # A user error in a seed (its data changed since the group started, a split
            # that one seed leaves empty) or a failure outside any seed's run: without this
            # the group's run.json said "running" for good, and report called it killed.
            _mark_failed(group, tracking, error, seeds[len(results)], results=results)
            raise
    completed = [r for r in results if r.status == "completed"]
    splits = [
        s
        for s in ("train", "validation", "test")
        if completed and all(s in r.metrics for r in completed)
    ]
    metrics = {
        "repeats": {
            split: aggregate_repeats([r.metrics[split] for r in completed]) for split in splits
        },
        "seeds": [seed for seed, r in zip(seeds, results, strict=True) if r.status == "completed"],
        "evaluated_on": completed[0].metrics.get("evaluated_on") if completed else None,
    }
    atomic_write_json(group.metrics, metrics)
    status = "completed" if len(completed) == len(results) else "failed"
    group.update_run(status=status, ended=utc_now(), completed_runs=len(completed))
    tracking.finish(
        status,
        metrics={
            f"{split}.{name}.{part}": value
            for split, scores in metrics["repeats"].items()
            for name, summary in scores.items()
            if isinstance(summary, dict)
            for part, value in summary.items()
            if part in ("mean", "std")
        },
        artifacts=[group.metrics, group.config, group.run_json],
    )
    return RepeatResult(group.path, status, metrics, results)


def seeds_header(seeds: list[int]) -> str:
    """The comment a group's config.yaml starts with: the seeds its runs used. Its ``seed:``
    is the first (the group trains again from this file with ``--repeat N``), so without
    this a reader of the group's config saw one seed where several ran."""
    listed = ", ".join(map(str, seeds))
    return (
        f"# A --repeat {len(seeds)} group: its runs used seeds {listed} (seeds/*/seed-<seed>-*),\n"
        f"# each from this config with its own seed; `seed` below is the first.\n"
    )


def _mark_interrupted(
    group: RunDirectory,
    tracking: GroupTracking,
    unfinished: list[int],
    total: int,
    completed: int,
) -> None:
    """run.json of a group stopped by Ctrl-C or SIGTERM before the seeds ``unfinished`` had
    results: ``interrupted``, why, and when; its tracked run ends the same way. No
    metrics.json: a mean over the seeds that happened to finish would read as the group's;
    ``toolkit train --resume`` of the group finishes it."""
    finished = total - len(unfinished)
    during = f" during seed {unfinished[0]}," if unfinished else ""
    group.update_run(
        status="interrupted",
        ended=utc_now(),
        completed_runs=completed,
        reason=f"interrupted (Ctrl-C or SIGTERM){during} after {finished} of {total} seeds; "
        f"toolkit train --resume {group.path} finishes it",
    )
    tracking.finish("interrupted")  # no uploads: nothing should delay the exit, as for a run


def _mark_failed(
    group: RunDirectory,
    tracking: GroupTracking,
    error: Exception,
    seed: int,
    *,
    results: list[RunResult],
) -> None:
    """run.json of a group that stopped on an error in ``seed`` (a user error, as data
    changed since the group began, or a crash): ``failed``, with the error as a single run
    records it. No metrics.json, as for an interrupted group (``--resume`` of the group
    still finishes it once the cause is fixed); its tracked run ends failed too."""
    error_line = disk_full_message(error) or f"{type(error).__name__}: {error}".splitlines()[0]
    group.update_run(
        status="failed",
        ended=utc_now(),
        completed_runs=sum(r.status == "completed" for r in results),
        reason=f"seed {seed}: {error_line}",
    )
    tracking.finish("failed")  # no uploads, as for an interrupted group
