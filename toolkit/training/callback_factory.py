"""The callback list for one run, fresh each time, from the ``callbacks:`` section."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from callbacks import (
    ConfusionMatrixImage,
    GradientNormMonitor,
    LearningCurvePlot,
    LearningRateLogger,
    ThroughputLogger,
    UncertaintyMonitor,
)
from toolkit.config.schema import ExperimentConfig
from toolkit.runs import RunDirectory
from toolkit.training.run_checkpoint import ResumableEarlyStopping, RunCheckpoint


@dataclass
class RunCallbacks:
    callbacks: list[keras.callbacks.Callback]
    checkpoint: RunCheckpoint
    early_stopping: ResumableEarlyStopping | None


def build_callbacks(
    config: ExperimentConfig,
    run: RunDirectory,
    *,
    validation: tuple[dict[str, np.ndarray], np.ndarray],
    class_names: list[str],
    train_size: int,
    resuming: bool,
    initial_history: dict[str, list[float]] | None = None,
) -> RunCallbacks:
    """Keras' callbacks and the toolkit's, ordered so the checkpoint sees settled state."""
    section = config.callbacks
    import tensorflow as tf

    # Callbacks call the model directly: string columns must be tensors, not object arrays.
    validation = ({k: tf.constant(v) for k, v in validation[0].items()}, validation[1])
    log_dir = run.tensorboard if section.tensorboard is not None else None
    items: list[keras.callbacks.Callback] = []
    if section.lr_logger:
        items.append(LearningRateLogger(log_dir=log_dir))
    if section.throughput:
        items.append(ThroughputLogger(samples_per_epoch=train_size, log_dir=log_dir))
    stochastic = config.model.is_stochastic
    if section.uncertainty_monitor is True or (
        section.uncertainty_monitor == "auto" and stochastic
    ):
        sample = {k: v[:256] for k, v in validation[0].items()}
        items.append(UncertaintyMonitor(sample, samples=10, log_dir=log_dir, every_n_epochs=10))
    classifier = config.model.task != "regression"
    wants_confusion = section.confusion_matrix is True or section.confusion_matrix == "auto"
    if log_dir is not None and classifier and wants_confusion:
        items.append(
            ConfusionMatrixImage(
                validation[0], validation[1][:, 0], class_names, log_dir, every_n_epochs=10
            )
        )
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
            )
        )
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
    if log_dir is not None:
        tb = section.tensorboard
        items.append(
            keras.callbacks.TensorBoard(
                log_dir=str(log_dir),
                histogram_freq=tb.histogram_freq,
                write_graph=tb.write_graph,
                update_freq=tb.update_freq,
                profile_batch=tb.profile_batch,
            )
        )
    if section.csv_logger:
        items.append(keras.callbacks.CSVLogger(str(run.history), append=resuming))
    if section.learning_curve and config.evaluation.plots:
        run.plots.mkdir(exist_ok=True)
        items.append(
            LearningCurvePlot(
                run.plots / "learning_curves.png",
                initial_history=initial_history,
                min_interval_seconds=5.0,
            )
        )
    checkpoint_section = section.checkpoint
    checkpoint = RunCheckpoint(
        run.checkpoints,
        monitor=checkpoint_section.monitor if checkpoint_section else "val_loss",
        mode=checkpoint_section.mode if checkpoint_section else "auto",
        save_best=checkpoint_section is not None,
        save_last=section.backup_and_restore
        and (checkpoint_section is None or checkpoint_section.save_last),
        early_stopping=early_stopping,
    )
    # Last: it records the early-stopping counters and weights of the finished epoch.
    items.append(checkpoint)
    return RunCallbacks(items, checkpoint, early_stopping)
