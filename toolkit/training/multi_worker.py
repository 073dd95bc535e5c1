"""``runtime.distribute: multi_worker`` and the Keras 3 workaround that makes ``fit`` work
under ``tf.distribute``.

keras-team/keras#20585 (and tensorflow/tensorflow#72388): since TF 2.16 made Keras 3 its
Keras, ``fit`` fails under MultiWorkerMirroredStrategy. In Keras 3.15.1 it breaks in three
places of ``keras/src/backend/tensorflow/trainer.py``:

1. ``_maybe_symbolic_build`` mean-reduces a whole distributed batch only to learn its shapes.
   Across workers: ``Attempt to convert a value (PerReplica:...) ... to a Tensor``; under
   MirroredStrategy too as soon as a feature is a string (``AddN`` has no string kernel).
   Patched: build from the first local replica's batch (any strategy).
2. ``reduce_per_replica`` averages the step's scalar logs with ``strategy.reduce("MEAN", v,
   axis=0)``: ``Invalid reduction dimension 0 for input with 0 dimensions``. The single-worker
   branch means the mean across replicas, which is ``axis=None``. Patched: multi-worker only.
3. ``steps_per_execution > 1`` runs steps in a ``tf.while_loop``/``tf.cond`` that fails under
   any strategy with ``You must feed a value for placeholder tensor 'while/cond/Placeholder'``
   (keras-team/keras#19246). Patched: one step per execution for models built under a
   strategy (fit, evaluate and predict).

Applied only for the Keras versions known to be affected, 3.0 to 3.15 inclusive (seen on
3.15.1, reported from 3.0 with TF 2.16 on); a newer Keras runs unpatched, and
``tests/runtime/`` shows whether it still needs this. Nothing changes for models built
without a strategy.

Running: start the same ``toolkit train`` on every worker, each with its own ``TF_CONFIG``;
``training.batch_size`` is the global batch, split over all replicas. Every worker runs the
whole fit, checkpoints and saves included (they join collective ops), but only the chief
(task ``chief``, else worker 0) writes under ``--output-dir``; the others write their copy of
the run into a fresh temporary directory, printed as usual and kept for inspection.
"""

from __future__ import annotations

import functools
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

AFFECTED_KERAS = ((3, 0), (3, 15))  # (major, minor) bounds, inclusive
_PATCHED = "_toolkit_multi_worker_patch"


def keras_is_affected(version: str) -> bool:
    """True for the Keras versions whose ``fit`` fails under ``tf.distribute`` strategies."""
    match = re.match(r"(\d+)\.(\d+)", version)
    if match is None:
        return False
    low, high = AFFECTED_KERAS
    return low <= (int(match[1]), int(match[2])) <= high


def _is_multi_worker(strategy) -> bool:
    import tensorflow as tf

    return (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and strategy.extended._in_multi_worker_mode()
    )


def apply_keras_workaround() -> bool:
    """Patch Keras' TensorFlow trainer if its version is affected; True if patched (idempotent)."""
    import keras
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer

    if not keras_is_affected(keras.__version__):
        return False
    if getattr(trainer, _PATCHED, False):
        return True

    original_build = trainer.TensorFlowTrainer._maybe_symbolic_build

    @functools.wraps(original_build)
    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is None or strategy is None:
            return original_build(self, iterator=iterator, data_batch=data_batch)
        batch = None
        for _, _, batches in iterator:
            batch = next(batches)
            break
        local = tf.nest.map_structure(
            lambda value: (
                strategy.experimental_local_results(value)[0]
                if isinstance(value, tf.distribute.DistributedValues)
                else value
            ),
            batch,
        )
        with strategy.scope():
            self._symbolic_build(data_batch=local)

    original_reduce = trainer.reduce_per_replica

    @functools.wraps(original_reduce)
    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and _is_multi_worker(strategy):
            return tf.nest.map_structure(
                lambda value: strategy.reduce("MEAN", value, axis=None), values
            )
        return original_reduce(values, strategy, reduction)

    def one_step_per_execution(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            if self.steps_per_execution != 1 and self._distribute_strategy is not None:
                self.steps_per_execution = 1
                self.train_function = self.test_function = self.predict_function = None
            return method(self, *args, **kwargs)

        return wrapper

    for name in ("fit", "evaluate", "predict"):
        method = getattr(trainer.TensorFlowTrainer, name)
        setattr(trainer.TensorFlowTrainer, name, one_step_per_execution(method))
    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer.reduce_per_replica = reduce_per_replica  # looked up by name when fit traces
    setattr(trainer, _PATCHED, True)
    return True


def task() -> dict[str, Any] | None:
    """This process's ``{"type", "index"}`` from ``TF_CONFIG``; None without one."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return None
    from toolkit.errors import ToolkitError

    try:
        entry = json.loads(raw).get("task") or {}
    except (ValueError, AttributeError):
        raise ToolkitError("TF_CONFIG is not a JSON object with 'cluster' and 'task'") from None
    return {"type": entry.get("type", "worker"), "index": int(entry.get("index", 0))}


def is_chief() -> bool:
    """The chief owns the run directory: task ``chief``, else worker 0 (or no ``TF_CONFIG``)."""
    current = task()
    if current is None:
        return True
    cluster = json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
    if "chief" in cluster:
        return current["type"] == "chief"
    return current["type"] == "worker" and current["index"] == 0


def worker_output_dir(output_dir: str | Path) -> Path:
    """``output_dir`` for the chief; a fresh ``$TMPDIR/toolkit-worker<N>-*`` for the others."""
    if is_chief():
        return Path(output_dir)
    current = task() or {"type": "worker", "index": 0}
    return Path(tempfile.mkdtemp(prefix=f"toolkit-{current['type']}{current['index']}-"))


def make_multi_worker_strategy():
    """A MultiWorkerMirroredStrategy from ``TF_CONFIG``, with the Keras workaround applied.

    Create it before any other TensorFlow operation runs: collective ops are configured when
    TensorFlow starts.
    """
    import tensorflow as tf

    apply_keras_workaround()
    return tf.distribute.MultiWorkerMirroredStrategy()


def shard_by_data(dataset):
    """``dataset`` with the DATA auto-shard policy: each worker keeps its slice of each batch.

    The data is in-memory tensors, so there are no files to shard (AUTO would fall back to
    DATA with a warning) and OFF would make every worker train on the same examples. Every
    worker builds the same seeded pipeline, so the slices partition each global batch.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
