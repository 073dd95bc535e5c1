"""An ensemble's members each keep the weights of their own best validation epoch.

Checked against the members' validation NLL computed here with scipy from the saved
model's outputs, and against the same run with ``model.ensemble.best_epoch: shared``, which
trains identically (the choice is made after training) and sets every member to the one
epoch where their average loss was best.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests.helpers import QUIET_RUN, REPO, kill_mid_run, run_cli, start_train
from toolkit.config.loading import load_config
from toolkit.data.prepared import prepare_data
from toolkit.evaluation.predict import model_outputs
from toolkit.models.saving import load_model
from toolkit.training.train import train

MEMBERS = 3


def _hetero_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, size=rows)
    return pd.DataFrame(
        {"x": x, "target": x * np.sin(x) + (0.1 + 0.2 * np.abs(x)) * rng.normal(size=rows)}
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """configs/ensemble.yaml on 400 generated rows, its members picked each way."""
    folder = tmp_path_factory.mktemp("member-selection")
    _hetero_frame(400, seed=0).to_csv(folder / "hetero.csv", index=False)
    trained = {}
    for choice in ("per_member", "shared"):
        config = load_config(
            REPO / "configs/ensemble.yaml",
            [
                *QUIET_RUN,
                f"data.source={folder / 'hetero.csv'}",
                "data.target=target",
                "data.test=null",
                "seed=1",
                "runtime.deterministic=true",
                f"model.ensemble={{members: {MEMBERS}, best_epoch: {choice}}}",
                "training.epochs=80",
                "callbacks.early_stopping.patience=15",
            ],
        )
        data = prepare_data(config)
        result = train(config, output_dir=folder / choice, data=data, verbose=0)
        assert result.status == "completed"
        trained[choice] = (config, data, result.run_dir)
    return trained


def _member_nlls(config, data, run_dir) -> np.ndarray:
    """Each member's Gaussian NLL on the validation rows, by scipy from the saved model."""
    model = load_model(run_dir / "model.keras")
    features, y = data.validation.arrays()
    outputs = model_outputs(model, features, config)[0]  # (rows, members, [mean, scale])
    return np.array(
        [
            -stats.norm.logpdf(y[:, 0], outputs[:, m, 0], outputs[:, m, 1]).mean()
            for m in range(MEMBERS)
        ]
    )


def test_each_member_is_at_the_epoch_of_its_own_lowest_validation_loss(runs):
    config, data, run_dir = runs["per_member"]
    history = pd.read_csv(run_dir / "history.csv")
    record = json.loads((run_dir / "run.json").read_text())
    losses = np.stack([history[f"val_member{m}_loss"] for m in range(MEMBERS)])
    assert record["member_best_epochs"] == [int(e) + 1 for e in losses.argmin(axis=1)]
    # Not all at the shared epoch (early stopping's, on val_loss), or the choice made no
    # difference here.
    shared_epoch = int(np.argmin(history["val_loss"])) + 1
    assert set(record["member_best_epochs"]) != {shared_epoch}
    # The loss is the NLL of the standardised target: the original units' NLL less log(std).
    np.testing.assert_allclose(
        _member_nlls(config, data, run_dir) - np.log(data.spec.target.std),
        losses.min(axis=1),
        atol=2e-4,
    )


def test_per_member_epochs_fit_validation_at_least_as_well_as_the_shared_epoch(runs):
    per_member, shared = runs["per_member"], runs["shared"]
    # The choice is made after training: both runs trained the same.
    np.testing.assert_array_equal(
        pd.read_csv(per_member[2] / "history.csv")["loss"],
        pd.read_csv(shared[2] / "history.csv")["loss"],
    )
    own, common = _member_nlls(*per_member), _member_nlls(*shared)
    assert np.all(own <= common + 1e-6)
    assert np.any(own < common - 1e-4)
    assert "member_best_epochs" not in json.loads((shared[2] / "run.json").read_text())


