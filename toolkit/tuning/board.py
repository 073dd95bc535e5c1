"""The sweep in TensorBoard's HParams dashboard: one session per trial, its BEST objective.

The experiment (every tuned path and the objective) is written once at
``<sweep>/tensorboard/``; each trial adds a session in ``tensorboard/trial-<id>/``. One
experiment at the root is what lets sessions with different active paths (conditional
entries) share one table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from toolkit.tuning.space import SearchSpace


def _board_value(value: Any) -> bool | int | float | str:
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True)


def write_experiment(
    log_dir: Path, space: SearchSpace, *, objective: str, max_epochs: int | None = None
) -> None:
    """The HParams experiment: each tuned path with its domain, and the objective metric."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    params = []
    order = list(space.tuner.search_space)  # the user's order, not the declaration order
    for dim in sorted(space.dimensions, key=lambda d: order.index(d.name)):
        spec = dim.spec
        if spec.int is not None:
            domain = hp.IntInterval(int(spec.int[0]), int(spec.int[1]))
        elif spec.float is not None:
            domain = hp.RealInterval(float(spec.float[0]), float(spec.float[1]))
        elif spec.boolean is not None:
            domain = hp.Discrete([False, True])
        else:
            domain = hp.Discrete(dim.choices)
        params.append(hp.HParam(dim.name, domain))
    if max_epochs is not None:
        params.append(hp.HParam("training.epochs", hp.IntInterval(1, int(max_epochs))))
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        hp.hparams_config(
            hparams=params, metrics=[hp.Metric(f"hparams/{objective}", display_name=objective)]
        )
    writer.close()


def write_session(
    log_dir: Path, *, trial_id: str, values: dict[str, Any], objective: str, best: float
) -> None:
    """One trial: its active values and its best ``objective`` as the session's metric."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        hp.hparams(
            {name: _board_value(v) for name, v in values.items()}, trial_id=f"trial-{trial_id}"
        )
        tf.summary.scalar(f"hparams/{objective}", best, step=0)
    writer.close()
