"""The non-distributed reference run shared by the distribution tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.runtime._support import CliRun, runtime_config


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory) -> Iterator[CliRun]:
    """The same tiny config without a strategy, started in the background; ``.wait()`` for it."""
    run = CliRun(runtime_config(), tmp_path_factory.mktemp("reference"))
    yield run
    run.stop()
