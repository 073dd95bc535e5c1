"""Two-phase fine-tuning from config: phase 1 leaves the backbone as its weights file says,
phase 2 changes only the unfrozen layers (batch normalisation stays in inference mode), both
phases make one history and TensorBoard timeline, and a run killed in phase 2 resumes to the
same result as an uninterrupted one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import REPO, kill_mid_run, run_cli, start_train
from tests.image_data import patterned_images, write_class_folder

UNFREEZE = 6  # the backbone's last 6 layers: two convolutions among them


def calibrated_backbone_weights(path: Path) -> Path:
    """A MobileNetV3Small (no top, 32x32) with random weights whose batch-norm statistics are
    set from one batch of the test images, as a pretrained network's would be; with the
    initial statistics its features are all but zero and nothing could learn from them."""
    import keras

    application = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.75, minimalistic=True
    )
    for layer in application.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0  # one training-mode pass sets the statistics
    images, _ = patterned_images(64, size=32)
    application(images.astype("float32"), training=True)
    application.save_weights(path)
    return path


def transfer_overrides(folder: Path, weights: Path) -> list[str]:
    """configs/transfer_mobilenet.yaml made small and offline: 32x32 images from ``folder``,
    the backbone from ``weights``, 1 + 4 epochs (a kill after epoch 2 leaves three to run,
    however late it lands), deterministic."""
    return [
        f"data.source={folder}",
        "data.image.image_size=[32, 32]",
        f"model.backbone.weights={weights}",
        "model.backbone.alpha=0.75",
        "model.backbone.minimalistic=true",
        "training.epochs=1",
        "training.batch_size=8",
        f"training.fine_tune={{epochs: 4, learning_rate: 1.0e-4, unfreeze: {UNFREEZE}}}",
        "callbacks.early_stopping=false",
        "callbacks.learning_curve=false",
        "callbacks.tensorboard={histogram_freq: 0, write_graph: false}",
        "runtime.deterministic=true",
        "evaluation.baselines=false",
        "evaluation.plots=false",
    ]


@pytest.fixture(scope="module")
def transfer(tmp_path_factory):
    """(the weights file, the finished run) of configs/transfer_mobilenet.yaml, made small:
    this is also that shipped config's smoke test."""
    from toolkit.config.loading import load_config
    from toolkit.training.train import train

    base = tmp_path_factory.mktemp("transfer")
    folder = write_class_folder(base / "pets", per_class=12, size=32)
    weights = calibrated_backbone_weights(base / "backbone.weights.h5")
    config = load_config(
        REPO / "configs" / "transfer_mobilenet.yaml", transfer_overrides(folder, weights)
    )
    result = train(config, output_dir=base / "runs", verbose=0)
    assert result.status == "completed"
    return weights, result.run_dir


def _weights_by_path(model) -> dict[str, np.ndarray]:
    return {w.path: np.asarray(w) for w in model.weights}


def test_phase_two_changes_only_the_unfrozen_layers_and_keeps_batch_norm(transfer):
    import keras

    from toolkit.models.saving import load_model

    weights_file, run_dir = transfer
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["fine_tune"]["phase_two_first_epoch"] == 2

    model = load_model(run_dir / "model.keras")
    backbone = model.get_layer("backbone")
    final = _weights_by_path(model)
    model.load_weights(run_dir / "checkpoints" / "phase1.weights.h5")
    after_phase_one = _weights_by_path(model)

    # Phase 1: the frozen backbone is still exactly the weights file.
    reference = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.75, minimalistic=True
    )
    reference.load_weights(weights_file)
    for ours, theirs in zip(backbone.weights, reference.weights, strict=True):
        np.testing.assert_array_equal(after_phase_one[ours.path], np.asarray(theirs))

    unfrozen = {
        w.path
        for layer in backbone.layers[-UNFREEZE:]
        if not isinstance(layer, keras.layers.BatchNormalization)
        for w in layer.weights
    }
    assert unfrozen, "the last layers hold no weights to fine-tune"
    changed = {path for path in final if not np.array_equal(final[path], after_phase_one[path])}
    backbone_paths = {w.path for w in backbone.weights}
    assert changed & backbone_paths == unfrozen  # every unfrozen weight moved, nothing else
    head = {w.path for w in model.weights} - backbone_paths
    assert head <= changed  # the top keeps training in phase 2