@pytest.mark.slow
def test_sigkill_then_resume_keeps_the_members_earlier_best_weights(write_config, tmp_path):
    """Members that peak early (a small table, learning rate 0.03) and a kill well after
    that: the resumed run must still hold each member's best weights from before the kill."""
    _hetero_frame(240, seed=2).to_csv(tmp_path / "hetero.csv", index=False)
    config = write_config(
        {
            "name": "member-resume",
            "seed": 4,
            "data": {
                "source": str(tmp_path / "hetero.csv"),
                "target": "target",
                "validation": 0.25,
            },
            "model": {
                "task": "regression",
                "head": "gaussian",
                "hidden": [32],
                "ensemble": {"members": 2},
            },
            "training": {
                "epochs": 40,
                "batch_size": 16,
                "optimizer": {"name": "adam", "learning_rate": 0.03},
            },
            "runtime": {"deterministic": True},
            "callbacks": {
                "tensorboard": False,
                "learning_curve": False,
                "early_stopping": {"patience": 12},
            },
            "evaluation": {"plots": False, "baselines": False},
        }
    )
    reference = run_cli("train", config, "--output-dir", tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr
    reference_dir = Path(reference.stdout.strip().splitlines()[-1])
    expected = json.loads((reference_dir / "run.json").read_text())
    kill_after = min(expected["member_best_epochs"]) + 2
    assert kill_after < expected["epochs"]  # the kill lands after a member's best epoch

    run_dir = kill_mid_run(
        tmp_path / "killed", start_train(config, tmp_path / "killed"), kill_after
    )
    resumed = run_cli("train", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    record = json.loads((run_dir / "run.json").read_text())
    assert record["resumed_at_epoch"] > min(expected["member_best_epochs"])
    assert record["member_best_epochs"] == expected["member_best_epochs"]
    for a, b in zip(
        load_model(reference_dir / "model.keras").get_weights(),
        load_model(run_dir / "model.keras").get_weights(),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_members_are_picked_from_no_epoch_before_early_stoppings_start_from_epoch(tmp_path):
    """Early stopping's ``start_from_epoch`` (a warm-up it does not judge) holds for the
    members' own epochs too: each is the lowest of its column in history.csv from that epoch
    on, and the saved model scores it (scipy), though some member did better before it."""
    start = 20
    _hetero_frame(60, seed=2).to_csv(tmp_path / "hetero.csv", index=False)
    config = load_config(
        REPO / "configs/ensemble.yaml",
        [
            *QUIET_RUN,
            f"data.source={tmp_path / 'hetero.csv'}",
            "data.target=target",
            "data.test=null",
            "seed=4",
            "runtime.deterministic=true",
            f"model.ensemble={{members: {MEMBERS}}}",
            "training.epochs=30",
            "model.hidden=[64, 64]",
            "model.l2=0",
            "training.batch_size=16",
            "training.optimizer.learning_rate=0.03",
            f"callbacks.early_stopping={{patience: 30, start_from_epoch: {start}}}",
        ],
    )
    data = prepare_data(config)
    run_dir = train(config, output_dir=tmp_path / "run", data=data, verbose=0).run_dir
    history = pd.read_csv(run_dir / "history.csv")
    losses = np.stack([history[f"val_member{m}_loss"] for m in range(MEMBERS)])
    assert np.any(losses.argmin(axis=1) < start)  # or the warm-up excluded nothing here
    record = json.loads((run_dir / "run.json").read_text())
    assert record["member_best_epochs"] == [
        start + int(e) + 1 for e in losses[:, start:].argmin(axis=1)
    ]
    np.testing.assert_allclose(
        _member_nlls(config, data, run_dir) - np.log(data.spec.target.std),
        losses[:, start:].min(axis=1),
        atol=2e-4,
    )


def test_a_run_whose_loss_blew_up_keeps_each_member_at_its_own_best_epoch(tmp_path):
    """A NaN loss fails the run and loads the best checkpoint, which is the members' shared
    epoch; the members must still be at the epochs run.json records for them (by hand they
    scored 0.45, 0.38 and 0.90 where history.csv had 0.10, 0.22 and 0.64)."""
    _hetero_frame(300, seed=5).to_csv(tmp_path / "hetero.csv", index=False)
    steps_per_epoch = 15  # 240 training rows in batches of 16
    config = load_config(
        REPO / "configs/ensemble.yaml",
        [
            "callbacks.tensorboard=false",
            "callbacks.learning_curve=false",
            "evaluation.plots=false",
            "evaluation.baselines=false",
            f"data.source={tmp_path / 'hetero.csv'}",
            "data.target=target",
            "data.test=null",
            "seed=1",
            "runtime.deterministic=true",
            f"model.ensemble={{members: {MEMBERS}}}",
            "model.hidden=[64, 64]",
            "model.l2=0",
            "training.epochs=40",
            "training.batch_size=16",
            # Sensible steps for 20 epochs, then a learning rate that blows the weights up.
            "training.optimizer.learning_rate=0.03",
            "training.lr_schedule={name: piecewise, boundaries: "
            f"[{20 * steps_per_epoch}], values: [0.03, 1.0e12]}}",
            "callbacks.early_stopping.patience=40",
        ],
    )
    data = prepare_data(config)
    result = train(config, output_dir=tmp_path / "run", data=data, verbose=0)
    assert result.status == "failed"
    history = pd.read_csv(result.run_dir / "history.csv")
    losses = np.stack([history[f"val_member{m}_loss"] for m in range(MEMBERS)])
    losses = np.where(np.isfinite(losses), losses, np.inf)
    record = json.loads((result.run_dir / "run.json").read_text())
    epochs = [int(e) + 1 for e in losses.argmin(axis=1)]
    assert record["member_best_epochs"] == epochs
    assert set(epochs) != {record["best_epoch"]}  # or the checkpoint was already right
    np.testing.assert_allclose(
        _member_nlls(config, data, result.run_dir) - np.log(data.spec.target.std),
        losses.min(axis=1),
        atol=2e-4,
    )
    named = ", ".join(map(str, epochs))
    assert f"each member is at its own best epoch ({named})" in record["reason"]
