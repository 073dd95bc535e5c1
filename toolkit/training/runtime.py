"""Seeds, determinism, precision, devices and the distribution strategy.

``TOOLKIT_CPU_DEVICES=N`` (a testing and debugging aid) splits the CPU into N logical devices
before TensorFlow starts, so ``distribute: mirrored`` can be tried without GPUs. It must be
set before the process first touches a TensorFlow device.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from typing import Any

import numpy as np

from toolkit.config.schema import RuntimeConfig
from toolkit.errors import ToolkitError

CPU_DEVICES_ENV = "TOOLKIT_CPU_DEVICES"


def split_cpu(count: int) -> None:
    """Make ``count`` logical CPU devices; must run before TensorFlow initialises its devices."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == count:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError:
        raise ToolkitError(
            f"{CPU_DEVICES_ENV}={count} came too late: TensorFlow had already started"
        ) from None


def _cpu_devices_from_env() -> int | None:
    value = os.environ.get(CPU_DEVICES_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ToolkitError(f"{CPU_DEVICES_ENV} must be a positive integer, got {value!r}")
    return int(value)


def check_runtime(runtime: RuntimeConfig) -> None:
    """The mistakes ``configure`` would find, checked before a run directory exists: a bad
    TOOLKIT_CPU_DEVICES or TOOLKIT_CLUSTER_WAIT, a GPU asked for where there is none."""
    _cpu_devices_from_env()
    if runtime.distribute == "multi_worker":
        from toolkit.training.multi_worker import cluster_wait

        cluster_wait()  # a bad TOOLKIT_CLUSTER_WAIT
    if runtime.device == "gpu":
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            raise ToolkitError(NO_GPU)


NO_GPU = "runtime.device is 'gpu' but no GPU is visible; use 'auto' or 'cpu'"


@contextlib.contextmanager
def global_dtype_policy_kept() -> Iterator[None]:
    """The caller's global Keras dtype policy back once training is done. Training sets the
    config's (``runtime.precision``) for the models it builds; in a notebook, a mixed-precision
    run left every later Keras layer of the session computing in float16."""
    import keras

    policy = keras.config.dtype_policy()
    try:
        yield
    finally:
        keras.config.set_dtype_policy(policy)


@contextlib.contextmanager
def global_random_state_kept() -> Iterator[None]:
    """The caller's Python and NumPy global random states (and ``PYTHONHASHSEED``) back once
    training is done. Training seeds them with the config's seed (``configure``); in a
    notebook, every ``np.random`` or ``random`` draw after ``toolkit.train`` then came from
    that seed, not the session's: a loop of train-then-draw drew the same numbers each time.
    TensorFlow's global seed stays the run's (no public call reads the one it replaced)."""
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    hash_seed = os.environ.get("PYTHONHASHSEED")
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        if hash_seed is None:
            os.environ.pop("PYTHONHASHSEED", None)
        else:
            os.environ["PYTHONHASHSEED"] = hash_seed


def configure(runtime: RuntimeConfig, seed: int) -> None:
    """Seed Python, NumPy and TensorFlow; set precision, devices and determinism.

    Must run before any model or dataset is built.
    """
    import keras
    import tensorflow as tf

    cpu_devices = _cpu_devices_from_env()
    if cpu_devices is not None:
        split_cpu(cpu_devices)
    if runtime.device == "cpu":
        tf.config.set_visible_devices([], "GPU")
    elif runtime.device == "gpu" and not tf.config.list_physical_devices("GPU"):
        raise ToolkitError(NO_GPU)
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if runtime.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(runtime.precision)


def make_strategy(runtime: RuntimeConfig):
    """The ``tf.distribute`` strategy for ``runtime.distribute``.

    ``none`` is TensorFlow's default strategy, which uses one GPU when present. ``mirrored``
    uses every visible GPU, or every logical CPU when there is no GPU and the CPU is split.
    Both distributed strategies need the Keras workaround of ``multi_worker``.
    """
    import tensorflow as tf

    from toolkit.training.multi_worker import apply_keras_workaround, make_multi_worker_strategy

    if runtime.distribute == "mirrored":
        apply_keras_workaround()
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        cpus = tf.config.list_logical_devices("CPU")
        if len(cpus) > 1:
            return tf.distribute.MirroredStrategy(devices=[device.name for device in cpus])
        return tf.distribute.MirroredStrategy()
    if runtime.distribute == "multi_worker":
        return make_multi_worker_strategy()
    return tf.distribute.get_strategy()


def strategy_info(strategy) -> dict[str, Any]:
    """What run.json records about the strategy: its name, replicas and, if any, the cluster."""
    import tensorflow as tf

    names = {  # the public names (MultiWorkerMirroredStrategy's class is another)
        tf.distribute.MultiWorkerMirroredStrategy: "MultiWorkerMirroredStrategy",
        tf.distribute.MirroredStrategy: "MirroredStrategy",
    }
    name = next((n for kind, n in names.items() if isinstance(strategy, kind)), "default")
    info: dict[str, Any] = {
        "strategy": name,
        "replicas": int(strategy.num_replicas_in_sync),
    }
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is not None and resolver.task_type is not None:
        spec = resolver.cluster_spec().as_dict()
        info["workers"] = sum(len(tasks) for tasks in spec.values())
        info["worker_task"] = {"type": resolver.task_type, "index": int(resolver.task_id)}
    return info


def device_names() -> list[str]:
    import tensorflow as tf

    return [
        device.name
        for device in tf.config.list_logical_devices()
        if device.device_type != "TPU_SYSTEM"
    ]
