"""Sizes that do not fit in memory, through the real CLI: one line naming the setting, and
nothing half-written.

Sizes that clearly cannot fit are refused before anything is written (exit 2). Memory that
runs out anyway is one line too: before training exit 2 and no run left, during training exit
1 and the run marked failed. The sizes that fail are never allocated (terabytes, which the
allocators refuse at once, or a capped address space): no test takes more than a few hundred
megabytes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.helpers import REPO, tiny_config
from tests.reliability._support import assert_nothing_written, assert_one_line_error, write_yaml

UNITS = {"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def _meminfo(field: str) -> int:
    """Bytes of a /proc/meminfo field (Linux)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/meminfo")


def _stated_available(line: str) -> int:
    """The bytes a message says the machine has available."""
    amount = re.search(r"this machine has ([\d.,]+) (\w+) available", line)
    assert amount, line
    return int(float(amount.group(1).replace(",", "")) * UNITS[amount.group(2)])


def test_synthetic_samples_beyond_memory_are_refused_before_anything_is_written(cli, tmp_path):
    """NumPy's MemoryError ('Unable to allocate 2.18 TiB') was a traceback with exit 1."""
    config = tiny_config()
    config["data"]["synthetic"] = {"samples": 100_000_000_000, "features": 3}
    out = tmp_path / "out"
    result = cli("train", write_yaml(tmp_path / "config.yaml", config), "--output-dir", out)
    # 1e11 x 3 x 8 bytes = 2.18 TiB
    line = assert_one_line_error(
        result,
        "data.synthetic: 100,000,000,000 samples x 3 features need 2.2 TiB as float64",
        "lower data.synthetic.samples",
    )
    assert _stated_available(line) <= _meminfo("MemTotal")
    assert_nothing_written(out)


# tiny_config's 4 columns: 4 x 1e6 + 1e6 x 1e6 + 1e6 x 1 (the head) kernel weights.
WEIGHTS = 4 * 10**6 + 10**12 + 10**6


@pytest.mark.parametrize(
    ("model", "fragments"),
    [
        pytest.param(
            {},
            (
                # With Adam's two slots each: 3 x 4 bytes x 1,000,005,000,000 = 10.9 TiB.
                f"model.hidden [1000000, 1000000]: at least {WEIGHTS:,} weights, x 3 with the "
                "2 slots adam keeps per weight, need 11 TiB as float32",
                "lower model.hidden",
            ),
            id="dense",
        ),
        pytest.param(
            {"ensemble": {"members": 5}},
            (
                f"model.hidden [1000000, 1000000] in 5 ensemble members: at least "
                f"{5 * WEIGHTS:,} weights",
                "need 55 TiB as float32",
                "lower model.hidden or model.ensemble.members",
            ),
            id="ensemble",
        ),
    ],
)
def test_a_model_beyond_memory_is_refused_before_the_run_directory_exists(
    model: dict, fragments: tuple[str, ...], cli, tmp_path
):
    """TensorFlow's ResourceExhaustedError ('OOM when allocating tensor with
    shape[100000,100000]') was a traceback with exit 1, after ten seconds of retrying, and
    left a run directory marked failed. On the CPU: a GPU's memory is not estimated."""
    config = tiny_config(runtime={"device": "cpu"})
    config["model"] = {**config["model"], "hidden": [1_000_000, 1_000_000], **model}
    out = tmp_path / "out"
    result = cli("train", write_yaml(tmp_path / "config.yaml", config), "--output-dir", out)
    line = assert_one_line_error(result, *fragments)
    assert _stated_available(line) <= _meminfo("MemTotal")
    assert_nothing_written(out)


@pytest.mark.slow  # trains a run, then resumes it
def test_resuming_a_model_beyond_memory_is_refused_and_leaves_the_run_as_it_was(cli, tmp_path):
    """A run resumed where its model does not fit (another machine; here its config is
    edited to a model of 10^12 units, as no machine holds): refused before anything is
    written, with a remedy that does not change the run's config."""
    config = tiny_config(runtime={"device": "cpu"})
    config["training"]["epochs"] = 1
    out = tmp_path / "out"
    trained = cli("train", write_yaml(tmp_path / "config.yaml", config), "--output-dir", out)
    assert trained.returncode == 0, trained.stderr[-2000:]
    run_dir = Path(trained.stdout.strip())
    record = json.loads((run_dir / "run.json").read_text())
    record.update(status="interrupted", reason="interrupted (Ctrl-C or SIGTERM)")
    (run_dir / "run.json").write_text(json.dumps(record))
    saved = run_dir / "config.yaml"
    saved.write_text(saved.read_text().replace("hidden:\n  - 8\n", "hidden:\n  - 1000000000000\n"))
    before = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
    result = cli("train", "--resume", run_dir)
    assert_one_line_error(
        result,
        "model.hidden [1000000000000]: at least 5,000,000,000,000 weights",  # 4 in + 1 out
        "resume it on a machine with more memory, or start a new run with a lower model.hidden",
    )
    after = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
    assert after == before


