"""Several runs side by side: the config keys that differ, the metrics, the validation curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from toolkit.config.loading import flatten, penalty_paths
from toolkit.evaluation import plots
from toolkit.evaluation.report.document import Table, format_value, render
from toolkit.evaluation.report.reading import read_csv, read_json, read_yaml
from toolkit.evaluation.report.run import best_cells, scalar_metrics
from toolkit.runs import DirectoryLock, atomic_write_text


def _labels(run_dirs: list[Path]) -> list[str]:
    """Run directory names, made unique with the parent's name (and primes) where they clash."""
    labels: list[str] = []
    for run in run_dirs:
        label = run.name if run.name not in labels else f"{run.parent.name}/{run.name}"
        while label in labels:
            label += "'"
        labels.append(label)
    return labels


def _run_metrics(saved: dict[str, Any]) -> dict[str, Any]:
    """``split.metric`` values of a run (or mean ± std dicts of a repeat group): the evaluated
    split first, then validation."""
    source = saved.get("repeats") if isinstance(saved.get("repeats"), dict) else saved
    evaluated = saved.get("evaluated_on") or "validation"
    flat: dict[str, Any] = {}
    for split in dict.fromkeys((evaluated, "test", "validation")):
        flat.update({f"{split}.{k}": v for k, v in scalar_metrics(source.get(split)).items()})
    return flat


def _config(run: Path) -> dict[str, Any]:
    """A run's flattened config; a repeat group's ``seed`` is every seed its runs used (its
    config.yaml holds the first, from which it trains again)."""
    config = flatten(read_yaml(run / "config.yaml"))
    if config.get("model.task") == "binary" and config.get("data.positive_class") is None:
        # The class its precision, recall, f1 and pr_auc score, set or not: a run without
        # data.positive_class showed n/a beside another's 'fraud', though it scored 'legit'.
        classes = _classes(run)
        if classes is not None and len(classes) == 2:
            config["data.positive_class"] = str(classes[1])
    seeds = read_json(run / "run.json").get("seeds")
    if isinstance(seeds, list) and seeds:
        config["seed"] = json.dumps(seeds)  # as flatten writes a list
    return config


def _status(run: Path) -> str:
    """run.json's status; ``killed`` for one that says ``running`` with no process writing it."""
    status = str(read_json(run / "run.json").get("status", "unknown"))
    if status == "running" and not DirectoryLock.held_elsewhere(run):
        return "killed"
    return status


def _mean(value: Any) -> Any:
    return value.get("mean") if isinstance(value, dict) else value


def _differing(configs: list[dict[str, Any]]) -> list[str]:
    """Flattened config keys whose value is not the same in every run (absent counts as a value)."""
    keys = sorted({k for c in configs for k in c})
    return [k for k in keys if len({json.dumps(c.get(k), default=str) for c in configs}) > 1]


def _text_table(frame: pd.DataFrame) -> str:
    """Left-aligned columns for the terminal, every cell formatted like the reports'."""
    header = [frame.index.name, *frame.columns]
    rows = [
        [key, *map(format_value, values)]
        for key, values in zip(frame.index, frame.values.tolist(), strict=True)
    ]
    width = max(len(str(cell)) for row in [header, *rows] for cell in row) + 2
    return "\n".join("".join(f"{cell:<{width}}" for cell in row) for row in [header, *rows])


def _classes(run: Path) -> list | None:
    """A classifier run's classes from its preprocessing.json; a repeat group has none of its
    own, and its seeds share their first run's. None where there is none to read."""
    path = run / "preprocessing.json"
    if not path.exists():
        runs = read_json(run / "run.json").get("runs")
        if not isinstance(runs, list) or not runs or not isinstance(runs[0], str):
            return None
        path = run / runs[0] / "preprocessing.json"
    try:
        target = read_json(path).get("target")
    except (OSError, ValueError):
        return None
    classes = target.get("classes") if isinstance(target, dict) else None
    return classes if isinstance(classes, list) else None


# Config keys whose difference makes runs' metrics incomparable: other tasks (a binary
# model's accuracy beside a 10-class one's), other data, or another class scored by
# precision, recall, f1 and pr_auc (a recall of 'legit', 0.86, was marked best beside one of
# 'fraud', 0.27).
_INCOMPARABLE_KEYS = ("model.task", "data.source", "data.target", "data.positive_class")


