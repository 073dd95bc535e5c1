"""The callback list for one run, fresh each time, from the ``callbacks:`` section."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from callbacks import (
    ConfusionMatrixImage,
    EpochCSVLogger,
    EpochTensorBoard,
    GradientNormMonitor,
    InputImages,
    LearningCurvePlot,
    LearningRateLogger,
    ThroughputLogger,
    UncertaintyMonitor,
)
from toolkit.config.schema import ExperimentConfig, SampledMonitorConfig
from toolkit.runs import RunDirectory
from toolkit.training.callback_clock import CallbackClock
from toolkit.training.member_selection import MemberSelection
from toolkit.training.run_checkpoint import ResumableEarlyStopping, RunCheckpoint


@dataclass
class RunCallbacks:
    callbacks: list[keras.callbacks.Callback]
    checkpoint: RunCheckpoint
    early_stopping: ResumableEarlyStopping | None
    # Its final drawing outlives fit(); the run joins it with the other plots.
    learning_curves: LearningCurvePlot | None = None


def _wanted(monitor: SampledMonitorConfig, auto: bool) -> bool:
    return monitor.enabled is True or (monitor.enabled == "auto" and auto)


def _selects_members(config: ExperimentConfig) -> bool:
    ensemble = config.model.ensemble
    early_stopping = config.callbacks.early_stopping
    return (
        ensemble is not None
        and ensemble.best_epoch == "per_member"
        and early_stopping is not None
        and early_stopping.restore_best_weights
    )


def build_callbacks(
    config: ExperimentConfig,
    run: RunDirectory,
    *,
    validation: tuple[dict[str, np.ndarray], np.ndarray],
    class_names: list[str],
    train_size: int,
    resuming: bool,
    initial_history: dict[str, list[float]] | None = None,
    input_images: tuple[np.ndarray, list[float]] | None = None,
) -> RunCallbacks:
    """Keras' callbacks and the toolkit's, ordered so each sees settled state.

    Order: the learning-rate logger first, so an epoch's row holds the rate that epoch
    trained with (as Keras' ReduceLROnPlateau logs it, before any reduction); then whatever
    stops training or changes the rate; then the monitors that add to the epoch logs, then
    TensorBoard and the CSV history that write those logs, and the checkpoint last.

    ``input_images``: a few training images as the model gets them and their value range,
    shown in TensorBoard when ``callbacks.input_images`` says so.
    """
    section = config.callbacks
    import tensorflow as tf

    # Callbacks call the model directly: string columns must be tensors, not object arrays.
    validation = ({k: tf.constant(v) for k, v in validation[0].items()}, validation[1])
    log_dir = run.tensorboard if section.tensorboard is not None else None
    # Brackets the others, so history.csv says what share of each epoch they take.
    clock = CallbackClock()
    items: list[keras.callbacks.Callback] = [clock.first]
    if section.lr_logger:
        items.append(LearningRateLogger())
    if section.reduce_lr_on_plateau is not None:
        plateau = section.reduce_lr_on_plateau
        items.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=plateau.monitor,
                factor=plateau.factor,
                patience=plateau.patience,
                min_lr=plateau.min_lr,
                cooldown=plateau.cooldown,
                mode=plateau.mode,
            )
        )
    if section.terminate_on_nan:
        items.append(keras.callbacks.TerminateOnNaN())
    early_stopping = None
    if section.early_stopping is not None:
        es = section.early_stopping
        early_stopping = ResumableEarlyStopping(
            monitor=es.monitor,
            patience=es.patience,
            min_delta=es.min_delta,
            mode=es.mode,
            restore_best_weights=es.restore_best_weights,
            start_from_epoch=es.start_from_epoch,
        )
        items.append(early_stopping)
    member_selection = None
    if _selects_members(config):
        member_selection = MemberSelection(
            config.model.ensemble.members,
            start_from_epoch=section.early_stopping.start_from_epoch,
        )
        items.append(member_selection)
    # The monitors that add to the logs have no TensorBoard writer of their own: Keras'
    # TensorBoard below writes every logged value once, as train/epoch_<name>.
    if section.throughput:
        items.append(ThroughputLogger(samples_per_epoch=train_size))
    if _wanted(section.uncertainty_monitor, auto=config.model.is_stochastic):
        sample = {k: v[:256] for k, v in validation[0].items()}
        items.append(
            UncertaintyMonitor(
                sample, samples=10, every_n_epochs=section.uncertainty_monitor.every_n_epochs
            )
        )
    # An ensemble's output stacks its members, (rows, members, classes): not one confusion.
    classifier = config.model.task != "regression" and config.model.ensemble is None
    if log_dir is not None and _wanted(section.confusion_matrix, auto=classifier) and classifier:
        items.append(
            ConfusionMatrixImage(
                validation[0],
                validation[1][:, 0],
                class_names,
                log_dir,
                every_n_epochs=section.confusion_matrix.every_n_epochs,
            )
        )
    # A resumed run keeps the grid its first start wrote at step 1.
    if log_dir is not None and input_images is not None and section.input_images and not resuming:
        items.append(InputImages(input_images[0], log_dir, value_range=input_images[1]))
    if section.gradient_monitor is not None:
        sample = ({k: v[:128] for k, v in validation[0].items()}, validation[1][:128])
        monitor = section.gradient_monitor
        items.append(
            GradientNormMonitor(
                sample,
                log_dir=log_dir,
                every_n_epochs=monitor.every_n_epochs,
                vanishing_threshold=monitor.vanishing_threshold,
                exploding_threshold=monitor.exploding_threshold,
                # Each finding is logged; warned too, the CLI printed every one twice, the
                # second time as a RuntimeWarning with a file path and a line of source.
                warn=False,
            )
        )
    if log_dir is not None:
        tb = section.tensorboard
        items.append(
            EpochTensorBoard(
                log_dir=str(log_dir),
                histogram_freq=tb.histogram_freq,
                write_graph=tb.write_graph and not resuming,  # the first start wrote it
                update_freq=tb.update_freq,
                profile_batch=tb.profile_batch,
            )
        )
    items.append(clock.report)
    if section.csv_logger:
        items.append(EpochCSVLogger(str(run.history), append=resuming))
    learning_curves = None
    if section.learning_curve and config.evaluation.plots:
        run.plots.mkdir(exist_ok=True)
        learning_curves = LearningCurvePlot(
            run.plots / "learning_curves.png",
            initial_history=initial_history,
            min_interval_seconds=5.0,
            background=True,
            wait_at_train_end=False,
            draw_at_train_end=False,  # _finish draws the final curves with the run's plots
        )
        items.append(learning_curves)
    checkpoint_section = section.checkpoint
    checkpoint = RunCheckpoint(
        run.checkpoints,
        monitor=checkpoint_section.monitor if checkpoint_section else "val_loss",
        mode=checkpoint_section.mode if checkpoint_section else "auto",
        save_best=checkpoint_section is not None,
        save_last=section.backup_and_restore
        and (checkpoint_section is None or checkpoint_section.save_last),
        early_stopping=early_stopping,
        member_selection=member_selection,
        background=True,
    )
    # Last: it records the early-stopping counters and weights of the finished epoch.
    items += [checkpoint, clock.last]
    return RunCallbacks(items, checkpoint, early_stopping, learning_curves)
