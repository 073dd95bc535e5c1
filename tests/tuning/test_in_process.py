"""``toolkit.tune()`` in a Python process (a notebook, a test) leaves that process's logging
as it found it."""

from __future__ import annotations

import logging

import toolkit
from tests.tuning.conftest import sweep_config


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
