"""Reports for run and sweep directories: one self-contained HTML page and a Markdown twin.

The HTML embeds every plot as a data URI and carries its own CSS, so it opens offline and can
be mailed as one file. Nothing here imports TensorFlow: a report is quick to rebuild.
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from toolkit.errors import ToolkitError
from toolkit.evaluation import plots
from toolkit.runs import atomic_write_text

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2433;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:26px;margin:8px 0 4px}h2{font-size:19px;margin:32px 0 10px;border-bottom:1px solid #dde1e7;padding-bottom:4px}
.meta{color:#5b6474;font-size:13px}.status{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.completed{background:#2e7d32}.failed{background:#c62828}.running{background:#1565c0}.interrupted{background:#ef6c00}
table{border-collapse:collapse;background:#fff;font-size:13.5px;margin:6px 0;box-shadow:0 1px 2px rgba(0,0,0,.06)}
th,td{border:1px solid #e3e6eb;padding:5px 10px;text-align:right;white-space:nowrap}
.scroll{overflow-x:auto}th{background:#eef1f5;text-align:center}
td:first-child,th:first-child{text-align:left}
pre{background:#fff;border:1px solid #e3e6eb;padding:10px 12px;overflow:auto;font-size:12.5px;max-height:420px}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(470px,1fr));gap:14px}
figure{margin:0;background:#fff;border:1px solid #e3e6eb;padding:8px}figure img{width:100%;height:auto}
figcaption{font-size:12px;color:#5b6474;text-align:center}
"""


@dataclass
class _Section:
    title: str
    html: str
    markdown: str


@dataclass
class _Report:
    title: str
    subtitle: str
    status: str
    sections: list[_Section] = field(default_factory=list)

    def add(self, title: str, html_body: str, markdown: str) -> None:
        self.sections.append(_Section(title, html_body, markdown))

    def to_html(self) -> str:
        body = "".join(f"<h2>{html.escape(s.title)}</h2>\n{s.html}\n" for s in self.sections)
        status = html.escape(self.status)
        return (
            "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body><main>"
            f"<h1>{html.escape(self.title)} <span class='status {status}'>{status}</span></h1>"
            f"<div class='meta'>{html.escape(self.subtitle)}</div>\n{body}</main></body></html>\n"
        )

    def to_markdown(self) -> str:
        parts = [f"# {self.title} ({self.status})", "", self.subtitle, ""]
        for section in self.sections:
            parts += [f"## {section.title}", "", section.markdown, ""]
        return "\n".join(parts)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _format(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}"
    if isinstance(value, dict) and "mean" in value:
        return f"{_format(value['mean'])} ± {_format(value.get('std'))}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> tuple[str, str]:
    """The same table as HTML and as Markdown."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_format(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    markdown = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(_format(c) for c in row) + " |" for row in rows),
    ]
    return f"<div class='scroll'><table><tr>{head}</tr>{body}</table></div>", "\n".join(markdown)


def _code(text: str) -> tuple[str, str]:
    return f"<pre>{html.escape(text)}</pre>", f"```\n{text.rstrip()}\n```"


def _scalar_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in metrics.items()
        if isinstance(v, (int, float)) or v is None or (isinstance(v, dict) and "mean" in v)
    }


def _plots_section(report: _Report, directory: Path) -> None:
    images = sorted((directory / "plots").glob("*.png"))
    if not images:
        return
    figures, markdown = [], []
    for image in images:
        data = base64.b64encode(image.read_bytes()).decode("ascii")
        caption = image.stem.replace("_", " ")
        figures.append(
            f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
        markdown.append(f"![{caption}](plots/{image.name})")
    report.add("Plots", "<div class='plots'>" + "".join(figures) + "</div>", "\n\n".join(markdown))


def _run_report(directory: Path) -> _Report:
    record = _read_json(directory / "run.json")
    versions = record.get("versions") or {}
    subtitle = " · ".join(
        part
        for part in (
            f"run {record.get('run_id', directory.name)}",
            f"task {record.get('task', '?')}",
            f"started {record.get('started', '?')}",
            f"ended {record.get('ended') or 'n/a'}",
            f"seed {record.get('seed', '?')}",
            ", ".join(f"{k} {v}" for k, v in versions.items()),
            ", ".join(record.get("devices") or []),
        )
        if part
    )
    report = _Report(record.get("name", directory.name), subtitle, record.get("status", "unknown"))
    if record.get("reason"):
        report.add("Why it stopped", *_code(str(record["reason"])))

    metrics = _read_json(directory / "metrics.json")
    splits = metrics.get("repeats") or {
        s: metrics[s] for s in ("train", "validation", "test") if s in metrics
    }
    if splits:
        names = list(dict.fromkeys(k for s in splits.values() for k in _scalar_metrics(s)))
        rows = [[name, *(splits[s].get(name) for s in splits)] for name in names]
        title = "Metrics (mean ± std over seeds)" if "repeats" in metrics else "Metrics"
        report.add(title, *_table(["metric", *splits], rows))
    baselines = metrics.get("baselines") or {}
    evaluated = metrics.get("evaluated_on")
    if baselines and evaluated in metrics:
        network = _scalar_metrics(metrics[evaluated])
        header = ["metric", "network", *baselines]
        rows = [[n, network[n], *(baselines[b].get(n) for b in baselines)] for n in network]
        report.add(f"Network vs baselines ({evaluated} split)", *_table(header, rows))

    data = _read_json(directory / "data_summary.json")
    if data:
        rows = [[split, count] for split, count in (data.get("rows") or {}).items()]
        features = data.get("features") or []
        kinds = pd.Series([f.get("kind") for f in features]).value_counts().to_dict()
        target = data.get("target") or {}
        classes = target.get("classes") or []
        text_html, text_md = _table(["split", "rows"], rows)
        summary = (
            f"target <b>{html.escape(str(target.get('name', '?')))}</b>"
            + (
                f" with {len(classes)} classes: {html.escape(', '.join(classes[:12]))}"
                if classes
                else ""
            )
            + f"; {len(features)} features ("
            + html.escape(", ".join(f"{v} {k}" for k, v in kinds.items()))
            + ")"
        )
        report.add(
            "Data",
            f"<p>{summary}</p>{text_html}",
            f"{html.unescape(summary)}\n\n{text_md}".replace("<b>", "**").replace("</b>", "**"),
        )

    model = _read_json(directory / "model.json")
    summary_file = directory / "model_summary.txt"
    if model or summary_file.exists():
        counts = (
            f"{model.get('total_params', '?'):,} parameters, {model.get('trainable_params', '?'):,} trainable"
            if model
            else ""
        )
        code_html, code_md = _code(summary_file.read_text()) if summary_file.exists() else ("", "")
        report.add("Model", f"<p>{counts}</p>{code_html}", f"{counts}\n\n{code_md}")

    config = directory / "config.yaml"
    if config.exists():
        report.add("Config", *_code(config.read_text()))
    _plots_section(report, directory)
    return report


def _sweep_report(directory: Path) -> _Report:
    sweep = _read_json(directory / "sweep.json")
    objective = sweep.get("objective", "objective")
    direction = sweep.get("direction", "min")
    counts = sweep.get("counts") or {}
    subtitle = " · ".join(
        [
            f"sweep {directory.name}",
            f"{sweep.get('algorithm', '')} search",
            f"{objective} ({direction})",
            ", ".join(f"{v} {k}" for k, v in counts.items()),
        ]
    )
    report = _Report(sweep.get("name", directory.name), subtitle, sweep.get("status", "unknown"))
    best = sweep.get("best_trial")
    if best:
        rows = [["trial", best.get("trial_id")], [objective, best.get("objective")]]
        rows += [[k, v] for k, v in (best.get("hyperparameters") or {}).items()]
        report.add("Best trial", *_table(["", "value"], rows))
    trials_path = directory / "trials.csv"
    if trials_path.exists():
        trials = pd.read_csv(trials_path, dtype={"trial_id": str})
        if "objective" in trials:
            hyperparameters = [
                c
                for c in trials.columns
                if "." in c and c not in ("trial_id", "status", "objective")
            ]
            completed = trials[trials["status"] == "completed"] if "status" in trials else trials
            if len(completed):  # in run order: the plots show the search as it went
                plots.sweep_plots(
                    completed, "objective", direction, hyperparameters, directory / "plots"
                )
            trials = trials.sort_values(
                "objective", ascending=direction == "min", na_position="last"
            )
        rows = trials.astype(object).where(trials.notna(), None).values.tolist()
        report.add("Trials (best first)", *_table(list(trials.columns), rows))
    best_config = directory / "best_config.yaml"
    if best_config.exists():
        report.add("Best config (toolkit train runs it as it is)", *_code(best_config.read_text()))
    _plots_section(report, directory)
    return report


def write_report(directory: Path) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` into a run or sweep directory."""
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


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        flat: dict[str, Any] = {}
        for key, value in data.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): json.dumps(data) if isinstance(data, list) else data}


