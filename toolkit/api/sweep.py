"""``Sweep``: a sweep directory as a Python object: its trials, best config and best run."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from toolkit.api.run import Run
from toolkit.runs import read_json
from toolkit.tuning.records import require_sweep_directory

if TYPE_CHECKING:
    import keras

    from toolkit.config.schema import ExperimentConfig


class Sweep:
    """A ``toolkit tune`` (or ``toolkit.tune``) directory::

    sweep = toolkit.tune("configs/sweep.yaml", overrides={"tuner.max_trials": 4})
    sweep.trials.sort_values("objective").head()
    best = toolkit.train(sweep.best_config)
    """

    def __init__(
        self,
        path: str | Path,
        *,
        final_run: str | Path | None = None,
        outcome: str | None = None,
    ) -> None:
        self.path = require_sweep_directory(path)
        self._final_run = Path(final_run) if final_run is not None else None
        # How the call that returned this object ended ("joined" for a worker), or None.
        self.outcome = outcome

    def __repr__(self) -> str:
        return f"Sweep('{self.path}', status={self.status!r})"

    @property
    def record(self) -> dict[str, Any]:
        """sweep.json, read now: status, counts, the best trial, settings."""
        return read_json(self.path / "sweep.json")

    @property
    def status(self) -> str:
        return self.record.get("status", "unknown")

    @property
    def trials(self) -> pd.DataFrame:
        """trials.csv: one row per finished trial, every hyperparameter, the objective."""
        path = self.path / "trials.csv"
        return pd.read_csv(path) if path.exists() else pd.DataFrame()

    @property
    def best_trial(self) -> dict[str, Any] | None:
        """The best trial's id, objective, hyperparameters and run directory, or None."""
        return self.record.get("best_trial")

    @functools.cached_property
    def base_config(self) -> ExperimentConfig:
        from toolkit.config.loading import load_config

        return load_config(self.path / "base_config.yaml")

    @property
    def best_config(self) -> ExperimentConfig:
        """best_config.yaml: the base config with the best trial's values; trains as it is."""
        from toolkit.config.loading import load_config
        from toolkit.errors import ToolkitError

        path = self.path / "best_config.yaml"
        if not path.exists():
            raise ToolkitError(f"{self.path} has no best_config.yaml: no trial completed yet")
        return load_config(path)

    @property
    def best_run(self) -> Run | None:
        """The best trial's run (its model, history and metrics), or None."""
        best = self.best_trial
        return Run(self.path / best["run_dir"]) if best and best.get("run_dir") else None

    @property
    def best_model(self) -> keras.Model:
        """best_model.keras, loaded in Keras' safe mode."""
        from toolkit import startup
        from toolkit.errors import ToolkitError
        from toolkit.models.saving import check_model_file, load_model

        if not (self.path / "best_model.keras").exists() and self.best_trial is None:
            # Said as best_config does: "model file not found" read as a file lost.
            raise ToolkitError(f"{self.path} has no best_model.keras: no trial completed yet")
        check_model_file(self.path / "best_model.keras")
        startup.import_tensorflow()
        return load_model(self.path / "best_model.keras")

    @property
    def final_run(self) -> Run | None:
        """The run ``final_train=True`` trained from the best config, or None."""
        if self._final_run is not None:
            return Run(self._final_run)
        final = self.record.get("final_run")
        return Run(final["run_dir"]) if final and Path(final["run_dir"]).exists() else None

    def report(self) -> tuple[Path, Path]:
        """Write report.html and report.md into the sweep directory; return both paths."""
        from toolkit.evaluation.report import write_report

        return write_report(self.path)