def test_only_allocations_that_failed_are_taken_for_out_of_memory():
    """NumPy's and TensorFlow's errors for memory that ran out, also as the cause of another;
    not TensorFlow's ResourceExhaustedError for a full disk, nor any other error."""
    import numpy as np
    import tensorflow as tf

    from toolkit.data.memory import allocation_failure, out_of_memory

    with pytest.raises(MemoryError) as numpy_error:
        np.empty(10**16)  # 80 PB: beyond any address space, so nothing is allocated
    assert out_of_memory(numpy_error.value) is numpy_error.value
    assert allocation_failure(numpy_error.value).endswith(
        "for an array of shape (10000000000000000,)"
    )
    tensor = tf.errors.ResourceExhaustedError(
        None, None, "OOM when allocating tensor with shape[100000,100000] and type float on CPU"
    )
    assert allocation_failure(tensor) == "a float tensor of shape [100000,100000]"
    try:
        raise RuntimeError("a step failed") from tensor
    except RuntimeError as wrapped:
        assert out_of_memory(wrapped) is tensor
    disk = tf.errors.ResourceExhaustedError(None, None, "/runs/x/ckpt; No space left on device")
    assert out_of_memory(disk) is None
    assert out_of_memory(ValueError("Unable to allocate")) is None
    try:
        try:
            np.empty(10**16)
        except MemoryError:
            raise RuntimeError("handled: another error in its place") from None
    except RuntimeError as unrelated:
        assert out_of_memory(unrelated) is None


# A genuine out-of-memory error from TensorFlow comes after its allocator has retried for ten
# seconds: these tests take about fifteen. The sizes are beyond any machine (terabytes), which
# TensorFlow's allocator refuses at once, without touching the memory.


@pytest.mark.slow
def test_running_out_of_memory_while_the_model_is_built_leaves_no_run(cli, tmp_path):
    """A body whose size is not estimated (convolutions of 10^6 x 10^6 filters: 36 TB of
    kernel) ran out while built: a traceback with exit 1 and a failed run left behind. The
    run directory, made moments before, goes with the folders made for it; what the user had
    beside them stays."""
    from tests.image_data import write_image_npz

    config = tiny_config(
        "multiclass",
        data={"source": str(write_image_npz(tmp_path / "images.npz")), "kind": "image"},
        model={"task": "multiclass", "body": "conv", "conv": {"blocks": [1_000_000, 1_000_000]}},
        runtime={"device": "cpu"},
    )
    del config["data"]["synthetic"]
    mine = tmp_path / "out" / "notes.txt"
    mine.parent.mkdir()
    mine.write_text("the user's")
    out = tmp_path / "out" / "experiments"
    result = cli("train", write_yaml(tmp_path / "config.yaml", config), "--output-dir", out)
    assert_one_line_error(
        result,
        "out of memory building the model (could not allocate a float tensor of shape "
        "[3,3,1000000,1000000])",
        "lower the model's sizes (model.conv.blocks [1000000, 1000000], model.hidden [8])",
        "no run was kept",
    )
    assert not out.exists(), sorted(out.rglob("*"))
    assert sorted(mine.parent.iterdir()) == [mine] and mine.read_text() == "the user's"


@pytest.mark.slow
def test_running_out_of_memory_during_training_marks_the_run_failed_in_one_line(cli, tmp_path):
    """A model that fits (4 million units, 50 MB of weights) whose activations do not: a batch
    of 450,000 rows through them is 7 TB. The run is marked failed with the reason, exit 1."""
    config = tiny_config(
        data={"synthetic": {"samples": 500_000, "features": 1}, "validation": 0.01},
        model={"task": "regression", "hidden": [4_000_000]},
        training={"epochs": 1, "batch_size": 450_000},
        runtime={"device": "cpu"},
    )
    out = tmp_path / "out"
    result = cli("train", write_yaml(tmp_path / "config.yaml", config), "--output-dir", out)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    [line] = result.stderr.splitlines()
    reason = (
        "out of memory during training (could not allocate ",
        "lower training.batch_size (now 450000) or the model's sizes (model.hidden [4000000])",
    )
    assert line.startswith("toolkit: error: out of memory during training"), line
    assert all(fragment in line for fragment in reason), line
    [run_dir] = (out / config["name"]).iterdir()
    assert line.endswith(f"; {run_dir} is marked failed"), line
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "failed"
    assert record["reason"].startswith(reason[0]) and reason[1] in record["reason"], record


# The CLI with its address space capped at what it has taken once the data's libraries are
# loaded, plus 1 GiB: memory runs out for real (an allocation refused at once), at a size
# the machine could give, so that no estimate refuses it first.
CAPPED_CLI = """
import resource, sys
import numpy, pandas, pyarrow
import toolkit.data.prepared, toolkit.data.sources
from toolkit.cli import main
status = open("/proc/self/status").read()
size = int(status.split("VmSize:")[1].split()[0]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + (1 << 30), resource.RLIM_INFINITY))
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.required("3 GiB of available memory, for an allocation refused for real")
def test_running_out_of_memory_while_the_data_is_read_is_one_line_and_no_run(tmp_path):
    """NumPy's MemoryError while the data was generated was a traceback with exit 1."""
    import os
    import subprocess
    import sys

    if _meminfo("MemAvailable") < 3 << 30:
        pytest.skip("under 3 GiB available: the size would be refused before it is tried")
    config = tiny_config(runtime={"device": "cpu"})
    # 2.2 GiB of features: more than the 1 GiB the process may still take.
    config["data"]["synthetic"] = {"samples": 300_000_000, "features": 1}
    out = tmp_path / "out"
    arguments = ["train", write_yaml(tmp_path / "config.yaml", config), "--output-dir", out]
    result = subprocess.run(
        [sys.executable, "-c", CAPPED_CLI, *map(str, arguments)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert_one_line_error(
        result,
        "out of memory reading data.source synthetic:regression (could not allocate 2.24 GiB "
        "for an array of shape (300000000, 1))",
        "lower data.synthetic.samples",
    )
    assert_nothing_written(out)