def compare_runs(run_dirs: list[Path], out_dir: Path) -> tuple[str, Path]:
    """A side-by-side table of the config keys that differ and the metrics of several runs.

    Writes ``compare.md``, ``compare.csv`` and ``compare.png`` (validation curves overlaid)
    into ``out_dir``; returns the printable table and ``out_dir``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels, configs, metrics, histories = [], [], [], {}
    for run in map(Path, run_dirs):
        label = run.name if run.name not in labels else f"{run.parent.name}/{run.name}"
        labels.append(label)
        configs.append(_flatten(yaml.safe_load((run / "config.yaml").read_text()) or {}))
        saved = _read_json(run / "metrics.json")
        split = saved.get("evaluated_on") or "validation"
        metrics.append(
            {f"{split}.{k}": v for k, v in _scalar_metrics(saved.get(split, {})).items()}
        )
        if (run / "history.csv").exists():
            histories[label] = pd.read_csv(run / "history.csv")
    keys = sorted({k for c in configs for k in c})
    differing = [k for k in keys if len({json.dumps(c.get(k), default=str) for c in configs}) > 1]
    metric_keys = list(dict.fromkeys(k for m in metrics for k in m))
    table = pd.DataFrame(
        {
            label: {**{k: c.get(k) for k in differing}, **{k: m.get(k) for k in metric_keys}}
            for label, c, m in zip(labels, configs, metrics, strict=True)
        }
    )
    table = table.reindex(differing + metric_keys)
    table.index.name = "key"
    table.to_csv(out_dir / "compare.csv")
    header = ["key", *labels]
    rows = [[key, *table.loc[key].tolist()] for key in table.index]
    _, markdown = _table(header, rows)
    atomic_write_text(out_dir / "compare.md", markdown + "\n\n![validation curves](compare.png)\n")
    if histories:
        plots.comparison_curves(histories, out_dir / "compare.png", metric="val_loss")
    width = max(len(k) for k in header + list(table.index)) + 2
    lines = ["".join(f"{h:<{width}}" for h in header)]
    lines += ["".join(f"{_format(c):<{width}}" for c in row) for row in rows]
    return "\n".join(lines), out_dir
