"""Fixtures: a config writer and the CLI runner; TensorFlow kept quiet. Under CI, a skipped
test marked ``required`` fails instead."""

from __future__ import annotations

import os
import signal
import threading
import warnings

import pytest
import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

from tests.helpers import run_cli

# The longest files first, so that the workers of `make test` finish together.
pytest_plugins = ["tests.file_order"]


def under_ci() -> bool:
    """True when ``CI`` is set to a true value, as CI services (and ``.ci/run``) do."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A ``required`` test checks something the project depends on (a browser, a mountable
    filesystem): on a developer's machine it may skip where that is missing, under CI the
    skip becomes a failure that names what was missing."""
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and under_ci()) or hasattr(report, "wasxfail"):
        return
    marker = item.get_closest_marker("required")
    if marker is None:
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    what = marker.args[0] if marker.args else "a dependency of the project"
    report.outcome = "failed"
    report.longrepr = f"required test skipped under CI=true ({what}): {reason}"


def _restore_sigint() -> list[str]:
    """Python's own SIGINT handler, unblocked, in the main thread; what was changed."""
    changed = []
    if threading.current_thread() is not threading.main_thread():
        return changed
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        changed.append(f"handler {signal.getsignal(signal.SIGINT)!r}")
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []):
        changed.append("blocked")
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    return changed


@pytest.fixture(autouse=True)
def _ctrl_c_reaches_children(request):
    """The CLI tests send SIGINT to toolkit processes they start, as Ctrl-C in a terminal
    does. A child inherits an ignored or blocked SIGINT across exec, and then never sees it:
    in one CI run two such tests, on the same worker, watched their runs finish (SIGTERM
    reached the same children). Each test starts with Python's own handler, and a test (or
    fixture) that changed it is named."""
    _warn_if_restored(_restore_sigint(), "before", request.node.nodeid)
    yield
    _warn_if_restored(_restore_sigint(), "after", request.node.nodeid)


def _warn_if_restored(changed: list[str], when: str, test: str) -> None:
    if changed:
        warnings.warn(f"SIGINT {', '.join(changed)} {when} {test}; restored", stacklevel=3)


@pytest.fixture
def write_config(tmp_path):
    """Write a config dict as YAML in tmp_path and return its path."""

    def write(config: dict, name: str = "config.yaml"):
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    return write


@pytest.fixture
def cli():
    return run_cli
