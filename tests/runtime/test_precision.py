"""runtime.precision: mixed_float16 trains, outputs float32, keeps its loss-scale state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.helpers import kill_mid_run, run_cli, start_train
from tests.runtime._support import CliRun, history, last_line, run_record, runtime_config

EPOCHS = 20  # ~60 ms each: room to kill a run after epoch 2 and well before its end


def _mixed_config() -> dict:
    config = runtime_config(precision="mixed_float16")
    config["data"]["synthetic"]["samples"] = 3000
    config["training"]["epochs"] = EPOCHS
    config["callbacks"]["early_stopping"] = False
    return config


def _optimizer_state(path: Path) -> list[np.ndarray]:
    """The optimizer variables stored in a resume point's ``state.npz``, in their order."""
    with np.load(path) as saved:
        return [saved[key] for key in sorted(saved.files) if key.startswith("optimizer/")]


def _final_resume_point(run_dir: Path) -> Path:
    resume = run_dir / "checkpoints" / "resume"
    return resume / (resume / "LATEST").read_text().strip() / "state.npz"


@pytest.fixture(scope="module")
def mixed_runs(tmp_path_factory) -> Iterator[tuple[CliRun, Path]]:
    """A mixed-precision run, and the same config killed (SIGKILL) after two epochs or more,
    trained side by side."""
    run = CliRun(_mixed_config(), tmp_path_factory.mktemp("mixed"))
    directory = tmp_path_factory.mktemp("killed")
    config = directory / "config.yaml"
    config.write_text(yaml.safe_dump(_mixed_config(), sort_keys=False))
    process = start_train(config, directory / "out")
    try:
        killed = kill_mid_run(directory / "out", process, after_epochs=2)
        yield run, killed
    finally:
        if process.poll() is None:
            process.kill()
        run.stop()


@pytest.fixture(scope="module")
def mixed_run(mixed_runs) -> Path:
    return mixed_runs[0].wait()


@pytest.mark.slow
def test_mixed_float16_trains_in_float16_with_float32_outputs(mixed_run):
    import tensorflow as tf

    from toolkit.config.loading import load_config
    from toolkit.data.preprocessing import FeatureSpec, feature_arrays
    from toolkit.data.sources import load_source
    from toolkit.models.saving import load_model

    assert run_record(mixed_run)["status"] == "completed"
    losses = history(mixed_run)["loss"].to_numpy()
    assert np.isfinite(losses).all() and losses[-1] < losses[0]

    model = load_model(mixed_run / "model.keras")
    hidden = model.get_layer("block0_dense")
    assert hidden.dtype_policy.name == "mixed_float16" and hidden.compute_dtype == "float16"
    assert hidden.kernel.dtype == "float32"  # variables stay float32
    config = load_config(mixed_run / "config.yaml")
    spec = FeatureSpec.from_json((mixed_run / "preprocessing.json").read_text())
    rows = load_source(config.data, config.seed).head(8)
    inputs = {k: tf.constant(v) for k, v in feature_arrays(rows, spec, what="rows").items()}
    predictions = model(inputs, training=False)
    assert predictions.dtype == tf.float32 and np.isfinite(np.asarray(predictions)).all()

    # Training ran under a LossScaleOptimizer: the resume point holds it around Adam.
    state = json.loads((_final_resume_point(mixed_run).parent / "state.json").read_text())
    optimizer_paths = state["variables"]["optimizer"]
    assert any("scale" in path for path in optimizer_paths), optimizer_paths


@pytest.mark.slow
def test_model_keras_reloads_the_loss_scale_optimizer_and_its_state(mixed_run):
    import keras

    from toolkit.models.saving import load_model

    model = load_model(mixed_run / "model.keras")  # under the default float32 policy
    optimizer = model.optimizer
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    saved = _optimizer_state(_final_resume_point(mixed_run))
    assert len(optimizer.variables) == len(saved)
    for variable, value in zip(optimizer.variables, saved, strict=True):
        np.testing.assert_array_equal(np.asarray(variable), value)
    assert int(optimizer.iterations) > 0


@pytest.mark.slow
def test_resume_under_mixed_precision_matches_an_uninterrupted_run(mixed_runs, mixed_run):
    # A run killed mid-run: its resume point, history and run.json as the kill left them.
    from toolkit.models.saving import load_model

    stopped = mixed_runs[1]
    assert run_record(stopped)["status"] == "running"
    at_kill = int((stopped / "checkpoints" / "resume" / "LATEST").read_text()[len("epoch-") :])
    assert 2 <= at_kill < EPOCHS

    resumed = run_cli("train", "--resume", stopped, timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert last_line(resumed.stdout) == stopped
    # resumed_at_epoch is the first epoch the resumed process runs, counted from 1.
    assert run_record(stopped)["resumed_at_epoch"] == at_kill + 1

    expected, actual = history(mixed_run), history(stopped)
    assert len(expected) == EPOCHS
    assert list(expected["epoch"]) == list(range(1, EPOCHS + 1))
    assert list(actual["epoch"]) == list(expected["epoch"])
    np.testing.assert_array_equal(actual["loss"], expected["loss"])
    np.testing.assert_array_equal(actual["val_loss"], expected["val_loss"])
    # Loss scale, its step counter and Adam's moments continued where they stopped.
    for a, b in zip(
        _optimizer_state(_final_resume_point(stopped)),
        _optimizer_state(_final_resume_point(mixed_run)),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(
        load_model(stopped / "model.keras").get_weights(),
        load_model(mixed_run / "model.keras").get_weights(),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
