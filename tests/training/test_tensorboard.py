"""TensorBoard: what a run writes (read back from the event files) and ``toolkit tensorboard``."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.helpers import run_cli, start_toolkit, tiny_config


def _events(log_dir: Path) -> dict[str, tuple[str, list[tuple[int, object]]]]:
    """``tag -> (plugin name, [(step, value)])`` for the event files directly in ``log_dir``."""
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.util import tensor_util

    accumulator = ea.EventAccumulator(str(log_dir), size_guidance={ea.TENSORS: 0})
    accumulator.Reload()
    found = {}
    for tag in accumulator.Tags()["tensors"]:
        plugin = accumulator.SummaryMetadata(tag).plugin_data.plugin_name
        values = [
            (event.step, tensor_util.make_ndarray(event.tensor_proto))
            for event in accumulator.Tensors(tag)
        ]
        found[tag] = (plugin, values)
    return found


def _hparams_data(log_dir: Path, tag: str):
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.plugins.hparams import plugin_data_pb2

    accumulator = ea.EventAccumulator(str(log_dir))
    accumulator.Reload()
    content = accumulator.SummaryMetadata(tag).plugin_data.content
    return plugin_data_pb2.HParamsPluginData.FromString(content)


def _trained(config: dict, output: Path) -> Path:
    """``config`` trained in this process (the event files it writes are what is checked);
    its run directory."""
    import toolkit

    run = toolkit.train(config, output_dir=output, verbose=0)
    assert run.status == "completed", run.reason
    return run.path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """Four epochs whose last one overshoots (a big step late on): best val_loss != last."""
    directory = tmp_path_factory.mktemp("tensorboard-run")
    config = tiny_config(
        callbacks={"tensorboard": {"histogram_freq": 1, "write_graph": True, "hparams": True}},
        runtime={"deterministic": True},
    )
    config["callbacks"]["early_stopping"] = False
    config["training"] = {
        "epochs": 4,
        "batch_size": 16,
        "optimizer": {"name": "sgd", "learning_rate": 0.05},
        "lr_schedule": {"name": "piecewise", "boundaries": [30], "values": [0.05, 1.5]},
    }
    return _trained(config, directory / "out")


@pytest.mark.slow
def test_epoch_scalars_in_train_and_validation(run_dir):
    history = pd.read_csv(run_dir / "history.csv")
    train = _events(run_dir / "tensorboard" / "train")
    validation = _events(run_dir / "tensorboard" / "validation")
    for events, column in ((train, "loss"), (validation, "val_loss")):
        plugin, values = events["epoch_loss"]
        assert plugin == "scalars"
        # The step is the epoch counted from 1, history.csv's `epoch` column.
        assert [step for step, _ in values] == list(history["epoch"]) == [1, 2, 3, 4]
        np.testing.assert_allclose([float(v) for _, v in values], history[column], rtol=1e-6)
    plugin, values = train["epoch_learning_rate"]
    assert plugin == "scalars"
    np.testing.assert_allclose([float(v) for _, v in values], history["learning_rate"])
    assert "epoch_learning_rate" not in validation  # validation has no learning rate


@pytest.mark.slow
def test_weight_histograms_and_the_model_graph(run_dir):
    train = _events(run_dir / "tensorboard" / "train")
    for tag in ("block0_dense/kernel/histogram", "output/kernel/histogram"):
        plugin, values = train[tag]
        assert plugin == "histograms"
        assert [step for step, _ in values] == [1, 2, 3, 4]  # histogram_freq: 1
        assert values[0][1].shape[1] == 3  # (left edge, right edge, count) buckets
    # Keras 3 writes the conceptual (Keras) graph; it does not write the op graph.
    plugin, values = train["keras"]
    assert plugin == "graph_keras_model"
    model = json.loads(values[0][1].item())
    names = {layer["name"] for layer in model["config"]["layers"]}
    assert {"block0_dense", "output", "target_scale"} <= names


@pytest.mark.slow
def test_hparams_session_and_the_best_validation_loss(run_dir):
    log_dir = run_dir / "tensorboard"
    events = _events(log_dir)
    assert events["_hparams_/experiment"][0] == "hparams"
    assert events["_hparams_/session_start_info"][0] == "hparams"

    experiment = _hparams_data(log_dir, "_hparams_/experiment").experiment
    names = {info.name for info in experiment.hparam_infos}
    assert {"model.hidden", "training.optimizer.name", "seed"} <= names
    assert [m.name.tag for m in experiment.metric_infos] == ["hparams/best_val_loss"]
    session = _hparams_data(log_dir, "_hparams_/session_start_info").session_start_info
    assert session.hparams["training.optimizer.name"].string_value == "sgd"
    assert session.hparams["seed"].number_value == 7

    val_loss = pd.read_csv(run_dir / "history.csv")["val_loss"].to_numpy()
    assert np.isfinite(val_loss).all()
    assert val_loss.min() != val_loss[-1], "the run should end worse than its best epoch"
    plugin, values = events["hparams/best_val_loss"]
    assert plugin == "scalars"
    assert float(values[0][1]) == pytest.approx(val_loss.min(), rel=1e-6)  # best, not last
    history = pd.read_csv(run_dir / "history.csv")
    record = json.loads((run_dir / "run.json").read_text())
    assert record["best_epoch"] == history.loc[history["val_loss"].idxmin(), "epoch"]


def _all_tags(log_dir: Path) -> list[str]:
    """Every scalar or image tag of the run, prefixed by the writer's directory."""
    tags = []
    for directory in (log_dir, log_dir / "train", log_dir / "validation"):
        prefix = "" if directory == log_dir else f"{directory.name}/"
        tags += [prefix + tag for tag in _events(directory)]
    return tags


