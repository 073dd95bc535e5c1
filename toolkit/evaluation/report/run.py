"""The report of a run directory, or of a ``--repeat`` group of runs (metrics as mean ± std)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from toolkit.config.loading import penalty_paths
from toolkit.evaluation import plots
from toolkit.evaluation.metrics import metric_direction
from toolkit.evaluation.plots.canvas import best_index
from toolkit.evaluation.plots.training import epochs as history_epochs
from toolkit.evaluation.report.document import (
    Code,
    Details,
    KeyValues,
    Links,
    Note,
    Paragraph,
    Report,
    Section,
    Table,
    as_killed,
    format_count,
    format_value,
    why_it_stopped,
)
from toolkit.evaluation.report.reading import (
    duration_items,
    plot_figures,
    read_csv,
    read_json,
    read_text,
    read_yaml,
)
from toolkit.runs import SEED_CURVES, sweep_of_trial
from toolkit.text import counted

SPLITS = ("train", "validation", "test")
# Keras' summary footer; its "Total params" adds the optimizer's slots to the weights.
_SUMMARY_COUNTS = re.compile(
    r"^\s*(Total|Trainable|Non-trainable|Optimizer) params:\s*([\d,]+).*\n?", re.MULTILINE
)


def scalar_metrics(metrics: Any) -> dict[str, Any]:
    """The numbers (and mean ± std dicts) of a metrics dict; lists such as matrices left out,
    and ``top_k``, a setting, folded into its metric's name (``top_3_accuracy``)."""
    if not isinstance(metrics, dict):
        return {}
    k = metrics.get("top_k")
    k = k.get("mean") if isinstance(k, dict) else k
    names = {"top_k_accuracy": f"top_{int(k)}_accuracy"} if isinstance(k, int | float) else {}
    return {
        names.get(key, key): v
        for key, v in metrics.items()
        if key != "top_k"
        and (
            (isinstance(v, int | float) and not isinstance(v, bool))
            or v is None
            or (isinstance(v, dict) and "mean" in v)
        )
    }


def best_cells(rows: list[list[Any]]) -> set[tuple[int, int]]:
    """Cells holding the best value of each metric row (direction from the metric's name)."""
    best = set()
    for r, row in enumerate(rows):
        direction = metric_direction(str(row[0]))
        numbers = [
            (c, float(v))
            for c, v in enumerate(row[1:], start=1)
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        ]
        if direction is None or len(numbers) < 2:
            continue
        target = (min if direction == "min" else max)(v for _, v in numbers)
        best |= {(r, c) for c, v in numbers if v == target}
    return best


def _history_facts(
    history: pd.DataFrame | None, record: dict[str, Any], penalty: str | None = None
) -> list[tuple[str, Any]]:
    """Epoch count and the best validation loss with its (1-based) epoch. ``penalty``: the
    config path of a weight penalty, which Keras adds to val_loss (30 of diabetes-mlp's 31.6):
    named beside it, as its value says little of the fit and cannot rank other runs."""
    epochs = record.get("epochs")
    if epochs is None and history is not None:
        epochs = len(history)
    facts: list[tuple[str, Any]] = [("epochs", epochs)]
    members = record.get("member_best_epochs")
    if members:
        # An ensemble whose members each keep their own best epoch: the model is theirs.
        facts.append(("members' best epochs", ", ".join(str(e) for e in members)))
    if history is not None and "val_loss" in history:
        values = pd.to_numeric(history["val_loss"], errors="coerce").to_numpy(dtype=float)
        row = best_index(values, "min")
        if row is not None:
            epoch = history_epochs(history)[row]
            label = "best val_loss" if penalty is None else f"best val_loss (with {penalty})"
            facts.append((label, f"{format_value(values[row])} (epoch {epoch:g})"))
            return facts
    if record.get("best_epoch") is not None:
        facts.append(("best epoch", record["best_epoch"]))
    return facts