def _incomparable(configs: list[dict[str, Any]]) -> str | None:
    """Why the runs' metrics cannot be ranked against each other, or None."""
    for key in _INCOMPARABLE_KEYS:
        values = list(dict.fromkeys(str(config.get(key)) for config in configs))
        if len(values) > 1:
            return f"the runs differ in {key} ({', '.join(values)})"
    return None


def _comparison(
    run_dirs: list[Path], labels: list[str]
) -> tuple[pd.DataFrame, int, bool, str | None]:
    """Keys as rows (each run's status when not all completed, the config keys that differ,
    then the metrics), runs as columns; how many rows come before the metrics; whether any
    config key differs; and why the metrics cannot be ranked (``_incomparable``), if so."""
    configs = [_config(run) for run in run_dirs]
    metrics = [_run_metrics(read_json(run / "metrics.json")) for run in run_dirs]
    statuses = [_status(run) for run in run_dirs]
    # A run that did not complete has no metrics (n/a): its status says why.
    status = ["status"] if any(s != "completed" for s in statuses) else []
    differing = _differing(configs)
    leading = status + differing
    keys = leading + list(dict.fromkeys(k for m in metrics for k in m))
    columns = [{**c, **m, "status": s} for c, m, s in zip(configs, metrics, statuses, strict=True)]
    table = pd.DataFrame(
        [[column.get(key) for column in columns] for key in keys],
        index=pd.Index(keys, name="key"),
        columns=labels,
        dtype=object,
    )
    return table, len(leading), bool(differing), _incomparable(configs)


def _numeric_columns(key: str, cells: list[Any], groups: bool) -> dict[str, list[Any]]:
    """A metric's columns: its value (a group's mean) and, when a repeat group is compared,
    ``<key>.std`` (the group's sample std; blank for a single run) and ``<key>.count`` (the
    values the mean is over: a group's seeds with a defined value, 1 for a run's value)."""
    values = [cell.get("mean") if isinstance(cell, dict) else cell for cell in cells]
    if not groups:
        return {key: values}
    stds = [cell.get("std") if isinstance(cell, dict) else None for cell in cells]
    counts = [
        sum(v is not None for v in cell.get("values", []))
        if isinstance(cell, dict)
        else int(cell is not None)
        for cell in cells
    ]
    return {key: values, f"{key}.std": stds, f"{key}.count": counts}


def _write_csv(table: pd.DataFrame, config_rows: int, path: Path) -> None:
    """One row per run (``run`` is its label), one column per key: ``status``, the config
    keys that differ, then the metrics as numbers, so pandas reads them as floats to sort and
    plot. A repeat group's mean ± std, one text cell in the Markdown, is its mean in the
    metric's column beside ``.std`` and ``.count`` columns. Other values are written as they
    are (map() would turn ints to floats); undefined ones are blank."""
    rows = {key: list(values) for key, values in zip(table.index, table.values, strict=True)}
    keys = list(rows)
    # Every run has a status column, so files from several comparisons line up; the table
    # has that row only when some run did not complete.
    columns: dict[str, list[Any]] = {"status": rows.get("status", ["completed"] * table.shape[1])}
    columns.update({key: rows[key] for key in keys[:config_rows] if key != "status"})
    metrics = keys[config_rows:]
    groups = any(isinstance(cell, dict) for key in metrics for cell in rows[key])
    for key in metrics:
        columns.update(_numeric_columns(key, rows[key], groups))
    frame = pd.DataFrame(columns, index=pd.Index(table.columns, name="run"), dtype=object)
    atomic_write_text(path, frame.to_csv())


def _write_markdown(
    table: pd.DataFrame, config_rows: int, differing: bool, incomparable: str | None, path: Path
) -> None:
    """The table with the best value of each metric (of repeat groups: the best mean) in bold;
    ``config_rows`` rows before the metrics. Runs of other tasks or data (``incomparable``)
    get no best value: a binary model's accuracy was marked best beside a 10-class one's."""
    rows = [[key, *values] for key, values in zip(table.index, table.values.tolist(), strict=True)]
    means = [[key.split(".", 1)[-1], *map(_mean, cells)] for key, *cells in rows[config_rows:]]
    best = set() if incomparable else {(r + config_rows, c) for r, c in best_cells(means)}
    markdown = render(
        "compare.md.j2",
        runs=len(table.columns),
        differing=differing,
        incomparable=incomparable,
        table=Table.of(["key", *table.columns], rows, best=best),
    )
    atomic_write_text(path, markdown)


