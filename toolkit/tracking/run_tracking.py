"""``RunTracking``: one training run mirrored to MLflow: the resolved config as parameters,
each epoch's metrics, the final metrics, and the model, plots and report as artifacts."""

from __future__ import annotations

from typing import Any

from toolkit.config.loading import flatten
from toolkit.config.schema import ExperimentConfig
from toolkit.runs import RunDirectory, read_json
from toolkit.tracking.context import parent_run, report_warning, tracking_enabled
from toolkit.tracking.mlflow_tracker import MLflowTracker

# The splits of metrics.json whose scores become the run's final MLflow metrics, and the
# sections of what calibration fitted, whose numbers do too.
_SPLITS = ("train", "validation", "test")
_CALIBRATIONS = ("temperature_scaling", "std_scaling", "conformal")


def config_params(config: ExperimentConfig) -> dict[str, Any]:
    """The resolved config as flat ``key.path: value`` parameters, as ``--set`` names them."""
    data = config.model_dump(mode="json")
    data.pop("tracking", None)
    return flatten(data)


def sweep_params(config: ExperimentConfig) -> dict[str, Any]:
    """A sweep's parameters: the config's, with each searched path given as its search
    dimension (``searched {"choice": [4, 8]}``) rather than the base value no trial used,
    and the search space itself not repeated under ``tuner.search_space``."""
    import json

    params = {
        key: value
        for key, value in config_params(config).items()
        if not key.startswith("tuner.search_space.")
    }
    for path, dimension in config.tuner.search_space.items():
        shown = dimension.model_dump(mode="json", exclude_defaults=True)
        params[path] = f"searched {json.dumps(shown, separators=(', ', ': '))}"
    return params


def final_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """``test.rmse``, ``validation.accuracy`` ...: the scalar scores of metrics.json; and what
    the run's calibration fitted (``temperature_scaling.temperature``, ``std_scaling.factor``,
    ``conformal.quantile``, with their before/after scores), which its intervals depend on."""
    flat: dict[str, float] = {}
    for split in _SPLITS:
        for name, value in (metrics.get(split) or {}).items():
            if _is_number(value):
                flat[f"{split}.{name}"] = float(value)
    for section in _CALIBRATIONS:
        for name, value in flatten(metrics.get(section) or {}, f"{section}.").items():
            if _is_number(value):
                flat[name] = float(value)
    return flat


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class RunTracking:
    """Tracks one run directory; every step is a no-op without ``tracking:`` in the config."""

    def __init__(self, config: ExperimentConfig, run: RunDirectory) -> None:
        self.config = config
        self.run = run
        self.tracker = (
            MLflowTracker(config.tracking.mlflow, experiment=config.name)
            if tracking_enabled(config)
            else None
        )
        self._warned = False

    def _record_warning(self) -> None:
        if self.tracker is None or self.tracker.warning is None or self._warned:
            return
        self._warned = True
        warnings = [*self.run.read_run().get("warnings", []), self.tracker.warning]
        self.run.update_run(warnings=warnings)
        report_warning(self.tracker.warning)

    def start(self, *, resuming: bool) -> None:
        """Open the MLflow run (reopen it when a killed run resumes) and note it in run.json."""
        if self.tracker is None:
            return
        previous = (self.run.read_run().get("tracking") or {}).get("mlflow") or {}
        reopen = previous.get("run_id") if resuming else None
        run_id = self.tracker.start(
            self.run.path.name,
            params=config_params(self.config),
            tags={
                "toolkit.run_dir": str(self.run.path.resolve()),
                "toolkit.task": self.config.model.task,
            },
            parent_run_id=parent_run(),
            run_id=reopen,
        )
        if run_id is not None:
            self.run.update_run(
                tracking={
                    "mlflow": {
                        "uri": self.tracker.uri,
                        "experiment": self.tracker.experiment,
                        "run_id": run_id,
                    }
                }
            )
        self._record_warning()

    def callback(self):
        """A Keras callback logging each epoch's metrics at step = the epoch counted from 1."""
        if self.tracker is None:
            return None
        from toolkit.tracking.callback import EpochMetricsLogger

        def log(logs: dict[str, Any], epoch: int) -> None:
            self.tracker.log_metrics(logs, step=epoch)
            self._record_warning()

        return EpochMetricsLogger(log)

    def finish(self, status: str, *, upload: bool = True) -> None:
        """Final metrics and artifacts (model, plots, report, the run's records), then close.
        Without ``upload`` (a crash, Ctrl-C) only close: nothing should delay the exit."""
        if self.tracker is None:
            return
        if self.tracker.active and not upload:
            self.tracker.finish(status)
        elif self.tracker.active:
            run = self.run
            if run.metrics.exists():
                self.tracker.log_metrics(final_metrics(read_json(run.metrics)))
            report = []
            if run.run_json.exists() and self.tracker.active:
                from toolkit.evaluation.report import write_report

                report = list(write_report(run.path))
            self.tracker.log_artifacts(
                [
                    run.config,
                    run.run_json,
                    run.metrics,
                    run.history,
                    run.preprocessing,
                    run.data_summary,
                    run.model_summary,
                    *report,
                ]
            )
            self.tracker.log_artifacts([run.model], artifact_path="model")
            self.tracker.log_artifacts([run.plots])
            self.tracker.finish(status)
        self._record_warning()