def _penalty(directory: Path) -> str | None:
    """The weight penalties of the run's config (``model.weight_prior_scale,
    model.bayesian``: a variational model's KL term is in val_loss too), if any."""
    model = (read_yaml(directory / "config.yaml") or {}).get("model")
    found = penalty_paths(model) if isinstance(model, dict) else []
    return ", ".join(found) if found else None


def _positive_class(record: dict, metrics: dict) -> str | None:
    """A binary run's positive class, the second of metrics.json's ``class_names``: the
    metrics table's precision, recall, f1 and pr_auc score it ('legit' of 'fraud'/'legit'
    by default, 'fraud' with data.positive_class), and nothing else in the report says so."""
    if record.get("task") != "binary":
        return None
    for split in metrics.values():
        names = split.get("class_names") if isinstance(split, dict) else None
        if isinstance(names, list) and len(names) == 2:
            return str(names[1])
    return None


def _epoch_seconds(history: pd.DataFrame | None) -> float | None:
    """The epochs' summed seconds (history.csv's epoch_time), if it has them."""
    if history is None or "epoch_time" not in history:
        return None
    seconds = pd.to_numeric(history["epoch_time"], errors="coerce")
    return float(seconds.sum()) if seconds.notna().any() else None


def _overview(
    record: dict,
    metrics: dict,
    history: pd.DataFrame | None,
    repeat: bool,
    penalty: str | None = None,
    seed: tuple[dict, dict] = ({}, {}),
) -> Section:
    """The run's facts; a repeat group's class weights and positive class are its first seed
    run's (``seed``: its run.json and metrics.json), which every seed shares."""
    devices = record.get("devices")
    versions = record.get("versions") or {}
    items: list[tuple[str, Any]] = [
        ("run id", record.get("run_id")),
        ("task", record.get("task")),
        ("status", record.get("status")),
        ("started", record.get("started")),
        ("ended", record.get("ended")),
        *duration_items(
            record, busy_label="training time (epochs)", busy_seconds=_epoch_seconds(history)
        ),
    ]
    positive = _positive_class(record, metrics) or _positive_class(record, seed[1])
    if positive is not None:
        items.insert(2, ("positive class (precision, recall, f1, pr_auc)", positive))
    if repeat:
        seeds = record.get("seeds") or metrics.get("seeds")
        items += [
            ("seeds", ", ".join(map(str, seeds)) if seeds else None),
            ("completed runs", record.get("completed_runs")),
        ]
    else:
        items += [("seed", record.get("seed")), *_history_facts(history, record, penalty)]
    weights = record.get("class_weight") or seed[0].get("class_weight")
    if isinstance(weights, dict) and weights:
        # training.class_weight moves the probabilities toward the rare classes: a reader
        # of the metrics below must know the loss was weighted.
        shown = ", ".join(f"{label} {weight:.4g}" for label, weight in weights.items())
        items.append(("class weights (training loss)", shown))
    items += [
        ("devices", ", ".join(map(str, devices)) if isinstance(devices, list) else devices),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items()) or None),
        ("data fingerprint", record.get("data_fingerprint")),
    ]
    return Section("Overview", [KeyValues.of(items)])


def _interval_level(directory: Path) -> float | None:
    """The run's ``prediction.interval``: the level of its own central interval."""
    prediction = (read_yaml(directory / "config.yaml") or {}).get("prediction")
    level = prediction.get("interval") if isinstance(prediction, dict) else None
    return float(level) if isinstance(level, int | float) else None


def _percent(level: float) -> str:
    return f"{level * 100:g}%"


