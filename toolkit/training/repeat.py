"""``toolkit train --repeat N``: the same experiment over N seeds, reported as mean ± std."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.config.loading import dump_config, with_absolute_paths
from toolkit.config.schema import ExperimentConfig
from toolkit.errors import GroupInterrupted, RunInterrupted
from toolkit.evaluation.metrics import aggregate_repeats
from toolkit.runs import (
    DirectoryLock,
    RunDirectory,
    atomic_write_json,
    atomic_write_text,
    create_run_directory,
    utc_now,
)
from toolkit.startup import new_models_traced_quietly
from toolkit.training.train import RunResult, train

if TYPE_CHECKING:
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
    group = create_run_directory(output_dir or config.output_dir, config.name, prefix="repeat-")
    # Held while the group is written, as a run's: toolkit report refuses it meanwhile, and
    # tells a group whose process was killed from one still going.
    with DirectoryLock.acquire(group.path):
        return _train_group(config, group, repeats=repeats, verbose=verbose, on_run_end=on_run_end)


def _train_group(
    config: ExperimentConfig,
    group: RunDirectory,
    *,
    repeats: int,
    verbose: int,
    on_run_end: Callable[[int, RunResult], None] | None,
) -> RepeatResult:
    """The seeds' runs, then the group's metrics.json and final run.json."""
    seeds = [config.seed + index for index in range(repeats)]
    atomic_write_text(group.config, seeds_header(seeds) + dump_config(with_absolute_paths(config)))
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

    # The group's tracked parameters name every seed its runs used, not the first alone.
    tracking = GroupTracking(
        config, read=group.read_run, write=group.update_run, params={"seed": str(seeds)}
    )
    results: list[RunResult] = []
    with new_models_traced_quietly(), nested_under(tracking.start(group.path.name, kind="repeat")):
        try:
            for seed in seeds:
                seeded = config.model_copy(update={"seed": seed})
                result = train(
                    seeded,
                    output_dir=group.path / "seeds",
                    verbose=verbose,
                    run_prefix=f"seed-{seed}-",
                )
                results.append(result)
                group.update_run(runs=[str(r.run_dir.relative_to(group.path)) for r in results])
                if on_run_end is not None:
                    on_run_end(seed, result)
        except (KeyboardInterrupt, RunInterrupted) as error:
            # The seed's own run marks itself interrupted; without this the group's run.json
            # would say "running" for good. The signal may also come between two seeds.
            completed_runs = sum(r.status == "completed" for r in results)
            _mark_interrupted(group, tracking, seeds[len(results) :], len(seeds), completed_runs)
            # The seed's "resume with" line would read as resuming the group.
            seed_run = error.path if isinstance(error, RunInterrupted) else None
            raise GroupInterrupted(group.path, seed_run) from None
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
    metrics.json: a mean over the seeds that happened to finish would read as the group's."""
    finished = total - len(unfinished)
    during = f" during seed {unfinished[0]}," if unfinished else ""
    group.update_run(
        status="interrupted",
        ended=utc_now(),
        completed_runs=completed,
        reason=f"interrupted (Ctrl-C or SIGTERM){during} after {finished} of {total} seeds; "
        f"train the group again to report all {total}",
    )
    tracking.finish("interrupted")  # no uploads: nothing should delay the exit, as for a run
