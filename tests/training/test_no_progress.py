"""A run whose training loss never improves on its first epoch says so instead of looking
like a result: the shipped regression config at a learning rate of 1000 leaves the network
dead with a finite, slowly rising loss (no NaN stops it)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import REPO
from toolkit.config.loading import load_config
from toolkit.training.train import _no_progress_warning


def _history(losses: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"epoch": range(1, len(losses) + 1), "loss": losses})


def test_the_warning_needs_a_loss_that_never_went_below_the_first_epochs():
    config = load_config(REPO / "configs" / "regression.yaml")
    assert _no_progress_warning(config, _history([3.0, 2.0, 4.0])) is None  # it improved once
    assert _no_progress_warning(config, _history([3.0, 2.0, 1.0])) is None
    assert _no_progress_warning(config, _history([3.0, 3.5])) is None  # too short to say
    assert _no_progress_warning(config, _history([3.0, float("nan"), 4.0])) is None  # NaN: fails
    line = _no_progress_warning(config, _history([3.0, 3.5, 4.25]))
    assert line.startswith("the training loss never went below its first epoch's (3; 4.25 at")
    assert line.endswith(f"(now {config.training.optimizer.learning_rate:g})")
    warm_up = load_config(
        REPO / "configs" / "bnn.yaml", overrides=["model.bayesian.kl_warmup_epochs=5"]
    )
    assert _no_progress_warning(warm_up, _history([3.0, 3.5, 4.25])) is None


@pytest.mark.slow
def test_a_dead_network_completes_with_a_warning_line(cli, tmp_path):
    result = cli(
        "train",
        REPO / "configs" / "regression.yaml",
        "--set",
        "training.epochs=4",
        "--set",
        "training.optimizer={name: sgd, learning_rate: 1000}",
        # [32] with l2 1e-3, as regression.yaml had before its prior: at lr 1000 the ReLUs
        # die; the prior's stronger pull on few rows overflows the loss to NaN instead.
        *("--set", "model.hidden=[32]", "--set", "model.weight_prior_scale=null"),
        *("--set", "model.l2=0.001"),
        "--set",
        "evaluation.baselines=false",
        "--output-dir",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip())
    history = pd.read_csv(run_dir / "history.csv")
    assert history["loss"].idxmin() == 0 and history["loss"].iloc[-1] > history["loss"].iloc[0]
    warning, *others = json.loads((run_dir / "run.json").read_text())["warnings"]
    assert "did not learn" in warning and "learning_rate (now 1000)" in warning
    # The dead network's one output also puts lower bounds of the (never negative) target
    # below 0 on held-out rows: that run warning, and no other, may follow.
    assert all(w.startswith("target 'target' is never negative in the training") for w in others)
    said = "; ".join(f"warning: {w}" for w in [warning, *others])
    assert result.stderr.strip().splitlines()[-1].endswith(f"; {said}")
