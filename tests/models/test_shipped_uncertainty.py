"""The shipped ensemble and Bayesian configs, trained on a task with a gap in its inputs,
keep the two promises their comments make. Seeded runs of the real configs with only the
data swapped (and output files off): checks of the settings at one seed, not statistical
tests; benchmarks/uncertainty.py measures the same over many seeds.

x ~ U([-3, -1] and [1, 3]), y | x ~ N(x sin x, 0.15^2), 800 rows (20% validation); the
Bayesian network's on 2,000, about the size of benchmarks/uncertainty.py's gap task, where
its ratio here is 2.6. Its prior on the point layers pulls with 1 / (2 s^2 n): on 800 rows
the features active only in the gap are flattened more, and the ratio was 1.8-2.5 (seeds
3-5; 3.1-4.1 with the fixed weight decay 1e-3 bnn.yaml had before).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.helpers import QUIET_RUN, REPO
from toolkit.config.loading import load_config
from toolkit.data.prepared import prepare_data
from toolkit.evaluation.metrics import mixture_nll
from toolkit.evaluation.predict import model_outputs, predict
from toolkit.models.saving import load_model
from toolkit.training.train import train

QUIET = [
    *QUIET_RUN,
    "data.validation=0.2",
    "data.test=null",
    "data.target=target",
    "seed=3",
]


def _gap_run(tmp_path, config_file: str, rows: int = 800):
    rng = np.random.default_rng(3)
    x = rng.choice([-1.0, 1.0], size=rows) * rng.uniform(1, 3, size=rows)
    frame = pd.DataFrame({"x": x, "target": x * np.sin(x) + 0.15 * rng.normal(size=rows)})
    frame.to_csv(tmp_path / "gap.csv", index=False)
    config = load_config(REPO / config_file, [f"data.source={tmp_path / 'gap.csv'}", *QUIET])
    data = prepare_data(config)
    result = train(config, output_dir=tmp_path / "runs", data=data, verbose=0)
    assert result.status == "completed"
    return config, data, result, load_model(result.run_dir / "model.keras")


@pytest.mark.slow
def test_the_shipped_ensembles_members_converge_before_the_epoch_cap(tmp_path):
    """At learning rate 0.001 the members ran into the 300-epoch cap still improving, each
    at its own distance from its optimum; at 0.01 early stopping ends the run. Converged
    members can still differ (on these 640 training rows one seed's members scored -0.55
    to -0.44 nats on validation): the mixture is then better than their average (Jensen,
    row by row), which is checked here, but not always better than the best of them."""
    config, data, result, model = _gap_run(tmp_path, "configs/ensemble.yaml")
    assert result.epochs < config.training.epochs  # early stopping, not the epoch cap
    features, y = data.validation.arrays()
    outputs = model_outputs(model, features, config)[0]  # (rows, members, [mean, scale])
    members = np.stack(
        [mixture_nll(y[:, 0], outputs[:, m, :1], outputs[:, m, 1:]) for m in range(5)]
    )
    mixture = mixture_nll(y[:, 0], outputs[:, :, 0], outputs[:, :, 1])
    assert np.all(mixture <= members.mean(axis=0) + 1e-6)


@pytest.mark.slow
def test_the_shipped_bayesian_networks_spread_grows_in_the_gap(tmp_path):
    config, _, _, model = _gap_run(tmp_path, "configs/bnn.yaml", rows=2000)
    spread = []
    for x in (np.linspace(-0.8, 0.8, 41), np.linspace(1.2, 2.8, 41)):
        p = predict(model, {"numeric": x.astype("float32").reshape(-1, 1)}, config)
        spread.append(float(np.mean(p.epistemic_std)))
    assert spread[0] >= 2 * spread[1]
