from __future__ import annotations

from pathlib import Path

import keras
import matplotlib.image
import numpy as np

from callbacks import LearningCurvePlot, LearningRateLogger

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _Snapshot(keras.callbacks.Callback):
    """Copies the bytes of a file at every epoch end."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.snapshots: list[bytes] = []

    def on_epoch_end(self, epoch, logs=None):
        self.snapshots.append(self.path.read_bytes())


def test_png_is_rewritten_every_epoch(tmp_path, regression_data, make_regressor):
    x, y = regression_data
    path = tmp_path / "plots" / "curves.png"
    plot = LearningCurvePlot(path)
    snapshot = _Snapshot(path)
    model = make_regressor(metrics=["mae"])
    history = model.fit(
        x,
        y,
        validation_split=0.25,
        epochs=3,
        batch_size=16,
        verbose=0,
        # The learning rate lands in the logs but is not a metric with a val_ twin.
        callbacks=[LearningRateLogger(), plot, snapshot],
    )

    assert len(snapshot.snapshots) == 3
    assert all(png.startswith(PNG_SIGNATURE) for png in snapshot.snapshots)
    assert len(set(snapshot.snapshots)) == 3
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    # Written via a temp file in the same directory, which must not be left behind.
    assert sorted(p.name for p in path.parent.iterdir()) == ["curves.png"]

    assert plot.plotted_metrics() == ["loss", "mae"]
    assert plot.best_epoch() == int(np.argmin(history.history["val_loss"]))
    assert [plot.history["loss"][e] for e in range(3)] == history.history["loss"]


def test_resumed_run_includes_initial_history(tmp_path, regression_data, make_regressor):
    x, y = regression_data
    path = tmp_path / "curves.png"
    earlier = {"loss": [9.0, 8.0, 7.0], "val_loss": [9.5, 1e-6, 7.5]}
    plot = LearningCurvePlot(path, metrics=["loss"], initial_history=earlier)
    model = make_regressor()
    model.fit(
        x,
        y,
        validation_split=0.25,
        initial_epoch=3,
        epochs=5,
        batch_size=16,
        verbose=0,
        callbacks=[plot],
    )

    assert sorted(plot.history["loss"]) == [0, 1, 2, 3, 4]
    assert [plot.history["loss"][e] for e in range(3)] == earlier["loss"]
    # The best val_loss is from before the resume.
    assert plot.best_epoch() == 1
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_without_validation_plots_every_logged_key(tmp_path, regression_data, make_regressor):
    x, y = regression_data
    plot = LearningCurvePlot(tmp_path / "curves.png")
    make_regressor(metrics=["mae"]).fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[plot])
    assert plot.plotted_metrics() == ["loss", "mae"]
    assert plot.best_epoch() is None
    assert (tmp_path / "curves.png").read_bytes().startswith(PNG_SIGNATURE)


def test_get_config_round_trips(tmp_path):
    plot = LearningCurvePlot(tmp_path / "a.png", metrics=["loss"], initial_history={"loss": [1.0]})
    clone = LearningCurvePlot(**plot.get_config())
    assert clone.get_config() == plot.get_config()
    assert clone.history == {"loss": {0: 1.0}}


def test_a_final_drawing_left_running_is_the_full_history_once_joined(
    tmp_path, regression_data, make_regressor
):
    """``wait_at_train_end=False``: fit returns while the last drawing runs; ``join()`` waits
    for it, and the file then shows every epoch, as a plot drawn in the loop does."""
    x, y = regression_data
    late = LearningCurvePlot(
        tmp_path / "late.png", min_interval_seconds=3600, background=True, wait_at_train_end=False
    )
    in_loop = LearningCurvePlot(tmp_path / "in_loop.png")
    make_regressor().fit(
        x, y, validation_split=0.25, epochs=4, batch_size=16, verbose=0, callbacks=[late, in_loop]
    )
    late.join()
    assert (tmp_path / "late.png").read_bytes() == (tmp_path / "in_loop.png").read_bytes()
    clone = LearningCurvePlot(**late.get_config())
    assert clone.get_config() == late.get_config() and clone.wait_at_train_end is False


def test_a_plot_whose_caller_draws_the_final_curves_draws_nothing_in_a_short_run(
    tmp_path, regression_data, make_regressor
):
    """``draw_at_train_end=False`` with an interval: a run shorter than the interval is not
    drawn (the toolkit draws its final curves itself); ``draw_final()`` then draws every epoch,
    the same picture a plot drawn in the loop ends with."""
    x, y = regression_data
    left = LearningCurvePlot(
        tmp_path / "left.png",
        min_interval_seconds=3600,
        background=True,
        wait_at_train_end=False,
        draw_at_train_end=False,
    )
    in_loop = LearningCurvePlot(tmp_path / "in_loop.png")
    make_regressor().fit(
        x, y, validation_split=0.25, epochs=4, batch_size=16, verbose=0, callbacks=[left, in_loop]
    )
    left.join()
    assert not (tmp_path / "left.png").exists()
    left.draw_final()
    left.join()
    assert (tmp_path / "left.png").read_bytes() == (tmp_path / "in_loop.png").read_bytes()
    assert LearningCurvePlot(**left.get_config()).draw_at_train_end is False


def test_an_ensembles_member_losses_get_no_live_panel_each(tmp_path):
    """member<i>_loss, one per ensemble member, are left to the run's final plot, which
    draws them in one panel: five members were five more panels here."""
    earlier = {
        "loss": [1.0, 0.8],
        "val_loss": [1.1, 0.9],
        "member0_loss": [1.0, 0.7],
        "val_member0_loss": [1.2, 0.8],
        "member12_loss": [1.0, 0.9],
        "val_member12_loss": [1.0, 1.0],
    }
    plot = LearningCurvePlot(tmp_path / "curves.png", initial_history=earlier)
    assert plot.plotted_metrics() == ["loss"]
