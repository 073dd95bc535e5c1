"""``runtime.distribute: multi_worker``: who the chief is, where each worker writes, the
strategy and its data sharding.

Keras 3's ``fit`` fails under ``tf.distribute`` strategies (keras-team/keras#20585); the
patch of Keras' trainer that fixes it lives in ``toolkit.compat`` with the other uses of
private upstream internals, and is applied only where a probe shows the installed Keras
still needs it (``apply_keras_workaround``). Nothing changes for models built without a
strategy.

Running: start the same ``toolkit train`` on every worker, each with its own ``TF_CONFIG``;
``training.batch_size`` is the global batch, split over all replicas. Every worker runs the
whole fit, checkpoints and saves included (they join collective ops), but only the chief
(task ``chief``, else worker 0) writes under ``--output-dir``; the others write their copy of
the run into a fresh temporary directory, printed as usual and kept for inspection.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def apply_keras_workaround() -> bool:
    """Patch Keras' trainer for tf.distribute if the installed Keras needs it; True if patched.

    The answer comes from ``toolkit.compat``'s probe (a tiny two-worker fit on 127.0.0.1 in
    child processes, once per Keras and TensorFlow version, then cached). Idempotent.
    """
    from toolkit import compat

    if compat.distribution_patch_applied():
        return True
    if not compat.keras_needs_distribution_patch():
        return False
    return compat.apply_distribution_patch()


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
