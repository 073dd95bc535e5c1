"""The sweep directory: its layout, per-trial records and the files a user acts on.

Whoever runs a trial (the only process, or a worker) writes ``records/trial-<id>.json``;
the process that owns the oracle (the only process, or the chief) turns all records into
``trials.csv``, ``best_config.yaml`` and ``best_model.keras`` and prunes trial files. Every
file is written atomically, so a reader or a kill never sees half of one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from pathlib import Path
from typing import Any

import yaml

from toolkit.errors import ToolkitError
from toolkit.runs import (
    RETIRED_REASON,
    RunDirectory,
    atomic_write,
    atomic_write_json,
    atomic_write_text,
    is_retired_attempt,
    read_json,
    utc_now,
)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return value


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = "-" if value is None else str(_cell(value))
    return text if len(text) <= 24 else text[:21] + "..."


class SweepRecords:
    """Paths and records of one sweep directory.

    ``columns`` are the hyperparameter columns of trials.csv; ``objective``/``direction``
    rank trials; the best ``keep_top_k`` trials keep their checkpoints and models.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        objective: str = "val_loss",
        direction: str = "min",
        keep_top_k: int = 3,
        columns: list[str] | None = None,
        spread: bool = False,
    ) -> None:
        self.path = Path(path)
        self.objective = objective
        self.direction = direction
        self.keep_top_k = keep_top_k
        self.columns = list(columns or [])
        self.spread = spread

    # ------------------------------------------------------------------ layout

    @property
    def sweep_json(self) -> Path:
        return self.path / "sweep.json"

    @property
    def base_config(self) -> Path:
        return self.path / "base_config.yaml"

    @property
    def trials_csv(self) -> Path:
        return self.path / "trials.csv"

    @property
    def best_config(self) -> Path:
        return self.path / "best_config.yaml"

    @property
    def best_model(self) -> Path:
        return self.path / "best_model.keras"

    @property
    def records_dir(self) -> Path:
        return self.path / "records"

    @property
    def trials_dir(self) -> Path:
        """Where trial runs go: ``trials/<name>/trial-<id>-<run id>/``."""
        return self.path / "trials"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    @property
    def workers_dir(self) -> Path:
        """Heartbeat files of distributed workers."""
        return self.path / "workers"

    @property
    def chief_beat(self) -> Path:
        """A distributed chief's heartbeat file (outside ``workers/``: not a worker)."""
        return self.path / "chief.beat"

    # Keras Tuner's own state lives in <sweep>/tuner/ (its ``directory``/``project_name``).
    tuner_project = "tuner"

    def check_tuner_state(self) -> None:
        """Keras Tuner's state files can be read back, or one line saying which cannot.

        The toolkit writes them atomically (``compat.atomic_tuner_state``); a sweep killed
        while an older version, or a full disk, wrote one left it empty, and Keras Tuner's
        reload then failed with a JSONDecodeError traceback.
        """
        project = self.path / self.tuner_project
        for path in sorted(project.glob("*.json")) + sorted(project.glob("trial_*/trial.json")):
            try:
                json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raise ToolkitError(
                    f"{path} is not readable JSON (the sweep was stopped while it was "
                    "written), so the sweep cannot resume; start a new sweep from your config"
                ) from None

    def failures_in_a_row(self) -> int:
        """How many trials failed in a row at the end of the saved search (Keras Tuner's
        ``end_order`` in oracle.json and each trial's status): what
        tuner.max_consecutive_failures counts, read before a resume starts the oracle."""
        project = self.path / self.tuner_project
        oracle = project / "oracle.json"
        if not oracle.exists():
            return 0
        end_order = read_json(oracle).get("end_order") or []
        statuses = {}
        for path in project.glob("trial_*/trial.json"):
            trial = read_json(path)
            statuses[str(trial.get("trial_id"))] = trial.get("status")
        count = 0
        for trial_id in reversed(end_order):
            if statuses.get(str(trial_id)) != "FAILED":  # keras_tuner's TrialStatus.FAILED
                break
            count += 1
        return count

    # ------------------------------------------------------------------ sweep.json

    def read_sweep(self) -> dict[str, Any]:
        return read_json(self.sweep_json) if self.sweep_json.exists() else {}

    def update_sweep(self, **fields: Any) -> dict[str, Any]:
        record = self.read_sweep()
        record.update(fields)
        atomic_write_json(self.sweep_json, record)
        return record

    # ------------------------------------------------------------------ trial records

    def record_path(self, trial_id: str) -> Path:
        return self.records_dir / f"trial-{trial_id}.json"

    def write_record(self, record: dict[str, Any]) -> None:
        self.records_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.record_path(record["trial_id"]), record)

    def read_record(self, trial_id: str) -> dict[str, Any] | None:
        path = self.record_path(trial_id)
        return read_json(path) if path.exists() else None

    def records(self) -> list[dict[str, Any]]:
        """Every finished trial, in trial order."""
        found = [read_json(path) for path in self.records_dir.glob("trial-*.json")]
        return sorted(found, key=lambda record: int(record["trial_id"]))

    def ranked(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Completed trials, best first."""
        done = [r for r in records if r["status"] == "completed" and r.get("objective") is not None]
        return sorted(done, key=lambda r: r["objective"], reverse=self.direction == "max")

    # ------------------------------------------------------------------ outputs

    def refresh(self) -> dict[str, Any]:
        """Rewrite trials.csv and the best config/model from the records; prune the rest.

        Returns the sweep.json fields that summarise the records.
        """
        records = self.records()
        ranked = self.ranked(records)
        atomic_write_text(self.trials_csv, self._csv(records))
        best = ranked[0] if ranked else None
        fields: dict[str, Any] = {
            "counts": {
                "finished": len(records),
                "completed": len(ranked),
                "failed": sum(r["status"] == "failed" for r in records),
            },
            "best_trial": None,
        }
        if best is not None:
            fields["best_trial"] = {
                "trial_id": best["trial_id"],
                "objective": best["objective"],
                "hyperparameters": best["hyperparameters"],
                "run_dir": best["best_run_dir"],
            }
            self._publish_best(best)
        self._prune(records, keep={r["trial_id"] for r in ranked[: self.keep_top_k]})
        self.update_sweep(**fields)
        return fields

    def _csv(self, records: list[dict[str, Any]]) -> str:
        header = ["trial_id", "status", *self.columns, "objective"]
        if self.spread:
            header.append("objective_std")
        header += ["best_epoch", "duration_s", "run_dir", "reason"]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for record in records:
            values = record.get("hyperparameters", {})
            row = [
                record["trial_id"],
                record["status"],
                *(_cell(values.get(c)) for c in self.columns),
            ]
            row.append(_cell(record.get("objective")))
            if self.spread:
                row.append(_cell(record.get("objective_std")))
            row += [
                _cell(record.get("best_epoch")),
                _cell(record.get("duration_s")),
                _cell(
                    record.get("best_run_dir") or (record.get("runs") or [{}])[-1].get("run_dir")
                ),
                _cell(record.get("reason")),
            ]
            writer.writerow(row)
        return buffer.getvalue()

    def _publish_best(self, best: dict[str, Any]) -> None:
        previous = (self.read_sweep().get("best_trial") or {}).get("run_dir")
        header = (
            f"# Best trial {best['trial_id']} of {self.path.name}: "
            f"{self.objective} {best['objective']:.6g}. Train it with: toolkit train <this file>\n"
        )
        text = header + yaml.safe_dump(best["config"], sort_keys=False, allow_unicode=True)
        if not self.best_config.exists() or self.best_config.read_text(encoding="utf-8") != text:
            atomic_write_text(self.best_config, text)
        source = self.path / best["best_run_dir"] / "model.keras"
        if source.exists() and (previous != best["best_run_dir"] or not self.best_model.exists()):
            atomic_write(self.best_model, lambda temporary: shutil.copyfile(source, temporary))

    def _prune(self, records: list[dict[str, Any]], *, keep: set[str]) -> None:
        """Delete checkpoints and model.keras of trials outside the best ``keep_top_k``."""
        for record in records:
            if record["trial_id"] in keep:
                continue
            for run in record.get("runs", []):
                run_dir = self.path / run["run_dir"]
                shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
                (run_dir / "model.keras").unlink(missing_ok=True)

    def retire_abandoned_runs(self, trial_id: str) -> list[Path]:
        """Mark the runs a killed (or Ctrl-C'd) attempt of ``trial_id`` left ``running``,
        ``completed`` or ``interrupted`` as retired (``interrupted``, RETIRED_REASON) and
        delete their checkpoints and model, which no ranking will ever keep.

        Keras Tuner runs a trial again when the sweep resumes (or the chief requeues a
        lost worker's trial), into new run directories; the earlier attempt was killed,
        so it is not running any more, but its run.json still says so. With ``cv_folds``
        or ``executions_per_trial`` the attempt had finished some runs before the one it
        was killed in: those said ``completed`` and kept their model and checkpoints
        beside the rerun's, belonging to no record. Called only when the trial runs again,
        so every run of it on disk is an abandoned attempt's. Returns the runs.
        """
        retired = []
        for run_json in sorted(self.trials_dir.glob(f"*/trial-{trial_id}-*/run.json")):
            run = RunDirectory(run_json.parent)
            try:
                previous = run.read_run()
            except (OSError, ValueError):
                continue
            status = previous.get("status")
            # 'interrupted' too: Ctrl-C or SIGTERM stops the trial's run before the sweep,
            # and that attempt kept its resume points and offered `train --resume` outside
            # the sweep. A failed run keeps its own reason, a retired one is done.
            if status not in ("running", "completed", "interrupted") or is_retired_attempt(
                previous
            ):
                continue
            reason = f"{RETIRED_REASON}; it was run again from the start"
            if status == "completed":
                reason = (
                    f"{RETIRED_REASON}, after this run had finished; the trial was run again "
                    "from the start"
                )
            run.update_run(status="interrupted", ended=utc_now(), reason=reason)
            shutil.rmtree(run.checkpoints, ignore_errors=True)
            run.model.unlink(missing_ok=True)
            retired.append(run.path)
        return retired

    # ------------------------------------------------------------------ progress

    def best_of(self, records: list[dict[str, Any]]) -> dict[str, Any] | None:
        ranked = self.ranked(records)
        return ranked[0] if ranked else None

    def progress_line(self, record: dict[str, Any], *, total: int | None) -> str:
        """``trial 06  7/30  val_loss 0.123  best 0.101 (trial 04)  12 s``"""
        records = self.records()
        done = f"{len(records)}/{total}" if total else f"{len(records)} done"
        if record["status"] == "completed":
            result = f"{self.objective} {record['objective']:.4g}"
            if record.get("objective_std") is not None:
                result += f" ± {record['objective_std']:.2g}"
        else:
            result = f"failed: {record.get('reason') or 'unknown error'}"
        best = self.best_of(records)
        best_text = f"best {best['objective']:.4g} (trial {best['trial_id']})" if best else "best -"
        seconds = record.get("duration_s") or 0.0
        return f"trial {record['trial_id']}  {done}  {result}  {best_text}  {seconds:.0f} s"

    def summary_table(self) -> str:
        """All trials, best first, failed ones last: the table printed when a sweep ends."""
        records = self.records()
        ranked = self.ranked(records)
        rest = [r for r in records if r not in ranked]
        header = ["trial", "status", self.objective]
        if self.spread:
            header.append("std")
        header += ["epoch", "seconds", *self.columns]
        rows = []
        for record in ranked + rest:
            values = record.get("hyperparameters", {})
            row = [record["trial_id"], record["status"], _short(record.get("objective"))]
            if self.spread:
                row.append(_short(record.get("objective_std")))
            row += [_short(record.get("best_epoch")), _short(record.get("duration_s"))]
            row += [_short(values.get(c)) for c in self.columns]
            rows.append(row)
        widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
        lines = [
            "  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip()
            for row in [header, *rows]
        ]
        return "\n".join(lines)


def finite(value: Any) -> bool:
    """True for a real number that is neither NaN nor infinite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def require_sweep_directory(path: str | Path) -> Path:
    """An existing sweep directory, checked to hold what resuming reads."""
    directory = Path(path)
    if not directory.is_dir():
        raise ToolkitError(f"sweep directory not found: {directory}")
    if not (directory / "sweep.json").exists() or not (directory / "base_config.yaml").exists():
        raise ToolkitError(
            f"{directory} is not a sweep directory (no sweep.json and base_config.yaml)"
        )
    return directory
