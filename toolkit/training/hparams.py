"""The run's hyperparameters and best results in TensorBoard's HParams dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_hparams(log_dir: Path, hparams: dict[str, Any], results: dict[str, float]) -> None:
    """One HParams session: the given hyperparameters and ``results`` as its metric values.

    Results are the BEST values of the run (not the last epoch's), written as scalars under
    ``hparams/<name>`` so the dashboard shows what early stopping kept.
    """
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        hp.hparams_config(
            hparams=[hp.HParam(name) for name in hparams],
            metrics=[hp.Metric(f"hparams/{name}", display_name=name) for name in results],
        )
        hp.hparams(hparams)
        for name, value in results.items():
            tf.summary.scalar(f"hparams/{name}", value, step=0)
    writer.flush()
    writer.close()
