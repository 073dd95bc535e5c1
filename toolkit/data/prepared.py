"""``prepare_data(config)``: the data of one experiment, opened, split and encoded.

Training, tuning, evaluation and the benchmarks all start from a ``PreparedData``; it lives
with the data, not with training, so none of them imports another's types. Which source
kind reads ``data.source`` is decided by ``toolkit.data.sources``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from toolkit.config.schema import ExperimentConfig
from toolkit.data.preprocessing import FeatureSpec
from toolkit.data.split import Split
from toolkit.errors import DataError, ToolkitError
from toolkit.text import counted


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
    # Lines for run.json's warnings about the data (data.split_key's uneven splits).
    warnings: list[str] = field(default_factory=list)

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


def check_same_data(
    record: dict[str, Any], config: ExperimentConfig, data: PreparedData, *, remedy: str
) -> None:
    """``data``, read again for a run (``record``: its run.json), holds the rows the run was
    trained on, split as it split them; else a ``DataError`` ending with ``remedy``.

    Resuming and re-scoring the held-out split both rely on it: a changed file, or keys that
    now fall in other splits, would train on validation rows or score training rows as test."""
    recorded = record.get("data_fingerprint")
    if recorded not in (None, data.fingerprint):
        raise DataError(
            f"the data of {config.data.source} changed since the run started "
            f"(fingerprint {data.fingerprint}, run has {recorded}); {remedy}"
        )
    split, now = (record.get("data") or {}).get("split"), data.source.get("split")
    if split is None and config.data.split_key is not None:
        # Runs in memory recorded no split before keys were salted: they were split by the
        # unsalted hash.
        split = f"hash of {config.data.split_key}"
    if split is not None and now is not None and split != now:
        # An earlier version split streamed rows by position alone, and keys by an unsalted
        # hash: the rows of each split are not the ones the run had.
        raise DataError(
            f"the run's rows were split by {split}, and this version splits them by {now}; {remedy}"
        )


def _conv_sizes(config: ExperimentConfig, size: list[int]) -> list[list[int]]:
    """The feature-map size (per axis) after each conv block, for inputs of ``size``.
    Pooling pads, so only valid-padded convolutions can shrink a map to nothing."""
    section = config.model.conv
    sizes = []
    for block in section.blocks:

        def pick(key: str, block=block):
            value = getattr(block, key)
            return getattr(section, key) if value is None else value

        for index in range(pick("convs")):
            stride = pick("strides") if index == 0 else 1
            if pick("padding") == "valid":
                size = [(s - pick("kernel_size")) // stride + 1 for s in size]
            else:
                size = [-(-s // stride) for s in size]
        if pick("pooling") != "none":
            size = [-(-s // pick("pool_size")) for s in size]
        sizes.append(size)
    return sizes


def check_target_range(config: ExperimentConfig, data: PreparedData) -> None:
    """A stated ``prediction.target_range`` holds every target the data has in memory.

    Clipping keeps the intervals' coverage only when the range is true, so a target outside
    it is the user's mistake, reported here rather than hidden by the clipping. A streamed
    table is not read again for it (its rows are read once, to fit the preprocessing)."""
    target_range = config.prediction.target_range
    if target_range is None:
        return
    import numpy as np

    low, high = (
        bound if bound is not None else default
        for bound, default in zip(target_range, (-np.inf, np.inf), strict=True)
    )
    splits = {"training": data.train, "validation": data.validation, "test": data.test}
    splits["calibration"] = data.calibration
    for name, split in splits.items():
        if split is None or split.streamed:
            continue
        targets = (np.asarray(y, dtype=np.float64).reshape(-1) for _, y in split.chunks())
        outside = [values[(values < low) | (values > high)] for values in targets]
        count = sum(len(part) for part in outside)
        if count:
            example = next(part[0] for part in outside if len(part))
            bounds = ", ".join("null" if bound is None else f"{bound:g}" for bound in target_range)
            raise DataError(
                f"prediction.target_range [{bounds}]: the {name} split's target "
                f"'{data.spec.target.name}' has {counted(count, 'value')} outside it (e.g. "
                f"{example:g}); widen the range or set it to null"
            )


def check_data_fits_model(config: ExperimentConfig, spec: FeatureSpec) -> None:
    """What only the data can tell: conv blocks keep feature maps of at least 1x1, and a
    backbone gets RGB images of at least its minimum size."""
    from toolkit.config import names

    arrays = spec.image or spec.signal
    if config.model.body == "conv" and arrays is not None:
        size = arrays.shape[:-1]
        for index, after in enumerate(_conv_sizes(config, list(size))):
            if min(after) < 1:
                raise DataError(
                    f"model.conv block {index} would shrink the {'x'.join(map(str, size))} "
                    "inputs to nothing (padding valid); use fewer blocks, smaller kernels or "
                    "strides, or padding: same"
                )
    backbone = config.model.backbone
    if backbone is None or spec.image is None:
        return
    height, width, channels = spec.image.shape
    if channels != 3:
        hint = (
            "set data.image.color_mode: rgb"
            if spec.image.stored == "path"
            else "give it RGB images of shape (N, H, W, 3)"
        )
        raise DataError(
            f"backbone {backbone.name} takes RGB images (3 channels), the data's have "
            f"{channels}; {hint}"
        )
    minimum = names.BACKBONES[backbone.name][1]
    size = backbone.input_size or [height, width]
    if min(size) < minimum:
        raise DataError(
            f"backbone {backbone.name} takes images of at least {minimum}x{minimum}, the "
            f"data's are {height}x{width}; set model.backbone.input_size: [{minimum}, "
            f"{minimum}] (or larger) to resize them inside the model"
        )


def channels_first_warning(spec: FeatureSpec) -> str | None:
    """Signals with more channels than steps, most likely saved channels first (N, C, L):
    read as (N, L, C), a (N, 2, 32) array trained a Conv1D over 2 steps of 32 channels without
    a word. Not refused, as a short window of many sensors is (N, L, C) too."""
    if spec.signal is None:
        return None
    length, channels = spec.signal.shape
    if channels <= length:
        return None
    return (
        f"signals of shape ({length}, {channels}) are read as {length} steps of {channels} "
        f"channels (x is (N, L, C), channels last); if x's channels come first, save "
        "np.moveaxis(x, 1, -1)"
    )


def _smaller_data(config: ExperimentConfig, kind: str) -> str:
    """What makes the data of a ``kind`` of source take less memory."""
    if kind == "synthetic":
        return "lower data.synthetic.samples"
    if kind == "table" and config.data.input_kind == "table":
        return "stream it from disk with data.streaming: true"
    if config.data.input_kind == "image":
        return "use fewer or smaller images (data.image.image_size resizes them)"
    return "use a smaller data set"


def prepare_data(
    config: ExperimentConfig,
    *,
    spec: FeatureSpec | None = None,
    rows: dict[str, int] | None = None,
) -> PreparedData:
    """Open, split and encode the data; every problem is a ``DataError``.

    ``spec`` and ``rows`` (from a run directory) skip fitting and counting again.
    """
    from toolkit.data.memory import allocation_failure, out_of_memory, return_freed_memory
    from toolkit.data.sources import open_source

    return_freed_memory()
    started = time.monotonic()
    conformal = config.prediction.conformal
    source = open_source(config)
    try:
        if conformal is not None and conformal.calibration != "validation":
            data = source.prepare(spec=spec, rows=rows, calibration=conformal.calibration)
        else:
            data = source.prepare(spec=spec, rows=rows)
    except Exception as error:
        allocation = out_of_memory(error)
        if allocation is None or isinstance(error, ToolkitError):
            raise
        raise DataError(
            f"out of memory reading data.source {config.data.source} (could not allocate "
            f"{allocation_failure(allocation)}); {_smaller_data(config, source.kind)}"
        ) from None
    data.source["prepare_seconds"] = round(time.monotonic() - started, 3)
    check_data_fits_model(config, data.spec)
    check_target_range(config, data)
    if spec is None and (warning := channels_first_warning(data.spec)):
        data.warnings.append(warning)
    # A training split smaller than training.batch_size is no mistake: each epoch is then one
    # partial batch, as the last batch of any epoch may be, in memory and streamed alike (the
    # pipelines keep partial batches; resume points are per epoch, not per step).
    return data
