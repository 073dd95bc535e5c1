"""Synthetic run, repeat-group and sweep directories laid out as training and tuning write them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import yaml

from toolkit.evaluation import metrics, plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(data_or_path: bytes | Path) -> None:
    """A non-empty PNG that matplotlib can decode back into an image array."""
    data = data_or_path if isinstance(data_or_path, bytes) else Path(data_or_path).read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 2000
    image = matplotlib.image.imread(io.BytesIO(data), format="png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def line(ax, label: str):
    """The one line of ``ax`` with this legend label."""
    found = [line for line in ax.lines if line.get_label() == label]
    assert len(found) == 1, [line.get_label() for line in ax.lines]
    return found[0]


def points(ax, which: int | str = 0) -> np.ndarray:
    """The (x, y) points of a scatter of ``ax``: the ``which``-th one, or the one so labelled."""
    if isinstance(which, str):
        found = [c for c in ax.collections if c.get_label() == which]
        assert len(found) == 1, [c.get_label() for c in ax.collections]
        return np.asarray(found[0].get_offsets())
    return np.asarray(ax.collections[which].get_offsets())


def _history(epochs: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(epochs)
    loss = 1.0 / (1 + 0.4 * t) + 0.1
    return pd.DataFrame(
        {
            "epoch": t + 1,
            "learning_rate": np.full(epochs, 1e-3),
            "loss": loss,
            "mae": loss * 40,
            "val_loss": loss
            + 0.05
            + 0.004 * (t - epochs / 2) ** 2 / epochs
            + rng.normal(0, 0.005, epochs),
            "val_mae": loss * 44,
        }
    )


def write_run(
    root: Path,
    name: str,
    *,
    dropout: float = 0.1,
    rmse: float = 55.25,
    run_name: str = "demo",
    extra_config: dict | None = None,
    with_plots: bool = True,
    seed: int = 0,
) -> Path:
    """A finished regression run with uncertainty, as ``toolkit train`` leaves it."""
    run = root / name
    (run / "plots").mkdir(parents=True)
    config = {
        "name": run_name,
        "seed": 42,
        "data": {"source": "sklearn:diabetes", "target": "target"},
        "model": {"task": "regression", "head": "gaussian", "hidden": [8, 8], "dropout": dropout},
        "training": {"epochs": 12, "optimizer": {"name": "adam", "learning_rate": 0.001}},
    }
    if extra_config:
        config.update(extra_config)
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (run / "run.json").write_text(
        json.dumps(
            {
                "run_id": name,
                "name": run_name,
                "task": "regression",
                "status": "completed",
                "started": "2026-11-22T03:59:37+00:00",
                "ended": "2026-11-22T04:01:02+00:00",
                "seed": 42,
                "data_fingerprint": "a2246e36948bda6d",
                "devices": ["/device:CPU:0"],
                "versions": {"toolkit": "0.1.0", "tensorflow": "2.21.0", "keras": "3.15.1"},
                "reason": None,
                "epochs": 12,
                "best_epoch": 7,
            }
        )
    )
    rng = np.random.default_rng(seed)
    y = rng.normal(150, 70, size=120)
    std = np.full(120, 50.0)
    pred = y + rng.normal(0, 50, size=120)
    test = metrics.regression_metrics(y, pred, std=std)
    test["rmse"] = rmse  # a known value to look for in the report
    (run / "metrics.json").write_text(
        json.dumps(
            {
                "train": {**test, "rmse": rmse / 2, "r2": 0.9},
                "validation": {**test, "rmse": rmse * 1.1},
                "test": test,
                "baselines": {
                    "linear_regression": {"rmse": 61.5, "mae": 48.0, "r2": 0.4},
                    "random_forest": {"rmse": 52.75, "mae": 41.0, "r2": 0.55},
                },
                "evaluated_on": "test",
            },
            allow_nan=False,
        )
    )
    history = _history(12, seed)
    history.to_csv(run / "history.csv", index=False)
    (run / "data_summary.json").write_text(
        json.dumps(
            {
                "rows": {"train": 317, "validation": 80, "test": 45},
                "target": {"name": "target", "task": "regression", "classes": []},
                "task": "regression",
                "features": [
                    {"name": "age", "kind": "numeric", "mean": 0.0, "std": 0.05},
                    {"name": "bmi", "kind": "numeric", "mean": 0.002, "std": 0.047},
                    {"name": "region", "kind": "categorical", "categories": 4},
                ],
            }
        )
    )
    (run / "model.json").write_text(json.dumps({"total_params": 4929, "trainable_params": 4865}))
    (run / "model_summary.txt").write_text('Model: "demo"\n┏━━━━━━━━┓\n┃ Layer  ┃\n┗━━━━━━━━┛\n')
    if with_plots:
        plots.save(plots.learning_curves(history), run / "plots" / "learning_curves.png")
        plots.save(plots.predicted_vs_actual(y, pred), run / "plots" / "predicted_vs_actual.png")
        plots.save(plots.intervals_sorted(y, pred, std), run / "plots" / "intervals_sorted.png")
    return run


def write_repeat_group(root: Path) -> Path:
    """A ``toolkit train --repeat 2`` group: seeds in seeds/, metrics as mean ± std per split."""
    group = root / "repeat-1"
    seeds = [
        write_run(group / "seeds" / "demo", f"seed-{s}", rmse=50.0 + s, with_plots=False, seed=s)
        for s in (42, 43)
    ]
    (group / "config.yaml").write_text("name: demo\nseed: 42\n")
    (group / "run.json").write_text(
        json.dumps(
            {
                "run_id": "repeat-1",
                "name": "demo",
                "task": "regression",
                "kind": "repeat",
                "status": "completed",
                "started": "2026-11-22T03:59:37+00:00",
                "ended": "2026-11-22T04:00:03+00:00",
                "seeds": [42, 43],
                "runs": [str(s.relative_to(group)) for s in seeds],
                "completed_runs": 2,
            }
        )
    )
    split_metrics = [json.loads((s / "metrics.json").read_text()) for s in seeds]
    (group / "metrics.json").write_text(
        json.dumps(
            {
                "repeats": {
                    split: metrics.aggregate_repeats([m[split] for m in split_metrics])
                    for split in ("train", "validation", "test")
                },
                "seeds": [42, 43],
                "evaluated_on": "test",
            }
        )
    )
    return group


def write_sweep(root: Path, *, direction: str = "min") -> Path:
    """A finished sweep: sweep.json, trials.csv (one failed trial) and best_config.yaml."""
    sweep = root / "sweep-1"
    sweep.mkdir(parents=True)
    objective = [0.5, 0.2, None, 0.9, 0.35]
    best_index = 1 if direction == "min" else 3
    (sweep / "sweep.json").write_text(
        json.dumps(
            {
                "sweep_id": "sweep-1",
                "name": "demo-sweep",
                "status": "completed",
                "started": "2026-11-22T04:53:29+00:00",
                "ended": "2026-11-22T04:55:37+00:00",
                "algorithm": "random",
                "objective": "val_loss" if direction == "min" else "val_accuracy",
                "direction": direction,
                "max_trials": 5,
                "settings": {"algorithm": "random", "max_trials": 5, "seed": 7},
                "search_space": [
                    "model.dropout",
                    "training.optimizer.learning_rate",
                    "training.optimizer.name",
                ],
                "counts": {"finished": 5, "completed": 4, "failed": 1},
                "best_trial": {
                    "trial_id": f"{best_index:02d}",
                    "objective": objective[best_index],
                    "hyperparameters": {"model.dropout": 0.3},
                    "run_dir": f"trials/demo/trial-{best_index}",
                },
            }
        )
    )
    pd.DataFrame(
        {
            "trial_id": ["00", "01", "02", "03", "04"],
            "status": ["completed", "completed", "failed", "completed", "completed"],
            "model.dropout": [0.0, 0.3, 0.1, 0.1, 0.2],
            "training.optimizer.learning_rate": [1e-4, 3e-3, 1e-2, 1e-1, 1e-3],
            "training.optimizer.name": ["adam", "sgd", "adam", "sgd", "adam"],
            "objective": objective,
            "best_epoch": [3, 7, None, 2, 5],
            "duration_s": [3.3, 4.1, 0.2, 2.9, 3.0],
            "run_dir": [f"trials/demo/trial-{i}" for i in range(5)],
            "reason": [None, None, "loss became NaN <inf>", None, None],
        }
    ).to_csv(sweep / "trials.csv", index=False)
    (sweep / "best_config.yaml").write_text("# Best trial 01\nname: demo\nmodel:\n  dropout: 0.3\n")
    search_space = {
        "model.dropout": {"float": [0.0, 0.5]},
        "training.optimizer.learning_rate": {"float": [1e-4, 1e-1], "sampling": "log"},
        "training.optimizer.name": {"choice": ["adam", "sgd"]},
    }
    (sweep / "base_config.yaml").write_text(
        yaml.safe_dump({"name": "demo", "tuner": {"search_space": search_space}})
    )
    return sweep


def count_calibration_predictions(monkeypatch) -> list:
    """A list that gets an item each time calibration predicts (``calibrate.model_outputs``,
    which still runs)."""
    from toolkit.evaluation import calibrate

    real = calibrate.model_outputs
    calls: list = []

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(calibrate, "model_outputs", counted)
    return calls


def trained_run_and_its_validation(raw: dict, output_dir: Path):
    """``raw`` trained quietly into ``output_dir``; the loaded run and its data prepared again
    (no test split: validation is the only split calibration reads)."""
    import toolkit
    from toolkit.config.loading import validate_config
    from toolkit.data.prepared import prepare_data

    result = toolkit.train(validate_config(raw), output_dir=output_dir, verbose=0)
    run = toolkit.load_run(result.path)
    data = prepare_data(run.config, spec=run.spec)
    assert data.test is None
    return run, data
