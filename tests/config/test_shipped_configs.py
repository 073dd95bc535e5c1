"""Every shipped config validates, and trains for an epoch through the real builders."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import REPO
from toolkit.config.loading import load_config

CONFIGS = sorted(p for p in (REPO / "configs").glob("*.yaml") if p.name != "base.yaml")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_config_validates(path: Path):
    config = load_config(path)
    assert config.name


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_config_trains_one_epoch(path: Path, tmp_path):
    from toolkit.training.train import train

    config = load_config(
        path, ["training.epochs=1", "evaluation.baselines=false", "prediction.mc_samples=3"]
    )
    result = train(config, output_dir=tmp_path, verbose=0)
    assert result.status == "completed"
    assert (result.run_dir / "model.keras").exists()
    evaluated = result.metrics[result.metrics["evaluated_on"]]
    assert evaluated, "no metrics"
