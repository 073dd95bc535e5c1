"""``model.init_from`` in a config: a new run starts from a finished run's weights, layer by
layer where names and shapes match, with ``freeze`` keeping the first blocks fixed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import tiny_config


def _train(cli, write_config, config: dict, name: str, out: Path) -> Path:
    result = cli("train", write_config(config, name), "--output-dir", out)
    assert result.returncode == 0, result.stderr[-2000:]
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_init_from_copies_matching_layers_and_freeze_keeps_them(cli, write_config, tmp_path):
    import toolkit
    from toolkit.models.saving import load_model

    # The source trained in this process; the run that starts from it, by the command.
    source_dir = toolkit.train(
        tiny_config(model={"task": "regression", "hidden": [8, 4]}),
        output_dir=tmp_path / "out",
        verbose=0,
    ).path
    # One more block; the first frozen; a learning rate too small to move anything visibly,
    # so copied-and-trainable weights stay (to 1e-6) what they were copied from.
    config = tiny_config(
        model={"task": "regression", "hidden": [8, 4, 2], "init_from": str(source_dir), "freeze": 1},
        training={"epochs": 2, "batch_size": 16, "optimizer": {"name": "sgd", "learning_rate": 1e-9}},
    )  # fmt: skip
    run_dir = _train(cli, write_config, config, "target.yaml", tmp_path / "out")

    record = json.loads((run_dir / "run.json").read_text())
    # block2 and the head (now fed by 2 units, not 4) have no counterpart of the same shape.
    assert record["transferred_layers"] == ["block0_dense", "block1_dense"]

    source, target = load_model(source_dir / "model.keras"), load_model(run_dir / "model.keras")
    for a, b in zip(
        source.get_layer("block0_dense").get_weights(),
        target.get_layer("block0_dense").get_weights(),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)  # frozen: bit for bit
    assert not target.get_layer("block0_dense").trainable
    assert target.get_layer("block1_dense").trainable
    for a, b in zip(
        source.get_layer("block1_dense").get_weights(),
        target.get_layer("block1_dense").get_weights(),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # The new block starts from its initializer, not from anything of the source.
    fresh = target.get_layer("block2_dense").get_weights()[0]
    assert fresh.shape == (4, 2) and np.abs(fresh).max() > 1e-3


def test_init_from_a_missing_run_is_one_line_and_writes_nothing(cli, write_config, tmp_path):
    config = tiny_config(model={"task": "regression", "hidden": [8], "init_from": "no/such/run"})
    result = cli("train", write_config(config), "--output-dir", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no/such/run" in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


def test_init_from_that_would_copy_nothing_or_leave_a_frozen_block_random_is_one_line(
    cli, write_config, tmp_path
):
    """A source whose layers match none of the model's (here: one network into an
    ensemble, whose blocks live in its members) trained from the random start with
    ``transferred_layers: []``; a frozen first block of another width was kept fixed at its
    random start. Both are refused before any run exists."""
    import toolkit

    source = toolkit.train(
        tiny_config(model={"task": "regression", "hidden": [8]}),
        output_dir=tmp_path / "source",
        verbose=0,
    ).path
    cases = [
        (
            {"hidden": [8], "ensemble": {"members": 2}},
            f"toolkit: error: model.init_from {source}: none of its layers with weights "
            "(block0_dense, output) has the name and weight shapes of one of this model's, so "
            "nothing would be copied; start from a run with the same body (block sizes, "
            "input columns, ensemble members)",
        ),
        (
            {"hidden": [4, 8], "freeze": 1},
            f"toolkit: error: model.freeze 1 would keep block0_dense fixed at its random "
            f"start: model.init_from {source} has no layer of that name and weight shapes",
        ),
    ]
    for model, message in cases:
        config = tiny_config(model={"task": "regression", "init_from": str(source), **model})
        result = cli("train", write_config(config), "--output-dir", tmp_path / "out")
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == message
        assert not (tmp_path / "out").exists()
