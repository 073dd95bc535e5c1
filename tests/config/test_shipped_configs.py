"""Every shipped config validates, and trains for an epoch through the real builders, on
generated data where it names data the tests cannot download."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import REPO
from toolkit.config.loading import load_config

CONFIGS = sorted(p for p in (REPO / "configs").glob("*.yaml") if p.name != "base.yaml")
# Smoke-trained elsewhere, by a test that needs the run anyway.
TRAINED_ELSEWHERE = {"transfer_mobilenet": "tests/training/test_fine_tune.py"}


def _offline_data(stem: str, folder: Path, monkeypatch) -> list[str]:
    """Overrides (and environment) that give a config needing downloads or files small
    generated data instead."""
    from tests.image_data import write_keras_mnist, write_signal_npz

    if stem.startswith("mnist_"):
        write_keras_mnist(folder)
        monkeypatch.setenv("KERAS_HOME", str(folder))  # the toolkit reads Keras' cache itself
        return ["training.batch_size=32"]
    if stem == "signal_cnn":
        return [f"data.source={write_signal_npz(folder / 'signals.npz')}"]
    return []


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_config_validates(path: Path):
    config = load_config(path)
    assert config.name


def test_configs_trained_elsewhere_are_shipped_and_trained_there():
    for stem, test_file in TRAINED_ELSEWHERE.items():
        assert (REPO / "configs" / f"{stem}.yaml").exists()
        assert f'"{stem}.yaml"' in (REPO / test_file).read_text()


# Fewer copies of the same network where a config trains several: two members build,
# train, combine and save through the same code as five (the smoke test's question), at
# two fifths of the cost (tests/models/test_shipped_uncertainty.py trains the five,
# with its output files off).
FEWER = {"ensemble": ["model.ensemble.members=2"]}


@pytest.mark.slow
@pytest.mark.parametrize(
    "path", [p for p in CONFIGS if p.stem not in TRAINED_ELSEWHERE], ids=lambda p: p.stem
)
def test_shipped_config_trains_one_epoch(path: Path, tmp_path, monkeypatch):
    from toolkit.training.train import train

    config = load_config(
        path,
        [
            "training.epochs=1",
            "evaluation.baselines=false",
            "prediction.mc_samples=3",
            *_offline_data(path.stem, tmp_path, monkeypatch),
            *FEWER.get(path.stem, []),
        ],
    )
    result = train(config, output_dir=tmp_path, verbose=0)
    assert result.status == "completed"
    assert (result.run_dir / "model.keras").exists()
    evaluated = result.metrics[result.metrics["evaluated_on"]]
    assert evaluated, "no metrics"
