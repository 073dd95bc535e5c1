"""Reports for run and sweep directories: one self-contained HTML page and a Markdown twin.

The HTML embeds every plot as a data URI and carries its own CSS (no script, no external
resource), so it opens offline and can be mailed as one file. The Markdown references the same
PNGs by relative path. Missing optional files leave their section out or say so; they never
fail the report. Nothing here imports TensorFlow: a report is quick to rebuild.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from toolkit.errors import ToolkitError
from toolkit.evaluation import plots
from toolkit.evaluation.metrics import metric_direction
from toolkit.runs import atomic_write_text

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1d2433;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:26px;margin:8px 0 4px;word-break:break-word}h2{font-size:19px;margin:32px 0 10px;border-bottom:1px solid #dde1e7;padding-bottom:4px}
.meta{color:#5b6474;font-size:13px}.status{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;background:#6b7280;vertical-align:middle}
.completed{background:#2e7d32}.failed{background:#c62828}.running{background:#1565c0}.interrupted{background:#ef6c00}
nav{margin:12px 0 0;display:flex;flex-wrap:wrap;gap:6px}nav a{font-size:12.5px;color:#1f4f8f;text-decoration:none;border:1px solid #cfd6e0;border-radius:12px;padding:1px 10px;background:#fff}
nav a:hover{background:#eaf1fb}
table{border-collapse:collapse;background:#fff;font-size:13.5px;margin:6px 0;box-shadow:0 1px 2px rgba(0,0,0,.06);font-variant-numeric:tabular-nums}
th,td{border:1px solid #e3e6eb;padding:5px 10px;text-align:right;white-space:nowrap}
.scroll{overflow-x:auto}th{background:#eef1f5;text-align:center}
td:first-child,th:first-child{text-align:left}td.best{font-weight:700;color:#1b5e20}tr.hl td{background:#fff7d6}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:3px 18px;margin:6px 0;background:#fff;border:1px solid #e3e6eb;padding:10px 14px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
dl.kv dt{color:#5b6474;font-weight:600}dl.kv dd{margin:0;word-break:break-word}
details{margin:8px 0}summary{cursor:pointer;color:#1f4f8f;font-size:13.5px}
pre{background:#fff;border:1px solid #e3e6eb;padding:10px 12px;overflow:auto;font:12.5px/1.25 ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;max-height:420px}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(470px,1fr));gap:14px}
figure{margin:0;background:#fff;border:1px solid #e3e6eb;padding:8px}figure.wide{grid-column:1/-1}figure img{width:100%;height:auto;display:block}
figcaption{font-size:12px;color:#5b6474;text-align:center}
p.note{color:#5b6474;font-size:13px;font-style:italic}
@media print{nav{display:none}body{background:#fff}}
"""

# Plots in reading order; any other PNG follows alphabetically.
_PLOT_ORDER = (
    "learning_curves",
    "seed_curves",
    "predicted_vs_actual",
    "residuals",
    "intervals_sorted",
    "interval_calibration",
    "predictive_band",
    "confusion_matrix",
    "roc_curve",
    "pr_curve",
    "reliability_diagram",
    "objective_per_trial",
    "best_so_far",
)
_SPLITS = ("train", "validation", "test")


@dataclass
class _Section:
    title: str
    html: str
    markdown: str
    anchor: str = ""


@dataclass
class _Report:
    title: str
    subtitle: str
    status: str
    sections: list[_Section] = field(default_factory=list)

    def add(self, title: str, html_body: str, markdown: str) -> None:
        anchor = f"s{len(self.sections) + 1}"
        self.sections.append(_Section(title, html_body, markdown, anchor))

    def to_html(self) -> str:
        body = "".join(
            f"<section id='{s.anchor}'><h2>{html.escape(s.title)}</h2>\n{s.html}\n</section>\n"
            for s in self.sections
        )
        nav = "".join(f"<a href='#{s.anchor}'>{html.escape(s.title)}</a>" for s in self.sections)
        status = html.escape(self.status)
        return (
            "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body><main>"
            f"<h1>{html.escape(self.title)} <span class='status {status}'>{status}</span></h1>"
            f"<div class='meta'>{html.escape(self.subtitle)}</div><nav>{nav}</nav>\n"
            f"{body}</main></body></html>\n"
        )

    def to_markdown(self) -> str:
        parts = [f"# {self.title} ({self.status})", "", self.subtitle, ""]
        for section in self.sections:
            parts += [f"## {section.title}", "", section.markdown.rstrip(), ""]
        return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# reading and formatting