def _interval_notes(names: list[str], metrics: dict, level: float | None) -> list[Note]:
    """Which interval each coverage row measures: the model's own (``prediction.interval``)
    and the conformal one (1 - alpha) sit side by side at levels that may differ."""
    notes = []
    if "coverage" in names and level is not None:
        notes.append(
            Note(
                f"coverage, interval_width: the model's own central {_percent(level)} "
                "interval (prediction.interval)."
            )
        )
    conformal = metrics.get("conformal")
    alpha = conformal.get("alpha") if isinstance(conformal, dict) else None
    if isinstance(alpha, int | float):
        target = f"1 - alpha = {_percent(1 - alpha)} (prediction.conformal.alpha)"
        if "conformal_coverage" in names:
            notes.append(
                Note(
                    f"conformal_coverage, conformal_interval_width: the conformal interval, for {target}."
                )
            )
        if "set_coverage" in names:
            notes.append(
                Note(f"set_coverage, mean_set_size: the conformal prediction sets, for {target}.")
            )
            # A mean size below 1 is empty sets, which read as a bug beside an accuracy of 1
            # (wine's ensemble: accuracy 1, set_coverage and mean_set_size 0.83 on test).
            emptied = [
                split
                for split in SPLITS
                if isinstance(scores := metrics.get(split), dict)
                and isinstance(size := scores.get("mean_set_size"), int | float)
                and size < 1
            ]
            if emptied:
                notes.append(
                    Note(
                        f"mean_set_size below 1 ({', '.join(emptied)}): some rows' sets are "
                        "empty. A model right more often than 1 - alpha covers exactly 1 - alpha "
                        "by leaving its least typical rows without a class: read an empty set "
                        "as a row unlike the calibration rows."
                    )
                )
    return notes


def _metrics(metrics: dict, level: float | None = None) -> Section:
    """Every split's metrics side by side (a repeat group's as mean ± std over its seeds), with
    the level of each interval the coverage rows measure."""
    splits = metrics.get("repeats") or {s: metrics[s] for s in SPLITS if s in metrics}
    splits = {s: v for s, v in splits.items() if isinstance(v, dict)}
    if not splits:
        return Section("Metrics", [Note("No metrics were recorded (metrics.json is missing).")])
    scalars = {split: scalar_metrics(scores) for split, scores in splits.items()}
    names = list(dict.fromkeys(k for s in scalars.values() for k in s))
    rows = [[name, *(scalars[s].get(name) for s in splits)] for name in names]
    title = "Metrics"
    if "repeats" in metrics:
        runs = max(
            (len(v.get("values") or []) for s in splits.values() for v in s.values()), default=0
        )
        over = f" over {counted(runs, 'seed')}" if runs else ""
        title = f"Metrics (mean ± std{over})"
    notes = _interval_notes(names, metrics, level)
    if "repeats" not in metrics:
        notes += [note for split, scores in splits.items() if (note := _undefined(split, scores))]
    return Section(title, [Table.of(["metric", *splits], rows), *notes])


def _undefined(split: str, scores: dict) -> Note | None:
    """Why a binary classifier's precision, recall, f1, pr_auc or roc_auc is n/a on ``split``
    (null in metrics.json, where the ratio is 0 / 0), from its confusion matrix: a model that
    predicts no row as the positive class had precision n/a in the table and nothing said why
    (scikit-learn's default would say 0.0, as if every predicted positive were wrong)."""
    matrix, names = scores.get("confusion_matrix"), scores.get("class_names")
    if not (isinstance(matrix, list) and isinstance(names, list) and len(names) == 2):
        return None
    try:
        (negatives, false_positives), (false_negatives, true_positives) = matrix
    except (TypeError, ValueError):
        return None
    positive = names[1]
    predicted = false_positives + true_positives
    held = {"positive": false_negatives + true_positives, "negative": negatives + false_positives}
    reasons = []
    if scores.get("precision", 0) is None and predicted == 0:
        reasons.append(f"precision: the model predicts no row as the positive class '{positive}'")
    if held["positive"] == 0:
        none = [m for m in ("recall", "pr_auc") if scores.get(m, 0) is None]
        if none:
            reasons.append(f"{', '.join(none)}: the split holds no row of '{positive}'")
    if scores.get("f1", 0) is None and predicted == held["positive"] == 0:
        reasons.append("f1: neither a row of it nor a prediction of it")
    if scores.get("roc_auc", 0) is None and 0 in held.values():
        reasons.append("roc_auc: the split holds one class only")
    if not reasons:
        return None
    why = "; ".join(reasons)
    return Note(f"n/a on the {split} split (0 / 0, null in metrics.json): {why}.")


