"""Predictions from a model, with uncertainty where the model can give it.

Stochastic models (Bayesian layers, MC dropout) are sampled ``mc_samples`` times; a Gaussian
head adds its aleatoric scale. Deterministic models are run once with sampling switched off.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import special

from toolkit.config.schema import ExperimentConfig
from toolkit.data.preprocessing import FeatureSpec, feature_arrays

if TYPE_CHECKING:
    from toolkit.data.sources.base import InputChunk


@dataclass
class Predictions:
    """Point predictions and uncertainty, in the target's original units or as probabilities."""

    task: str
    mean: np.ndarray  # regression: (n,); classifiers: probabilities (n, k)
    std: np.ndarray | None = None
    epistemic_std: np.ndarray | None = None
    aleatoric_std: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)


def _probabilities(task: str, logits: np.ndarray) -> np.ndarray:
    """Class probabilities from logits (SciPy's expit and softmax do not overflow)."""
    if task == "binary":
        positive = special.expit(logits[..., 0])
        return np.stack([1.0 - positive, positive], axis=-1)
    return special.softmax(logits, axis=-1)


def _entropy(p: np.ndarray) -> np.ndarray:
    return -np.sum(p * np.log(np.clip(p, 1e-12, 1.0)), axis=-1)


def _one_step_per_call(model) -> None:
    """Predict one batch per compiled call. Keras unrolls ``steps_per_execution`` predict
    steps into one traced graph, and traces another for each number of batches a last call
    gets: scoring the splits of a 1M-row run spent 13 s tracing. Predictions come after
    training, so the training setting is not needed any more."""
    if getattr(model, "steps_per_execution", 1) != 1:
        model.steps_per_execution = 1
        model.predict_function = None


def predict(
    model,
    features: dict[str, np.ndarray],
    config: ExperimentConfig,
    *,
    batch_size: int = 1024,
) -> Predictions:
    """Run the model on prepared feature arrays and summarise its predictive distribution."""
    from toolkit.models.layers.stochastic import is_stochastic, set_stochastic

    task = config.model.task
    gaussian = config.model.head == "gaussian"
    stochastic = config.model.is_stochastic and is_stochastic(model)
    samples = config.prediction.mc_samples if stochastic else 1
    from toolkit.data.pipeline import make_dataset

    # tf.data rather than NumPy dicts: Keras cannot take string columns as object arrays.
    dataset = make_dataset(features, None, batch_size=batch_size)
    _one_step_per_call(model)
    set_stochastic(model, stochastic)
    try:
        outputs = np.stack([np.asarray(model.predict(dataset, verbose=0)) for _ in range(samples)])
    finally:
        set_stochastic(model, True)  # stochastic layers sample by default; restore that
    outputs = outputs.astype(np.float64)
    if task == "regression":
        location = outputs[..., 0]
        epistemic = location.std(axis=0) if samples > 1 else None
        aleatoric = None
        if gaussian:
            # Law of total variance over the samples of a Gaussian mixture.
            variance = (outputs[..., 1] ** 2).mean(axis=0) + location.var(axis=0)
            aleatoric = np.sqrt((outputs[..., 1] ** 2).mean(axis=0))
            std = np.sqrt(variance)
        else:
            std = epistemic
        return Predictions(task, location.mean(axis=0), std, epistemic, aleatoric)
    probabilities = np.stack([_probabilities(task, out) for out in outputs])
    mean = probabilities.mean(axis=0)
    extra = {}
    if samples > 1:
        total = _entropy(mean)
        expected = _entropy(probabilities).mean(axis=0)
        extra = {"entropy": total, "mutual_information": np.maximum(total - expected, 0.0)}
    return Predictions(task, mean, extra=extra)


