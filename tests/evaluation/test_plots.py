"""Every plot function writes a valid PNG under its fixed name, headless and without TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.evaluation._support import assert_png
from toolkit.evaluation import plots

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def regression():
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, size=300)
    std = 0.2 + 0.2 * np.abs(x)
    pred = np.sin(x)
    return x, pred + rng.normal(0, std), pred, std


@pytest.fixture
def captured(monkeypatch):
    """The figures the plot functions save, by file name (to check axes, not just pixels)."""
    figures = {}
    original = plots._save

    def save(fig, path):
        figures[Path(path).name] = fig
        return original(fig, path)

    monkeypatch.setattr(plots, "_save", save)
    return figures


def test_learning_curves_mark_the_best_epoch(tmp_path, captured):
    history = pd.DataFrame(
        {
            "epoch": range(8),
            "loss": np.linspace(1, 0.2, 8),
            "val_loss": [1, 0.7, 0.5, 0.45, 0.5, 0.6, 0.65, 0.7],
            "accuracy": np.linspace(0.5, 0.9, 8),
            "val_accuracy": np.linspace(0.5, 0.8, 8),
            "learning_rate": np.geomspace(1e-3, 1e-4, 8),
        }
    )
    path = plots.learning_curves(history, tmp_path)
    assert path == tmp_path / "learning_curves.png"
    assert_png(path)
    axes = captured["learning_curves.png"].axes
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy", "learning rate"]
    assert axes[2].get_yscale() == "log"
    best_lines = [line for line in axes[0].lines if list(line.get_xdata()) == [3, 3]]
    assert best_lines, "the best val_loss epoch (3) is marked"


def test_learning_curves_without_history_or_validation(tmp_path):
    assert_png(plots.learning_curves(pd.DataFrame(), tmp_path))
    only_train = pd.DataFrame({"loss": [1.0, 0.5, np.nan]})
    assert_png(plots.learning_curves(only_train, tmp_path, monitor="val_loss"))


def test_regression_plots(tmp_path, regression):
    x, y, pred, std = regression
    written = [
        plots.predicted_vs_actual(y, pred, tmp_path),
        plots.residuals(y, pred, tmp_path),
        plots.intervals_sorted(y, pred, std, tmp_path, interval=0.9),
        plots.interval_calibration(y, pred, std, tmp_path),
        plots.predictive_band(
            x, y, np.linspace(-4, 4, 100), np.sin(np.linspace(-4, 4, 100)), np.ones(100), tmp_path
        ),
    ]
    names = [p.name for p in written]
    assert names == [
        "predicted_vs_actual.png",
        "residuals.png",
        "intervals_sorted.png",
        "interval_calibration.png",
        "predictive_band.png",
    ]
    for path in written:
        assert path.parent == tmp_path
        assert_png(path)


def test_regression_plots_with_two_targets(tmp_path, regression, captured):
    _, y, pred, std = regression
    y2, pred2, std2 = (
        np.stack([y, 2 * y], 1),
        np.stack([pred, 2 * pred], 1),
        np.stack([std, std], 1),
    )
    assert_png(plots.predicted_vs_actual(y2, pred2, tmp_path, target_names=["a", "b"]))
    assert_png(plots.intervals_sorted(y2, pred2, std2, tmp_path))
    assert len(captured["predicted_vs_actual.png"].axes) == 2
    assert captured["predicted_vs_actual.png"].axes[1].get_title().startswith("b:")


def test_classification_plots_binary_and_multiclass(tmp_path):
    rng = np.random.default_rng(1)
    probability = rng.uniform(size=200)
    y = (rng.uniform(size=200) < probability).astype(int)
    binary = tmp_path / "binary"
    for path in (
        plots.roc_curve(y, probability, binary, class_names=["no", "yes"]),
        plots.pr_curve(y, probability, binary),
        plots.reliability_diagram(y, probability, binary),
        plots.confusion_matrix([[50, 10], [5, 35]], ["no", "yes"], binary),
    ):
        assert_png(path)
    labels = rng.integers(0, 3, size=200)  # class 3 never occurs: its curves are undefined
    probabilities = rng.dirichlet(np.ones(4), size=200)
    names = ["a", "b", "c", "never"]
    multi = tmp_path / "multi"
    for path in (
        plots.roc_curve(labels, probabilities, multi, class_names=names),
        plots.pr_curve(labels, probabilities, multi, class_names=names),
        plots.reliability_diagram(labels, probabilities, multi),
        plots.confusion_matrix(np.diag([5, 6, 7, 0]), names, multi),
    ):
        assert_png(path)
    assert sorted(p.name for p in multi.iterdir()) == [
        "confusion_matrix.png",
        "pr_curve.png",
        "reliability_diagram.png",
        "roc_curve.png",
    ]


def test_roc_of_a_single_class_split_does_not_fail(tmp_path):
    assert_png(plots.roc_curve(np.ones(20, dtype=int), np.linspace(0, 1, 20), tmp_path))
    assert_png(plots.pr_curve(np.zeros(20, dtype=int), np.linspace(0, 1, 20), tmp_path))


def test_sweep_plots_numeric_log_scale_and_categorical(tmp_path, captured):
    trials = pd.DataFrame(
        {
            "trial_id": [f"{i:02d}" for i in range(8)],
            "status": ["completed"] * 7 + ["failed"],
            "lr": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 3e-3, 3e-4, 1e-3],
            "units": [16, 32, 64, 16, 32, 64, 16, 32],
            "activation": ["relu", "gelu", "relu", "tanh", "gelu", "relu", "tanh", "relu"],
            "model/odd name": [True, False, True, False, True, False, True, False],
            "objective": [0.9, 0.5, 0.3, 0.4, 0.8, 0.25, 0.45, np.nan],
        }
    )
    paths = plots.sweep_plots(
        trials,
        "objective",
        "min",
        ["lr", "units", "activation", "model/odd name", "gone"],
        tmp_path,
    )
    assert [p.name for p in paths] == [
        "objective_per_trial.png",
        "best_so_far.png",
        "objective_vs_lr.png",
        "objective_vs_units.png",
        "objective_vs_activation.png",
        "objective_vs_model_odd_name.png",
    ]
    for path in paths:
        assert_png(path)
    assert captured["objective_vs_lr.png"].axes[0].get_xscale() == "log"
    assert captured["objective_vs_units.png"].axes[0].get_xscale() == "linear"
    categories = [
        t.get_text() for t in captured["objective_vs_activation.png"].axes[0].get_xticklabels()
    ]
    assert categories == ["gelu", "relu", "tanh"]
    # the running best of a minimised objective never goes up
    step = [
        line
        for line in captured["best_so_far.png"].axes[0].lines
        if line.get_label() == "best so far"
    ]
    assert np.all(np.diff(step[0].get_ydata()) <= 0)


def test_sweep_plots_maximise_and_no_finished_trial(tmp_path, captured):
    trials = pd.DataFrame(
        {"trial_id": ["0", "1", "2"], "objective": [0.6, 0.9, 0.7], "x": [1, 2, 3]}
    )
    plots.sweep_plots(trials, "objective", "max", ["x"], tmp_path)
    step = [
        line
        for line in captured["best_so_far.png"].axes[0].lines
        if line.get_label() == "best so far"
    ]
    assert list(step[0].get_ydata()) == [0.6, 0.9, 0.9]
    empty = trials.assign(objective=np.nan)
    for path in plots.sweep_plots(empty, "objective", "max", ["x"], tmp_path / "empty"):
        assert_png(path)
    with pytest.raises(ValueError):
        plots.sweep_plots(trials, "objective", "lowest", [], tmp_path)


def test_comparison_curves(tmp_path):
    history = pd.DataFrame({"epoch": range(5), "val_loss": [1.0, 0.8, 0.7, 0.75, 0.8]})
    out = plots.comparison_curves(
        {
            "a": history,
            "b": history.assign(val_loss=history.val_loss * 1.1),
            "c": history[["epoch"]],
        },
        tmp_path / "sub" / "compare.png",
    )
    assert out == tmp_path / "sub" / "compare.png"
    assert_png(out)
    assert_png(plots.comparison_curves({}, tmp_path / "none.png"))


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path, regression):
    _, y, pred, _ = regression
    for _ in range(2):
        plots.residuals(y, pred, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["residuals.png"]


def test_evaluation_modules_import_neither_tensorflow_nor_pyplot():
    code = (
        "import sys, toolkit.evaluation.metrics, toolkit.evaluation.plots, "
        "toolkit.evaluation.report\n"
        "bad = [m for m in ('tensorflow', 'keras', 'matplotlib.pyplot') if m in sys.modules]\n"
        "print(bad)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == "[]"
