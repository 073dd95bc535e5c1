"""The Keras Tuner ``Tuner`` of a sweep: the oracle picks values, the toolkit trains them."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from typing import Any

import keras_tuner
from keras_tuner.engine.trial import Trial

from toolkit import compat
from toolkit.tuning.chief import ChiefServer
from toolkit.tuning.client import BoundedOracleClient
from toolkit.tuning.heartbeat import Heartbeat
from toolkit.tuning.hypermodel import ConfigHyperModel
from toolkit.tuning.records import SweepRecords
from toolkit.tuning.trial import TrialRunner


class SweepTuner(keras_tuner.Tuner):
    """Runs each trial as toolkit training runs (``TrialRunner``) and returns its best objective.

    Keras Tuner keeps its state in ``<sweep>/tuner/`` and reloads it (``overwrite=False``), so
    a resumed sweep does not redo finished trials. As a distributed worker it talks to the
    chief through ``BoundedOracleClient``; as the chief it serves the oracle (``ChiefServer``).
    """

    def __init__(
        self,
        *,
        oracle: keras_tuner.Oracle,
        hypermodel: ConfigHyperModel,
        records: SweepRecords,
        runner: TrialRunner | None,
        worker_timeout: float,
        log: Callable[[str], None],
        total: int | None,
    ) -> None:
        # Keras Tuner prints 'Reloading Tuner from <sweep>/tuner/tuner0.json' on a resume,
        # beside the sweep's own 'resuming (n trials done)' line.
        with contextlib.redirect_stdout(io.StringIO()):
            super().__init__(
                oracle=oracle,
                hypermodel=hypermodel,
                directory=str(records.path),
                project_name=records.tuner_project,
                overwrite=False,
            )
        self.records = records
        self.runner = runner
        self.worker_timeout = worker_timeout
        self.log = log
        self.total = total
        self.chief_gave_up: str | None = None
        self.address = (
            f"{os.environ.get('KERASTUNER_ORACLE_IP')}:{os.environ.get('KERASTUNER_ORACLE_PORT')}"
        )
        if self._is_worker():
            # Keras Tuner wrapped the oracle in its own client, which waits an hour per call.
            chief_beat = records.chief_beat
            self.oracle = BoundedOracleClient(
                compat.wrapped_oracle(self.oracle),
                timeout=worker_timeout,
                address=self.address,
                chief_alive=lambda: Heartbeat.fresh(chief_beat, timeout=worker_timeout),
            )

    def search(self, *fit_args: Any, **fit_kwargs: Any) -> None:
        if compat.is_chief_oracle():
            self.save()
            address, port = self.address.rsplit(":", 1)
            server = ChiefServer(
                self.oracle,
                address=address,
                port=port,
                heartbeats=self.records.workers_dir,
                worker_timeout=self.worker_timeout,
                log=self.log,
            )
            self.chief_gave_up = server.serve()
            return
        super().search(*fit_args, **fit_kwargs)

    def on_search_begin(self) -> None:
        # Save at once, so a sweep killed during its first trial still reloads its oracle.
        if not self._is_worker():
            self.save()

    def run_trial(self, trial: Trial, *fit_args: Any, **fit_kwargs: Any) -> float:
        assert self.runner is not None, "the chief runs no trials"
        hp = trial.hyperparameters
        values = {
            name: hp.values[name]
            for name in self.runner.space.names
            if name in hp.values and hp.is_active(name)
        }
        record = self.runner.run(trial.trial_id, values, epochs=hp.values.get("tuner/epochs"))
        if record["status"] != "completed":
            raise keras_tuner.errors.FailedTrialError(record["reason"])
        return record["objective"]

    def on_trial_end(self, trial: Trial) -> None:
        super().on_trial_end(trial)
        if self._is_worker():
            # The chief prints every trial; a worker prints the ones it ran.
            record = self.records.read_record(trial.trial_id)
            if record is not None:
                self.log(self.records.progress_line(record, total=self.total))