def interval(predictions: Predictions, level: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Central Gaussian interval at ``level`` around the mean, when a std is known."""
    if predictions.std is None:
        return None
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2.0))
    return predictions.mean - z * predictions.std, predictions.mean + z * predictions.std


def prediction_frame(
    predictions: Predictions, spec: FeatureSpec, config: ExperimentConfig
) -> pd.DataFrame:
    """The columns ``toolkit predict`` writes.

    Classifiers get one ``probability_<class>`` column per class they report: a binary
    classifier the positive class only (the second of its two classes, e.g.
    ``probability_malignant``), a multiclass one every class.
    """
    columns: dict[str, np.ndarray] = {}
    classes = spec.target.classes
    if predictions.task == "regression":
        columns["prediction"] = predictions.mean
        if predictions.std is not None:
            columns["std"] = predictions.std
            if predictions.epistemic_std is not None:
                columns["epistemic_std"] = predictions.epistemic_std
            if predictions.aleatoric_std is not None:
                columns["aleatoric_std"] = predictions.aleatoric_std
            lower, upper = interval(predictions, config.prediction.interval)
            columns["lower"], columns["upper"] = lower, upper
    else:
        labels = np.asarray(classes, dtype=object)
        reported = [1] if predictions.task == "binary" else range(len(classes))
        for index in reported:
            columns[f"probability_{classes[index]}"] = predictions.mean[:, index]
        columns["prediction"] = labels[predictions.mean.argmax(axis=1)]
        columns.update(predictions.extra)
    return pd.DataFrame(columns)


def predict_frame(
    model, frame: pd.DataFrame, spec: FeatureSpec, config: ExperimentConfig
) -> pd.DataFrame:
    """Predict raw rows; columns that are not features (ids) are carried through first, and
    so are image file paths (one row per image, with its file)."""
    features = feature_arrays(frame, spec, what="input", new_images=True)
    result = prediction_frame(predict(model, features, config), spec, config)
    paths = (
        [spec.image.column]
        if spec.image is not None
        and len(frame)
        and not isinstance(frame[spec.image.column].iloc[0], np.ndarray)
        else []
    )
    keep = paths + [c for c in frame.columns if c not in spec.columns]
    return _with_carried(frame[keep].reset_index(drop=True), result)


def predict_chunk(
    model, chunk: InputChunk, spec: FeatureSpec, config: ExperimentConfig
) -> pd.DataFrame:
    """One chunk of new rows as ``toolkit predict`` writes it: carried columns first."""
    return _with_carried(
        chunk.carried, prediction_frame(predict(model, chunk.features, config), spec, config)
    )


def _with_carried(carried: pd.DataFrame, result: pd.DataFrame) -> pd.DataFrame:
    overlap = [c for c in carried.columns if c in result.columns]
    carried = carried.rename(columns={c: f"input_{c}" for c in overlap})
    return pd.concat([carried, result], axis=1)


def write_predictions(
    model, chunks: Iterable[InputChunk], spec: FeatureSpec, config: ExperimentConfig, output
) -> int:
    """Predict ``chunks`` of new rows and write them to ``output`` (CSV, or Parquet by its
    suffix) a chunk at a time, so memory stays flat whatever the number of rows. The file
    appears, complete, only at the end (atomic rename); returns the number of rows written."""
    from pathlib import Path

    from toolkit.runs import atomic_write

    output = Path(output)
    written = 0

    def write(path: Path) -> None:
        nonlocal written
        parquet = output.suffix.lower() in (".parquet", ".pq")
        writer = None
        try:
            with open(path, "wb") as handle:
                for chunk in chunks:
                    frame = _with_carried(
                        chunk.carried,
                        prediction_frame(predict(model, chunk.features, config), spec, config),
                    )
                    if parquet:
                        import pyarrow as pa
                        import pyarrow.parquet as pq

                        table = pa.Table.from_pandas(frame, preserve_index=False)
                        if writer is None:
                            writer = pq.ParquetWriter(handle, table.schema)
                        writer.write_table(table)
                    else:
                        handle.write(frame.to_csv(index=False, header=written == 0).encode())
                    written += len(frame)
                if writer is not None:
                    writer.close()
                    writer = None
        finally:
            if writer is not None:
                writer.close()

    atomic_write(output, write)
    return written


def concatenate(parts: list[Predictions]) -> Predictions:
    """Predictions of consecutive chunks as one (streamed evaluation and prediction)."""
    first = parts[0]
    if len(parts) == 1:
        return first

    def joined(name: str) -> np.ndarray | None:
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else np.concatenate(values)

    extra = {key: np.concatenate([p.extra[key] for p in parts]) for key in first.extra}
    return Predictions(
        first.task,
        joined("mean"),
        joined("std"),
        joined("epistemic_std"),
        joined("aleatoric_std"),
        extra,
    )
