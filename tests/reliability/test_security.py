"""Nothing in a config or a model file runs code; TensorBoard listens on 127.0.0.1 only.

YAML is read with the safe loader, Keras names are checked against fixed tables (no dotted
import paths), and models load in Keras' safe mode, which refuses Lambda layers.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import REPO, cli_in_one_process, tiny_config
from tests.reliability._support import (
    assert_nothing_written,
    assert_one_line_error,
    with_values,
    write_yaml,
)
from toolkit.cli import build_parser

# --------------------------------------------------------------------------- YAML tags


TAGS = [
    "!!python/object/apply:os.system [{command}]",
    "!!python/object/apply:subprocess.call [[sh, -c, {command}]]",
    "!!python/object/new:os.system [{command}]",
    "!!python/name:os.system",
]


WHERE = ["config", "extends", "set"]


def _tag_call(where: str, tag: str, folder: Path) -> list[str | Path]:
    """Write one case's config (the tag in the config, in the config it extends, or in a
    --set value) under ``folder``; the train command's arguments."""
    marker = folder / "pwned"
    value = tag.format(command=f"'touch {marker}'")
    config = folder / "config.yaml"
    text = write_yaml(folder / "plain.yaml", tiny_config()).read_text()
    args: list[str | Path] = []
    if where == "config":
        config.write_text(text + f"description: {value}\n")
    elif where == "extends":
        (folder / "base.yaml").write_text(f"description: {value}\n")
        config.write_text(text + "extends: base.yaml\n")
    else:
        config.write_text(text)
        args = ["--set", f"description={value}"]
    return ["train", config, *args, "--output-dir", folder / "out"]


@pytest.fixture(scope="module")
def refused(tmp_path_factory) -> dict[object, tuple[subprocess.CompletedProcess, Path]]:
    """Every YAML-tag and config-name case of this file trained by ``toolkit train`` in one
    fresh process (each in its own folder, with its own exit code and output): the commands
    answer before any training, so a process each only repeated the start-up. Keyed by
    ``(where, tag)`` and by the names case's values; each with the folder it ran in."""
    calls: dict[object, tuple[list[str | Path], Path]] = {}
    for where in WHERE:
        for number, tag in enumerate(TAGS):
            folder = tmp_path_factory.mktemp(f"tag-{where}-{number}")
            calls[(where, tag)] = (_tag_call(where, tag, folder), folder)
    for number, (values, _) in enumerate(NAME_CASES):
        folder = tmp_path_factory.mktemp(f"names-{number}")
        config = write_yaml(folder / "config.yaml", with_values(tiny_config(), values))
        calls[_key(values)] = (["train", config, "--output-dir", folder / "out"], folder)
    results = cli_in_one_process(*calls.values())
    return {
        key: (result, folder)
        for (key, (_, folder)), result in zip(calls.items(), results, strict=True)
    }


def _key(values: dict) -> str:
    """A names case's values as a dictionary key."""
    return json.dumps(values, sort_keys=True)


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("tag", TAGS, ids=["apply-os-system", "apply-subprocess", "new", "name"])
def test_python_yaml_tags_are_rejected_and_nothing_runs(where, tag, refused):
    result, folder = refused[(where, tag)]
    expected = "value is not valid YAML" if where == "set" else "could not determine a constructor"
    assert_one_line_error(result, expected)
    assert not (folder / "pwned").exists(), f"the {where} tag ran its command"
    assert_nothing_written(folder / "out")


# --------------------------------------------------------------------------- names are not imports


NAME_CASES = [
    ({"model.activation": "os.system"}, ("model.activation", "unknown activation 'os.system'")),
    (
        {"model.activation": {"class_name": "Lambda", "config": {"function": "x"}}},
        ("model.activation", "valid string"),
    ),
    ({"model.initializer": "os.system"}, ("model.initializer", "unknown initializer")),
    ({"model.loss": "builtins.eval"}, ("model.loss", "unknown loss 'builtins.eval'")),
    ({"model.metrics": ["os.system"]}, ("metric 'os.system' does not fit task 'regression'",)),
    (
        {"training.optimizer": {"name": "os.system"}},
        ("training.optimizer", "unknown optimizer 'os.system'"),
    ),
    (
        {"training.optimizer": {"name": "adam", "__class__": "os.system"}},
        ("optimizer 'adam' takes no argument '__class__'",),
    ),
    (
        {"training.lr_schedule": {"name": "subprocess.call"}},
        ("unknown learning-rate schedule 'subprocess.call'",),
    ),
    ({"data.source": "sklearn:os.system"}, ("data.source", "unknown dataset 'os.system'")),
    ({"callbacks.custom": "os.system"}, ("callbacks.custom", "unknown key 'custom'")),
]