def _baselines(metrics: dict) -> Section | None:
    """The network next to the scikit-learn baselines on the evaluated split, best in bold."""
    entries = {k: v for k, v in (metrics.get("baselines") or {}).items() if isinstance(v, dict)}
    evaluated = metrics.get("evaluated_on")
    if not entries or evaluated not in metrics:
        return None
    # A baseline over its time budget is recorded as {"skipped": "time budget"}: shown as a
    # column of n/a, the report never said why.
    skipped = {name: entry["skipped"] for name, entry in entries.items() if "skipped" in entry}
    baselines = {name: entry for name, entry in entries.items() if name not in skipped}
    network = scalar_metrics(metrics[evaluated])
    fitted = [scalar_metrics(scores) for scores in baselines.values()]
    rows = [[n, network[n], *(scores.get(n) for scores in fitted)] for n in network]
    table = Table.of(["metric", "network", *baselines], rows, best=best_cells(rows))
    notes = [Note("Best value of each metric in bold.")]
    if skipped:
        listed = ", ".join(f"{name} ({reason})" for name, reason in skipped.items())
        notes.append(Note(f"Skipped: {listed}."))
    return Section(f"Network vs baselines ({evaluated} split)", [table, *notes])


def _per_class(metrics: dict) -> Section | None:
    """A classifier's accuracy on each class of the evaluated split (its recall), worst first."""
    evaluated = metrics.get("evaluated_on")
    splits = metrics.get("repeats") or metrics
    scores = splits.get(evaluated) if isinstance(splits.get(evaluated), dict) else {}
    per_class = scores.get("per_class_accuracy")
    if not isinstance(per_class, dict) or not per_class:
        return None
    matrix = scores.get("confusion_matrix")
    counts = (
        {name: sum(row) for name, row in zip(scores.get("class_names") or [], matrix, strict=False)}
        if isinstance(matrix, list)
        else {}
    )

    def value(entry: Any) -> float:
        number = entry.get("mean") if isinstance(entry, dict) else entry
        return float("inf") if number is None else float(number)

    rows = [
        [name, accuracy, counts.get(name)]
        for name, accuracy in sorted(per_class.items(), key=lambda item: value(item[1]))
    ]
    columns = ["class", "accuracy", "examples"] if counts else ["class", "accuracy"]
    rows = [row[: len(columns)] for row in rows]
    return Section(f"Per-class accuracy ({evaluated} split)", [Table.of(columns, rows)])


def _warnings(record: dict, directory: Path | None = None) -> Section | None:
    """run.json's ``warnings``, verbatim: the summary line printed them once, and a report read
    later (a conformal alpha too small for its calibration rows, an id column used as a
    feature) must not hide them. A repeat group's (``directory``) adds its seed runs',
    each named by its run."""
    warnings = [str(w) for w in record.get("warnings") or [] if w]
    for run in record.get("runs") or [] if directory is not None else []:
        seed = read_json(directory / run / "run.json")
        warnings += [f"{Path(run).name}: {w}" for w in seed.get("warnings") or [] if w]
    if not warnings:
        return None
    return Section("Warnings", [Paragraph(text) for text in warnings])


