"""toolkit.compat: each use of a private upstream internal still does what it is relied on for.

These are the behaviour checks the module promises; one failing after an upgrade names the
piece to revisit (and pyproject.toml's upper bounds keep users off untested versions).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.helpers import REPO
from toolkit import compat


@pytest.mark.slow
def test_keras_still_needs_the_distribution_patch_and_the_patch_makes_fit_work(
    monkeypatch, tmp_path
):
    # The decision the code takes (multi_worker.apply_keras_workaround): the unpatched probe,
    # two real worker processes forming a MultiWorkerMirroredStrategy cluster on 127.0.0.1.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    needs = compat.keras_needs_distribution_patch()
    assert needs, (
        "Keras now trains under MultiWorkerMirroredStrategy without the patch "
        "(keras-team/keras#20585 fixed?): the patch is no longer applied; remove it"
    )
    cache = json.loads((tmp_path / "keras-toolkit" / "compat.json").read_text())
    assert list(cache.values()) == [False]  # "works unpatched": no
    assert "keras 3." in next(iter(cache)) and "tensorflow 2." in next(iter(cache))

    patched = compat.probe_distributed_fit(patched=True)
    assert patched.works, patched.detail

    started = time.monotonic()
    assert compat.keras_needs_distribution_patch()  # cached: no probe this time
    assert time.monotonic() - started < 1.0


def _apply_in_fresh_process(cache_home) -> dict:
    script = (
        "import json\n"
        "from toolkit import compat\n"
        "from toolkit.training.multi_worker import apply_keras_workaround\n"
        "print(json.dumps({'returned': apply_keras_workaround(),"
        " 'patched': compat.distribution_patch_applied()}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**os.environ, "XDG_CACHE_HOME": str(cache_home), "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("works_unpatched", [True, False])
def test_the_patch_is_applied_exactly_when_the_probe_said_fit_fails(tmp_path, works_unpatched):
    cache = tmp_path / "keras-toolkit" / "compat.json"
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({compat._probe_cache_key(): works_unpatched}))
    expected = not works_unpatched
    assert _apply_in_fresh_process(tmp_path) == {"returned": expected, "patched": expected}


def test_keras_tuner_internals_behave_as_relied_on():
    compat.check_keras_tuner()


def test_gradient_registry_clean_up_still_applies_and_works():
    compat.check_gradient_registry()


def test_a_failing_check_names_the_library_and_what_changed(monkeypatch):
    # Simulate an upstream grid oracle that forgets its order on reload (keras-tuner#1055).
    monkeypatch.setattr(compat, "rebuild_grid_order", lambda oracle: None)
    with pytest.raises(compat.UpstreamChanged, match=r"keras-tuner 1\.4\.\d+: a reloaded grid"):
        compat.check_keras_tuner()