@pytest.mark.parametrize(
    ("values", "fragments"),
    NAME_CASES,
    ids=[
        "activation-dotted-path",
        "activation-keras-dict",
        "initializer-dotted-path",
        "loss-dotted-path",
        "metric-dotted-path",
        "optimizer-dotted-path",
        "optimizer-dunder-argument",
        "schedule-dotted-path",
        "dataset-dotted-path",
        "custom-callback",
    ],
)
def test_config_names_cannot_import_code(values, fragments, refused):
    result, folder = refused[_key(values)]
    assert_one_line_error(result, *fragments)
    assert_nothing_written(folder / "out")


# --------------------------------------------------------------------------- safe model loading


LAMBDA_MODEL = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
path, marker = sys.argv[1], sys.argv[2]
size = keras.Input((1,), name="size")
colour = keras.Input((1,), name="colour", dtype="string")
touch = keras.layers.Lambda(lambda x: (__import__("pathlib").Path(marker).touch(), x)[1])
model = keras.Model([size, colour], keras.layers.Dense(1)(touch(size)))
model.save(path)
"""


@pytest.fixture(scope="module")
def lambda_run(trained_run, tmp_path_factory) -> tuple[Path, Path]:
    """A copy of a trained run whose model.keras holds a Lambda layer that touches a marker."""
    root = tmp_path_factory.mktemp("lambda-run")
    run = root / trained_run.name
    shutil.copytree(trained_run, run)
    marker = root / "lambda-ran"
    built = subprocess.run(
        [sys.executable, "-c", LAMBDA_MODEL, str(run / "model.keras"), str(marker)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    marker.unlink(missing_ok=True)  # building the model called the lambda once
    return run, marker


@pytest.fixture(scope="module")
def model_refusals(lambda_run, trained_run, tmp_path_factory) -> dict[str, tuple]:
    """evaluate and predict of the Lambda run, and evaluate of a copy of the trained run
    whose model.keras is random bytes, in one fresh process (each with its own exit code
    and output: each refuses its model file, so a process each only repeated the start-up).
    Keyed by case; each with the predictions file predict was asked to write."""
    folder = tmp_path_factory.mktemp("model-refusals")
    run, _ = lambda_run
    (folder / "rows.csv").write_text("size,colour\n1.0,red\n")
    out = folder / "predictions.csv"
    corrupt = folder / trained_run.name
    shutil.copytree(trained_run, corrupt)
    (corrupt / "model.keras").write_bytes(os.urandom(4096))
    calls = {
        "evaluate": ["evaluate", run],
        "predict": ["predict", run, "--input", folder / "rows.csv", "--output", out],
        "corrupt": ["evaluate", corrupt],
    }
    results = cli_in_one_process(*calls.values())
    return {case: (result, out) for case, result in zip(calls, results, strict=True)}


@pytest.mark.slow
@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_a_model_with_a_lambda_layer_is_refused(command, lambda_run, model_refusals):
    _, marker = lambda_run
    result, out = model_refusals[command]
    assert_one_line_error(result, "model.keras", "refused to load", "lambda", "safe mode")
    assert not marker.exists(), "the Lambda layer ran"
    assert not out.exists(), "predict wrote predictions"


@pytest.mark.slow  # trains the shared run on first use
def test_a_corrupt_model_file_is_one_clear_line(model_refusals):
    result, _ = model_refusals["corrupt"]
    assert_one_line_error(result, "model.keras is not a .keras model file")


# --------------------------------------------------------------------------- TensorBoard


def test_tensorboard_binds_to_localhost_by_default():
    args = build_parser().parse_args(["tensorboard"])
    assert args.host == "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port`` (from /proc/net/tcp{,6})."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found


@pytest.mark.slow
def test_tensorboard_serves_on_127_0_0_1_only(tmp_path):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "tensorboard", str(tmp_path), "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline, status = time.monotonic() + 120, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    status = response.status
                    break
            except OSError:
                time.sleep(0.5)
        assert status == 200, process.stderr.read() if process.poll() is not None else status
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
