"""A worker's link to the chief: Keras Tuner's gRPC client with a bounded wait.

Keras Tuner's ``OracleClient`` waits up to an hour on every call (``TIMEOUT``,
keras-team/keras-tuner#990), so a worker whose chief is gone hangs. Here every call waits at
most ``tuner.worker_timeout`` seconds, and once the chief has been lost every later call
fails at once. The client class is private to Keras Tuner: ``toolkit.compat`` provides it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
from keras_tuner.engine.trial import Trial, TrialStatus
from keras_tuner.errors import FatalError

from toolkit import compat

OracleClient = compat.oracle_client_class()


class ChiefLost(FatalError):
    """The chief did not answer in time; Keras Tuner lets FatalError end the search."""


class _BoundedStub:
    """Forwards gRPC calls to the real stub with our deadline instead of Keras Tuner's."""

    def __init__(self, stub: Any, client: BoundedOracleClient) -> None:
        self._stub = stub
        self._client = client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._stub, name)

        def call(request: Any, **_: Any) -> Any:
            return self._client.call(name, method, request)

        return call


class BoundedOracleClient(OracleClient):
    """``OracleClient`` whose calls give up after ``timeout`` seconds with ``ChiefLost``.

    Until the chief has first answered, a call waits on while ``chief_alive()`` (its
    heartbeat is fresh): a chief and its workers started together all import TensorFlow
    first, and on a busy machine the chief could begin serving more than ``timeout`` seconds
    after a worker's first call. Later calls are not repeated (a late answer may have been
    acted on)."""

    def __init__(
        self,
        oracle: Any,
        *,
        timeout: float,
        address: str,
        chief_alive: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(oracle)
        self.timeout = timeout
        self.address = address
        self.chief_alive = chief_alive
        self.answered = False
        self.lost: str | None = None
        self.stub = _BoundedStub(self.stub, self)

    def call(self, name: str, method: Any, request: Any) -> Any:
        if self.lost is not None:
            raise ChiefLost(self.lost)
        while True:
            try:
                answer = method(request, wait_for_ready=True, timeout=self.timeout)
            except grpc.RpcError as error:
                code = error.code() if hasattr(error, "code") else None
                silent = code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE)
                starting = not self.answered and self.chief_alive is not None
                if silent and starting and self.chief_alive():
                    continue  # not serving yet, but alive: wait another timeout
                self._lose(name, error, silent)
            self.answered = True
            return answer

    def _lose(self, name: str, error: grpc.RpcError, silent: bool) -> None:
        """Remember that the chief is lost (every later call fails at once) and raise."""
        if silent:
            self.lost = (
                f"the chief at {self.address} did not answer within {self.timeout:g} s "
                "(tuner.worker_timeout); is it running?"
            )
        else:
            details = error.details() if hasattr(error, "details") else str(error)
            self.lost = f"the chief at {self.address} failed on {name}: {details}"
        raise ChiefLost(self.lost) from None

    def create_trial(self, tuner_id: str) -> Trial:
        trial = super().create_trial(tuner_id)
        if trial.status == TrialStatus.IDLE:
            # The oracle waits for other workers' results (hyperband, grid); do not spin.
            time.sleep(1.0)
        return trial
