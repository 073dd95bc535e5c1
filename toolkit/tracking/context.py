"""What every tracked run needs to know: whether the extra is installed, and its parent run.

Sweep trials and ``--repeat`` seeds are nested under their sweep's or group's MLflow run:
the sweep (or group) opens its run and trains inside ``nested_under(run_id)``, and each run
``train()`` tracks in there picks the parent up, so ``train()`` takes no tracking argument.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from contextvars import ContextVar

from toolkit.config.schema import ExperimentConfig
from toolkit.errors import ToolkitError

_parent_run: ContextVar[str | None] = ContextVar("toolkit_tracking_parent", default=None)


def check_tracking_available(config: ExperimentConfig) -> None:
    """A one-line error, before anything is written, when the config asks for a tracker whose
    client is not installed."""
    if config.tracking is None or config.tracking.mlflow is None:
        return
    if importlib.util.find_spec("mlflow") is None:
        raise ToolkitError(
            "tracking.mlflow needs MLflow's client, which is not installed: "
            "pip install 'keras-toolkit[tracking]'"
        )


def tracking_enabled(config: ExperimentConfig) -> bool:
    return config.tracking is not None and config.tracking.mlflow is not None


@contextlib.contextmanager
def nested_under(run_id: str | None) -> Iterator[None]:
    """Runs tracked within are children of MLflow run ``run_id`` (None: top-level runs)."""
    token = _parent_run.set(run_id)
    try:
        yield
    finally:
        _parent_run.reset(token)


def parent_run() -> str | None:
    return _parent_run.get()


def report_warning(message: str) -> None:
    """Tracking problems never stop a run; the user still hears of them, on one line."""
    print(f"toolkit: warning: {message}", file=sys.stderr, flush=True)
