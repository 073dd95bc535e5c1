"""The report of a sweep directory; its plots are drawn here from trials.csv."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from toolkit.config.loading import flatten
from toolkit.evaluation import plots
from toolkit.evaluation.report import reading
from toolkit.evaluation.report.document import (
    Code,
    KeyValues,
    Note,
    Report,
    Section,
    Table,
    as_killed,
    why_it_stopped,
)

_LOG_SAMPLING = ("log", "reverse_log")


def _budget(sweep: dict[str, Any], directory: Path) -> list[tuple[str, Any]]:
    """What bounds the search: max_trials, except for Hyperband, which ignores it and sizes
    its brackets from max_epochs (default: the base config's training.epochs) and factor."""
    if sweep.get("algorithm") != "hyperband":
        return [("max trials", sweep.get("max_trials"))]
    settings = sweep.get("settings") or {}
    max_epochs = settings.get("max_epochs")
    if max_epochs is None:
        base = reading.read_yaml(directory / "base_config.yaml")
        max_epochs = (base.get("training") or {}).get("epochs")
    return [("max epochs", max_epochs), ("factor", settings.get("factor"))]


def _trial_seconds(directory: Path) -> float | None:
    """The trials' summed seconds (trials.csv's duration_s), if it has them."""
    trials = reading.read_csv(directory / "trials.csv", dtype={"trial_id": str})
    if trials is None or "duration_s" not in trials:
        return None
    seconds = pd.to_numeric(trials["duration_s"], errors="coerce")
    return float(seconds.sum()) if seconds.notna().any() else None


def _overview(sweep: dict[str, Any], objective: str, direction: str, directory: Path) -> Section:
    counts = sweep.get("counts") or {}
    better = "lower" if direction == "min" else "higher"
    items = [
        ("algorithm", sweep.get("algorithm")),
        ("objective", f"{objective} ({better} is better)"),
        ("trials", ", ".join(f"{v} {k}" for k, v in counts.items()) or None),
        *_budget(sweep, directory),
        ("started", sweep.get("started")),
        ("ended", sweep.get("ended")),
        *reading.duration_items(
            sweep, busy_label="trials' time", busy_seconds=_trial_seconds(directory)
        ),
    ]
    return Section("Overview", [KeyValues.of(items)])


def _best_trial(sweep: dict[str, Any], objective: str) -> Section | None:
    best = sweep.get("best_trial")
    if not isinstance(best, dict):
        return None
    rows = [["trial", best.get("trial_id")], [objective, best.get("objective")]]
    rows += [[k, v] for k, v in (best.get("hyperparameters") or {}).items()]
    if best.get("run_dir"):
        rows.append(["run directory", best["run_dir"]])
    return Section("Best trial", [Table.of(["", "value"], rows)])


def _hyperparameters(sweep: dict[str, Any], trials: pd.DataFrame) -> list[str]:
    """The searched columns: as sweep.json declares them, else the dotted config paths."""
    declared = [c for c in sweep.get("search_space") or [] if c in trials.columns]
    fixed = ("trial_id", "status", "objective")
    return declared or [c for c in trials.columns if "." in c and c not in fixed]


def sweep_plots(directory: Path) -> dict[str, Figure]:
    """The figures of a sweep directory by file name, from its completed trials in run order.

    Axes follow how each hyperparameter was sampled (base_config.yaml's search space), so a
    log-sampled learning rate is on a log axis however few decades the trials happen to span.
    """
    sweep = reading.read_json(directory / "sweep.json")
    trials = reading.read_csv(directory / "trials.csv", dtype={"trial_id": str})
    if trials is None or "objective" not in trials:
        return {}
    completed = trials[trials["status"] == "completed"] if "status" in trials else trials
    if not len(completed):
        return {}
    tuner = reading.read_yaml(directory / "base_config.yaml").get("tuner")
    space = tuner.get("search_space") if isinstance(tuner, dict) else None
    space = space if isinstance(space, dict) else {}
    ranged = {k for k, v in space.items() if isinstance(v, dict) and ("float" in v or "int" in v)}
    log_scaled = [k for k in ranged if space[k].get("sampling") in _LOG_SAMPLING]
    objective, direction = _objective(sweep)
    # Label the plots with the objective's own name unless a column already has it.
    name = objective if objective not in completed.columns else "objective"
    return plots.sweep_figures(
        completed.rename(columns={"objective": name}),
        name,
        direction,
        _hyperparameters(sweep, trials),
        log_scaled=log_scaled,
        linear=[k for k in ranged if k not in log_scaled],
    )


def _objective(sweep: dict[str, Any]) -> tuple[str, str]:
    """The objective's name and direction (``min`` unless sweep.json says ``max``)."""
    direction = sweep.get("direction") if sweep.get("direction") in ("min", "max") else "min"
    return str(sweep.get("objective") or "objective"), direction


def _trials(directory: Path, sweep: dict[str, Any], objective: str, direction: str) -> Section:
    """Every trial, best first (by the objective), the best one highlighted."""
    trials = reading.read_csv(directory / "trials.csv", dtype={"trial_id": str})
    if trials is None:
        return Section("Trials", [Note("No trials were recorded (trials.csv is missing).")])
    if "objective" in trials:
        trials = trials.sort_values(
            "objective", ascending=direction == "min", na_position="last", kind="stable"
        )
    best = sweep.get("best_trial")
    best_id = str(best.get("trial_id")) if isinstance(best, dict) else None
    ids = trials["trial_id"].astype(str).tolist() if "trial_id" in trials else []
    rows = trials.astype(object).where(trials.notna(), None).values.tolist()
    highlight = {r for r, trial_id in enumerate(ids) if trial_id == best_id}
    table = Table.of(list(trials.columns), rows, highlight=highlight)
    return Section(f"Trials (best first, by {objective})", [table])


def _settings(sweep: dict[str, Any]) -> Section | None:
    settings = sweep.get("settings")
    if not isinstance(settings, dict) or not settings:
        return None
    rows = [[key, value] for key, value in flatten(settings).items()]
    return Section("Settings", [Table.of(["setting", "value"], rows)])


def sweep_report(directory: Path, *, killed: bool = False) -> Report:
    """The report of a sweep directory; ``killed``: no process is writing it, so a
    ``running`` status in sweep.json is shown as ``killed``."""
    sweep = reading.read_json(directory / "sweep.json")
    if killed:
        then = f"toolkit tune --resume {directory} continues it."
        sweep = as_killed(sweep, file="sweep.json", then=then)
    objective, direction = _objective(sweep)
    counts = sweep.get("counts") or {}
    subtitle = [
        f"sweep {sweep.get('sweep_id', directory.name)}",
        f"{sweep['algorithm']} search" if sweep.get("algorithm") else "",
        f"{objective} ({direction})",
        ", ".join(f"{v} {k}" for k, v in counts.items()),
    ]
    for file_name, figure in sweep_plots(directory).items():
        plots.save(figure, directory / "plots" / file_name)
    figures = reading.plot_figures(directory)
    best_config = reading.read_text(directory / "best_config.yaml")
    sections = [
        _overview(sweep, objective, direction, directory),
        why_it_stopped(sweep),
        _best_trial(sweep, objective),
        _trials(directory, sweep, objective, direction),
        Section("Plots", [figures]) if figures else None,
        None
        if best_config is None
        else Section("Best config (toolkit train runs it as it is)", [Code(best_config)]),
        _settings(sweep),
    ]
    return Report.of(sweep, directory, subtitle, sections)
