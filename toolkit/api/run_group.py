"""``RunGroup``: the seeds of a ``--repeat`` group, each a ``Run``, with mean ± std metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toolkit.api.run import DataArgument, Run, given_rows
from toolkit.errors import ToolkitError, checked_keywords
from toolkit.runs import open_run_directory, read_json
from toolkit.text import counted


class RunGroup:
    """A ``toolkit train --repeat N`` (or ``train_repeated``) directory."""

    def __init__(self, path: str | Path) -> None:
        self._run = open_run_directory(path, need_model=False)
        if self.record.get("kind") != "repeat":
            raise ToolkitError(f"{self.path} is one run, not a --repeat group; use load_run")

    def __repr__(self) -> str:
        return f"RunGroup('{self.path}', status={self.status!r}, runs={len(self.runs)})"

    @property
    def path(self) -> Path:
        return self._run.path

    @property
    def record(self) -> dict[str, Any]:
        return self._run.read_run()

    @property
    def status(self) -> str:
        return self.record.get("status", "unknown")

    @property
    def metrics(self) -> dict[str, Any]:
        """The group's metrics.json: each metric's mean, std and values per split."""
        return read_json(self._run.metrics) if self._run.metrics.exists() else {}

    @property
    def runs(self) -> list[Run]:
        """Every seed's run, in seed order."""
        return [Run(self.path / member) for member in self.record.get("runs", [])]

    @checked_keywords
    def evaluate(
        self,
        data: DataArgument | None = None,
        *,
        label: str = "data",
        mc_samples: int | None = None,
    ) -> dict[str, Any]:
        """Every seed's metrics (its test split, else validation, or ``data``) and their mean
        and std: ``{"group", "split", "summary", "runs"}``, as ``toolkit evaluate`` prints.
        ``mc_samples``: passes of a stochastic model, as ``Run.evaluate`` takes them."""
        from toolkit.evaluation.metrics import aggregate_repeats, json_safe
        from toolkit.startup import new_models_traced_quietly

        if data is not None:  # a dict made a frame once, not once per seed
            data = given_rows(data, method="RunGroup.evaluate")
        members = self.runs
        usable = [run for run in members if run.directory.model.exists()]
        skipped = [
            {"run": str(run.path), "skipped": "no model.keras"}
            for run in members
            if run not in usable
        ]
        if not usable:
            raise ToolkitError(
                f"{self.path}: none of its {counted(len(members), 'run')} has a model.keras"
            )
        results = []
        with new_models_traced_quietly():
            for run in usable:
                scores = run.evaluate(data, label=label, mc_samples=mc_samples)
                split = str(data) if data is not None and not hasattr(data, "columns") else None
                results.append(
                    {
                        "run": str(run.path),
                        "split": split or run.default_split,
                        "metrics": json_safe(scores),
                    }
                )
        return {
            "group": str(self.path),
            "split": results[0]["split"],
            "summary": json_safe(aggregate_repeats([r["metrics"] for r in results])),
            "runs": results + skipped,
        }

    def report(self) -> tuple[Path, Path]:
        """Write report.html and report.md into the group directory (mean ± std over the seeds,
        their validation curves overlaid, links to the seeds' own reports); return both paths."""
        from toolkit.evaluation.report import write_report

        return write_report(self.path)
