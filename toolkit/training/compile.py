"""Optimizer, learning-rate schedule, loss and metrics from the config, via Keras' own classes."""

from __future__ import annotations

import keras

from toolkit.config import names
from toolkit.config.schema import ExperimentConfig, TrainingConfig
from toolkit.data.preprocessing import FeatureSpec
from toolkit.models.ensemble_loss import EnsembleLoss
from toolkit.models.ensemble_metric import EnsembleMetric
from toolkit.models.location_metric import LocationMetric
from toolkit.models.member_loss import MemberLoss
from toolkit.models.standardized_loss import StandardizedLoss
from toolkit.registry import lookup
from toolkit.training.warmup import WarmupSchedule

# Losses of location: invariant in shape under standardisation, so trained on the unit scale.
_STANDARDIZABLE = {
    "mse",
    "mean_squared_error",
    "mae",
    "mean_absolute_error",
    "huber",
    "log_cosh",
    "gaussian_nll",
}


# Learning-rate schedules by name. Each schema section (toolkit.config.schema, e.g.
# ExponentialSchedule) holds its class's arguments under Keras' own names, plus the toolkit's
# warmup_steps; "constant" is the optimizer's learning rate itself.
SCHEDULES: dict[str, type[keras.optimizers.schedules.LearningRateSchedule]] = {
    "exponential": keras.optimizers.schedules.ExponentialDecay,
    "inverse_time": keras.optimizers.schedules.InverseTimeDecay,
    "piecewise": keras.optimizers.schedules.PiecewiseConstantDecay,
    "polynomial": keras.optimizers.schedules.PolynomialDecay,
    "cosine": keras.optimizers.schedules.CosineDecay,
    "cosine_restarts": keras.optimizers.schedules.CosineDecayRestarts,
}
# Its values are the rates; every other schedule starts from optimizer.learning_rate.
_OWN_RATES = {"piecewise"}


def build_schedule(training: TrainingConfig, *, total_steps: int):
    """A float or a ``LearningRateSchedule`` for the optimizer."""
    rate = training.optimizer.learning_rate
    spec = training.lr_schedule
    schedule = rate
    if spec is not None and spec.name != "constant":
        arguments = spec.model_dump(exclude={"name", "warmup_steps"})
        if arguments.get("decay_steps") == "auto":
            arguments["decay_steps"] = max(1, total_steps - spec.warmup_steps)
        if spec.name not in _OWN_RATES:
            arguments["initial_learning_rate"] = rate
        schedule = lookup(SCHEDULES, spec.name, kind="learning-rate schedule")(**arguments)
    if spec is not None and spec.warmup_steps > 0:
        if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            schedule = keras.optimizers.schedules.PolynomialDecay(rate, 1, rate)  # constant
        schedule = WarmupSchedule(schedule, spec.warmup_steps)
    return schedule


def build_optimizer(training: TrainingConfig, *, total_steps: int) -> keras.optimizers.Optimizer:
    class_name, _ = names.OPTIMIZERS[training.optimizer.name]
    optimizer_class = getattr(keras.optimizers, class_name)
    return optimizer_class(
        learning_rate=build_schedule(training, total_steps=total_steps),
        **training.optimizer.arguments,
    )


def build_loss(config: ExperimentConfig, spec: FeatureSpec) -> keras.losses.Loss:
    """Classifiers output logits, so their losses are built with ``from_logits=True``; an
    ensemble trains on the average of its members' losses."""
    loss = _single_network_loss(config, spec)
    return loss if config.model.ensemble is None else EnsembleLoss(loss)


def _single_network_loss(config: ExperimentConfig, spec: FeatureSpec) -> keras.losses.Loss:
    name = config.model.resolved_loss
    task = config.model.task
    if task == "regression":
        if name in _STANDARDIZABLE:
            return StandardizedLoss(name, spec.target.mean, spec.target.std)
        return keras.losses.get(name)
    if name == "binary_crossentropy":
        return keras.losses.BinaryCrossentropy(from_logits=True)
    if name == "binary_focal_crossentropy":
        return keras.losses.BinaryFocalCrossentropy(from_logits=True)
    if name in ("hinge", "squared_hinge"):
        return keras.losses.get(name)  # a function: Keras wraps it; an ensemble needs a Loss
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _metric(name: str, task: str) -> keras.metrics.Metric:
    metrics = keras.metrics
    if task == "regression":
        return {
            "mae": lambda: metrics.MeanAbsoluteError(name="mae"),
            "mse": lambda: metrics.MeanSquaredError(name="mse"),
            "rmse": lambda: metrics.RootMeanSquaredError(name="rmse"),
            "mape": lambda: metrics.MeanAbsolutePercentageError(name="mape"),
            "r2": lambda: metrics.R2Score(name="r2"),
        }[name]()
    if task == "binary":
        # Outputs are logits: thresholds sit at 0, AUCs take from_logits.
        return {
            "accuracy": lambda: metrics.BinaryAccuracy(name="accuracy", threshold=0.0),
            "auc": lambda: metrics.AUC(name="auc", from_logits=True),
            "pr_auc": lambda: metrics.AUC(name="pr_auc", curve="PR", from_logits=True),
            "precision": lambda: metrics.Precision(name="precision", thresholds=0.0),
            "recall": lambda: metrics.Recall(name="recall", thresholds=0.0),
        }[name]()
    return {
        "accuracy": lambda: metrics.SparseCategoricalAccuracy(name="accuracy"),
        "top3_accuracy": lambda: metrics.SparseTopKCategoricalAccuracy(k=3, name="top3_accuracy"),
        "top5_accuracy": lambda: metrics.SparseTopKCategoricalAccuracy(k=5, name="top5_accuracy"),
    }[name]()


