"""Reading a run or sweep directory for a report: a missing or broken file is an empty value,
never an error, so a report of a failed or half-written run still comes out."""

from __future__ import annotations

import base64
import datetime as dt
import json
import struct
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from toolkit.evaluation.report.document import Figures, Image

# Plots in reading order; any other PNG follows alphabetically.
PLOT_ORDER = (
    "learning_curves",
    "seed_curves",
    "predicted_vs_actual",
    "residuals",
    "intervals_sorted",
    "interval_calibration",
    "predictive_band",
    "confusion_matrix",
    "confidently_wrong",
    "roc_curve",
    "pr_curve",
    "reliability_diagram",
    "objective_per_trial",
    "best_so_far",
)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; ``{}`` when the file is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from ``path`` (safe loader); ``{}`` when missing, broken or not a mapping."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def read_csv(path: Path, **kwargs: Any) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path, **kwargs)
    except (OSError, ValueError):
        return None


def duration(started: Any, ended: Any) -> str | None:
    """``1m 25s`` between two ISO timestamps; ``None`` when either is missing or they disagree."""
    try:
        start, end = (
            dt.datetime.fromisoformat(str(t).replace("Z", "+00:00")) for t in (started, ended)
        )
        seconds = (end - start).total_seconds()
    except (TypeError, ValueError):  # unparsable, or one with a time zone and one without
        return None
    return format_seconds(seconds)


def format_seconds(seconds: Any) -> str | None:
    """``1h 02m 05s`` or ``1m 25s``; ``None`` for a missing or negative number."""
    try:
        seconds = round(float(seconds))
    except (TypeError, ValueError, OverflowError):
        return None
    if seconds < 0:
        return None
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {seconds:02d}s" if hours else f"{minutes}m {seconds:02d}s"


def duration_items(
    record: dict[str, Any], *, busy_label: str, busy_seconds: float | None
) -> list[tuple[str, Any]]:
    """The start-to-end duration; for a run or sweep resumed after a stop, that span holds the
    time it lay stopped, so it is labelled so and followed by the time spent working
    (``busy_label``: the epochs' or the trials' summed seconds)."""
    span = duration(record.get("started"), record.get("ended"))
    resumes = record.get("resumed")
    if not isinstance(resumes, list) or not resumes:
        return [("duration", span)]
    times = "1 resume" if len(resumes) == 1 else f"{len(resumes)} resumes"
    items: list[tuple[str, Any]] = [(f"duration (start to end, across {times})", span)]
    if busy_seconds is not None:
        items.append((busy_label, format_seconds(busy_seconds)))
    return items


def _png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG header; ``None`` if the bytes are not a PNG."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _caption(stem: str) -> str:
    """``learning curves`` for learning_curves.png; a sweep's ``objective vs <path>`` keeps the
    hyperparameter's own name (``training.optimizer.learning_rate``, not ``learning rate``)."""
    prefix = "objective_vs_"
    if stem.startswith(prefix) and len(stem) > len(prefix):
        return f"objective vs {stem[len(prefix) :]}"
    return stem.replace("_", " ")


def plot_figures(directory: Path) -> Figures | None:
    """Every ``plots/*.png`` of a directory in reading order (files that are not PNGs skipped)."""

    def order(path: Path) -> tuple[int, str]:
        rank = PLOT_ORDER.index(path.stem) if path.stem in PLOT_ORDER else len(PLOT_ORDER)
        return rank, path.stem

    images = []
    # Not hidden files: a plot still being written is a hidden file beside its target.
    shown = [p for p in (directory / "plots").glob("*.png") if not p.name.startswith(".")]
    for path in sorted(shown, key=order):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        size = _png_size(data)
        if size is not None:
            caption = _caption(path.stem)
            encoded = base64.b64encode(data).decode("ascii")
            images.append(Image(f"plots/{path.name}", caption, encoded, *size))
    return Figures(images) if images else None