@pytest.mark.slow
def test_each_logged_quantity_has_one_tag(run_dir):
    """issue 15: learning rate, epoch time and throughput were both root tags and train/epoch_*."""
    tags = _all_tags(run_dir / "tensorboard")
    history = pd.read_csv(run_dir / "history.csv")
    train = _events(run_dir / "tensorboard" / "train")
    for column, tag in (
        ("learning_rate", "epoch_learning_rate"),
        ("epoch_time", "epoch_time"),
        ("samples_per_second", "epoch_samples_per_second"),
    ):
        assert [t for t in tags if t.endswith(column)] == [f"train/{tag}"]
        steps, values = zip(*train[tag][1], strict=True)
        assert list(steps) == list(history["epoch"])
        np.testing.assert_allclose([float(v) for v in values], history[column], rtol=1e-5)
    assert "train/epoch_epoch_time" not in tags
    assert len(tags) == len(set(tags))


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory) -> Path:
    """Three epochs of an MC-dropout classifier with every monitor on, mostly at their defaults."""
    directory = tmp_path_factory.mktemp("tensorboard-classifier")
    config = tiny_config(
        "binary",
        model={"task": "binary", "hidden": [8], "dropout": 0.2, "mc_dropout": True},
        callbacks={
            "tensorboard": {},  # histograms every 5th epoch
            "gradient_monitor": {"every_n_epochs": 2},
            "uncertainty_monitor": {"every_n_epochs": 2},
            # confusion_matrix: its default, every 10th epoch
        },
    )
    config["callbacks"]["early_stopping"] = False
    return _trained(config, directory / "out")


@pytest.mark.slow
def test_sampling_monitors_write_every_nth_epoch_and_the_last(classifier_run):
    """issue 15: a run shorter than a monitor's interval of 10 epochs got nothing from it."""
    root = _events(classifier_run / "tensorboard")
    train = _events(classifier_run / "tensorboard" / "train")
    assert list(pd.read_csv(classifier_run / "history.csv")["epoch"]) == [1, 2, 3]
    # Interval 10 (the default) on a 3-epoch run: the last epoch.
    plugin, values = root["confusion_matrix"]
    assert plugin == "images" and [step for step, _ in values] == [3]
    assert [step for step, _ in train["logits/kernel/histogram"][1]] == [3]
    # Interval 2: epoch 2, then 3, the last.
    gradient_tags = [tag for tag in root if tag.startswith("gradients/")]
    assert gradient_tags
    for tag in gradient_tags:
        assert [step for step, _ in root[tag][1]] == [2, 3]
    for tag in ("epoch_kl", "epoch_predictive_std"):
        assert [step for step, _ in train[tag][1]] == [2, 3]
    assert "kl" not in root and "predictive_std" not in root


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read() if response.status == 200 else None
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