def build_metrics(config: ExperimentConfig) -> list[keras.metrics.Metric]:
    task = config.model.task
    built = [_metric(name, task) for name in config.model.resolved_metrics]
    if config.model.ensemble is not None:
        combine = "location" if task == "regression" else task
        return [EnsembleMetric(metric, combine=combine, units=1) for metric in built]
    if config.model.gaussian_output:
        built = [LocationMetric(metric, units=1) for metric in built]
    return built


# Enough steps per execution that Python's per-call work vanishes against the steps (on a
# small MLP, 400 steps ran 1.2x faster than 25), few enough that progress bars and batch-level
# callbacks still see an epoch of a large model in parts.
AUTO_STEPS_PER_EXECUTION = 512
# Below this, an execution size that divides the epoch costs more in calls than starting an
# input iterator per epoch (see toolkit.data.pipeline) costs.
MIN_DIVIDING_STEPS_PER_EXECUTION = 64


def execution_steps(requested: int | str, steps_per_epoch: int) -> int:
    """Steps per compiled execution, never more than an epoch.

    ``auto``: the whole epoch up to ``AUTO_STEPS_PER_EXECUTION`` steps; for longer epochs
    the largest divisor of the epoch up to that, or the cap itself when the epoch has no
    divisor of a useful size (its input pipeline then restarts every epoch).
    """
    if requested != "auto":
        return max(1, min(int(requested), steps_per_epoch))
    if steps_per_epoch <= AUTO_STEPS_PER_EXECUTION:
        return steps_per_epoch
    divisor = max(d for d in range(1, AUTO_STEPS_PER_EXECUTION + 1) if steps_per_epoch % d == 0)
    return divisor if divisor >= MIN_DIVIDING_STEPS_PER_EXECUTION else AUTO_STEPS_PER_EXECUTION


# XLA on a CPU: each compiled step pays a fixed launch cost but fuses the elementwise work
# (bias, activation, optimizer update) around the matmuls. Measured in
# benchmarks/throughput_components.py: the 512->1024->1024->10 MLP at batch 256 (4e8
# parameter-samples per step) ran 1.24x faster with XLA; the 10->64->64->1 MLP at batch 32
# (1.6e5) 0.6x as fast. Between the two, the switch sits well on the large side.
XLA_ON_CPU_MIN_PARAMETER_SAMPLES = 1e8


def resolve_jit_compile(model: keras.Model, requested: bool | str, batch_size: int) -> bool:
    """``auto``: XLA on accelerators (Keras' own rule), and on a CPU for models large enough
    to gain from it; never for layers XLA cannot compile (string lookups)."""
    if requested != "auto":
        return bool(requested)
    import tensorflow as tf

    if not _supports_jit(model):
        return False
    if any(device.device_type != "CPU" for device in tf.config.list_physical_devices()):
        return True
    return model.count_params() * batch_size >= XLA_ON_CPU_MIN_PARAMETER_SAMPLES


def _supports_jit(layer) -> bool:
    if not getattr(layer, "supports_jit", True):
        return False
    return all(_supports_jit(inner) for inner in getattr(layer, "layers", ()))


def compile_model(
    model: keras.Model, config: ExperimentConfig, spec: FeatureSpec, *, steps_per_epoch: int
) -> None:
    training = config.training
    optimizer = build_optimizer(training, total_steps=steps_per_epoch * training.epochs)
    if model.dtype_policy.name == "mixed_float16":
        # Explicit, so model.keras reloads it and its loss-scale state under any global policy.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    loss = build_loss(config, spec)
    metrics = build_metrics(config)
    if isinstance(loss, EnsembleLoss):
        # Each member's own loss, logged as member<i>_loss and val_member<i>_loss: the
        # member selection callback keeps each member at its own best validation epoch.
        metrics += [MemberLoss(loss.base, index) for index in range(config.model.ensemble.members)]
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=metrics,
        steps_per_execution=execution_steps(training.steps_per_execution, steps_per_epoch),
        jit_compile=resolve_jit_compile(model, training.jit_compile, training.batch_size),
    )
    # Built now rather than inside the first traced train step: a tf.function whose first
    # trace creates variables is traced a second time, which doubled the start-up of
    # bnn.yaml's fit (2.6 s).
    model.optimizer.build(model.trainable_variables)