def _calibration(metrics: dict) -> Section | None:
    """What post-hoc calibration fitted (temperature T, std factor s, the conformal quantile)
    and how it moved the scores it was fitted to improve, from metrics.json."""
    blocks: list[Any] = []
    temperature = metrics.get("temperature_scaling")
    if isinstance(temperature, dict):
        items = [
            ("temperature T", temperature.get("temperature")),
            ("fitted on", temperature.get("fitted_on")),
            ("no validation mistake", temperature.get("separable")),
            ("at its bound", temperature.get("bounded")),
        ]
        blocks += [Paragraph("Temperature scaling"), KeyValues.of(items)]
        blocks += _before_after(temperature, ("log_loss", "ece"))
    scaling = metrics.get("std_scaling")
    if isinstance(scaling, dict):
        items = [
            ("std factor s", scaling.get("factor")),
            ("fitted on", scaling.get("fitted_on")),
            ("at its bound", scaling.get("bounded")),
        ]
        blocks += [Paragraph("Std scaling"), KeyValues.of(items)]
        blocks += _before_after(scaling, ("nll", "coverage", "interval_width"))
    conformal = metrics.get("conformal")
    if isinstance(conformal, dict):
        quantile = conformal.get("quantile")
        items = [
            ("method", conformal.get("method")),
            ("alpha", conformal.get("alpha")),
            ("calibrated on", conformal.get("calibrated_on")),
            ("calibration rows", conformal.get("rows")),
            # None in metrics.json is an infinite quantile (too few rows for alpha).
            ("quantile q", "infinite (too few rows for alpha)" if quantile is None else quantile),
        ]
        blocks += [Paragraph("Conformal prediction"), KeyValues.of(items)]
    return Section("Calibration", blocks) if blocks else None


def _before_after(fitted: dict, names: tuple[str, ...]) -> list[Any]:
    """A table of ``<name>_before`` / ``<name>_after`` per split of a calibration's report."""
    rows = [
        [f"{split} {name}", scores.get(f"{name}_before"), scores.get(f"{name}_after")]
        for split in ("validation", "test")
        if isinstance(scores := fitted.get(split), dict)
        for name in names
        if f"{name}_before" in scores
    ]
    return [Table.of(["score", "before", "after"], rows)] if rows else []


def _seed_runs(directory: Path, record: dict) -> Section | None:
    """A repeat group's runs, linked to their reports; draws their validation curves overlaid."""
    runs = [str(run) for run in record.get("runs") or []]
    histories = {Path(run).name: read_csv(directory / run / "history.csv") for run in runs}
    histories = {k: h for k, h in histories.items() if h is not None and "val_loss" in h}
    if histories:
        figure = plots.comparison_curves(histories)
        plots.save(figure, directory / "plots" / SEED_CURVES)
    if not runs:
        return None
    links = [(run, run if (directory / run / "report.html").exists() else None) for run in runs]
    return Section("Seed runs", [Links(links), *_seed_calibrations(directory, runs)])


# What each calibration fitted, as metrics.json records it: (column, section, key).
_FITTED = (
    ("temperature T", "temperature_scaling", "temperature"),
    ("std factor s", "std_scaling", "factor"),
    ("conformal q", "conformal", "quantile"),
)


def _seed_calibrations(directory: Path, runs: list[str]) -> list[Any]:
    """A table of what each seed's calibration fitted (T, s, q): the group's metrics.json
    averages the scores, and its report showed none of them."""
    fitted = {run: read_json(directory / run / "metrics.json") or {} for run in runs}
    columns = [
        entry
        for entry in _FITTED
        if any(isinstance(m.get(entry[1]), dict) for m in fitted.values())
    ]
    if not columns:
        return []
    rows = [
        [Path(run).name, *((m.get(section) or {}).get(key) for _, section, key in columns)]
        for run, m in fitted.items()
    ]
    return [
        Paragraph("What calibration fitted on each seed's validation split"),
        Table.of(["run", *(name for name, _, _ in columns)], rows),
    ]


def _data(directory: Path) -> Section | None:
    data = read_json(directory / "data_summary.json")
    if not data:
        return None
    features = [f for f in data.get("features") or [] if isinstance(f, dict)]
    kinds = pd.Series([f.get("kind") for f in features], dtype=object).value_counts().to_dict()
    target = (
        data.get("target") if isinstance(data.get("target"), dict) else {"name": data.get("target")}
    )
    classes = [str(c) for c in target.get("classes") or []]
    summary = f"target {target.get('name', '?')}"
    if classes:
        summary += f" with {counted(len(classes), 'class', 'classes')}: {', '.join(classes[:12])}"
        summary += ", …" if len(classes) > 12 else ""
    summary += (
        f"; {counted(len(features), 'feature')} ("
        + ", ".join(f"{v} {k}" for k, v in kinds.items())
        + ")"
    )
    rows = [[split, count] for split, count in (data.get("rows") or {}).items()]
    blocks = [Paragraph(summary), Table.of(["split", "rows"], rows)]
    if features:
        columns = list(dict.fromkeys(k for f in features for k in f))
        table = Table.of(columns, [[f.get(c) for c in columns] for f in features])
        blocks.append(Details(counted(len(features), "feature"), table))
    return Section("Data", blocks)


