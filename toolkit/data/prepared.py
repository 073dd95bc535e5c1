"""``prepare_data(config)``: the data of one experiment, loaded, split and encoded.

Training, tuning, evaluation and the benchmarks all start from a ``PreparedData``; it lives
with the data, not with training, so none of them imports another's types.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from toolkit.config.schema import ExperimentConfig
from toolkit.data.preprocessing import (
    FeatureSpec,
    encode_target,
    feature_arrays,
    fingerprint,
    fit_spec,
)
from toolkit.data.sources import load_source
from toolkit.data.splits import Splits, split_frame
from toolkit.errors import DataError


@dataclass(frozen=True)
class PreparedData:
    """Splits, the fitted spec and the arrays the model trains on."""

    splits: Splits
    spec: FeatureSpec
    fingerprint: str
    train: tuple[dict[str, np.ndarray], np.ndarray]
    validation: tuple[dict[str, np.ndarray], np.ndarray]
    test: tuple[dict[str, np.ndarray], np.ndarray] | None


def prepare_data(config: ExperimentConfig) -> PreparedData:
    """Load, split and encode the data; every problem is a ``DataError``."""
    frame = load_source(config.data, config.seed)
    splits = split_frame(frame, config.data, task=config.model.task, seed=config.seed)
    spec = fit_spec(splits.train, config.data, config.model.task)
    if len(splits.train) < config.training.batch_size:
        raise DataError(
            f"the training split has {len(splits.train)} rows, fewer than training.batch_size "
            f"{config.training.batch_size}; lower the batch size or add data"
        )

    def arrays(part: pd.DataFrame, what: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
        return feature_arrays(part, spec, what=what), encode_target(part, spec, what=what)

    return PreparedData(
        splits=splits,
        spec=spec,
        fingerprint=fingerprint(frame),
        train=arrays(splits.train, "training data"),
        validation=arrays(splits.validation, "validation data"),
        test=None if splits.test is None else arrays(splits.test, "test data"),
    )