def test_both_phases_make_one_history_and_one_tensorboard_timeline(transfer):
    from tests.training.test_tensorboard import _events

    _, run_dir = transfer
    history = pd.read_csv(run_dir / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(history["learning_rate"], [1e-3] + [1e-4] * 4, rtol=1e-6)
    steps = [step for step, _ in _events(run_dir / "tensorboard" / "train")["epoch_loss"][1]]
    assert steps == [1, 2, 3, 4, 5]


def test_tensorboard_shows_training_images_and_the_confusion_matrix(transfer):
    import tensorflow as tf

    from tests.training.test_tensorboard import _events

    _, run_dir = transfer
    events = _events(run_dir / "tensorboard")
    (step, (width, height, png)), *_ = events["input_images"][1]
    assert step == 1 and (int(width), int(height)) == (3 * 33 - 1, 3 * 33 - 1)  # 9 tiles
    grid = tf.io.decode_png(png).numpy()
    assert grid.shape == (98, 98, 3) and grid[:32, :32].std() > 0
    assert [step for step, _ in events["confusion_matrix"][1]][-1] == 5


@pytest.mark.slow
def test_a_run_killed_in_phase_two_resumes_to_the_uninterrupted_result(transfer, tmp_path):
    from toolkit.models.saving import load_model

    _, reference = transfer
    # The run's own resolved config, trained as it is, in a process that is killed.
    process = start_train(reference / "config.yaml", tmp_path)
    run_dir = kill_mid_run(tmp_path, process, after_epochs=2)  # phase 2's first epoch done
    from toolkit.training.run_checkpoint import RunCheckpoint

    _, state = RunCheckpoint.latest_state(run_dir / "checkpoints")  # the one LATEST names
    assert state["completed_epochs"] >= 2 and state["extra"] == {"phase_two_start": 1}

    resumed = run_cli("train", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "completed" and 3 <= record["resumed_at_epoch"] <= 5

    expected, actual = (pd.read_csv(d / "history.csv") for d in (reference, run_dir))
    assert list(actual["epoch"]) == [1, 2, 3, 4, 5]
    np.testing.assert_array_equal(actual["loss"], expected["loss"])
    np.testing.assert_array_equal(actual["val_loss"], expected["val_loss"])
    for a, b in zip(
        load_model(reference / "model.keras").get_weights(),
        load_model(run_dir / "model.keras").get_weights(),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_an_ensemble_fine_tunes_every_members_backbone(transfer, tmp_path):
    """Phase 2 looked for the backbone at the model's top level, where an ensemble has its
    members instead, and stopped with Keras' "No such layer: backbone" traceback."""
    import keras

    from toolkit.config.loading import load_config
    from toolkit.models.saving import load_model
    from toolkit.training.train import train

    weights_file, _ = transfer
    folder = write_class_folder(tmp_path / "pets", per_class=8, size=32)
    overrides = [
        *transfer_overrides(folder, weights_file),
        "model.ensemble={members: 2}",
        f"training.fine_tune={{epochs: 1, learning_rate: 1.0e-4, unfreeze: {UNFREEZE}}}",
        "callbacks.tensorboard=false",
    ]
    config = load_config(REPO / "configs" / "transfer_mobilenet.yaml", overrides)
    result = train(config, output_dir=tmp_path / "runs", verbose=0)
    assert result.status == "completed"
    model = load_model(result.run_dir / "model.keras")
    final = _weights_by_path(model)
    model.load_weights(result.run_dir / "checkpoints" / "phase1.weights.h5")
    after_phase_one = _weights_by_path(model)
    for index in range(2):
        backbone = model.get_layer(f"member{index}").get_layer("backbone")
        unfrozen = {
            w.path
            for layer in backbone.layers[-UNFREEZE:]
            if not isinstance(layer, keras.layers.BatchNormalization)
            for w in layer.weights
        }
        changed = {
            w.path
            for w in backbone.weights
            if not np.array_equal(final[w.path], after_phase_one[w.path])
        }
        assert unfrozen and changed == unfrozen, index


RANDOM_BACKBONE_WARNING = (
    "model.backbone.weights none with trainable false: the MobileNetV3Small backbone kept its "
    "random initial weights, so only the top was trained, on random features; set weights: "
    "imagenet (or a .weights.h5 file), or trainable: true to train the backbone too"
)


def test_a_frozen_backbone_with_random_weights_is_warned_of(transfer, tmp_path):
    """weights: none with trainable: false and no fine-tuning trained a top on the features
    of an untrained network without a word. The summary line and run.json's warnings now
    name the fix; the fine-tuned run from a weights file has no such warning."""
    _, transfer_run = transfer
    assert not any(
        "random initial weights" in w
        for w in json.loads((transfer_run / "run.json").read_text()).get("warnings", [])
    )
    folder = write_class_folder(tmp_path / "pets", per_class=8, size=32)
    overrides = [
        *transfer_overrides(folder, Path("unused.weights.h5")),
        "model.backbone.weights=none",
        "training.fine_tune=null",
        "callbacks.tensorboard=false",
    ]
    sets = [arg for override in overrides for arg in ("--set", override)]
    result = run_cli(
        "train",
        REPO / "configs" / "transfer_mobilenet.yaml",
        *sets,
        "--output-dir",
        tmp_path / "runs",
    )
    assert result.returncode == 0, result.stderr
    summary = result.stderr.strip().splitlines()[-1]
    assert summary.startswith("completed: 1 epoch; ")
    assert f"; warning: {RANDOM_BACKBONE_WARNING}" in summary, summary
    (run_json,) = (tmp_path / "runs").rglob("run.json")
    assert RANDOM_BACKBONE_WARNING in json.loads(run_json.read_text())["warnings"]


def test_fine_tuning_a_few_layers_of_a_random_backbone_is_warned_of(tmp_path):
    """weights: none with fine_tune.unfreeze: N left every layer below the last N random for
    the whole run without a word (the warning above asked for no fine_tune at all). Now the
    run's warning names the N and both fixes; unfreeze: all, or weights from a file, has
    none."""
    from toolkit.config.loading import load_config
    from toolkit.training.train import _random_backbone_warning

    folder = write_class_folder(tmp_path / "pets", per_class=2, size=32)

    def warning(*extra: str) -> str | None:
        overrides = [*transfer_overrides(folder, Path("unused.weights.h5")), *extra]
        config = load_config(REPO / "configs" / "transfer_mobilenet.yaml", overrides)
        return _random_backbone_warning(config)

    assert warning("model.backbone.weights=none") == (
        f"model.backbone.weights none with training.fine_tune.unfreeze {UNFREEZE}: all but the "
        f"last {UNFREEZE} layers of the MobileNetV3Small backbone kept their random initial "
        "weights; set weights: imagenet (or a .weights.h5 file), or unfreeze: all"
    )
    assert warning("model.backbone.weights=none", "training.fine_tune.unfreeze=all") is None
    trained_whole = ("model.backbone.trainable=true", "training.fine_tune=null")
    assert warning("model.backbone.weights=none", *trained_whole) is None
    assert warning() is None  # weights from a file


def test_unfreezing_more_layers_than_the_backbone_has_is_refused(transfer, tmp_path):
    """fine_tune.unfreeze: 100000 unfroze every layer without a word, as ``all`` does. Now
    one line naming the backbone's layer count (counted here on Keras' own network), exit 2,
    and no run directory; the count itself is accepted."""
    import keras

    from toolkit.config.loading import load_config

    weights, _ = transfer
    count = len(
        keras.applications.MobileNetV3Small(
            include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.75, minimalistic=True
        ).layers
    )
    folder = write_class_folder(tmp_path / "pets", per_class=12, size=32)
    overrides = [*transfer_overrides(folder, weights), "training.fine_tune.unfreeze=100000"]
    result = run_cli(
        "train",
        REPO / "configs" / "transfer_mobilenet.yaml",
        *[arg for override in overrides for arg in ("--set", override)],
        "--output-dir",
        tmp_path / "runs",
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "toolkit: error: training.fine_tune.unfreeze: 100000 is more layers than backbone "
        f"MobileNetV3Small has ({count}); give at most {count}, or all"
    ]
    assert not (tmp_path / "runs").exists()
    from toolkit.models.bodies.backbone import check_unfreeze

    config = load_config(REPO / "configs" / "transfer_mobilenet.yaml", overrides)
    check_unfreeze(config.model, count, [32, 32, 3])  # every layer, by number: accepted