@pytest.mark.slow  # TensorBoard takes about 10 s to start on 2 cores
def test_tensorboard_command_serves_the_directory_on_localhost(tmp_path):
    port = _free_port()
    server = start_toolkit("tensorboard", tmp_path, "--port", port, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        page = None
        while page is None and time.monotonic() < deadline and server.poll() is None:
            page = _get(f"http://127.0.0.1:{port}/")
            if page is None:
                time.sleep(0.25)
        assert page is not None, f"no answer on port {port}; exit code {server.poll()}"
        assert b"<html" in page.lower() or b"<!doctype html" in page.lower()
        environment = json.loads(_get(f"http://127.0.0.1:{port}/data/environment") or b"{}")
        assert environment.get("data_location") == str(tmp_path)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=20)
    # TensorFlow's C++ start-up lines (absl's notice, the CUDA probe, the CPU features) came
    # through TensorBoard's import of it, whatever TF_CPP_MIN_LOG_LEVEL said.
    stderr = server.stderr.read()
    assert f"TensorBoard on http://127.0.0.1:{port}/ over {tmp_path}" in stderr
    for line in ("absl::InitializeLog", "cudart_stub", "cpu_feature_guard"):
        assert line not in stderr, stderr
    # Nor TensorBoard's note telling the user to pass --load_fast=false, an option toolkit
    # tensorboard does not take (a user following it got "unrecognized arguments").
    assert "--load_fast" not in stderr, stderr
    assert f"at http://127.0.0.1:{port}/ (Press CTRL+C to quit)" in stderr  # TensorBoard's own


def test_tensorboard_command_on_a_file_says_it_is_a_file(tmp_path):
    """A run's run.json given by mistake was reported as "directory not found"."""
    path = tmp_path / "run.json"
    path.write_text("{}")
    result = run_cli("tensorboard", path, "--port", _free_port(), timeout=60)
    assert result.returncode == 2
    assert result.stderr == (
        f"toolkit: error: {path} is a file; toolkit tensorboard takes a directory: a run, "
        "a sweep or the experiments directory above them\n"
    )


def test_tensorboard_command_refuses_a_port_in_use_or_out_of_range(tmp_path):
    """TensorBoard's own refusal came after seconds of start-up, among TensorFlow's log
    lines, with exit code 255."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        in_use = run_cli("tensorboard", tmp_path, "--port", port, timeout=60)
    assert in_use.returncode == 2
    assert in_use.stderr == (
        f"toolkit: error: port {port} on 127.0.0.1 is in use (another TensorBoard?); "
        "pick a free one with --port\n"
    )
    out_of_range = run_cli("tensorboard", tmp_path, "--port", 70000, timeout=60)
    assert out_of_range.returncode == 2
    assert out_of_range.stderr == "toolkit: error: --port must be between 1 and 65535, got 70000\n"
    assert list(tmp_path.iterdir()) == []


def test_a_gradient_finding_is_printed_once(tmp_path):
    # Each vanishing or exploding norm was printed twice: the logged line, then the same
    # message as a RuntimeWarning with the callback's file path and a line of its source.
    config = tiny_config(
        callbacks={"gradient_monitor": {"vanishing_threshold": 500.0}},  # every layer
        training={"epochs": 1, "batch_size": 16},
    )
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_cli("train", path, "--output-dir", tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    found = [line for line in result.stderr.splitlines() if "GradientNormMonitor" in line]
    assert found and len(found) == len(set(found)), result.stderr[-3000:]
    assert all(line.startswith("GradientNormMonitor: epoch 1: layer ") for line in found)
    assert "RuntimeWarning" not in result.stderr and "periodic_callback.py" not in result.stderr
