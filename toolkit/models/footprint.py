"""The memory a model's dense weights need in training, estimated from the config and the
feature spec alone, so a model that cannot fit is refused before a run directory exists.

Building it was the only test, and a failed one came as TensorFlow's ResourceExhaustedError
traceback ten seconds later, with a run directory left behind. The estimate is a lower
bound: only the dense blocks' and the head's kernels are counted (no biases, batch norm,
residual projections or convolutions, an unknown width taken as 1), as float32 with the
optimizer's full-size slots, and a model is refused only when that exceeds the memory
available. A body whose size is not estimated (``conv``, ``backbone``) can still run out
while it is built; training reports that as one line too.
"""

from __future__ import annotations

import math

from toolkit.config.schema import ExperimentConfig, ModelConfig, OptimizerConfig
from toolkit.data.memory import available_memory, readable_bytes
from toolkit.data.preprocessing import FeatureSpec
from toolkit.errors import ConfigError
from toolkit.text import counted

# Keras keeps weights in float32, under mixed precision too.
WEIGHT_BYTES = 4

# Full-size slots (one value per weight) each Keras optimizer keeps always; see
# ``optimizer_slots`` for those its arguments add. Adafactor's factored moments (a row and a
# column per kernel) are not counted.
_SLOTS = {
    "sgd": 0,
    "rmsprop": 1,
    "adam": 2,
    "adamw": 2,
    "adagrad": 1,
    "adadelta": 2,
    "adamax": 2,
    "adafactor": 1,
    "nadam": 2,
    "ftrl": 2,
    "lion": 1,
    "lamb": 2,
}


def optimizer_slots(optimizer: OptimizerConfig) -> int:
    """Values the optimizer keeps per trainable weight: its moments, and an average
    (``use_ema``) or accumulated gradient (``gradient_accumulation_steps``) when asked."""
    arguments = optimizer.arguments
    slots = _SLOTS.get(optimizer.name, 0)
    if optimizer.name in ("sgd", "rmsprop") and arguments.get("momentum"):
        slots += 1
    if optimizer.name == "rmsprop" and arguments.get("centered"):
        slots += 1
    if optimizer.name in ("adam", "adamw") and arguments.get("amsgrad"):
        slots += 1
    if arguments.get("use_ema"):
        slots += 1
    if arguments.get("gradient_accumulation_steps"):
        slots += 1
    return slots


def dense_input_width(model: ModelConfig, spec: FeatureSpec) -> int:
    """The width the first dense block reads, or a lower bound of it: the table's columns
    (one-hot categories with their out-of-vocabulary bucket), plus a flattened image or
    signal's values, or 1 for what a convolutional body or backbone hands on."""
    width = len(spec.numeric) + sum(len(f.vocabulary) + 1 for f in spec.categorical)
    array = spec.image or spec.signal
    if array is not None:
        flattened = model.body == "dense" and model.flatten
        width += math.prod(array.shape) if flattened else 1
    return width


def dense_weights(model: ModelConfig, spec: FeatureSpec) -> int:
    """A lower bound on the model's weights: the kernels of its dense blocks and head, in
    every ensemble member, twice for variational layers (a mean and a scale per weight)."""
    outputs = len(spec.target.classes) if spec.target.task == "multiclass" else 1
    widths = [dense_input_width(model, spec), *(block.units for block in model.hidden), outputs]
    kernels = [widths[index] * widths[index + 1] for index in range(len(widths) - 1)]
    hidden, head = sum(kernels[:-1]), kernels[-1]
    if model.bayesian is not None:
        head *= 2
        if model.bayesian.layers == "all":
            hidden *= 2
    members = model.ensemble.members if model.ensemble is not None else 1
    return (hidden + head) * members


def check_model_fits(
    config: ExperimentConfig, spec: FeatureSpec, *, resuming: bool = False
) -> None:
    """A ConfigError when the model's weights and their optimizer slots (a lower bound, see
    the module) need more memory than this machine has available. On a GPU, whose memory
    cannot be read before TensorFlow takes it, nothing is refused. ``resuming``: the run's
    config cannot change, so the remedy is another machine or a new run."""
    model = config.model
    weights = dense_weights(model, spec)
    # Frozen blocks (model.freeze) have no slots: counted without any, as a lower bound.
    slots = optimizer_slots(config.training.optimizer) if not model.freeze else 0
    needed = weights * (1 + slots) * WEIGHT_BYTES
    available = available_memory()
    if needed <= available or _may_train_on_gpu(config):
        return
    units = [block.units for block in model.hidden]
    members = model.ensemble.members if model.ensemble is not None else 1
    where = f" in {members} ensemble members" if members > 1 else ""
    optimizer = config.training.optimizer.name
    copies = (
        f", x {1 + slots} with the {counted(slots, 'slot')} {optimizer} keeps per weight,"
        if slots
        else ""
    )
    sizes = "model.hidden or model.ensemble.members" if members > 1 else "model.hidden"
    remedy = (
        f"resume it on a machine with more memory, or start a new run with a lower {sizes}"
        if resuming
        else f"lower {sizes}"
    )
    raise ConfigError(
        f"model.hidden {units}{where}: at least {weights:,} weights{copies} need "
        f"{readable_bytes(needed)} as float32; this machine has {readable_bytes(available)} "
        f"available; {remedy}"
    )


def _may_train_on_gpu(config: ExperimentConfig) -> bool:
    """Whether the model may live in a GPU's memory rather than the machine's."""
    if config.runtime.device == "cpu":
        return False
    if config.runtime.device == "gpu":
        return True
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))
