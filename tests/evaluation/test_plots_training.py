"""Training curves: what is drawn (series, epochs from 1, best epoch, scales) and NaN/inf."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.evaluation._support import assert_png, line
from toolkit.evaluation import plots


@pytest.fixture
def history() -> pd.DataFrame:
    """Eight epochs without an epoch column (Keras' own History), val_loss best at row 3."""
    return pd.DataFrame(
        {
            "loss": np.linspace(1, 0.2, 8),
            "val_loss": [1, 0.7, 0.5, 0.45, 0.5, 0.6, 0.65, 0.7],
            "accuracy": np.linspace(0.5, 0.9, 8),
            "val_accuracy": np.linspace(0.5, 0.8, 8),
            "learning_rate": np.geomspace(1e-3, 1e-4, 8),
        }
    )


def test_each_column_is_drawn_against_epochs_counted_from_one(history):
    fig = plots.learning_curves(history)
    loss, accuracy, rate = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy", "learning rate"]
    for ax, base in ((loss, "loss"), (accuracy, "accuracy")):
        for label, column in (("train", base), ("validation", f"val_{base}")):
            drawn = line(ax, label)
            assert list(drawn.get_xdata()) == list(range(1, 9))
            np.testing.assert_allclose(drawn.get_ydata(), history[column])
        assert ax.get_xlabel() == "epoch"
        assert [t.get_text() for t in ax.get_xticklabels()] == [str(e) for e in range(1, 9)]
    np.testing.assert_allclose(rate.lines[0].get_ydata(), history["learning_rate"])
    assert rate.get_yscale() == "log"


def test_the_best_epoch_of_the_monitor_is_marked(history):
    best = int(np.argmin(history["val_loss"])) + 1  # 1-based, as the user reads it
    fig = plots.learning_curves(history, monitor="val_loss")
    for ax in fig.axes:  # a dashed line at the best epoch on every panel
        assert [best, best] in [list(line.get_xdata()) for line in ax.lines]
    star = [line for line in fig.axes[0].lines if line.get_marker() == "*"]
    assert [(s.get_xdata()[0], s.get_ydata()[0]) for s in star] == [(best, 0.45)]
    assert f"best epoch {best}" in fig.axes[0].texts[0].get_text()
    maximised = plots.learning_curves(history, monitor="val_accuracy")
    star = [line for line in maximised.axes[1].lines if line.get_marker() == "*"]
    assert star[0].get_xdata()[0] == 8 and star[0].get_ydata()[0] == pytest.approx(0.8)


def test_the_epoch_column_is_used_and_a_constant_rate_is_a_linear_labelled_line():
    history = pd.DataFrame(
        {"epoch": [1, 2, 3, 4], "loss": [1.0, 0.8, 0.7, 0.6], "learning_rate": [1e-3] * 4}
    )
    fig = plots.learning_curves(history)
    loss, rate = fig.axes
    assert list(line(loss, "train").get_xdata()) == [1, 2, 3, 4]
    assert rate.get_yscale() == "linear"
    assert rate.get_title() == "learning rate (constant 0.001)"


def test_nan_and_inf_leave_gaps_named_in_the_title(tmp_path):
    history = pd.DataFrame(
        {
            "loss": [1.0, 0.5, np.nan, np.inf],
            "val_loss": [1.1, 0.6, 0.7, -np.inf],
            "learning_rate": [1e-3, 1e-3, np.nan, 1e-3],
        }
    )
    fig = plots.learning_curves(history)
    loss = fig.axes[0]
    assert loss.get_title() == "loss · not finite from epoch 3"
    drawn = line(loss, "train").get_ydata()
    assert list(drawn[:2]) == [1.0, 0.5] and np.isnan(drawn[2:]).all()
    star = [s for s in loss.lines if s.get_marker() == "*"]
    assert (star[0].get_xdata()[0], star[0].get_ydata()[0]) == (2, 0.6)  # the finite best
    assert_png(plots.save(fig, tmp_path / "learning_curves.png"))
    # a run whose loss was NaN from its first epoch still shows (and names) its loss panel
    diverged = pd.DataFrame({"loss": [np.nan], "val_loss": [np.nan], "note": ["x"]})
    fig = plots.learning_curves(diverged)
    assert [ax.get_title() for ax in fig.axes] == ["loss · not finite from epoch 1"]
    assert_png(plots.save(fig, tmp_path / "diverged.png"))


def test_an_empty_history_says_so():
    fig = plots.learning_curves(pd.DataFrame())
    assert [t.get_text() for t in fig.axes[0].texts] == ["no training history recorded"]
    only_train = plots.learning_curves(pd.DataFrame({"loss": [1.0, 0.5]}), monitor="val_loss")
    assert [line.get_label() for line in only_train.axes[0].lines] == ["train"]


def test_comparison_curves_overlay_runs_and_dot_each_best():
    a = pd.DataFrame({"epoch": [1, 2, 3, 4, 5], "val_loss": [1.0, 0.8, 0.7, 0.75, 0.8]})
    b = pd.DataFrame({"val_loss": [0.9, 0.6, 0.65]})  # no epoch column: rows from 1
    fig = plots.comparison_curves({"a": a, "b": b, "c": a[["epoch"]]})
    ax = fig.axes[0]
    np.testing.assert_allclose(line(ax, "a").get_ydata(), a["val_loss"])
    assert list(line(ax, "b").get_xdata()) == [1, 2, 3]
    dots = [(d.get_xdata()[0], d.get_ydata()[0]) for d in ax.lines if d.get_marker() == "o"]
    assert dots == [(3, 0.7), (2, 0.6)]
    assert ax.get_title().endswith("not recorded by: c")
    empty = plots.comparison_curves({})
    assert empty.axes[0].texts[0].get_text() == "no run recorded 'val_loss'"


def test_an_ensembles_members_share_one_panel_with_a_dot_at_each_ones_lowest_loss(history):
    """member<i>_loss columns (an ensemble's members' own losses) are one panel of
    validation curves, not a panel each; each member's dot sits at its own lowest epoch."""
    members = {
        "member0_loss": np.linspace(1, 0.3, 8),
        "val_member0_loss": [1, 0.6, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
        "member1_loss": np.linspace(1, 0.4, 8),
        "val_member1_loss": [1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.55, 0.6],
    }
    fig = plots.learning_curves(history.assign(**members))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "accuracy", "members' validation loss (dot: lowest)", "learning rate"]
    panel = fig.axes[2]
    for name, best in (("member0", 3), ("member1", 6)):
        drawn = line(panel, name)
        np.testing.assert_allclose(drawn.get_ydata(), members[f"val_{name}_loss"])
        dots = [
            (d.get_xdata()[0], d.get_ydata()[0])
            for d in panel.lines
            if d.get_marker() == "o" and d.get_color() == drawn.get_color()
        ]
        assert dots == [(best, members[f"val_{name}_loss"][best - 1])]