# --------------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; ``{}`` when the file is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _read_csv(path: Path, **kwargs: Any) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path, **kwargs)
    except (OSError, ValueError):
        return None


def _format(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a" if math.isnan(value) else str(value)
        return f"{value:.4g}"
    if isinstance(value, dict) and "mean" in value:
        return f"{_format(value['mean'])} ± {_format(value.get('std'))}"
    return str(value)


def _count(value: Any) -> str:
    """Thousands-separated integer counts; anything else as :func:`_format`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return _format(value)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(
    header: list[str],
    rows: list[list[Any]],
    *,
    best: set[tuple[int, int]] | None = None,
    highlight: set[int] | None = None,
) -> tuple[str, str]:
    """The same table as HTML and as Markdown; ``best`` cells and ``highlight`` rows in bold."""
    best, highlight = best or set(), highlight or set()
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    markdown = [
        "| " + " | ".join(_md_cell(h) for h in header) + " |",
        "|" + "---|" * len(header),
    ]
    for r, row in enumerate(rows):
        cells, md_cells = [], []
        for c, value in enumerate(row):
            text = _format(value)
            bold = (r, c) in best or r in highlight
            cls = " class='best'" if (r, c) in best else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
            md_cells.append(f"**{_md_cell(text)}**" if bold and text else _md_cell(text))
        body.append(f"<tr{' class=hl' if r in highlight else ''}>{''.join(cells)}</tr>")
        markdown.append("| " + " | ".join(md_cells) + " |")
    table = f"<div class='scroll'><table><tr>{head}</tr>{''.join(body)}</table></div>"
    return table, "\n".join(markdown)


def _key_values(items: list[tuple[str, Any]]) -> tuple[str, str]:
    """A definition list (HTML) and a bullet list (Markdown) of label: value pairs."""
    shown = [(k, v if isinstance(v, str) else _format(v)) for k, v in items if v is not None]
    html_body = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in shown)
    markdown = "\n".join(f"- **{k}**: {v}" for k, v in shown)
    return f"<dl class='kv'>{html_body}</dl>", markdown


def _code(text: str) -> tuple[str, str]:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"<pre>{html.escape(text.rstrip())}</pre>", f"{fence}\n{text.rstrip()}\n{fence}"


def _note(text: str) -> tuple[str, str]:
    return f"<p class='note'>{html.escape(text)}</p>", f"*{text}*"


def _scalar_metrics(metrics: Any) -> dict[str, Any]:
    if not isinstance(metrics, dict):
        return {}
    return {
        k: v
        for k, v in metrics.items()
        if (isinstance(v, int | float) and not isinstance(v, bool))
        or v is None
        or (isinstance(v, dict) and "mean" in v)
    }


def _best_cells(rows: list[list[Any]]) -> set[tuple[int, int]]:
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


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _duration(started: Any, ended: Any) -> str | None:
    start, end = _parse_time(started), _parse_time(ended)
    if start is None or end is None or (start.tzinfo is None) != (end.tzinfo is None):
        return None
    seconds = round((end - start).total_seconds())
    if seconds < 0:
        return None
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {seconds:02d}s" if hours else f"{minutes}m {seconds:02d}s"


def _png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG header; ``None`` if the file is not a PNG."""
    try:
        with path.open("rb") as handle:
            head = handle.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _plots_section(report: _Report, directory: Path) -> None:
    """Every ``plots/*.png``, embedded (HTML) or linked (Markdown); wide figures take a row."""

    def order(path: Path) -> tuple[int, str]:
        stem = path.stem
        rank = _PLOT_ORDER.index(stem) if stem in _PLOT_ORDER else len(_PLOT_ORDER)
        return rank, stem

    images = sorted((directory / "plots").glob("*.png"), key=order)
    figures, markdown = [], []
    for image in images:
        size = _png_size(image)
        if size is None:
            continue
        data = base64.b64encode(image.read_bytes()).decode("ascii")
        caption = image.stem.replace("_", " ")
        wide = " class='wide'" if size[0] > 1.9 * size[1] else ""
        figures.append(
            f"<figure{wide}><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
        markdown.append(f"![{caption}](plots/{image.name})")
    if figures:
        report.add(
            "Plots", "<div class='plots'>" + "".join(figures) + "</div>", "\n\n".join(markdown)
        )


# --------------------------------------------------------------------------------------------
# run report
# --------------------------------------------------------------------------------------------


def _history_facts(history: pd.DataFrame | None, record: dict[str, Any]) -> list[tuple[str, Any]]:
    """Epoch count and the best validation loss (with its epoch) from history.csv."""
    facts: list[tuple[str, Any]] = []
    epochs = record.get("epochs")
    if epochs is None and history is not None:
        epochs = len(history)
    facts.append(("epochs", epochs))
    if history is not None and "val_loss" in history and len(history):
        values = pd.to_numeric(history["val_loss"], errors="coerce")
        if values.notna().any():
            row = int(values.fillna(float("inf")).to_numpy().argmin())
            epoch = history["epoch"].iloc[row] if "epoch" in history else row
            facts.append(("best val_loss", f"{_format(float(values.iloc[row]))} (epoch {epoch})"))
    elif record.get("best_epoch") is not None:
        facts.append(("best epoch", record["best_epoch"]))
    return facts


def _seed_curves(directory: Path, record: dict[str, Any]) -> None:
    """For a ``--repeat`` group: overlay the seeds' validation curves as plots/seed_curves.png."""
    histories = {}
    for run in record.get("runs") or []:
        history = _read_csv(directory / str(run) / "history.csv")
        if history is not None and "val_loss" in history:
            histories[Path(str(run)).name] = history
    if histories:
        (directory / "plots").mkdir(exist_ok=True)
        plots.comparison_curves(histories, directory / "plots" / "seed_curves.png")


def _run_report(directory: Path) -> _Report:
    record = _read_json(directory / "run.json")
    metrics = _read_json(directory / "metrics.json")
    history = _read_csv(directory / "history.csv")
    versions = record.get("versions") or {}
    repeat = record.get("kind") == "repeat" or "repeats" in metrics
    subtitle = " · ".join(
        part
        for part in (
            f"{'repeat group' if repeat else 'run'} {record.get('run_id', directory.name)}",
            f"task {record.get('task', '?')}",
            f"evaluated on {metrics['evaluated_on']}" if metrics.get("evaluated_on") else "",
        )
        if part
    )
    report = _Report(
        str(record.get("name", directory.name)), subtitle, str(record.get("status", "unknown"))
    )

    devices = record.get("devices")
    overview: list[tuple[str, Any]] = [
        ("run id", record.get("run_id", directory.name)),
        ("task", record.get("task")),
        ("status", record.get("status")),
        ("started", record.get("started")),
        ("ended", record.get("ended")),
        ("duration", _duration(record.get("started"), record.get("ended"))),
    ]
    if repeat:
        seeds = record.get("seeds") or metrics.get("seeds")
        overview += [
            ("seeds", ", ".join(map(str, seeds)) if seeds else None),
            ("completed runs", record.get("completed_runs")),
        ]
    else:
        overview += [("seed", record.get("seed")), *_history_facts(history, record)]
    overview += [
        ("devices", ", ".join(map(str, devices)) if isinstance(devices, list) else devices),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items()) or None),
        ("data fingerprint", record.get("data_fingerprint")),
    ]
    report.add("Overview", *_key_values(overview))
    if record.get("reason"):
        report.add("Why it stopped", *_code(str(record["reason"])))

    splits = metrics.get("repeats") or {s: metrics[s] for s in _SPLITS if s in metrics}
    splits = {s: v for s, v in splits.items() if isinstance(v, dict)}
    if splits:
        names = list(dict.fromkeys(k for s in splits.values() for k in _scalar_metrics(s)))
        rows = [[name, *(splits[s].get(name) for s in splits)] for name in names]
        if "repeats" in metrics:
            counts = [len(v.get("values") or []) for s in splits.values() for v in s.values()]
            runs = max(counts, default=0)
            title = f"Metrics (mean ± std over {runs} seeds)" if runs else "Metrics (mean ± std)"
        else:
            title = "Metrics"
        report.add(title, *_table(["metric", *splits], rows))
    else:
        report.add("Metrics", *_note("No metrics were recorded (metrics.json is missing)."))

    baselines = {k: v for k, v in (metrics.get("baselines") or {}).items() if isinstance(v, dict)}
    evaluated = metrics.get("evaluated_on")
    if baselines and evaluated in metrics:
        network = _scalar_metrics(metrics[evaluated])
        header = ["metric", "network", *baselines]
        rows = [[n, network[n], *(baselines[b].get(n) for b in baselines)] for n in network]
        table_html, table_md = _table(header, rows, best=_best_cells(rows))
        note_html, note_md = _note("Best value of each metric in bold.")
        report.add(
            f"Network vs baselines ({evaluated} split)",
            table_html + note_html,
            f"{table_md}\n\n{note_md}",
        )

    if repeat:
        _seed_curves(directory, record)
        runs = record.get("runs") or []
        if runs:
            links, lines = [], []
            for run in runs:
                target = f"{run}/report.html"
                if (directory / target).exists():
                    links.append(f"<li><a href='{html.escape(target)}'>{html.escape(run)}</a></li>")
                else:
                    links.append(f"<li>{html.escape(run)}</li>")
                lines.append(f"- {run}")
            report.add("Seed runs", f"<ul>{''.join(links)}</ul>", "\n".join(lines))
    _plots_section(report, directory)

    data = _read_json(directory / "data_summary.json")
    if data:
        rows = [[split, count] for split, count in (data.get("rows") or {}).items()]
        features = [f for f in data.get("features") or [] if isinstance(f, dict)]
        kinds = pd.Series([f.get("kind") for f in features], dtype=object).value_counts().to_dict()
        target = data.get("target")
        target = target if isinstance(target, dict) else {"name": target}
        classes = [str(c) for c in target.get("classes") or []]
        summary = (
            f"target {target.get('name', '?')}"
            + (f" with {len(classes)} classes: {', '.join(classes[:12])}" if classes else "")
            + (", …" if len(classes) > 12 else "")
            + f"; {len(features)} features ("
            + ", ".join(f"{v} {k}" for k, v in kinds.items())
            + ")"
        )
        rows_html, rows_md = _table(["split", "rows"], rows)
        body_html, body_md = f"<p>{html.escape(summary)}</p>{rows_html}", f"{summary}\n\n{rows_md}"
        if features:
            columns = list(dict.fromkeys(k for f in features for k in f))
            feature_html, feature_md = _table(
                columns, [[f.get(c) for c in columns] for f in features]
            )
            body_html += (
                f"<details><summary>{len(features)} features</summary>{feature_html}</details>"
            )
            body_md += f"\n\n{feature_md}"
        report.add("Data", body_html, body_md)

    model = _read_json(directory / "model.json")
    summary_text = _read_text(directory / "model_summary.txt")
    if model or summary_text:
        total, trainable = model.get("total_params"), model.get("trainable_params")
        counts = []
        if total is not None:
            counts.append(f"{_count(total)} parameters")
        if trainable is not None:
            counts.append(f"{_count(trainable)} trainable")
        if isinstance(total, int) and isinstance(trainable, int) and total > trainable:
            counts.append(f"{_count(total - trainable)} non-trainable")
        line = ", ".join(counts)
        code_html, code_md = _code(summary_text) if summary_text else ("", "")
        report.add(
            "Model",
            (f"<p>{html.escape(line)}</p>" if line else "") + code_html,
            f"{line}\n\n{code_md}".strip(),
        )

    config = _read_text(directory / "config.yaml")
    if config is not None:
        report.add("Config", *_code(config))
    return report


