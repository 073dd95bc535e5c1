"""``GroupTracking``: the MLflow run of a sweep or a ``--repeat`` group, which the runs of its
trials or seeds are nested under."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from toolkit.config.schema import ExperimentConfig
from toolkit.tracking.context import report_warning, tracking_enabled
from toolkit.tracking.mlflow_tracker import MLflowTracker
from toolkit.tracking.run_tracking import config_params


class GroupTracking:
    """``read``/``write`` get and update the group's JSON record (run.json or sweep.json),
    where the MLflow run id is kept so that a resumed sweep logs to the same run; ``params``
    are the tracked parameters, the config's flattened when not given."""

    def __init__(
        self,
        config: ExperimentConfig,
        *,
        read: Callable[[], dict[str, Any]],
        write: Callable[..., Any],
        params: dict[str, Any] | None = None,
    ) -> None:
        self.tracker = (
            MLflowTracker(config.tracking.mlflow, experiment=config.name)
            if tracking_enabled(config)
            else None
        )
        self.config = config
        self.params = config_params(config) if params is None else params
        self._read, self._write = read, write
        self._warned = False

    @property
    def run_id(self) -> str | None:
        return self.tracker.run_id if self.tracker is not None and self.tracker.active else None

    def _record_warning(self) -> None:
        if self.tracker is None or self.tracker.warning is None or self._warned:
            return
        self._warned = True
        self._write(warnings=[*self._read().get("warnings", []), self.tracker.warning])
        report_warning(self.tracker.warning)

    def start(self, name: str, *, kind: str, reopen: bool = False) -> str | None:
        """Open the group's run (or reopen the one its record names); returns its id."""
        if self.tracker is None:
            return None
        previous = ((self._read().get("tracking") or {}).get("mlflow") or {}).get("run_id")
        run_id = self.tracker.start(
            name,
            params=self.params,
            tags={"toolkit.kind": kind},
            run_id=previous if reopen else None,
        )
        if run_id is not None:
            self._write(
                tracking={
                    "mlflow": {
                        "uri": self.tracker.uri,
                        "experiment": self.tracker.experiment,
                        "run_id": run_id,
                    }
                }
            )
        self._record_warning()
        return run_id

    def finish(
        self, status: str, *, metrics: dict[str, float] | None = None, artifacts: list[Path] = ()
    ) -> None:
        if self.tracker is None:
            return
        if metrics:
            self.tracker.log_metrics(metrics)
        self.tracker.log_artifacts(list(artifacts))
        self.tracker.finish(status)
        self._record_warning()
