"""runtime.distribute: mirrored on logical CPUs; run.json records strategy and devices."""

from __future__ import annotations

import pytest

from tests.runtime._support import CliRun, assert_same_curves, run_record, runtime_config


@pytest.mark.slow
def test_mirrored_trains_on_two_logical_cpus_like_one_device(reference_run, tmp_path):
    # TOOLKIT_CPU_DEVICES splits the CPU in the fresh training process before TF starts.
    mirrored = CliRun(
        runtime_config(distribute="mirrored"), tmp_path, env={"TOOLKIT_CPU_DEVICES": "2"}
    )
    run_dir, expected = mirrored.wait(), reference_run.wait()
    record = run_record(run_dir)
    assert record["status"] == "completed"
    assert record["strategy"] == "MirroredStrategy"
    assert record["replicas"] == 2
    assert record["devices"] == ["/device:CPU:0", "/device:CPU:1"]
    assert "workers" not in record
    # Each replica takes half of every batch; the gradients are summed back: same training.
    assert_same_curves(run_dir, expected)
    assert (run_dir / "model.keras").exists()


@pytest.mark.slow
def test_a_plain_run_records_the_default_strategy(reference_run):
    record = run_record(reference_run.wait())
    assert record["strategy"] == "default"
    assert record["replicas"] == 1
    assert record["devices"][0] == "/device:CPU:0"