# --------------------------------------------------------------------------------------------
# sweep report
# --------------------------------------------------------------------------------------------


def _sweep_report(directory: Path) -> _Report:
    sweep = _read_json(directory / "sweep.json")
    objective = str(sweep.get("objective") or "objective")
    direction = sweep.get("direction") if sweep.get("direction") in ("min", "max") else "min"
    counts = sweep.get("counts") or {}
    subtitle = " · ".join(
        part
        for part in (
            f"sweep {sweep.get('sweep_id', directory.name)}",
            f"{sweep['algorithm']} search" if sweep.get("algorithm") else "",
            f"{objective} ({direction})",
            ", ".join(f"{v} {k}" for k, v in counts.items()),
        )
        if part
    )
    report = _Report(
        str(sweep.get("name", directory.name)), subtitle, str(sweep.get("status", "unknown"))
    )
    report.add(
        "Overview",
        *_key_values(
            [
                ("algorithm", sweep.get("algorithm")),
                (
                    "objective",
                    f"{objective} ({'lower' if direction == 'min' else 'higher'} is better)",
                ),
                ("trials", ", ".join(f"{v} {k}" for k, v in counts.items()) or None),
                ("max trials", sweep.get("max_trials")),
                ("started", sweep.get("started")),
                ("ended", sweep.get("ended")),
                ("duration", _duration(sweep.get("started"), sweep.get("ended"))),
            ]
        ),
    )
    if sweep.get("reason"):
        report.add("Why it stopped", *_code(str(sweep["reason"])))

    best = sweep.get("best_trial")
    if isinstance(best, dict):
        rows = [["trial", best.get("trial_id")], [objective, best.get("objective")]]
        rows += [[k, v] for k, v in (best.get("hyperparameters") or {}).items()]
        if best.get("run_dir"):
            rows.append(["run directory", best["run_dir"]])
        report.add("Best trial", *_table(["", "value"], rows))

    trials = _read_csv(directory / "trials.csv", dtype={"trial_id": str})
    if trials is not None:
        if "objective" in trials:
            declared = [c for c in sweep.get("search_space") or [] if c in trials.columns]
            hyperparameters = declared or [
                c
                for c in trials.columns
                if "." in c and c not in ("trial_id", "status", "objective")
            ]
            completed = trials[trials["status"] == "completed"] if "status" in trials else trials
            if len(completed):  # in run order: the plots show the search as it went
                # Label the plots with the objective's own name unless a column already has it.
                name = objective if objective not in completed.columns else "objective"
                frame = completed.rename(columns={"objective": name})
                plots.sweep_plots(frame, name, direction, hyperparameters, directory / "plots")
            trials = trials.sort_values(
                "objective", ascending=direction == "min", na_position="last", kind="stable"
            )
        best_id = str(best.get("trial_id")) if isinstance(best, dict) else None
        highlight = {
            r
            for r, trial_id in enumerate(trials.get("trial_id", pd.Series(dtype=str)).astype(str))
            if trial_id == best_id
        }
        rows = trials.astype(object).where(trials.notna(), None).values.tolist()
        table_html, table_md = _table(list(trials.columns), rows, highlight=highlight)
        report.add(f"Trials (best first, by {objective})", table_html, table_md)
    else:
        report.add("Trials", *_note("No trials were recorded (trials.csv is missing)."))

    _plots_section(report, directory)
    best_config = _read_text(directory / "best_config.yaml")
    if best_config is not None:
        report.add("Best config (toolkit train runs it as it is)", *_code(best_config))
    settings = sweep.get("settings")
    if isinstance(settings, dict) and settings:
        rows = [[k, v] for k, v in _flatten(settings).items()]
        report.add("Settings", *_table(["setting", "value"], rows))
    return report