def _model(directory: Path) -> Section | None:
    """Weight counts said once (Keras' footer, whose total includes optimizer state, is dropped)."""
    model = read_json(directory / "model.json")
    summary = read_text(directory / "model_summary.txt")
    if not model and summary is None:
        return None
    footer = {kind: int(n.replace(",", "")) for kind, n in _SUMMARY_COUNTS.findall(summary or "")}
    total, trainable = model.get("total_params"), model.get("trainable_params")
    counts = []
    if total is not None:
        counts.append(f"{format_count(total)} weights")
    if trainable is not None:
        counts.append(f"{format_count(trainable)} trainable")
    if isinstance(total, int) and isinstance(trainable, int):
        counts.append(f"{format_count(total - trainable)} non-trainable")
    text = ", ".join(counts)
    if footer.get("Optimizer"):
        text += f". The optimizer's state holds {format_count(footer['Optimizer'])} more values."
    blocks = [Paragraph(text)] if text else []
    if summary:
        blocks.append(Code(_SUMMARY_COUNTS.sub("", summary)))
    return Section("Model", blocks)


def _config(directory: Path) -> Section | None:
    config = read_text(directory / "config.yaml")
    return None if config is None else Section("Config", [Code(config)])


def _first_seed(directory: Path, record: dict) -> tuple[dict, dict]:
    """The run.json and metrics.json of a repeat group's first seed run ({} where missing)."""
    runs = record.get("runs")
    if not isinstance(runs, list) or not runs or not isinstance(runs[0], str):
        return {}, {}
    first = directory / runs[0]
    return read_json(first / "run.json"), read_json(first / "metrics.json")


def run_report(directory: Path, *, killed: bool = False) -> Report:
    """The report of a run (or repeat-group) directory; ``killed``: no process is writing it,
    so a ``running`` status in run.json is shown as ``killed``."""
    record = read_json(directory / "run.json")
    metrics = read_json(directory / "metrics.json")
    history = read_csv(directory / "history.csv")
    repeat = record.get("kind") == "repeat" or "repeats" in metrics
    if killed:
        then = (
            f"toolkit train --resume {directory} finishes it: its ended seed runs are kept, "
            "the stopped one continues from its last epoch."
            if repeat
            else f"toolkit train --resume {directory} continues it from its last epoch."
        )
        sweep = sweep_of_trial(directory)
        if sweep is not None:  # continued on its own, it would train outside the sweep
            then = f"toolkit tune --resume {sweep} runs this trial again from the start."
        record = as_killed(record, file="run.json", then=then)
    record.setdefault("run_id", directory.name)
    subtitle = [
        f"{'repeat group' if repeat else 'run'} {record['run_id']}",
        f"task {record.get('task', '?')}",
        f"evaluated on {metrics['evaluated_on']}" if metrics.get("evaluated_on") else "",
    ]
    seeds = _seed_runs(directory, record) if repeat else None  # draws seed_curves.png first
    figures = plot_figures(directory)
    sections = [
        _overview(
            record,
            metrics,
            history,
            repeat,
            _penalty(directory),
            _first_seed(directory, record) if repeat else ({}, {}),
        ),
        why_it_stopped(record),
        _warnings(record, directory if repeat else None),
        _metrics(metrics, _interval_level(directory)),
        _baselines(metrics),
        _per_class(metrics),
        _calibration(metrics),
        seeds,
        Section("Plots", [figures]) if figures else None,
        _data(directory),
        _model(directory),
        _config(directory),
    ]
    return Report.of(record, directory, subtitle, sections)
