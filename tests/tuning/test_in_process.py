"""``toolkit.tune()`` in a Python process (a notebook, a test) leaves that process's logging
and environment as it found them."""

from __future__ import annotations

import logging
import os

import pytest

import toolkit
from tests.tuning.conftest import free_port, read_trials, sweep_config
from toolkit.environment import TUNER_ENV
from toolkit.errors import ToolkitError


def test_a_sweep_puts_tensorflows_log_level_back(tmp_path):
    """The sweep quiets TensorFlow's logger to errors while it searches; it left the level at
    ERROR for good, hiding TensorFlow's warnings for the rest of the session."""
    logger = logging.getLogger("tensorflow")
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        sweep = toolkit.tune(sweep_config(tmp_path, max_trials=1), output_dir=tmp_path / "out")
        assert sweep.status == "completed"
        assert logger.level == logging.INFO
    finally:
        logger.setLevel(previous)


def test_a_distributed_sweep_leaves_no_role_for_the_next_tune(tmp_path, monkeypatch):
    """``toolkit.tune(role=...)`` set Keras Tuner's KERASTUNER_* variables in the process and
    left them: every later ``toolkit.tune()`` of the session joined that sweep as a worker
    (here: gave up waiting for it) instead of searching on its own."""
    for name in TUNER_ENV:
        monkeypatch.delenv(name, raising=False)
    worker = sweep_config(tmp_path / "worker", max_trials=1, worker_timeout=1)
    with pytest.raises(ToolkitError, match="no sweep appeared at"):
        toolkit.tune(worker, role="worker", chief_port=free_port(), sweep_dir=tmp_path / "none")
    assert {name: os.environ.get(name) for name in TUNER_ENV} == dict.fromkeys(TUNER_ENV)
    config = sweep_config(tmp_path / "local", max_trials=1)
    config["training"]["epochs"] = 1
    sweep = toolkit.tune(config)
    assert sweep.status == "completed"
    assert len(read_trials(sweep.path)) == 1


def test_kerastuner_variables_set_by_hand_are_put_back_as_they_were(monkeypatch):
    """The documented way without flags: KERASTUNER_* set before the sweep stay set after."""
    from toolkit.tuning.sweep import configure_role, tuner_environment

    for name in TUNER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
    with tuner_environment():
        role = configure_role("worker", chief_port=9000, worker_id="a")
        assert (role.port, os.environ["KERASTUNER_TUNER_ID"]) == ("9000", "worker-a")
    assert os.environ["KERASTUNER_ORACLE_PORT"] == "8000"
    assert os.environ["KERASTUNER_ORACLE_IP"] == "127.0.0.1"
    assert "KERASTUNER_TUNER_ID" not in os.environ


def test_tune_without_verbose_prints_no_sweep_lines_as_train_prints_none(tmp_path, capfd):
    """``toolkit.tune(verbose=False)`` printed its start, a line per trial, the summary
    table and the best trial, where ``toolkit.train(verbose=False)`` prints nothing; with
    ``verbose=True`` those lines come, one per trial."""
    from tests.helpers import tiny_config
    from tests.tuning.conftest import trial_lines

    run = toolkit.train(tiny_config(), output_dir=tmp_path / "run", verbose=False)
    assert run.status == "completed"
    trained = capfd.readouterr()
    quiet = toolkit.tune(sweep_config(tmp_path / "quiet", max_trials=2), verbose=False)
    assert quiet.status == "completed" and len(quiet.trials) == 2
    tuned = capfd.readouterr()
    for printed in (trained, tuned):
        assert printed.out == ""
        assert not trial_lines(printed.err), printed.err
        assert "sweep " not in printed.err and "best: trial" not in printed.err, printed.err
    loud = toolkit.tune(sweep_config(tmp_path / "loud", max_trials=2), verbose=True)
    assert loud.status == "completed"
    assert len(trial_lines(capfd.readouterr().err)) == 2