def write_report(directory: Path) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` into a run or sweep directory; return both paths.

    A directory with ``sweep.json`` is a sweep (its plots are drawn from trials.csv here), one
    with ``run.json`` a run or a ``--repeat`` group (whose seeds' curves are overlaid).
    """
    directory = Path(directory)
    if (directory / "sweep.json").exists():
        report = _sweep_report(directory)
    elif (directory / "run.json").exists():
        report = _run_report(directory)
    else:
        raise ToolkitError(f"{directory} is neither a run (run.json) nor a sweep (sweep.json)")
    html_path, markdown_path = directory / "report.html", directory / "report.md"
    atomic_write_text(html_path, report.to_html())
    atomic_write_text(markdown_path, report.to_markdown())
    return html_path, markdown_path


# --------------------------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------------------------


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``a.b.c`` keys; lists as compact JSON so they compare as values."""
    if isinstance(data, dict):
        flat: dict[str, Any] = {}
        for key, value in data.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): json.dumps(data) if isinstance(data, list) else data}


def _run_metrics(saved: dict[str, Any]) -> dict[str, Any]:
    """``split.metric`` values of a run (or mean ± std dicts of a repeat group): the evaluated
    split first, then validation."""
    source = saved.get("repeats") if isinstance(saved.get("repeats"), dict) else saved
    evaluated = saved.get("evaluated_on") or "validation"
    flat: dict[str, Any] = {}
    for split in dict.fromkeys((evaluated, "test", "validation")):
        flat.update({f"{split}.{k}": v for k, v in _scalar_metrics(source.get(split)).items()})
    return flat


def compare_runs(run_dirs: list[Path], out_dir: Path) -> tuple[str, Path]:
    """A side-by-side table of the config keys that differ and the metrics of several runs.

    Config keys are flattened to ``a.b.c``; a key missing from some runs counts as differing.
    Metrics are the evaluated split's (test when there is one) and validation's. Writes
    ``compare.md``, ``compare.csv`` (keys as rows, runs as columns) and ``compare.png``
    (validation curves overlaid) into ``out_dir``; returns the printable table and ``out_dir``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels: list[str] = []
    configs, metrics, histories = [], [], {}
    for run in map(Path, run_dirs):
        label = run.name if run.name not in labels else f"{run.parent.name}/{run.name}"
        while label in labels:
            label += "'"
        labels.append(label)
        try:
            loaded = yaml.safe_load(_read_text(run / "config.yaml") or "") or {}
        except yaml.YAMLError:
            loaded = {}
        configs.append(_flatten(loaded) if isinstance(loaded, dict) else {})
        metrics.append(_run_metrics(_read_json(run / "metrics.json")))
        history = _read_csv(run / "history.csv")
        if history is not None:
            histories[label] = history
    missing = object()
    keys = sorted({k for c in configs for k in c})
    differing = [
        k
        for k in keys
        if len({json.dumps(c.get(k, missing), default=lambda _: "<missing>") for c in configs}) > 1
    ]
    metric_keys = list(dict.fromkeys(k for m in metrics for k in m))
    columns = [
        {**{k: c.get(k) for k in differing}, **m} for c, m in zip(configs, metrics, strict=True)
    ]
    table = pd.DataFrame(
        [[column.get(key) for column in columns] for key in differing + metric_keys],
        index=differing + metric_keys,
        columns=labels,
        dtype=object,
    )
    table.index.name = "key"
    # mean ± std cells as text; every other value as written (map() would turn ints to floats)
    csv_table = pd.DataFrame(
        [[_format(v) if isinstance(v, dict) else v for v in row] for row in table.values.tolist()],
        index=table.index,
        columns=table.columns,
        dtype=object,
    )
    atomic_write_text(out_dir / "compare.csv", csv_table.to_csv())
    header = ["key", *labels]
    rows = [[key, *table.loc[key].tolist()] for key in table.index]
    metric_rows = rows[len(differing) :]
    best = {
        (r + len(differing), c)
        for r, c in _best_cells(
            [[str(row[0]).split(".", 1)[-1], *(_mean(v) for v in row[1:])] for row in metric_rows]
        )
    }
    _, markdown = _table(header, rows, best=best)
    if not differing:
        markdown = "*All runs share the same config.*\n\n" + markdown
    atomic_write_text(
        out_dir / "compare.md",
        f"# Comparison of {len(labels)} runs\n\n{markdown}\n\n![validation curves](compare.png)\n",
    )
    plots.comparison_curves(histories, out_dir / "compare.png", metric="val_loss")
    width = max(len(k) for k in header + list(table.index)) + 2
    lines = ["".join(f"{h:<{width}}" for h in header)]
    lines += ["".join(f"{_format(c):<{width}}" for c in row) for row in rows]
    return "\n".join(lines), out_dir


def _mean(value: Any) -> Any:
    return value.get("mean") if isinstance(value, dict) else value
