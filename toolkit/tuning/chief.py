"""The chief of a distributed sweep: Keras Tuner's oracle service, without endless waits.

Keras Tuner's own ``start_server`` polls every 20 s and waits forever for a worker that
died with a trial in hand (keras-team/keras-tuner#915). This loop serves the same
``OracleServicer``, hands the trial of a worker whose heartbeat stopped back to the queue,
and gives up (the sweep can be resumed) when no worker has been alive for
``tuner.worker_timeout`` seconds. The Keras Tuner internals involved are in ``toolkit.compat``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent import futures
from pathlib import Path

import grpc
import keras_tuner

from toolkit import compat
from toolkit.errors import ToolkitError
from toolkit.tuning.heartbeat import Heartbeat


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
        servicer = compat.oracle_service(self.oracle, server)
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
                if compat.search_finished(servicer, self.oracle):
                    return None
                alive = Heartbeat.alive(self.heartbeats, timeout=self.worker_timeout)
                for tuner_id in sorted(compat.tuner_ids(self.oracle) - alive):
                    trial_id = compat.requeue_trial_of(self.oracle, tuner_id)
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
