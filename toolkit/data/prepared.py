"""``prepare_data(config)``: the data of one experiment, opened, split and encoded.

Training, tuning, evaluation and the benchmarks all start from a ``PreparedData``; it lives
with the data, not with training, so none of them imports another's types. Which source
kind reads ``data.source`` is decided by ``toolkit.data.sources``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from toolkit.config.schema import ExperimentConfig
from toolkit.data.preprocessing import FeatureSpec
from toolkit.data.split import Split
from toolkit.errors import DataError


@dataclass(frozen=True)
class PreparedData:
    """The splits, the spec fitted on the training split, and what identifies the data."""

    spec: FeatureSpec
    train: Split
    validation: Split
    test: Split | None
    fingerprint: str
    source: dict[str, Any] = field(default_factory=dict)  # what run.json records about it
    # Rows held out of training for conformal calibration (prediction.conformal.calibration).
    calibration: Split | None = None

    @property
    def rows(self) -> dict[str, int]:
        """Rows per split, as data_summary.json records them."""
        rows = {"train": self.train.rows, "validation": self.validation.rows}
        if self.test is not None:
            rows["test"] = self.test.rows
        if self.calibration is not None:
            rows["calibration"] = self.calibration.rows
        return rows

    @property
    def streamed(self) -> bool:
        return self.train.streamed

    @property
    def held_out(self) -> tuple[str, Split]:
        """The split final metrics are reported on: test if there is one, else validation."""
        return ("test", self.test) if self.test is not None else ("validation", self.validation)


def prepare_data(
    config: ExperimentConfig,
    *,
    spec: FeatureSpec | None = None,
    rows: dict[str, int] | None = None,
) -> PreparedData:
    """Open, split and encode the data; every problem is a ``DataError``.

    ``spec`` and ``rows`` (from a run directory) skip fitting and counting again.
    """
    from toolkit.data.sources import open_source

    conformal = config.prediction.conformal
    source = open_source(config)
    if conformal is not None and conformal.calibration != "validation":
        data = source.prepare(spec=spec, rows=rows, calibration=conformal.calibration)
    else:
        data = source.prepare(spec=spec, rows=rows)
    if data.train.rows < config.training.batch_size:
        raise DataError(
            f"the training split has {data.train.rows} rows, fewer than training.batch_size "
            f"{config.training.batch_size}; lower the batch size or add data"
        )
    return data