# Keys that differ between most runs without telling them apart in a legend.
_UNTELLING_KEYS = ("name", "description", "output_dir")


def curve_labels(run_dirs: list[Path], labels: list[str], *, keys: int = 3) -> list[str]:
    """Each run's label with what sets it apart (``run: optimizer.name=sgd``): six optimizer
    runs drew six curves named by run id only, to be matched against the table by hand."""
    configs = [_config(run) for run in run_dirs]
    differing = [k for k in _differing(configs) if k.split(".")[0] not in _UNTELLING_KEYS]
    if not differing:
        return labels

    def short(value: Any) -> str:
        text = str(value)
        return text if len(text) <= 24 else text[:23] + "…"

    return [
        f"{label}: "
        + ", ".join(
            f"{'.'.join(key.split('.')[-2:])}={short(config.get(key))}" for key in differing[:keys]
        )
        + (" …" if len(differing) > keys else "")
        for label, config in zip(labels, configs, strict=True)
    ]


def curves_figure(run_dirs: list[Path], labels: list[str]) -> Figure:
    """The runs' validation curves overlaid, each named with what sets its run apart; the
    title names the runs without one (a ``--repeat`` group has no history.csv of its own),
    which were left out unsaid."""
    read = [read_csv(run / "history.csv") for run in run_dirs]
    named = curve_labels(run_dirs, labels)
    # A run without curves is named in the title, by its label alone.
    histories = {
        (name if history is not None else label): history
        for label, name, history in zip(labels, named, read, strict=True)
    }
    metric, note = _curve_metric(run_dirs, list(histories.values()))
    return plots.comparison_curves(histories, metric=metric, note=note)


def _curve_metric(
    run_dirs: list[Path], histories: list[pd.DataFrame | None]
) -> tuple[str, str | None]:
    """val_loss, unless a run's holds a weight penalty (Keras adds l1, l2 and
    weight_prior_scale's decay to it): then the first validation metric every run logged,
    and why. An l2 run with the best validation RMSE had drawn the highest curve."""
    penalised = sorted(
        {
            path
            for run in run_dirs
            if isinstance(model := read_yaml(run / "config.yaml").get("model"), dict)
            for path in penalty_paths(model)
        }
    )
    logged = [h for h in histories if h is not None and "val_loss" in h.columns]
    if not penalised or not logged:
        return "val_loss", None
    shared = [
        c
        for c in logged[0].columns
        if c.startswith("val_") and c != "val_loss" and all(c in h.columns for h in logged)
    ]
    if not shared:
        return "val_loss", f"val_loss holds the weight penalty of {', '.join(penalised)}"
    return shared[0], f"not val_loss, which holds the weight penalty of {', '.join(penalised)}"


def compare_runs(run_dirs: list[Path], out_dir: Path) -> tuple[str, Path]:
    """A side-by-side table of the config keys that differ and the metrics of several runs
    (first each run's status, when one did not complete).

    Config keys are flattened to ``a.b.c``; a key missing from some runs counts as differing.
    Metrics are the evaluated split's (test when there is one) and validation's. Writes
    ``compare.md`` (keys as rows, runs as columns), ``compare.csv`` (a row per run, numbers
    in their own columns) and ``compare.png`` (validation curves overlaid) into ``out_dir``;
    returns the printable table and ``out_dir``.
    """
    run_dirs, out_dir = [Path(r) for r in run_dirs], Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = _labels(run_dirs)
    table, config_rows, differing, incomparable = _comparison(run_dirs, labels)
    _write_csv(table, config_rows, out_dir / "compare.csv")
    _write_markdown(table, config_rows, differing, incomparable, out_dir / "compare.md")
    plots.save(curves_figure(run_dirs, labels), out_dir / "compare.png")
    text = _text_table(table)
    if incomparable:
        text += f"\nnote: {incomparable}: their metrics are not comparable, so none is marked best"
    return text, out_dir
