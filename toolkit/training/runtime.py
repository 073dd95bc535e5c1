"""Seeds, determinism, precision, devices and the distribution strategy."""

from __future__ import annotations

import os
import random

import numpy as np

from toolkit.config.schema import RuntimeConfig


def configure(runtime: RuntimeConfig, seed: int) -> None:
    """Seed Python, NumPy and TensorFlow; set precision, devices and determinism.

    Must run before any model or dataset is built.
    """
    import keras
    import tensorflow as tf

    if runtime.device == "cpu":
        tf.config.set_visible_devices([], "GPU")
    elif runtime.device == "gpu" and not tf.config.list_physical_devices("GPU"):
        from toolkit.errors import ToolkitError

        raise ToolkitError("runtime.device is 'gpu' but no GPU is visible; use 'auto' or 'cpu'")
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if runtime.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(runtime.precision)


def make_strategy(runtime: RuntimeConfig):
    """The ``tf.distribute`` strategy for ``runtime.distribute``.

    ``none`` is TensorFlow's default strategy, which uses one GPU when present.
    """
    import tensorflow as tf

    if runtime.distribute == "mirrored":
        return tf.distribute.MirroredStrategy()
    if runtime.distribute == "multi_worker":
        from toolkit.training.multi_worker import make_multi_worker_strategy

        return make_multi_worker_strategy()
    return tf.distribute.get_strategy()


def device_names() -> list[str]:
    import tensorflow as tf

    return [
        device.name
        for device in tf.config.list_logical_devices()
        if device.device_type != "TPU_SYSTEM"
    ]
