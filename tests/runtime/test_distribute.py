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


@pytest.mark.slow
def test_a_kl_warm_up_trains_alike_on_two_replicas(tmp_path):
    """During a KL warm-up the variational model takes part of the KL back out of Keras'
    loss; Keras divides added losses by the number of replicas, and the part taken back was
    not: two replicas trained on -KL/2 at the first epoch (loss -1.31 against 3.04 here).
    A large KL weight and posteriors 1e-4 wide, so the replicas' own weight draws move the
    loss by far less than the tolerance."""
    config = runtime_config()
    config["model"] = {
        "task": "regression",
        "hidden": [8],
        "bayesian": {
            "kl_weight": 0.01,
            "kl_warmup_epochs": 3,
            "posterior_scale_init": 1.0e-4,
        },
    }
    config["training"] = {"epochs": 4, "batch_size": 16}
    mirrored = {**config, "runtime": {**config["runtime"], "distribute": "mirrored"}}
    one = CliRun(config, tmp_path / "one")
    two = CliRun(mirrored, tmp_path / "two", env={"TOOLKIT_CPU_DEVICES": "2"})
    assert_same_curves(two.wait(), one.wait(), rtol=1e-3)


@pytest.mark.slow
def test_batch_normalisation_trains_alike_on_two_replicas(tmp_path):
    """Each replica normalised its own half of the batch, which trained another network
    (loss 0.555 against 0.483 after 3 epochs here); the statistics are now the global
    batch's, as on one device."""
    config = runtime_config()
    config["model"] = {"task": "regression", "hidden": [8, 8], "batchnorm": True}
    mirrored = {**config, "runtime": {**config["runtime"], "distribute": "mirrored"}}
    one = CliRun(config, tmp_path / "one")
    two = CliRun(mirrored, tmp_path / "two", env={"TOOLKIT_CPU_DEVICES": "2"})
    assert_same_curves(two.wait(), one.wait(), rtol=1e-4)
