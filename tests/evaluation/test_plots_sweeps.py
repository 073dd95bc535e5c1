"""Sweep plots: the trials drawn, running best, axis scales as sampled, non-finite objectives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.evaluation._support import assert_png, line, points
from toolkit.evaluation import plots


@pytest.fixture
def trials() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "trial_id": [f"{i:02d}" for i in range(8)],
            "lr": [1e-3, 2e-3, 5e-3, 1.5e-3, 3e-3, 8e-3, 4e-3, 1e-3],  # under one decade
            "units": [16, 32, 64, 16, 32, 64, 16, 32],
            "activation": ["relu", "gelu", "relu", "tanh", "gelu", "relu", "tanh", "relu"],
            "model/odd name": [True, False, True, False, True, False, True, False],
            "objective": [0.9, 0.5, 0.3, 0.4, 0.8, 0.25, 0.45, np.nan],
        }
    )


def test_figures_by_file_name_and_what_each_draws(trials, tmp_path):
    figures = plots.sweep_figures(
        trials, "objective", "min", ["lr", "units", "activation", "model/odd name", "gone"]
    )
    assert list(figures) == [
        "objective_per_trial.png",
        "best_so_far.png",
        "objective_vs_lr.png",
        "objective_vs_units.png",
        "objective_vs_activation.png",
        "objective_vs_model_odd_name.png",
    ]
    values = trials["objective"].to_numpy()
    finite = np.isfinite(values)
    per_trial = figures["objective_per_trial.png"].axes[0]
    np.testing.assert_allclose(
        points(per_trial, "trial"), np.column_stack([np.arange(8), values])[finite]
    )
    best = int(np.nanargmin(values))
    assert points(per_trial, "best: trial 05").tolist() == [[best, values[best]]]
    assert "1 without objective" in per_trial.get_title()
    step = line(figures["best_so_far.png"].axes[0], "best so far")
    np.testing.assert_allclose(step.get_ydata(), np.fmin.accumulate(values))  # NaN: no change
    activation = figures["objective_vs_activation.png"].axes[0]
    assert [t.get_text() for t in activation.get_xticklabels()] == ["gelu", "relu", "tanh"]
    units = figures["objective_vs_units.png"].axes[0]
    np.testing.assert_allclose(points(units, 0), trials[["units", "objective"]].to_numpy()[finite])
    for name, figure in figures.items():
        assert_png(plots.save(figure, tmp_path / name))


def test_axes_follow_the_sampling(trials):
    trials = trials.assign(wide=[1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 3e-3, 3e-4, 1e-3])
    figures = plots.sweep_figures(
        trials, "objective", "min", ["lr", "wide", "units"], log_scaled=["lr"], linear=["wide"]
    )
    # a log-sampled learning rate is on a log axis even when the trials span less than a decade
    assert figures["objective_vs_lr.png"].axes[0].get_xscale() == "log"
    assert figures["objective_vs_wide.png"].axes[0].get_xscale() == "linear"
    guessed = plots.sweep_figures(trials, "objective", "min", ["lr", "wide"])  # sampling unknown
    assert guessed["objective_vs_lr.png"].axes[0].get_xscale() == "linear"
    assert guessed["objective_vs_wide.png"].axes[0].get_xscale() == "log"  # spans 4 decades


def test_maximised_objective_and_non_finite_values(tmp_path):
    trials = pd.DataFrame(
        {
            "trial_id": ["0", "1", "2", "3", "4"],
            "objective": [0.6, 0.9, np.inf, 0.7, np.nan],
            "x": [1.0, 2.0, 3.0, np.inf, 5.0],
        }
    )
    figures = plots.sweep_figures(trials, "objective", "max", ["x"])
    per_trial = figures["objective_per_trial.png"].axes[0]
    assert points(per_trial, "trial").tolist() == [[0, 0.6], [1, 0.9], [3, 0.7]]
    assert "2 without objective" in per_trial.get_title()
    step = line(figures["best_so_far.png"].axes[0], "best so far")
    assert list(step.get_ydata()) == [0.6, 0.9, 0.9, 0.9, 0.9]
    assert points(figures["objective_vs_x.png"].axes[0], 0).tolist() == [[1, 0.6], [2, 0.9]]
    for name, figure in figures.items():
        assert_png(plots.save(figure, tmp_path / name))
    empty = plots.sweep_figures(trials.assign(objective=np.nan), "objective", "max", ["x"])
    for figure in empty.values():
        assert figure.axes[0].texts, "a placeholder says why the figure is empty"
    with pytest.raises(ValueError, match="direction"):
        plots.sweep_figures(trials, "objective", "lowest", [])
