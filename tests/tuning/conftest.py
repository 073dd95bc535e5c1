"""Fixtures for sweep tests: a tiny sweep config, the CLI in a subprocess, the sweep's files."""

from __future__ import annotations

import csv
import json
import re
import socket
import struct
from pathlib import Path

import pytest

from tests.helpers import tiny_config


def sweep_config(tmp_path: Path, **tuner) -> dict:
    """A tiny regression config with a tuner section; trials take about a second."""
    config = tiny_config("regression", output_dir=str(tmp_path / "out"))
    config["name"] = "tiny-sweep"
    config["training"]["epochs"] = 2
    config["tuner"] = {
        "algorithm": "random",
        "max_trials": 3,
        "seed": 3,
        "search_space": {
            "model.hidden.0": {"int": [4, 16], "step": 4},
            "training.optimizer.learning_rate": {"float": [1.0e-3, 3.0e-2], "sampling": "log"},
        },
        **tuner,
    }
    return config


@pytest.fixture
def make_sweep_config(tmp_path):
    def make(**tuner) -> dict:
        return sweep_config(tmp_path, **tuner)

    return make


def sweep_dir_of(result) -> Path:
    """The sweep directory: the last line on stdout."""
    lines = result.stdout.strip().splitlines()
    assert lines, f"no stdout; stderr:\n{result.stderr}"
    return Path(lines[-1])


def read_trials(sweep: Path) -> list[dict[str, str]]:
    with open(sweep / "trials.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def trial_lines(stderr: str) -> list[str]:
    """The one-line reports of finished trials: ``trial 3  4/8  val_loss ...``."""
    return [line for line in stderr.splitlines() if re.match(r"trial \S+  \d+(/\d+| done)  ", line)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_events(log_dir: Path) -> dict[str, object]:
    """Scalars and HParams session values in one TensorBoard directory (no TensorFlow needed)."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.hparams import plugin_data_pb2
    from tensorboard.util import tensor_util

    found: dict[str, object] = {}
    for path in sorted(Path(log_dir).glob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            event = event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                if value.tag == "_hparams_/session_start_info":
                    content = value.metadata.plugin_data.content
                    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
                    found["session"] = {
                        name: getattr(v, v.WhichOneof("kind")) for name, v in info.hparams.items()
                    }
                elif value.tag == "_hparams_/experiment":
                    content = value.metadata.plugin_data.content
                    experiment = plugin_data_pb2.HParamsPluginData.FromString(content).experiment
                    found["experiment"] = [h.name for h in experiment.hparam_infos]
                else:
                    found[value.tag] = float(tensor_util.make_ndarray(value.tensor))
    return found
