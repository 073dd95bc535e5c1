"""``MLflowTracker``: one MLflow run, logged through MLflow's client, that never stops training.

A tracking server that is down or refuses is a warning, not an error: the first failed call
records why and switches the tracker off (no more waiting on a dead server each epoch), and
the local run directory stays the complete record. MLflow is imported here only, when a
config asks for tracking (the ``tracking`` extra).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from toolkit.config.schema import MLflowConfig
from toolkit.environment import restored_environment

# MLflow's own limits on one log_batch request.
_PARAMS_PER_BATCH = 100
_METRICS_PER_BATCH = 1000
_MAX_PARAM_LENGTH = 6000


def tracking_uri(config: MLflowConfig) -> str:
    """``tracking.mlflow.uri``, else MLFLOW_TRACKING_URI, else ``mlruns`` (a local file store)."""
    return config.uri or os.environ.get("MLFLOW_TRACKING_URI") or "mlruns"


def _is_local(uri: str) -> bool:
    return uri.startswith("file:") or ("://" not in uri and not uri.startswith("databricks"))


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 240 else text[:237] + "..."


class MLflowTracker:
    """Logs one run (optionally nested under a parent run) to ``config``'s MLflow.

    Every method is a no-op once a call has failed; ``warning`` then says why.
    """

    def __init__(self, config: MLflowConfig, *, experiment: str) -> None:
        self.config = config
        self.uri = tracking_uri(config)
        self.experiment = config.experiment or experiment
        self.run_id: str | None = None
        self.warning: str | None = None
        self._client = None

    @property
    def active(self) -> bool:
        return self.run_id is not None and self.warning is None

    @contextlib.contextmanager
    def _limits(self) -> Iterator[None]:
        """MLflow reads its HTTP timeout and retries from the environment at each request:
        set the config's for the tracker's own calls only, and put the user's back after."""
        wanted = {
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(self.config.timeout),
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(self.config.retries),
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        }
        if _is_local(self.uri):
            # MLflow 3 keeps the file store in maintenance mode behind this switch; a config
            # that names a local directory asks for it.
            wanted["MLFLOW_ALLOW_FILE_STORE"] = "true"
        with restored_environment(wanted):
            os.environ.update(wanted)
            yield

    def _call(self, what: str, function, *args: Any, **kwargs: Any) -> Any:
        """``function(*args)``, or None and the tracker switched off if it fails. Any error
        counts: MLflow raises its own, requests', urllib3's and OS errors."""
        if self.warning is not None:
            return None
        try:
            with self._limits():
                return function(*args, **kwargs)
        except Exception as error:
            self.warning = (
                f"tracking: MLflow at {self.uri} failed to {what} ({_one_line(error)}); "
                "the run goes on without tracking"
            )
            return None

    def start(
        self,
        name: str,
        *,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        run_id: str | None = None,
    ) -> str | None:
        """Open a new run (nested under ``parent_run_id``), or reopen ``run_id`` on resume;
        returns its id, or None when MLflow cannot be reached."""

        def open_run() -> str:
            from mlflow.tracking import MlflowClient

            self._client = client = MlflowClient(tracking_uri=self.uri)
            if run_id is not None:
                client.update_run(run_id, status="RUNNING")
                return run_id
            found = client.get_experiment_by_name(self.experiment)
            experiment_id = (
                found.experiment_id if found else client.create_experiment(self.experiment)
            )
            run_tags = dict(tags or {})
            if parent_run_id:
                run_tags["mlflow.parentRunId"] = parent_run_id
            return client.create_run(experiment_id, run_name=name, tags=run_tags).info.run_id

        self.run_id = self._call("start a run", open_run)
        if self.run_id is not None and params and run_id is None:
            self.log_params(params)
        return self.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        entries = [Param(str(key), str(value)[:_MAX_PARAM_LENGTH]) for key, value in params.items()]
        for start in range(0, len(entries), _PARAMS_PER_BATCH):
            if not self.active:
                return
            self._call(
                "log parameters",
                self._client.log_batch,
                self.run_id,
                params=entries[start : start + _PARAMS_PER_BATCH],
            )

    def log_metrics(self, metrics: Mapping[str, Any], *, step: int | None = None) -> None:
        """Finite numbers only; ``step`` is the epoch counted from 1."""
        if not self.active:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        entries = []
        for key, value in metrics.items():
            if isinstance(value, bool | str):
                continue
            try:
                number = float(value)  # Python and NumPy numbers alike
            except (TypeError, ValueError):
                continue
            if math.isfinite(number):
                entries.append(Metric(str(key), number, now, step or 0))
        for start in range(0, len(entries), _METRICS_PER_BATCH):
            self._call(
                "log metrics",
                self._client.log_batch,
                self.run_id,
                metrics=entries[start : start + _METRICS_PER_BATCH],
            )

    def log_artifacts(self, paths: list[Path], *, artifact_path: str | None = None) -> None:
        """Files and directories (with their contents) that exist; others are skipped."""
        for path in paths:
            if not self.active or not path.exists():
                continue
            if path.is_dir():
                self._call(
                    f"upload {path.name}",
                    self._client.log_artifacts,
                    self.run_id,
                    str(path),
                    artifact_path=path.name if artifact_path is None else artifact_path,
                )
            else:
                self._call(
                    f"upload {path.name}",
                    self._client.log_artifact,
                    self.run_id,
                    str(path),
                    artifact_path=artifact_path,
                )

    def finish(self, status: str) -> None:
        """Close the run as FINISHED (completed), KILLED (interrupted) or FAILED."""
        if not self.active:
            return
        state = {"completed": "FINISHED", "interrupted": "KILLED"}.get(status, "FAILED")
        self._call("close the run", self._client.set_terminated, self.run_id, state)
