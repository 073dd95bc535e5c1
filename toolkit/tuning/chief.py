"""The chief of a distributed sweep: Keras Tuner's oracle service, without endless waits.

Keras Tuner's own ``start_server`` polls every 20 s and waits forever for a worker that
died with a trial in hand. This loop serves the same ``OracleServicer``, hands the trial of
a worker whose heartbeat stopped back to the queue, and gives up (the sweep can be resumed)
when no worker has been alive for ``tuner.worker_timeout`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent import futures
from pathlib import Path

import grpc
import keras_tuner
from keras_tuner.src import protos
from keras_tuner.src.distribute.oracle_chief import OracleServicer, exit_chief

from toolkit.errors import ToolkitError
from toolkit.tuning.heartbeat import Heartbeat


@keras_tuner.synchronized
def _tuner_ids(oracle: keras_tuner.Oracle) -> set[str]:
    return set(oracle.tuner_ids)


@keras_tuner.synchronized
def _forget_worker(oracle: keras_tuner.Oracle, tuner_id: str) -> str | None:
    """Drop a dead worker; its running trial goes back to the queue (as on a reload)."""
    oracle.tuner_ids.discard(tuner_id)
    trial = oracle.ongoing_trials.pop(tuner_id, None)
    if trial is None:
        return None
    oracle._retry_queue.append(trial.trial_id)
    oracle.save()
    return trial.trial_id


class ChiefServer:
    """Serves ``oracle`` on ``address:port`` until the search is over or no worker is left."""

    def __init__(
        self,
        oracle: keras_tuner.Oracle,
        *,
        address: str,
        port: str,
        heartbeats: Path,
        worker_timeout: float,
        log: Callable[[str], None],
    ) -> None:
        self.oracle = oracle
        self.address = address
        self.port = port
        self.heartbeats = heartbeats
        self.worker_timeout = worker_timeout
        self.log = log

    def serve(self) -> str | None:
        """Block while the search runs; ``None`` when it ended, else why the chief gave up."""
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
        servicer = OracleServicer(self.oracle)
        protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
        target = f"{self.address}:{self.port}"
        try:
            bound = server.add_insecure_port(target)
        except RuntimeError:
            bound = 0
        if not bound:
            raise ToolkitError(f"the chief cannot listen on {target} (is the port in use?)")
        server.start()
        self.log(f"chief: serving the oracle on {target}")
        last_alive = time.monotonic()
        try:
            while True:
                time.sleep(0.5)
                if servicer.stop_triggered and exit_chief(self.oracle):
                    return None
                alive = Heartbeat.alive(self.heartbeats, timeout=self.worker_timeout)
                for tuner_id in sorted(_tuner_ids(self.oracle) - alive):
                    trial_id = _forget_worker(self.oracle, tuner_id)
                    requeued = f"; trial {trial_id} goes back to the queue" if trial_id else ""
                    self.log(f"chief: worker {tuner_id} stopped beating{requeued}")
                if alive:
                    last_alive = time.monotonic()
                elif time.monotonic() - last_alive > self.worker_timeout:
                    return (
                        f"no worker was alive for {self.worker_timeout:g} s (tuner.worker_timeout)"
                    )
        finally:
            server.stop(grace=1.0)
