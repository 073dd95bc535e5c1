"""Predictions from a model, with uncertainty where the model can give it.

Stochastic models (Bayesian layers, MC dropout) are sampled ``mc_samples`` times; an
ensemble's members each give a prediction per pass; a Gaussian head adds its aleatoric scale.
Deterministic models are run once with sampling switched off.

Every pass of every member is one component of the predictive distribution, all equally
weighted. ``summarize_outputs`` turns the raw model outputs into that distribution's summary
(and, given a conformal calibration, its conformal intervals or sets): it is the one place
the post-processing lives, NumPy only, so an exported model can call or mirror it.
"""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import special

from toolkit.config.schema import ExperimentConfig
from toolkit.data.preprocessing import FeatureSpec, feature_arrays
from toolkit.evaluation.blocks import BLOCK_ROWS, input_blocks
from toolkit.evaluation.metrics import mixture_quantile
from toolkit.evaluation.posthoc import PostHocCalibration
from toolkit.evaluation.std_scaling import scaled_components

if TYPE_CHECKING:
    from toolkit.data.sources.base import InputChunk


@dataclass
class Predictions:
    """Point predictions and uncertainty, in the target's original units or as probabilities.

    Regression: ``locations`` (n, K) are the K components' means and ``scales`` (n, K) their
    standard deviations (None when the components are points: a network without a Gaussian
    head). ``lower``/``upper`` are the central ``interval`` of the predictive distribution:
    the Gaussian mixture's quantiles when there are scales, else mean -/+ z std.
    ``row_scores``: the mixture's CDF at each row's known target, ``pit`` (rows kept by
    chunked evaluation for the plots hold it in place of the components). Conformal results, when calibrated, are in
    ``conformal_lower``/``conformal_upper`` (regression) or ``prediction_sets`` (n, classes)
    booleans (classifiers).
    """

    task: str
    mean: np.ndarray  # regression: (n,); classifiers: probabilities (n, k)
    std: np.ndarray | None = None
    epistemic_std: np.ndarray | None = None
    aleatoric_std: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    locations: np.ndarray | None = None
    scales: np.ndarray | None = None
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    interval_level: float | None = None
    row_scores: dict[str, np.ndarray] | None = None
    conformal_lower: np.ndarray | None = None
    conformal_upper: np.ndarray | None = None
    prediction_sets: np.ndarray | None = None

    @property
    def mixture(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(locations, scales) when the predictive distribution is a Gaussian mixture."""
        if self.locations is None or self.scales is None:
            return None
        return self.locations, self.scales


def _probabilities(task: str, logits: np.ndarray) -> np.ndarray:
    """Class probabilities from logits (SciPy's expit and softmax do not overflow)."""
    if task == "binary":
        # expit(-z), not 1 - expit(z): the less likely class keeps its digits when z is large.
        z = logits[..., 0]
        return np.stack([special.expit(-z), special.expit(z)], axis=-1)
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


def _table_chunk_rows(model) -> int:
    """Rows per call for a table model: as many as keep its widest activation near 32 MB of
    float32 (65,536 rows of a [128, 128] network, 1,024 of one-hot inputs from a 10,000-word
    vocabulary), at least 1,024 (what ``predict`` batches)."""
    import keras

    try:
        width = max(
            int(np.prod(tensor.shape[1:]))
            for layer in model.layers
            for tensor in keras.tree.flatten(layer.output)
        )
    except (AttributeError, ValueError, TypeError):  # a layer without one known output
        return 1024
    return int(np.clip(2**23 // max(width, 1), 1024, 65_536))


def _called_in_chunks(model, features: dict[str, np.ndarray], chunk_rows: int) -> np.ndarray:
    """One deterministic pass, the model called eagerly on ``chunk_rows`` rows at a time.

    ``predict`` traces a graph for every new model: 0.2-0.3 s, more than the pass itself on a
    table of 50,000 rows, and paid by every sweep trial's final metrics. A table model is a
    few matrix products, so large eager calls run as fast as the graph would."""
    import tensorflow as tf

    columns = {name: tf.convert_to_tensor(values) for name, values in features.items()}
    rows = int(next(iter(columns.values())).shape[0])
    outputs = [
        np.asarray(
            model(
                {name: c[start : start + chunk_rows] for name, c in columns.items()}, training=False
            )
        )
        for start in range(0, rows, chunk_rows)
    ]
    return np.concatenate(outputs) if outputs else np.zeros((0, *model.output_shape[1:]))


def draws_at_prediction(model, config: ExperimentConfig) -> bool:
    """Whether ``model`` draws at prediction (MC dropout, Bayesian layers): each row's numbers
    then depend on the draws it gets, so rows are predicted in fixed blocks (``blocks``)."""
    from toolkit.models.layers.stochastic import is_stochastic

    return config.model.is_stochastic and is_stochastic(model)


def model_outputs(
    model,
    features: dict[str, np.ndarray],
    config: ExperimentConfig,
    *,
    batch_size: int = 1024,
    first_row: int = 0,
) -> np.ndarray:
    """The raw outputs of every pass, as float64 of shape (passes, rows, members, outputs).

    A model that draws at prediction is called in blocks of ``BLOCK_ROWS`` rows counted from
    the input's first row (``first_row``, that of ``features[0]``, a multiple of
    ``BLOCK_ROWS``), each block's draws seeded by its number: it gives a row the same numbers
    however the input reaches it (one file or shards, ``predict`` or ``evaluate``; see
    ``blocks``). Other models ignore ``first_row``."""
    from toolkit.data.pipeline import make_dataset
    from toolkit.models.layers.stochastic import seeded_draws, set_stochastic
    from toolkit.startup import new_models_traced_quietly

    stochastic = draws_at_prediction(model, config)
    if stochastic and first_row % BLOCK_ROWS:
        raise ValueError(f"first_row must be a multiple of {BLOCK_ROWS}, got {first_row}")
    rows = len(next(iter(features.values())))
    if stochastic and rows > BLOCK_ROWS:
        blocks = [
            model_outputs(
                model,
                {name: values[start : start + BLOCK_ROWS] for name, values in features.items()},
                config,
                batch_size=batch_size,
                first_row=first_row + start,
            )
            for start in range(0, rows, BLOCK_ROWS)
        ]
        return np.concatenate(blocks, axis=1)
    samples = config.prediction.mc_samples if stochastic else 1
    set_stochastic(model, stochastic)
    # The same draws for the same rows on every call: predict, evaluate and metrics.json agree.
    block = first_row // BLOCK_ROWS
    draws = (
        seeded_draws(model, config.seed, block=block) if stochastic else contextlib.nullcontext()
    )
    try:
        with draws:
            if samples == 1 and config.data.input_kind == "table":
                outputs = _called_in_chunks(model, features, _table_chunk_rows(model))
            elif samples == 1 and rows <= batch_size:
                # One batch of images or signals (a few at a time through Run.predict): called
                # eagerly, as predict's one step would be, without tracing a graph for it. A small
                # convnet's first predict of 4 images took 0.22 s (trace) against 5 ms eagerly,
                # and models loaded one after another (a ``load_run`` per image) each traced
                # their own, which TensorFlow reported as retracing.
                outputs = _called_in_chunks(model, features, batch_size)
            else:
                # tf.data rather than NumPy dicts: Keras cannot take string columns as object
                # arrays. All passes in one predict call (the rows' batches repeated, so no batch
                # mixes two passes): 50 passes of a small model took 50 calls' overhead before.
                dataset = make_dataset(features, None, batch_size=batch_size).repeat(samples)
                _one_step_per_call(model)
                # One model traces its predict step at most twice; models loaded one after
                # another each trace their own, which TensorFlow misreads as retracing.
                with new_models_traced_quietly():
                    outputs = np.asarray(model.predict(dataset, verbose=0))
    finally:
        set_stochastic(model, True)  # stochastic layers sample by default; restore that
    outputs = outputs.reshape(samples, rows, *outputs.shape[1:]).astype(np.float64)
    if config.model.ensemble is None:
        outputs = outputs[:, :, None, :]  # one member
    return outputs


def gaussian_interval(
    mean: np.ndarray, std: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Central Gaussian interval at ``level`` around ``mean``."""
    z = float(special.ndtri(0.5 + level / 2.0))
    return mean - z * std, mean + z * std


def predictive_interval(
    predictions: Predictions, level: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """The central ``level`` interval of the predictive distribution: the Gaussian mixture's
    quantiles, or mean -/+ z std for point components (a Gaussian approximation)."""
    if predictions.mixture is not None:
        tail = (1.0 - level) / 2.0
        locations, scales = predictions.mixture
        return (
            mixture_quantile(tail, locations, scales),
            mixture_quantile(1.0 - tail, locations, scales),
        )
    if predictions.std is None:
        return None
    # The components' own mean: ``mean`` may since have been clipped to a target range.
    center = predictions.mean if predictions.locations is None else predictions.locations.mean(1)
    return gaussian_interval(center, predictions.std, level)


def _regression_summary(
    outputs: np.ndarray, gaussian: bool, level: float, std_scale: float = 1.0
) -> Predictions:
    passes, rows, members = outputs.shape[:3]
    components = passes * members
    # (rows, components): pass-major order, every component equally weighted.
    locations = outputs[..., 0].transpose(1, 0, 2).reshape(rows, components)
    scales = outputs[..., 1].transpose(1, 0, 2).reshape(rows, components) if gaussian else None
    # Std scaling transforms the components, so std, its parts and the interval all follow.
    locations, scales = scaled_components(locations, scales, std_scale)
    mean = locations.mean(axis=1)
    spread = locations.std(axis=1) if components > 1 else None  # spread of the means
    if scales is not None:
        # Law of total variance: E[Var] (aleatoric) + Var[E] (epistemic).
        aleatoric = np.sqrt((scales**2).mean(axis=1))
        # One component (a deterministic network) has no epistemic estimate: None, not 0.
        std = aleatoric if spread is None else np.sqrt(aleatoric**2 + spread**2)
        result = Predictions(
            "regression", mean, std, spread, aleatoric, locations=locations, scales=scales
        )
    else:
        result = Predictions("regression", mean, spread, spread, None, locations=locations)
    bounds = predictive_interval(result, level)
    if bounds is not None:
        result.lower, result.upper = bounds
        result.interval_level = level
    return result


def _classifier_summary(outputs: np.ndarray, task: str) -> Predictions:
    passes, rows, members = outputs.shape[:3]
    probabilities = _probabilities(task, outputs)  # (passes, rows, members, classes)
    components = probabilities.transpose(1, 0, 2, 3).reshape(rows, passes * members, -1)
    mean = components.mean(axis=1)
    extra = {}
    if passes * members > 1:
        # Total entropy = expected entropy (aleatoric) + mutual information (epistemic).
        total = _entropy(mean)
        expected = _entropy(components).mean(axis=1)
        extra = {"entropy": total, "mutual_information": np.maximum(total - expected, 0.0)}
    return Predictions(task, mean, extra=extra)


def summarize_outputs(
    outputs: np.ndarray,
    config: ExperimentConfig,
    *,
    calibration: PostHocCalibration = PostHocCalibration.NONE,
) -> Predictions:
    """The predictive distribution of raw outputs (passes, rows, members, outputs), scaled
    about its mean by ``calibration.std_scale`` (regression), and its conformal intervals or
    prediction sets when ``calibration.conformal`` is given (computed after the scaling)."""
    task = config.model.task
    if task == "regression":
        predictions = _regression_summary(
            outputs,
            config.model.gaussian_output,
            config.prediction.interval,
            calibration.std_scale,
        )
    else:
        predictions = _classifier_summary(outputs, task)
    target_range = config.prediction.target_range
    # The mean is clipped before the conformal scores see it (fitted and applied alike), the
    # conformal interval after: both stay inside the range the target cannot leave.
    clip_to_range(predictions, target_range, ("mean", "lower", "upper"))
    if calibration.conformal is not None:
        calibration.conformal.apply(predictions)
    clip_to_range(predictions, target_range, ("conformal_lower", "conformal_upper"))
    return predictions


def clip_to_range(
    predictions: Predictions, target_range: list[float | None] | None, names: Iterable[str]
) -> None:
    """Clip a regressor's ``names`` arrays (in place) to ``prediction.target_range``.

    Only when the user states the range: a y that cannot leave [low, high] and lies in
    [l, u] also lies in [clip(l), clip(u)], so coverage is kept, and a clipped mean is
    nearer every possible y. The std, NLL and CRPS stay the model's own distribution's."""
    if target_range is None or predictions.task != "regression":
        return
    low, high = target_range
    for name in names:
        values = getattr(predictions, name)
        if values is not None:
            setattr(predictions, name, np.clip(values, low, high))


def predict(
    model,
    features: dict[str, np.ndarray],
    config: ExperimentConfig,
    *,
    batch_size: int = 1024,
    calibration: PostHocCalibration = PostHocCalibration.NONE,
    first_row: int = 0,
) -> Predictions:
    """Run the model on prepared feature arrays and summarise its predictive distribution,
    with the run's post-hoc ``calibration`` applied. ``first_row``: the position of the
    first of these rows in the input (see ``model_outputs``)."""
    outputs = model_outputs(model, features, config, batch_size=batch_size, first_row=first_row)
    return summarize_outputs(outputs, config, calibration=calibration)


def interval(predictions: Predictions, level: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The central ``level`` interval of the predictive distribution, when it has a spread."""
    if predictions.lower is not None and predictions.interval_level == level:
        return predictions.lower, predictions.upper
    return predictive_interval(predictions, level)


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
        if predictions.conformal_lower is not None:
            columns["conformal_lower"] = predictions.conformal_lower
            columns["conformal_upper"] = predictions.conformal_upper
    else:
        # In the target column's type: a bool or integer label is not its text.
        labels = spec.target.labels()
        columns["prediction"] = labels[predictions.mean.argmax(axis=1)]
        reported = [1] if predictions.task == "binary" else range(len(classes))
        for index in reported:
            columns[f"probability_{classes[index]}"] = predictions.mean[:, index]
        columns.update(predictions.extra)
        if predictions.prediction_sets is not None:
            from toolkit.evaluation.conformal import set_labels

            columns["prediction_set"] = set_labels(predictions.prediction_sets, labels)
            columns["set_size"] = predictions.prediction_sets.sum(axis=1)
    return pd.DataFrame(columns)


def predict_frame(
    model,
    frame: pd.DataFrame,
    spec: FeatureSpec,
    config: ExperimentConfig,
    *,
    calibration: PostHocCalibration = PostHocCalibration.NONE,
) -> pd.DataFrame:
    """Predict raw rows; columns that are not features (ids) are carried through first, and
    so are image file paths (one row per image, with its file)."""
    features = feature_arrays(frame, spec, what="input", new_images=True)
    predictions = predict(model, features, config, calibration=calibration)
    result = prediction_frame(predictions, spec, config)
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
    model,
    chunk: InputChunk,
    spec: FeatureSpec,
    config: ExperimentConfig,
    *,
    calibration: PostHocCalibration = PostHocCalibration.NONE,
    first_row: int = 0,
) -> pd.DataFrame:
    """One chunk of new rows as ``toolkit predict`` writes it: carried columns first."""
    predictions = predict(
        model, chunk.features, config, calibration=calibration, first_row=first_row
    )
    return _with_carried(chunk.carried, prediction_frame(predictions, spec, config))


def _with_carried(carried: pd.DataFrame, result: pd.DataFrame) -> pd.DataFrame:
    overlap = [c for c in carried.columns if c in result.columns]
    carried = carried.rename(columns={c: f"input_{c}" for c in overlap})
    return pd.concat([carried, result], axis=1)


def is_parquet(output) -> bool:
    """Whether ``toolkit predict`` writes ``output`` as Parquet (by its suffix), else CSV."""
    from pathlib import Path

    return Path(output).suffix.lower() in (".parquet", ".pq")


def is_gzipped_csv(output) -> bool:
    """Whether ``toolkit predict`` writes ``output`` as gzip-compressed CSV (``.csv.gz``)."""
    return str(output).lower().endswith(".csv.gz")


def write_predictions(
    model,
    chunks: Iterable[InputChunk],
    spec: FeatureSpec,
    config: ExperimentConfig,
    output,
    *,
    calibration: PostHocCalibration = PostHocCalibration.NONE,
) -> int:
    """Predict ``chunks`` of new rows and write them to ``output`` (CSV, gzip-compressed CSV
    or Parquet, by its suffix) a chunk at a time, so memory stays flat whatever the number
    of rows. The file appears, complete, only at the end (atomic rename); returns the number
    of rows written.
    A killed ``toolkit predict`` leaves its temporary file beside ``output``; the next one
    writing ``output`` deletes it (see ``atomic_write_locked``)."""
    from pathlib import Path

    from toolkit.runs import atomic_write_locked

    output = Path(output)
    written = 0

    def write(handle) -> None:
        nonlocal written
        parquet = is_parquet(output)
        writer = None
        if is_gzipped_csv(output):
            # Closed below, before the file it writes into (which it leaves open); no
            # time stamp, so the same predictions make the same bytes.
            handle = gzip.GzipFile(fileobj=handle, mode="wb", compresslevel=6, mtime=0)
        # The Parquet writer is closed before its file, also when a chunk fails: closing
        # it after raised "write to closed file" in place of the chunk's own error.
        try:
            exact = draws_at_prediction(model, config)
            for first_row, chunk in input_blocks(chunks, exact=exact):
                frame = predict_chunk(
                    model, chunk, spec, config, calibration=calibration, first_row=first_row
                )
                if parquet:
                    import pyarrow.parquet as pq

                    table = _parquet_table(frame, chunk)
                    if writer is None:
                        writer = pq.ParquetWriter(handle, table.schema)
                    elif table.schema != writer.schema:
                        # Columns whose input types are not known (an image run's)
                        # take the first chunk's: an integer column with a gap in a
                        # later chunk comes out of pandas as floats.
                        table = table.cast(writer.schema)
                    writer.write_table(table)
                else:
                    handle.write(frame.to_csv(index=False, header=written == 0).encode())
                written += len(frame)
        finally:
            if writer is not None:
                writer.close()
            if isinstance(handle, gzip.GzipFile):
                handle.close()

    atomic_write_locked(output, write)
    return written


def _parquet_table(frame: pd.DataFrame, chunk: InputChunk):
    """One chunk of ``toolkit predict``'s output as an Arrow table, its carried columns (the
    first ones) in the types they have in the input, not those pandas infers: an id with a gap
    stays int64, a Parquet input's types stay its own."""
    import pyarrow as pa

    from toolkit.data.streaming.files import short_error
    from toolkit.errors import DataError

    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema = chunk.carried_schema
    if schema is None:
        return table
    # The carried columns' types now differ from those pandas' metadata records.
    table = table.replace_schema_metadata(None)
    for position, name in enumerate(chunk.carried.columns):
        index = schema.get_field_index(name)
        kind = schema.field(index).type if index >= 0 else None
        if kind is None or table.field(position).type == kind:
            continue
        try:
            column = table.column(position).cast(kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise DataError(
                f"input column '{name}' is {kind} in the first input file but cannot be in a "
                f"later one: {short_error(error)}"
            ) from None
        table = table.set_column(position, table.field(position).with_type(kind), column)
    return table


def concatenate(parts: list[Predictions]) -> Predictions:
    """Predictions of consecutive chunks as one (streamed evaluation and prediction)."""
    first = parts[0]
    if len(parts) == 1:
        return first

    def joined(name: str) -> np.ndarray | None:
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else np.concatenate(values)

    extra = {key: np.concatenate([p.extra[key] for p in parts]) for key in first.extra}
    row_scores = None
    if first.row_scores is not None:
        row_scores = {
            key: np.concatenate([p.row_scores[key] for p in parts]) for key in first.row_scores
        }
    arrays = (
        "mean", "std", "epistemic_std", "aleatoric_std", "locations", "scales", "lower",
        "upper", "conformal_lower", "conformal_upper", "prediction_sets",
    )  # fmt: skip
    return Predictions(
        first.task,
        extra=extra,
        interval_level=first.interval_level,
        row_scores=row_scores,
        **{name: joined(name) for name in arrays},
    )
