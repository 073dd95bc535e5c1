"""Early stopping in mode auto on a metric the toolkit wraps (an ensemble's val_accuracy, a
Gaussian head's val_rmse) follows the metric's own direction, as on a plain network.

Keras' callbacks find a metric's direction by its name among the model's metrics; the
wrappers hid it and training raised "Keras isn't able to automatically determine whether
that metric should be maximized or minimized". Checked against history.csv: training stops
where patience runs out after the best value of the monitored column, in its direction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.helpers import QUIET_RUN, REPO
from toolkit.config.loading import load_config
from toolkit.data.prepared import prepare_data
from toolkit.training.train import train

PATIENCE = 3


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    noise = rng.normal(size=rows)
    return pd.DataFrame(
        {
            "a": x[:, 0],
            "b": x[:, 1],
            "c": x[:, 2],
            "label": (x[:, 0] + 0.5 * x[:, 1] + 0.7 * noise > 0).astype(int),
            "target": 2 * x[:, 0] + np.sin(x[:, 1]) + 0.3 * noise,
        }
    )


@pytest.mark.parametrize(
    ("config_file", "target", "monitor", "better", "extra"),
    [
        ("binary.yaml", "label", "val_accuracy", np.greater, ["model.ensemble.members=2"]),
        ("ensemble.yaml", "target", "val_rmse", np.less, ["model.ensemble=null"]),
    ],
)
def test_early_stopping_on_a_wrapped_metric_follows_its_direction(
    tmp_path, config_file, target, monitor, better, extra
):
    frame = _frame(200, seed=3)
    frame.drop(columns=["label" if target == "target" else "target"]).to_csv(
        tmp_path / "table.csv", index=False
    )
    config = load_config(
        REPO / "configs" / config_file,
        [
            *QUIET_RUN,
            f"data.source={tmp_path / 'table.csv'}",
            f"data.target={target}",
            "data.test=null",
            "seed=2",
            "runtime.deterministic=true",
            "training.epochs=40",
            f"callbacks.early_stopping={{monitor: {monitor}, patience: {PATIENCE}}}",
            *extra,
        ],
    )
    result = train(config, output_dir=tmp_path / "runs", data=prepare_data(config), verbose=0)
    assert result.status == "completed"
    values = pd.read_csv(result.run_dir / "history.csv")[monitor].to_numpy()
    assert _stopping_epochs(values, better) == len(values)


def _stopping_epochs(values: np.ndarray, better) -> int:
    """Epochs run by early stopping with PATIENCE on ``values``, strict improvements only."""
    best, wait = values[0], 0
    for epoch, value in enumerate(values[1:], start=2):
        if better(value, best):
            best, wait = value, 0
        else:
            wait += 1
            if wait >= PATIENCE:
                return epoch
    return len(values)
