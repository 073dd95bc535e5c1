"""``train(config)``: data -> model -> fit -> run directory. No CLI code, no printing of its own.

Data problems are found before the run directory exists, so a bad input leaves nothing
behind. Once training starts, run.json always ends in one of: completed, failed, interrupted.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

import toolkit
from toolkit.config.loading import dump_config, load_config, with_absolute_paths
from toolkit.config.schema import ExperimentConfig
from toolkit.data.memory import allocation_failure, out_of_memory
from toolkit.data.prepared import PreparedData, check_same_data, prepare_data
from toolkit.data.preprocessing import describe
from toolkit.errors import (
    ConfigError,
    DataError,
    RunFailed,
    RunInterrupted,
    ToolkitError,
    resume_call,
    train_call,
)
from toolkit.evaluation.unpredicted import unpredicted_class_warning
from toolkit.runs import (
    DirectoryLock,
    RunDirectory,
    atomic_write,
    atomic_write_json,
    atomic_write_text,
    create_run_directory,
    disk_full_message,
    drop_stale_reports,
    drop_stale_temporaries,
    held_runs_hint,
    is_retired_attempt,
    os_error_message,
    read_json,
    refuse_repeat_group,
    retired_elsewhere,
    sweep_of_trial,
    utc_now,
)
from toolkit.text import counted

if TYPE_CHECKING:
    from toolkit.data.preprocessing import FeatureSpec
    from toolkit.evaluation.baselines import BaselineFit
    from toolkit.evaluation.calibrate import RunCalibration
    from toolkit.evaluation.posthoc import PostHocCalibration
    from toolkit.training.callback_factory import RunCallbacks


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    status: str
    metrics: dict[str, Any]
    epochs: int
    reason: str | None = None


def _versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {
        "toolkit": toolkit.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def _model_summary(model) -> str:
    buffer = io.StringIO()
    model.summary(print_fn=lambda line, **_: buffer.write(line + "\n"))
    return buffer.getvalue()


def _history_columns(path: Path, completed_epochs: int) -> dict[str, list[float]] | None:
    """Trim history.csv to the epochs a resume point covers; return its columns.

    Rows are trimmed by position: row i is epoch i + 1, and a run killed between writing
    a row and its resume point has one row more than the resume point covers.
    """
    if not path.exists():
        return None
    history = pd.read_csv(path).iloc[:completed_epochs].copy()
    if "epoch" in history and len(history) and history["epoch"].iloc[0] == 0:
        history["epoch"] += 1  # written by a version that counted epochs from 0
    atomic_write_text(path, history.to_csv(index=False))
    return {c: history[c].tolist() for c in history.columns if c != "epoch"}


def _first_non_finite_loss(history: pd.DataFrame) -> tuple[int, float] | None:
    """(epoch counted from 1, loss) where the training loss became NaN or infinite for good,
    or None when the last epoch's loss is finite."""
    if "loss" not in history or not len(history):
        return None
    losses = history["loss"].to_numpy(dtype=float)
    finite = np.flatnonzero(np.isfinite(losses))
    row = int(finite[-1]) + 1 if len(finite) else 0
    if row == len(losses):
        return None
    epoch = int(history["epoch"].iloc[row]) if "epoch" in history else row + 1
    return epoch, float(losses[row])


def _non_finite_reason(
    config: ExperimentConfig,
    epoch: int,
    loss: float,
    *,
    best_epoch: int | None,
    member_epochs: list[int | None] | None = None,
) -> str:
    """One line: when the loss blew up, what was kept, and what to try. ``member_epochs``
    (from 1): an ensemble whose members each went back to their own best epoch."""
    if best_epoch is not None and member_epochs is not None:
        kept = ", ".join("-" if e is None else str(e) for e in member_epochs)
        outcome = f"each member is at its own best epoch ({kept})"
    elif best_epoch is not None:
        outcome = f"the model is the best epoch's ({best_epoch})"
    elif config.callbacks.checkpoint is None:
        outcome = "callbacks.checkpoint is off, so no model or metrics were saved"
    else:
        outcome = "no epoch ended with usable weights, so no model or metrics were saved"
    return f"loss became {loss} at epoch {epoch}; {outcome}. {divergence_remedy(config)}"


def _weight_penalties(config: ExperimentConfig) -> list[tuple[str, float]]:
    """The config's weight penalties by key: l1/l2 of the model, its blocks and conv body,
    and the optimizer's weight decay."""
    model = config.model
    penalties = [("model.l1", model.l1), ("model.l2", model.l2)]
    for index, block in enumerate(model.hidden):
        penalties += [
            (f"model.hidden.{index}.l1", block.l1),
            (f"model.hidden.{index}.l2", block.l2),
        ]
    penalties += [("model.conv.l2", model.conv.l2)]
    penalties += [
        (f"model.conv.blocks.{index}.l2", block.l2) for index, block in enumerate(model.conv.blocks)
    ]
    decay = config.training.optimizer.arguments.get("weight_decay")
    penalties += [("training.optimizer.weight_decay", decay)]
    return [(key, float(value)) for key, value in penalties if isinstance(value, (int, float))]


def divergence_remedy(config: ExperimentConfig) -> str:
    """What to change when the loss became NaN or infinite: the weight penalty when one is
    large enough to blow up by itself, else the learning rate (the usual cause).

    A penalty is named when learning_rate x penalty >= 1: a gradient step on l2·w² alone
    scales w by (1 - 2·lr·l2), which overshoots zero and grows once lr·l2 > 1, and a decoupled
    weight decay scales w by (1 - lr·wd) (Keras); an adaptive optimizer's step is bounded by
    the rate, but a penalty that size has squared gradients beyond float32 long before. A
    usual l2 (1e-5 to 1e-2) at a usual rate (1e-4 to 1e-1) is far below 1, so a NaN there
    still points at the rate, as before.
    """
    optimizer = config.training.optimizer
    rate = optimizer.learning_rate
    key, penalty = max(_weight_penalties(config), key=lambda item: item[1], default=("", 0.0))
    if penalty * rate >= 1:
        return (
            f"The likely cause is {key} ({penalty:g}), too large for the learning rate "
            f"({rate:g}; their product {penalty * rate:.3g} should be well below 1): try "
            f"{key} 1e-4, or below {0.1 / rate:.3g}"
        )
    clipping = (
        ""
        if {"clipnorm", "clipvalue", "global_clipnorm"} & set(optimizer.arguments)
        else " or clip gradients (training.optimizer.clipnorm: 1.0)"
    )
    return f"Try a lower training.optimizer.learning_rate (now {rate:g}){clipping}"


def _no_progress_warning(config: ExperimentConfig, history: pd.DataFrame) -> str | None:
    """One line when the training loss never went below its first epoch's, or None.

    A learning rate far too high can leave a network dead (saturated units, constant output)
    with a finite loss that creeps upwards: nothing NaN stops the run, and its metrics are
    meaningless. The run still completes (its files are what was trained); the line says so.
    """
    bayesian = config.model.bayesian
    if "loss" not in history or len(history) < 3:
        return None
    if bayesian is not None and bayesian.kl_warmup_epochs > 0:
        return None  # the KL term's weight grows during warm-up, and the loss with it
    losses = history["loss"].to_numpy(dtype=float)
    if not np.all(np.isfinite(losses)) or np.argmin(losses) != 0 or losses[-1] <= losses[0]:
        return None
    return (
        f"the training loss never went below its first epoch's ({losses[0]:.4g}; "
        f"{losses[-1]:.4g} at epoch {len(losses)}): the network did not learn. Try a lower "
        f"training.optimizer.learning_rate (now {config.training.optimizer.learning_rate:g})"
    )


def _kl_warmup_warning(config: ExperimentConfig, kept_epoch: int) -> str | None:
    """One line when the weights the run kept were trained before the KL term reached its
    full weight (``bayesian.kl_warmup_epochs`` as long as training, or early stopping that
    restored a warm-up epoch), or None: their posterior is narrower than the ELBO's."""
    bayesian = config.model.bayesian
    if bayesian is None or not bayesian.kl_warmup_epochs or kept_epoch > bayesian.kl_warmup_epochs:
        return None
    return (
        f"model.bayesian.kl_warmup_epochs {bayesian.kl_warmup_epochs}: the weights kept are "
        f"epoch {kept_epoch}'s, trained before the KL term reached its full weight (epoch "
        f"{bayesian.kl_warmup_epochs + 1}); raise training.epochs (now "
        f"{config.training.epochs}) or lower the warm-up"
    )


def _random_backbone_warning(config: ExperimentConfig) -> str | None:
    """One line when a backbone with random weights (``weights: none``) stays frozen, or None:
    for the whole run (``trainable: false``, no ``training.fine_tune``), the head was trained
    on the features of an untrained network; with ``fine_tune.unfreeze: N``, all but the last
    N layers stayed random. Neither said anything of it."""
    backbone = config.model.backbone
    fine_tune = config.training.fine_tune
    if config.model.body != "backbone" or backbone.weights != "none" or backbone.trainable:
        return None
    if fine_tune is None:
        return (
            f"model.backbone.weights none with trainable false: the {backbone.name} backbone "
            "kept its random initial weights, so only the top was trained, on random "
            "features; set weights: imagenet (or a .weights.h5 file), or trainable: true to "
            "train the backbone too"
        )
    if fine_tune.unfreeze == "all":
        return None
    return (
        f"model.backbone.weights none with training.fine_tune.unfreeze {fine_tune.unfreeze}: "
        f"all but the last {fine_tune.unfreeze} layers of the {backbone.name} backbone kept "
        "their random initial weights; set weights: imagenet (or a .weights.h5 file), or "
        "unfreeze: all"
    )


# A text column with a different value in each of at least this many training rows is
# reported as an identifier (an id, a timestamp), not a category.
IDENTIFIER_ROWS = 20


def _identifier_warnings(spec, train_rows: int) -> list[str]:
    """One line per categorical feature with a different value in every training row: the
    model can only memorise it, and every new row falls in its out-of-vocabulary bucket (an
    id column or a date, taken in by ``data.features: null``).

    Its distinct values are those of the vocabulary and those ``data.max_tokens`` left out
    of it: a large table's id column always has more than the cap. (Streamed, a column of
    more than a million distinct values has them estimated, and is named when the estimate
    is within 5% of its rows: see ``TokenCounts.distinct``.)"""

    def distinct_present(feature) -> int:
        # The missing token is one of the counted values when the column has gaps.
        distinct = len(feature.vocabulary) + feature.out_of_vocabulary
        return distinct - (1 if feature.missing else 0)

    return [
        f"column '{feature.name}' has a different value in each of the {train_rows} training "
        "rows (an id or a date?): as a category it can only be memorised, and new rows fall "
        "out of its vocabulary; leave it out with data.features"
        for feature in spec.categorical
        if train_rows >= IDENTIFIER_ROWS
        and distinct_present(feature) + feature.missing >= train_rows
    ]


def _label_variant_warning(spec) -> str | None:
    """A line when a classifier's classes include labels that differ only in surrounding
    spaces or case (" setosa" beside "setosa"): each was trained as a class of its own, so the
    model splits one class's rows between them and predicts both."""
    from toolkit.data.preprocessing import label_variants

    target = spec.target
    if target.task == "regression":
        return None
    variants = label_variants(target.classes)
    if not variants:
        return None
    return (
        f"target '{target.name}': {variants}, and were trained as {len(target.classes)} "
        "separate classes; make them one label in the data"
    )


# A binary target's class holding less than this share of the training rows is rare.
RARE_CLASS_SHARE = 0.2


def _positive_class_warning(config: ExperimentConfig, spec, metrics: dict) -> str | None:
    """A line when a binary classifier's positive class (the second of the sorted labels
    unless data.positive_class names it) is the common one and the other is rare: precision,
    recall, F1 and PR AUC then score the common class ('legit' of 'fraud'/'legit': recall
    0.99) and hide how the rare one fares. The shares are of the rows the training metrics
    were computed on (all of them, or a sample of a large split)."""
    target = spec.target
    if target.task != "binary" or config.data.positive_class is not None:
        return None
    matrix = (metrics.get("train") or {}).get("confusion_matrix")
    if not matrix or len(matrix) != 2:
        return None
    counts = [sum(row) for row in matrix]
    total = sum(counts)
    if not total or counts[0] / total >= RARE_CLASS_SHARE:
        return None
    negative, positive = target.classes
    return (
        f"precision, recall, f1 and pr_auc score the positive class '{positive}' (the second "
        f"sorted label), which holds {counts[1] / total:.0%} of the training rows; to score "
        f"the rare class set data.positive_class: {negative}"
    )


# The share of the target's std below which float32's step at its mean goes unnoticed.
RESOLUTION_SHARE = 0.01


def _target_resolution_warning(spec) -> str | None:
    """A line when float32, which the model and its targets compute in, cannot resolve the
    target: values near a large offset (5e7 +- a few units) are rounded to steps of 4 there,
    so the network learns and predicts the steps (r2 0.68 where 0.9 was there to learn).
    Subtracting the offset from the column before training keeps every digit."""
    target = spec.target
    if target.task != "regression":
        return None
    step = float(np.spacing(np.float32(abs(target.mean))))
    if step <= RESOLUTION_SHARE * target.std:
        return None
    return (
        f"target '{target.name}' has mean {target.mean:.6g} and std {target.std:.3g}: in "
        f"float32, which the model computes in, its values are resolved only to steps of "
        f"{step:.3g} ({step / target.std:.2g} std); subtract a constant near its mean from "
        "the column (and add it back to the predictions)"
    )


def _negative_prediction_warning(
    config: ExperimentConfig, spec, train, held_out, split: str
) -> str | None:
    """A line when a regression target is never negative in the training rows scored (a
    price, a count, a duration) but some held-out rows get a negative prediction, and no
    ``prediction.target_range`` is set: a Gaussian head fitted to a skewed positive target
    predicts below 0, and nothing pointed at the setting that clips it. Negative interval
    lower bounds alone do not call for it: a symmetric 95% interval reaches below 0 for a
    target such as diabetes' (25 to 346) with no point estimate wrong, and the shipped
    examples would warn on every run. ``train`` and ``held_out``: the two splits'
    ``RunningMetrics``."""
    if spec.target.task != "regression" or config.prediction.target_range is not None:
        return None
    if not held_out.negative_predictions or not 0 <= train.target_low < np.inf:
        return None
    share = held_out.negative_predictions / held_out.rows
    bounds = (
        f" (and {held_out.negative_bounds} a negative interval lower bound)"
        if held_out.negative_bounds > held_out.negative_predictions
        else ""
    )
    return (
        f"target '{spec.target.name}' is never negative in the training rows, but "
        f"{held_out.negative_predictions} of the {held_out.rows} {split} rows ({share:.1%}) "
        f"have a negative prediction{bounds}; if it cannot be negative (a price, a count), "
        "set prediction.target_range: [0, null] to clip predictions and intervals at 0"
    )


# Predictions whose spread over the training rows is below this share of the target's explain
# less than 0.04% of its variance: the network predicts about one value whatever the inputs.
CONSTANT_PREDICTION_SHARE = 0.02


def _constant_prediction_warning(config: ExperimentConfig, train) -> str | None:
    """A line when a regressor's predictions of the training rows scored hardly vary while
    the target does: nothing fails, the metrics read as a weak model, and the cause is often
    a penalty that zeroed the first layer (``first_layer_l1_prior_scale`` on a table of far
    more columns than rows: 3,000 columns and 200 rows at the shipped scale). ``train``: the
    training split's ``RunningMetrics``."""
    spread = train.prediction_spread
    if spread is None or not spread[1] or spread[0] >= CONSTANT_PREDICTION_SHARE * spread[1]:
        return None
    predicted, target = spread
    scale = config.model.first_layer_l1_prior_scale
    if scale is not None:
        cause = (
            f"model.first_layer_l1_prior_scale {scale:g} can set every first-layer weight to "
            "zero on a table of many columns for its rows: try a scale 10 times larger"
        )
    else:
        cause = (
            "if the target depends on the inputs, lower the weight penalties (model.l1, "
            "model.l2, model.weight_prior_scale) or the learning rate"
        )
    return (
        f"the predictions of the {train.rows} training rows scored hardly vary (std "
        f"{predicted:.3g} against the target's {target:.3g}): the network predicts about one "
        f"value whatever the inputs; {cause}"
    )


def _noise_free_interval_warning(config: ExperimentConfig, metrics: dict) -> str | None:
    """A line when a regressor's intervals come from the spread of its passes' or members'
    means alone (MC dropout, variational layers or an ensemble without a Gaussian head: no
    model of the noise in the data) and cover far fewer validation rows than their level.

    Such a band is the uncertainty about the mean, not about a new y: mc_dropout.yaml with
    model.head: default on a 1,500-row hetero table wrote 95% lower/upper covering 0.41 of
    the validation rows and 0.44 of the test rows, with nothing but the summary's coverage
    to say so. Far: more than 3 binomial standard errors below the level. Not said beside
    prediction.conformal (its columns are the calibrated intervals), nor when std scaling
    stopped at its bound (that warning names the same fixes)."""
    model, prediction = config.model, config.prediction
    if (
        model.task != "regression"
        or model.gaussian_output
        or not model.has_spread
        or prediction.conformal is not None
        or "bounded" in (metrics.get("std_scaling") or {})
    ):
        return None
    coverage = (metrics.get("validation") or {}).get("coverage")
    rows = (metrics.get("evaluated_rows") or {}).get("validation")
    if coverage is None or not rows:
        return None
    level = prediction.interval
    if coverage >= level - 3.0 * math.sqrt(level * (1.0 - level) / rows):
        return None
    return (
        f"lower/upper, the central {level:g} interval of the spread of the model's passes or "
        f"members alone (no model of the noise in the data), covered {coverage:.2f} of the "
        f"validation rows; set model.head: gaussian for that noise, or prediction.conformal "
        "for intervals calibrated to cover"
    )


def _unbounded_conformal_warning(conformal) -> str | None:
    """A line when the conformal quantile is infinite: too few calibration rows for alpha
    (fewer than (1 - alpha) / alpha, 999 at alpha 0.001), so the only interval with the
    guarantee is the whole line and the only set every class. Valid, but not what was meant."""
    if conformal is None or math.isfinite(conformal.quantile):
        return None
    rows, alpha = len(conformal.scores), conformal.alpha
    what = "interval is unbounded" if conformal.task == "regression" else "set holds every class"
    return (
        f"prediction.conformal.alpha {alpha:g} needs about "
        f"{math.ceil((1 - alpha) / alpha)} calibration rows, this run has {rows}: every "
        f"conformal {what}; raise alpha or calibrate on more rows"
    )


def train(
    config: ExperimentConfig,
    *,
    output_dir: str | Path | None = None,
    data: PreparedData | None = None,
    verbose: int | None = None,
    run_prefix: str = "",
    baselines: BaselineFit | None = None,
    deferred_plots: list | None = None,
    on_created: Callable[[Path], None] | None = None,
) -> RunResult:
    """Train ``config`` into a new run directory.

    ``baselines``: a ``BaselineFit`` of the same data, fitted once by a sweep for all its
    trials and referred to in metrics.json instead of being fitted again. Otherwise they
    are fitted in a thread while the network trains.
    ``deferred_plots``: a list the run's plot drawing (still under way) is appended to
    instead of being waited for; whoever passes it calls ``join()`` on each later (a sweep,
    while its next trial trains).
    ``on_created``: called with the run directory once its config and run.json are written,
    before training: a sweep names its final run in sweep.json then, so a kill that gives it
    no chance to later still leaves the run found.
    """
    data = check_before_run(config, data)
    base = output_dir or config.output_dir
    source_record = dict(data.source)
    _form_cluster(config)  # a peer that never comes fails here, before any run exists
    if config.runtime.distribute == "multi_worker":
        from toolkit.training.multi_worker import worker_output_dir

        if _by_file(config, data):
            source_record["worker_shards"] = _worker_shards(data)
        base = worker_output_dir(base)  # only the chief writes under output_dir
    new_folders = _missing_folders(Path(base).expanduser() / config.name)
    run = create_run_directory(base, config.name, prefix=run_prefix)
    try:
        # Held while the run is written: no --resume meanwhile.
        with DirectoryLock.acquire(run.path):
            return _write_and_fit(
                config,
                run,
                data,
                source_record,
                verbose=verbose,
                baselines=baselines,
                deferred_plots=deferred_plots,
                on_created=on_created,
            )
    except _OutOfMemoryBeforeTraining as error:
        # Made by this process moments ago, with nothing trained in it: a run that never
        # started would only be a failed one to clean up, so none is left.
        shutil.rmtree(run.path, ignore_errors=True)
        for folder in new_folders:
            with contextlib.suppress(OSError):  # one another process has written into
                folder.rmdir()
        raise ToolkitError(f"{error}; no run was kept") from None


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first: what
    creating a run directory in it makes."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


class _OutOfMemoryBeforeTraining(ToolkitError):
    """Memory ran out while a new run's model was built or compiled, before any epoch:
    ``train`` removes the run directory it had just made."""


@dataclass
class _Progress:
    """How far ``_fit`` got: memory running out before training began means the model
    cannot be trained here, during training that a step did not fit."""

    training: bool = False


def _out_of_memory_message(
    config: ExperimentConfig, error: BaseException, *, training: bool
) -> str:
    """One line for an allocation that failed: when, what could not be allocated (from
    TensorFlow's or NumPy's own text), and the settings that size it."""
    model = config.model
    sizes = [f"model.hidden {[block.units for block in model.hidden]}"]
    if model.body == "conv":
        sizes.insert(0, f"model.conv.blocks {[block.filters for block in model.conv.blocks]}")
    if model.body == "backbone" and model.backbone is not None:
        sizes.insert(0, f"model.backbone {model.backbone.name}")
    if model.ensemble is not None:
        sizes.append(f"model.ensemble.members {model.ensemble.members}")
    if training:
        when = "during training"
        remedy = (
            f"lower training.batch_size (now {config.training.batch_size}) or the model's "
            f"sizes ({', '.join(sizes)})"
        )
    else:
        when = "building the model"
        remedy = f"lower the model's sizes ({', '.join(sizes)})"
    return f"out of memory {when} (could not allocate {allocation_failure(error)}); {remedy}"


def check_metrics_fit_classes(config: ExperimentConfig, spec: FeatureSpec) -> None:
    """A ConfigError for a ``model.metrics`` top-k accuracy whose k is at least the target's
    number of classes: every row's class is then among the k most probable, and the metric
    is 1 in every epoch whatever the network learned (``top5_accuracy`` on iris' 3 classes
    was trained and logged as 1.0 without a word). Before any run exists."""
    from toolkit.errors import ConfigError

    if config.model.task != "multiclass" or not config.model.metrics:
        return
    classes = len(spec.target.classes)
    for name in config.model.metrics:
        if name.startswith("top") and name.endswith("_accuracy"):
            k = int(name.removeprefix("top").removesuffix("_accuracy"))
            if k >= classes:
                allowed = ["accuracy"] + [f"top{j}_accuracy" for j in (3, 5) if j < classes]
                raise ConfigError(
                    f"model.metrics: {name} is 1 on every row of target '{spec.target.name}', "
                    f"whose {classes} classes are all among the {k} most probable; allowed for "
                    f"{classes} classes: {', '.join(allowed)}"
                )


def check_before_tensorflow(config: ExperimentConfig, data: PreparedData) -> None:
    """The checks of ``check_before_run`` that need neither TensorFlow nor a model: a
    ``training.class_weight`` label that is no class, a ``model.init_from`` that is no run.
    ``toolkit.train`` makes them before TensorFlow starts (about 3 s of CPU), as it reads
    its data first."""
    from toolkit.runs import open_run_directory
    from toolkit.training.class_weight import check_class_weight

    check_class_weight(config, data.spec)
    check_metrics_fit_classes(config, data.spec)
    if config.model.init_from:
        open_run_directory(config.model.init_from)


def check_before_run(config: ExperimentConfig, data: PreparedData | None = None) -> PreparedData:
    """What ``train`` checks before its run directory exists: the runtime, the data (read
    here unless given, and returned), a model too large for the memory, ``model.init_from``
    and the backbone's weights. A ``--repeat`` group calls it too, before its own directory
    exists."""
    from toolkit.training.runtime import check_runtime

    # A bad device or TOOLKIT_CPU_DEVICES: before any run exists, and before the data is read.
    check_runtime(config.runtime)
    data = data or prepare_data(config)
    from toolkit.training.class_weight import check_class_weight

    check_class_weight(config, data.spec)  # a label that is not a class: before any run
    check_metrics_fit_classes(config, data.spec)
    from toolkit.models.footprint import check_model_fits

    check_model_fits(config, data.spec)  # before any model is built (init_from builds one)
    if config.model.init_from:
        from toolkit.runs import open_run_directory

        open_run_directory(config.model.init_from)  # a bad path fails before any run exists
        _check_init_from(config, data)
    if config.model.backbone is not None and data.spec.image is not None:
        from toolkit.models.bodies.backbone import check_unfreeze, ensure_weights

        shape = data.spec.image.shape
        application = ensure_weights(config.model, shape)  # offline: fails before any run
        if config.training.fine_tune is not None:
            check_unfreeze(config.model, config.training.fine_tune.unfreeze, shape, application)
    return data


def _check_init_from(config: ExperimentConfig, data: PreparedData) -> None:
    """``model.init_from`` must give the model some of its weights, and every layer
    ``model.freeze`` keeps fixed must be among them: otherwise the run trained from its
    random start, or kept random blocks fixed, without a word (``transferred_layers: []``).
    Checked before any run exists, on a model built here and dropped: every layer has a
    name of its own, so the run's model is named alike, and its seed is set again before
    that model is built."""
    from toolkit.models.builder import block_prefixes, build_model, frozen_layers, matching_layers
    from toolkit.models.saving import load_run_model

    source = load_run_model(config.model.init_from, check_inputs=False)
    model = build_model(config, data.spec, train_size=data.train.rows)
    matched = matching_layers(model, source)
    where = f"model.init_from {config.model.init_from}"
    if not matched:
        theirs = ", ".join(layer.name for layer in source.layers if layer.weights) or "none"
        raise ConfigError(
            f"{where}: none of its layers with weights ({theirs}) has the name and weight "
            "shapes of one of this model's, so nothing would be copied; start from a run "
            "with the same body (block sizes, input columns, ensemble members)"
        )
    _check_init_from_classes(config, data)
    frozen = frozen_layers(model, freeze=config.model.freeze, prefixes=block_prefixes(config.model))
    missing = [layer.name for layer in frozen if layer.weights and layer.name not in matched]
    if missing:
        raise ConfigError(
            f"model.freeze {config.model.freeze} would keep {', '.join(missing)} fixed at "
            f"its random start: {where} has no layer of that name and weight shapes"
        )


def _check_init_from_classes(config: ExperimentConfig, data: PreparedData) -> None:
    """A binary ``model.init_from`` run must have its two classes in this run's order: the
    one logit copied from it is the log-odds of its second class, so a source trained with
    the other positive class (``data.positive_class``) starts this run predicting the
    opposite (test accuracy 1 - the source's, ROC AUC 1 - the source's)."""
    from toolkit.data.preprocessing import FeatureSpec
    from toolkit.runs import open_run_directory

    mine = data.spec.target
    source = open_run_directory(config.model.init_from)
    if mine.task != "binary" or not source.preprocessing.exists():
        return
    theirs = FeatureSpec.from_json(source.preprocessing.read_text()).target
    if theirs.task != "binary" or list(theirs.classes) == list(mine.classes):
        return
    if sorted(theirs.classes) != sorted(mine.classes):
        return  # other labels: the head is a starting point, not the same classes' odds
    raise ConfigError(
        f"model.init_from {config.model.init_from}: its output is the probability of "
        f"'{theirs.classes[1]}', this run's of '{mine.classes[1]}', so it would start "
        f"predicting the opposite class; set data.positive_class: {theirs.classes[1]} "
        "(as that run had), or train without init_from"
    )


def _write_and_fit(
    config: ExperimentConfig,
    run: RunDirectory,
    data: PreparedData,
    source_record: dict,
    *,
    verbose: int | None,
    baselines: BaselineFit | None,
    deferred_plots: list | None,
    on_created: Callable[[Path], None] | None = None,
) -> RunResult:
    """A new run's first files, then its training."""
    try:
        atomic_write_text(run.config, dump_config(with_absolute_paths(config)))
        run.update_run(
            run_id=run.path.name,
            name=config.name,
            task=config.model.task,
            status="running",
            started=utc_now(),
            ended=None,
            seed=config.seed,
            data_fingerprint=data.fingerprint,
            data=source_record,
        )
        atomic_write_text(run.preprocessing, data.spec.to_json())
        atomic_write_json(run.data_summary, describe(data.spec, data.rows))
    except OSError as error:
        raise ToolkitError(os_error_message(error, f"cannot write to {run.path}")) from None
    if on_created is not None:
        on_created(run.path)
    return _guarded_fit(
        config,
        run,
        data,
        verbose=verbose,
        resuming=False,
        baselines=baselines,
        deferred_plots=deferred_plots,
    )


@dataclass(frozen=True)
class CheckedResume:
    """A run that ``check_resumable`` found fit to continue: its config and its data."""

    run: RunDirectory
    config: ExperimentConfig
    data: PreparedData


def resume(
    run_dir: str | Path, *, verbose: int | None = None, checked: CheckedResume | None = None
) -> RunResult:
    """Continue an interrupted run from its last completed epoch. ``checked``: what
    ``check_resumable`` returned for it, so its data is not read twice."""
    run = _run_directory_to_resume(run_dir)
    # Another process training or resuming this run would interleave its writes with ours.
    with DirectoryLock.acquire(run.path):
        if checked is None:
            checked = _check_resumable_locked(run)
        return _resume_checked(checked, verbose=verbose)


def check_resumable(run_dir: str | Path) -> CheckedResume:
    """Every refusal of a resume that needs no TensorFlow (not a run, completed, a sweep's
    trial, a NaN loss, data or split changed), with the config and data it continues with:
    the command line calls it before TensorFlow starts (about 3 s of CPU), as ``train``
    checks its data first."""
    run = _run_directory_to_resume(run_dir)
    with DirectoryLock.acquire(run.path):
        return _check_resumable_locked(run)


def _run_directory_to_resume(run_dir: str | Path) -> RunDirectory:
    run = RunDirectory(Path(run_dir))
    if not run.config.exists() or not run.run_json.exists():
        raise ToolkitError(
            f"{run.path} is not a run directory (no config.yaml and run.json)"
            f"{held_runs_hint(run.path)}"
        )
    refuse_repeat_group(run)
    from toolkit.training.multi_worker import refuse_the_chiefs_run_on_a_worker

    refuse_the_chiefs_run_on_a_worker(run.path)  # before the lock, which the chief holds
    return run


def _check_resumable_locked(run: RunDirectory) -> CheckedResume:
    record = run.read_run()
    if record.get("status") == "completed":
        raise ToolkitError(f"{run.path} already completed; nothing to resume")
    reason = str(record.get("reason") or "")
    if is_retired_attempt(record):
        raise ToolkitError(f"{run.path} cannot be resumed: {reason} ({retired_elsewhere()})")
    sweep = sweep_of_trial(run.path)
    if sweep is not None:
        # Continued here it trained outside the sweep, which reads none of it and then
        # ran the trial again from the start anyway.
        raise ToolkitError(
            f"{run.path} is a trial of the sweep {sweep}, which trains its trials itself: "
            f"{resume_call(sweep, command='tune')} runs an unfinished trial again "
            f"({train_call(run.config)} trains its config as a run of its own)"
        )
    config = load_config(run.config)
    if record.get("status") == "failed" and reason.startswith("loss became"):
        # A resume keeps the config, and went on from weights that were already NaN.
        raise ToolkitError(
            f"{run.path} failed: its {reason.split(';')[0]}; a resume keeps the config and "
            f"would fail again, so start a new run. {divergence_remedy(config)}"
        )
    data = _prepare_again(config, run)
    check_same_data(record, config, data, remedy="start a new run")
    return CheckedResume(run, config, data)


def _resume_checked(checked: CheckedResume, *, verbose: int | None) -> RunResult:
    from toolkit.models.footprint import check_model_fits

    run, config, data = checked.run, checked.config, checked.data
    check_model_fits(config, data.spec, resuming=True)  # a machine with less memory, say
    _form_cluster(config)  # a peer that never comes leaves run.json as it was
    drop_stale_reports(run.path)
    drop_stale_temporaries(run.path)
    return _guarded_fit(config, run, data, verbose=verbose, resuming=True)


def _form_cluster(config: ExperimentConfig) -> None:
    """Under ``multi_worker``, wait (bounded) for every worker and make the strategy, which
    ``_fit`` then reuses; nothing otherwise. A worker whose peers never come stops with one
    line naming them instead of leaving a run that says 'running' forever."""
    if config.runtime.distribute != "multi_worker":
        return
    from toolkit.training.runtime import configure, make_strategy

    configure(config.runtime, config.seed)
    make_strategy(config.runtime)


def _prepare_again(config: ExperimentConfig, run: RunDirectory) -> PreparedData:
    """The run's data for a resume: the spec and split sizes it recorded are used as they are
    (a streamed source need not read everything again to fit and count)."""
    from toolkit.data.preprocessing import FeatureSpec

    spec = rows = None
    if run.preprocessing.exists() and run.data_summary.exists():
        spec = FeatureSpec.from_json(run.preprocessing.read_text())
        rows = read_json(run.data_summary).get("rows")
    return prepare_data(config, spec=spec, rows=rows)


def _guarded_fit(
    config: ExperimentConfig,
    run: RunDirectory,
    data: PreparedData,
    *,
    verbose: int | None,
    resuming: bool,
    baselines: BaselineFit | None = None,
    deferred_plots: list | None = None,
) -> RunResult:
    """``_fit``, making sure run.json never stays 'running' after the process gives up, and
    the run's tracker (``tracking:``) hears how it ended."""
    from toolkit.tracking import RunTracking
    from toolkit.training.multi_worker import is_chief

    tracking = RunTracking(config, run)
    progress = _Progress()
    before = run.read_run() if resuming else {}
    try:
        if config.runtime.distribute != "multi_worker" or is_chief():  # workers: untracked
            tracking.start(resuming=resuming)
        result = _fit(
            config,
            run,
            data,
            verbose=verbose,
            resuming=resuming,
            baselines=baselines,
            deferred_plots=deferred_plots,
            tracking=tracking,
            progress=progress,
        )
    except BaseException as error:
        interrupted = _interrupted(error)
        lost = None
        if config.runtime.distribute == "multi_worker" and not interrupted:
            from toolkit.training.multi_worker import lost_peer_message

            lost = lost_peer_message(error)
        memory = None  # what ran out of memory, in one line
        if not (interrupted or lost or isinstance(error, ToolkitError)):
            allocation = out_of_memory(error)
            if allocation is not None:
                memory = _out_of_memory_message(config, allocation, training=progress.training)
        if memory is not None and not progress.training:
            tracking.finish("failed", upload=False)
            if not resuming:
                raise _OutOfMemoryBeforeTraining(memory) from None
            # The run is the user's, and nothing of it was trained again: as it was.
            run.update_run(**{key: before.get(key) for key in ("status", "ended", "reason")})
            raise ToolkitError(f"{memory}; {run.path} is left as it was") from None
        if run.run_json.exists() and run.read_run().get("status") == "running":
            reason = (
                "interrupted (Ctrl-C or SIGTERM)"
                if interrupted
                else lost
                or memory
                or disk_full_message(error)
                or f"{type(error).__name__}: {error}".splitlines()[0]
            )
            run.update_run(
                status="interrupted" if interrupted else "failed",
                ended=utc_now(),
                reason=reason,
                traceback=None if interrupted else traceback.format_exc(limit=5),
            )
        tracking.finish("interrupted" if interrupted else "failed", upload=False)
        if interrupted:
            raise RunInterrupted(run.path) from None
        if lost:
            raise RunFailed(f"{lost}; {run.path} is marked failed") from None
        if memory is not None:
            raise RunFailed(f"{memory}; {run.path} is marked failed") from None
        disk_full = None if interrupted or lost else disk_full_message(error)
        if disk_full is not None and not isinstance(error, ToolkitError):
            # The one line the CLI printed for it, from Python too: the OSError (errno 28)
            # came raw out of toolkit.train.
            raise ToolkitError(disk_full) from None
        raise
    tracking.finish(result.status)
    return result


def _interrupted(error: BaseException) -> bool:
    """Whether ``error`` is Ctrl-C or SIGTERM, or was raised while one unwound the stack.

    The interrupt lands wherever training is; a TensorFlow context it passes through may then
    raise its own error on the way out ("Device scope nesting error: move call to
    tf.distribute.set_strategy() out of `with` scope", seen when SIGTERM reached a
    multi-worker step), which hid the interrupt: exit 1 with a traceback instead of 130."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _fit(
    config: ExperimentConfig,
    run: RunDirectory,
    data: PreparedData,
    *,
    verbose: int | None,
    resuming: bool,
    baselines: BaselineFit | None = None,
    deferred_plots: list | None = None,
    tracking=None,
    progress: _Progress | None = None,
) -> RunResult:
    """Build and compile, restore a resume point, train, then write the results;
    ``progress.training`` is set once the first epoch starts."""
    from toolkit.data.pipeline import steps_for
    from toolkit.training.class_weight import class_weights
    from toolkit.training.runtime import configure, device_names, make_strategy, strategy_info

    configure(config.runtime, config.seed)
    strategy = make_strategy(config.runtime)
    steps_per_epoch = steps_for(data.train.rows, config.training.batch_size)
    run.checkpoints.mkdir(exist_ok=True)
    # When it was resumed: its start-to-end span then holds the time it lay stopped.
    resumed = [*run.read_run().get("resumed", []), utc_now()] if resuming else []
    run.update_run(
        devices=device_names(),
        **strategy_info(strategy),
        versions=_versions(),
        status="running",
        ended=None,
        **({"resumed": resumed} if resumed else {}),
    )
    # Where the time of a run goes, recorded in run.json: what is not training must not
    # grow faster than training.
    timings: dict[str, float] = {}
    if "prepare_seconds" in data.source:
        timings["data"] = data.source["prepare_seconds"]
    weights = class_weights(config, data.spec, data.train)
    if weights is not None:
        classes = data.spec.target.classes
        run.update_run(class_weight={c: float(w) for c, w in zip(classes, weights, strict=True)})
    with _timed(timings, "build"):
        model = _build_and_compile(config, run, data, strategy, steps_per_epoch=steps_per_epoch)
        phase = _resumed_phase(run) if resuming else None
        if phase is not None:
            # A resume point of phase 2 holds phase 2's optimizer: recompile before restoring it.
            _start_phase_two(config, run, data, model, strategy, None, phase, steps_per_epoch)
        run_callbacks, initial_epoch = _callbacks_and_resume(
            config, run, data, model, resuming=resuming
        )
    tracker_callback = tracking.callback() if tracking is not None else None
    callbacks = run_callbacks.callbacks + ([tracker_callback] if tracker_callback else [])
    if phase is not None:
        run_callbacks.checkpoint.extra_state["phase_two_start"] = phase
    verbose = config.training.verbose if verbose is None else verbose
    fine_tune = config.training.fine_tune
    if config.evaluation.baselines and baselines is None:
        from toolkit.evaluation.baselines import BaselineFit

        # They depend on the data only: fitted in a thread while the network trains.
        baselines = BaselineFit(config, data)
    elif baselines is not None:
        baselines.start()  # a sweep's, shared by its trials: from its first trial's training
    finish = functools.partial(
        _finish,
        config,
        run,
        data,
        model,
        run_callbacks,
        baselines=baselines,
        deferred_plots=deferred_plots,
        timings=timings,
    )
    saved_on_stop = run_callbacks.checkpoint.best_weights_saved_on_stop
    if progress is not None:
        progress.training = True
    if phase is None:
        with _timed(timings, "training"), saved_on_stop():
            _train_model(
                config,
                data,
                model,
                callbacks,
                initial_epoch=initial_epoch,
                epochs=config.training.epochs,
                steps_per_epoch=steps_per_epoch,
                verbose=verbose,
                class_weights=weights,
            )
        if fine_tune is None or not _finite_loss(model):
            return finish()
        phase = initial_epoch + len(model.history.epoch)
        _start_phase_two(config, run, data, model, strategy, run_callbacks, phase, steps_per_epoch)
        initial_epoch = phase
    with _timed(timings, "training"), saved_on_stop():
        _train_model(
            config,
            data,
            model,
            callbacks,
            initial_epoch=initial_epoch,
            epochs=phase + fine_tune.epochs,
            steps_per_epoch=steps_per_epoch,
            verbose=verbose,
            class_weights=weights,
        )
    return finish()


@contextlib.contextmanager
def _timed(timings: dict[str, float], name: str):
    """Add the seconds the block takes to ``timings[name]``."""
    started = time.monotonic()
    try:
        yield
    finally:
        timings[name] = round(timings.get(name, 0.0) + time.monotonic() - started, 3)


def _resumed_phase(run: RunDirectory) -> int | None:
    """Where phase 2 started (epochs of phase 1), if the latest resume point is in phase 2."""
    from toolkit.training.run_checkpoint import RunCheckpoint

    point = RunCheckpoint.latest_state(run.checkpoints)
    if point is None:
        return None
    return (point[1].get("extra") or {}).get("phase_two_start")


def _finite_loss(model) -> bool:
    """False when the fit ended on a NaN or infinite loss (TerminateOnNaN stopped it)."""
    losses = (model.history.history or {}).get("loss") or []
    return not losses or bool(np.isfinite(losses[-1]))


def _start_phase_two(
    config: ExperimentConfig,
    run: RunDirectory,
    data: PreparedData,
    model,
    strategy,
    run_callbacks: RunCallbacks | None,
    start: int,
    steps_per_epoch: int,
) -> None:
    """Unfreeze and recompile for phase 2, which starts after ``start`` epochs of phase 1.

    At the boundary (``run_callbacks`` given) phase 1's weights are kept in
    checkpoints/phase1.weights.h5, history.csv is appended to, and early stopping restarts
    its patience while keeping phase 1's best value and weights: phase 2 must beat them.
    """
    from toolkit.training.fine_tune import PHASE_ONE_WEIGHTS, enter_phase_two

    if run_callbacks is not None:
        from toolkit.training.run_checkpoint import save_weights_file

        save_weights_file(model, run.checkpoints / PHASE_ONE_WEIGHTS)
    trainable = enter_phase_two(model, config, data.spec, strategy, steps_per_epoch=steps_per_epoch)
    run.update_run(
        fine_tune={
            "phase_two_first_epoch": start + 1,
            "unfrozen_layers": len(trainable),
            "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        }
    )
    if run_callbacks is None:
        return
    import keras

    run_callbacks.checkpoint.extra_state["phase_two_start"] = start
    for callback in run_callbacks.callbacks:
        if isinstance(callback, keras.callbacks.CSVLogger):
            callback.append = True
    early = run_callbacks.early_stopping
    if early is not None:
        early.resume_from(
            {
                "wait": 0,
                "best": None if early.best is None else float(early.best),
                "best_epoch": int(early.best_epoch),
                "stopped_epoch": 0,
            },
            early.best_weights,
        )


def _build_and_compile(
    config: ExperimentConfig,
    run: RunDirectory,
    data: PreparedData,
    strategy,
    *,
    steps_per_epoch: int,
):
    """The compiled model (weights from ``init_from`` where layers match), and the files that
    describe it: model_summary.txt, model.json and run.json's ``execution``."""
    from toolkit.models.builder import block_prefixes, build_model, transfer_weights
    from toolkit.training.compile import compile_model

    with strategy.scope():
        model = build_model(config, data.spec, train_size=data.train.rows)
        if config.model.init_from:
            from toolkit.models.saving import load_run_model

            copied = transfer_weights(
                model,
                load_run_model(config.model.init_from, check_inputs=False),
                freeze=config.model.freeze,
                prefixes=block_prefixes(config.model),
            )
            run.update_run(transferred_layers=copied)
        compile_model(model, config, data.spec, steps_per_epoch=steps_per_epoch)

    # What "auto" resolved to, so runs on different machines can be compared.
    run.update_run(
        execution={
            "steps_per_execution": int(model.steps_per_execution),
            "jit_compile": bool(model.jit_compile),
        }
    )
    atomic_write_text(run.model_summary, _model_summary(model))
    atomic_write_json(
        run.path / "model.json",
        {
            "total_params": int(model.count_params()),
            "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        },
    )
    return model


def _callbacks_and_resume(
    config: ExperimentConfig, run: RunDirectory, data: PreparedData, model, *, resuming: bool
) -> tuple[RunCallbacks, int]:
    """The run's callbacks and the epoch to start at: 0, or where the latest resume point
    left off (model, optimizer and callback state restored, history.csv trimmed to it)."""
    from toolkit.training.callback_factory import build_callbacks
    from toolkit.training.run_checkpoint import RunCheckpoint

    initial_epoch = 0
    initial_history = None
    resume_point = RunCheckpoint.latest_state(run.checkpoints) if resuming else None
    if resuming:
        from toolkit.training.tensorboard_trim import trim_event_files

        completed = resume_point[1]["completed_epochs"] if resume_point is not None else 0
        # Epochs past the resume point are trained again: their first writing goes.
        trim_event_files(run.tensorboard, completed)
    if resuming and resume_point is not None:
        initial_history = _history_columns(run.history, resume_point[1]["completed_epochs"])
    run_callbacks = build_callbacks(
        config,
        run,
        # Callbacks run the model on this every few epochs: a bounded sample of the split.
        validation=data.validation.sample(CALLBACK_ROWS, seed=config.seed),
        class_names=data.spec.target.classes,
        train_size=data.train.rows,
        resuming=resume_point is not None,
        initial_history=initial_history,
        input_images=_example_images(config, data),
    )
    if resume_point is not None:
        run_callbacks.checkpoint.set_model(model)
        initial_epoch = run_callbacks.checkpoint.restore(*resume_point)
        run.update_run(resumed_at_epoch=initial_epoch + 1)  # the first epoch run now, from 1
    return run_callbacks, initial_epoch


def _by_file(config: ExperimentConfig, data: PreparedData) -> bool:
    """Multi-worker training on streamed shards: each worker reads its own files."""
    return config.runtime.distribute == "multi_worker" and data.streamed


def _worker_shards(data: PreparedData) -> list[str]:
    """The shard files this worker trains on; a DataError when there are fewer shard files
    than workers (a worker without files would have nothing to read)."""
    import json
    import os

    from toolkit.data.split import Worker

    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    members = [
        (kind, index) for kind in ("chief", "worker") for index in range(len(cluster.get(kind, [])))
    ]
    from toolkit.training.multi_worker import task

    current = task() or {"type": "worker", "index": 0}
    position = members.index((current["type"], current["index"])) if members else 0
    shards = data.train.describe().get("shards", 0)
    if shards < max(len(members), 1):
        raise DataError(
            "multi-worker training reads a shard file per worker: "
            f"{counted(len(members), 'worker')} but {data.source.get('source')} has "
            f"{counted(shards, 'shard file')}; split it into at "
            "least as many files as workers"
        )
    return data.train.shard_names(Worker(position, max(len(members), 1)))


def _example_images(config: ExperimentConfig, data: PreparedData):
    """Nine training images as the first batch hands them to the model (augmented when the
    pipeline augments) and their value range, for TensorBoard; None for other data."""
    if data.spec.image is None or config.callbacks.tensorboard is None:
        return None
    from toolkit.data.preprocessing import IMAGE_INPUT

    dataset = data.train.training_dataset(batch_size=9, shuffle_seed=config.seed)
    features, _ = next(iter(dataset))
    return np.asarray(features[IMAGE_INPUT]), data.spec.image.value_range


def _datasets(
    config: ExperimentConfig,
    data: PreparedData,
    *,
    initial_epoch: int,
    epoch,
    strategy=None,
    class_weights: np.ndarray | None = None,
):
    """Training batches (shuffled per epoch from the seed; weighted by ``class_weights``)
    and validation batches; with ``multi_worker``, each worker's share: its slice of every
    batch for data in memory, its own shard files for streamed data."""
    from toolkit.training.class_weight import weighted

    batch_size = config.training.batch_size
    shuffle_seed = config.seed if config.training.shuffle else None
    validation_ds = data.validation.dataset(batch_size=max(batch_size, 256))
    if _by_file(config, data):
        from toolkit.data.split import Worker
        from toolkit.training.multi_worker import shard_by_data

        def worker_dataset(context):
            # One input pipeline per worker: pipeline i reads shards i, i + n, ... in batches
            # of its replicas' share of the global batch, endless (every worker then runs
            # the same number of steps, whatever its files hold).
            return weighted(
                data.train.training_dataset(
                    batch_size=context.get_per_replica_batch_size(batch_size),
                    shuffle_seed=shuffle_seed,
                    start_epoch=initial_epoch,
                    worker=Worker(context.input_pipeline_id, context.num_input_pipelines),
                ),
                class_weights,
            )

        # Validation stays whole on every worker, each scoring its slice of every batch, so
        # all of them evaluate the same number of steps.
        return strategy.distribute_datasets_from_function(worker_dataset), shard_by_data(
            validation_ds
        )
    train_ds = data.train.training_dataset(
        batch_size=batch_size,
        shuffle_seed=shuffle_seed,
        start_epoch=initial_epoch,
        epoch=epoch,
    )
    train_ds = weighted(train_ds, class_weights)
    if config.runtime.distribute == "multi_worker":
        from toolkit.training.multi_worker import shard_by_data

        train_ds, validation_ds = shard_by_data(train_ds), shard_by_data(validation_ds)
    return train_ds, validation_ds


def _train_model(
    config: ExperimentConfig,
    data: PreparedData,
    model,
    callbacks: list,
    *,
    initial_epoch: int,
    epochs: int,
    steps_per_epoch: int,
    verbose: int,
    class_weights: np.ndarray | None = None,
) -> None:
    """``model.fit`` from ``initial_epoch`` to ``epochs``."""
    from toolkit.data.pipeline import epoch_variable
    from toolkit.training.epoch_counter import EpochCounter
    from toolkit.training.kl_annealing import KLAnnealing

    # An execution size that divides the epoch gets one endless input iterator per fit;
    # any other gets an iterator per epoch, told the epoch by EpochCounter.
    endless = steps_per_epoch % int(model.steps_per_execution) == 0 or _by_file(config, data)
    epoch = None if endless else epoch_variable(initial_epoch)
    train_ds, validation_ds = _datasets(
        config,
        data,
        initial_epoch=initial_epoch,
        epoch=epoch,
        strategy=model.distribute_strategy,
        class_weights=class_weights,
    )
    bayesian = config.model.bayesian
    if bayesian is not None and bayesian.kl_warmup_epochs and config.model.variational:
        callbacks = [KLAnnealing(bayesian.kl_warmup_epochs), *callbacks]
    model.fit(
        train_ds,
        validation_data=validation_ds,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch if endless else None,
        initial_epoch=initial_epoch,
        # First, so the pipeline knows the epoch before Keras starts its iterator.
        callbacks=callbacks if endless else [EpochCounter(epoch), *callbacks],
        shuffle=False,  # the dataset shuffles itself, per epoch from the seed
        verbose=verbose,
    )


def _finish(
    config: ExperimentConfig,
    run: RunDirectory,
    data: PreparedData,
    model,
    run_callbacks: RunCallbacks,
    *,
    baselines: BaselineFit | None = None,
    deferred_plots: list | None = None,
    timings: dict[str, float] | None = None,
) -> RunResult:
    """The run's outcome: model.keras, metrics.json, plots and the final run.json status. A
    loss that became NaN fails the run and keeps the best checkpoint's weights."""
    timings = {} if timings is None else timings
    status, reason = "completed", None
    history = (
        pd.read_csv(run.history) if run.history.exists() else pd.DataFrame(model.history.history)
    )
    epochs_run = len(history)
    blown_up = _first_non_finite_loss(history)
    if blown_up is not None:
        status = "failed"
        best = run_callbacks.checkpoint.best_path
        best_epoch = run_callbacks.checkpoint.best_epoch if best.exists() else None
        selection = run_callbacks.checkpoint.member_selection
        reason = _non_finite_reason(
            config,
            *blown_up,
            best_epoch=None if best_epoch is None else best_epoch + 1,
            member_epochs=None if selection is None else selection.kept_epochs,
        )
        if best_epoch is None:
            # Every weight is non-finite: no model, metrics or plots that look like results.
            if run_callbacks.learning_curves is not None:
                run_callbacks.learning_curves.draw_final()  # how the loss blew up
                run_callbacks.learning_curves.join()
            run.update_run(
                status=status, reason=reason, ended=utc_now(), epochs=epochs_run, best_epoch=None
            )
            return RunResult(run.path, status, {}, epochs_run, reason)
        model.load_weights(best)
        if selection is not None:
            # The checkpoint is the members' shared best epoch: each goes back to its own
            # (finite) best, the epochs run.json records in member_best_epochs.
            selection.restore()

    from toolkit.evaluation.calibrate import calibrate_run

    calibration = calibrate_run(config, data, model)  # sets the model's temperature
    scored_notes: list[str | None] = []
    try:
        # The calibration files before model.keras: predict, evaluate and export take a run
        # with model.keras as usable, so one killed between the two wrote uncalibrated
        # intervals without a word.
        if calibration.conformal is not None:
            from toolkit.evaluation.conformal import CONFORMAL_FILE

            atomic_write_text(run.path / CONFORMAL_FILE, calibration.conformal.to_json())
        if calibration.std_scaling is not None:
            from toolkit.evaluation.std_scaling import STD_SCALING_FILE, std_scale_json

            atomic_write_text(run.path / STD_SCALING_FILE, std_scale_json(calibration.std_scale))
        atomic_write(run.model, model.save)
        curves = run_callbacks.learning_curves
        if curves is not None:
            # A drawing still in flight would land over the final curves the run's plots
            # draw; and a sweep keeping the callback for later kept its model alive with it
            # until the sweep ended (180 MB over 15 small trials).
            with _timed(timings, "plots"):
                curves.join()
        metrics = _final_metrics(
            config,
            run,
            data,
            model,
            history,
            baselines=baselines,
            deferred_plots=deferred_plots,
            timings=timings,
            calibration=calibration,
            notes=scored_notes,
        )
    except OSError as error:
        # The file when the error names one (atomic writes always do), else the run.
        where = error.filename or f"results to {run.path}"
        message = disk_full_message(error) or os_error_message(error, f"cannot write {where}")
        run.update_run(status="failed", ended=utc_now(), reason=message)
        raise ToolkitError(message) from None
    warnings = [_no_progress_warning(config, history)] if status == "completed" else []
    warnings.append(_random_backbone_warning(config))
    early = run_callbacks.early_stopping
    restored = early is not None and early.restore_best_weights and early.best_weights is not None
    warnings.append(
        _kl_warmup_warning(config, int(early.best_epoch) + 1 if restored else epochs_run)
    )
    warnings += _identifier_warnings(data.spec, data.train.rows)
    warnings.append(_label_variant_warning(data.spec))
    warnings.append(_positive_class_warning(config, data.spec, metrics))
    split = metrics.get("evaluated_on")
    warnings.append(
        unpredicted_class_warning(
            config,
            metrics.get(split) or {},
            (metrics.get("train") or {}).get("confusion_matrix"),
            f"{split} row",
        )
    )
    warnings += data.warnings
    warnings.append(_target_resolution_warning(data.spec))
    warnings.append(_unbounded_conformal_warning(calibration.conformal))
    warnings.append(_noise_free_interval_warning(config, metrics))
    warnings += scored_notes
    if calibration.std_scaling is not None and "bounded" in calibration.std_scaling:
        warnings.append(f"prediction.std_scaling: {calibration.std_scaling['bounded']}")
    if calibration.temperature is not None and "bounded" in calibration.temperature:
        warnings.append(f"prediction.temperature_scaling: {calibration.temperature['bounded']}")
    if any(warnings):
        run.update_run(warnings=[*run.read_run().get("warnings", []), *filter(None, warnings)])
    selection = run_callbacks.checkpoint.member_selection
    member_epochs = {} if selection is None else {"member_best_epochs": selection.kept_epochs}
    run.update_run(
        status=status,
        reason=reason,
        ended=utc_now(),
        epochs=epochs_run,
        best_epoch=None
        if run_callbacks.checkpoint.best_epoch is None
        else run_callbacks.checkpoint.best_epoch + 1,
        timings=timings,
        **member_epochs,
    )
    return RunResult(run.path, status, metrics, epochs_run, reason)


# Rows of the training split scored for metrics.json's "train" entry (the held-out splits are
# scored in full), of the held-out split drawn in plots, and given to callbacks.
TRAIN_METRIC_ROWS = 100_000
PLOT_ROWS = 20_000
CALLBACK_ROWS = 10_000


def _plot_points(
    config: ExperimentConfig,
    data: PreparedData,
    model,
    split,
    kept,
    calibration: PostHocCalibration,
):
    """``(frame, predictions, y, images)`` for the plots: the held-out split's own, ``kept``
    by its evaluation, when it is small, else those of a seeded sample of ``PLOT_ROWS`` rows.
    ``frame`` holds the numeric columns (the predictive band of a one-feature model plots
    against its column); ``images`` the rows' images, or None."""
    from toolkit.data.preprocessing import IMAGE_INPUT, NUMERIC_INPUT
    from toolkit.evaluation.predict import predict

    if kept is None:
        features, y = split.sample(PLOT_ROWS, seed=config.seed)
        predictions = predict(model, features, config, calibration=calibration)
    else:
        predictions, y = kept
        features, _ = split.sample(None)
    columns = [f.name for f in data.spec.numeric]
    numeric = features.get(NUMERIC_INPUT)
    frame = pd.DataFrame(numeric if numeric is not None else {}, columns=columns or None)
    return frame, predictions, y, features.get(IMAGE_INPUT)


class _LateBaselines:
    """Baselines still fitting when a sweep trial ended; ``join()`` waits for them (within
    their budget) and adds them to the trial's metrics.json."""

    def __init__(self, metrics_path: Path, baselines: BaselineFit) -> None:
        self.metrics_path = metrics_path
        self.baselines = baselines

    def join(self) -> None:
        from toolkit.evaluation.metrics import json_safe

        metrics = json.loads(self.metrics_path.read_text())
        metrics.update(json_safe(self.baselines.result()))
        atomic_write_json(self.metrics_path, metrics)


class _BackgroundPlots:
    """``plot_run(*arguments)`` in a thread; ``join()`` waits and raises what it raised."""

    def __init__(self, draw, *arguments) -> None:
        import threading

        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._draw, args=(draw, *arguments), name="plots", daemon=True
        )
        self._thread.start()

    def _draw(self, draw, *arguments) -> None:
        try:
            draw(*arguments)
        except BaseException as error:
            self._error = error

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def _final_metrics(
    config: ExperimentConfig,
    run: RunDirectory,
    data: PreparedData,
    model,
    history: pd.DataFrame,
    *,
    calibration: RunCalibration,
    baselines: BaselineFit | None = None,
    deferred_plots: list | None = None,
    timings: dict[str, float] | None = None,
    notes: list[str | None] | None = None,
) -> dict[str, Any]:
    """metrics.json, the plots and the TensorBoard HParams entry of a finished run; lines for
    run.json's warnings about the scored rows are appended to ``notes``.

    Held-out metrics are exact, over every row in one streaming pass; training metrics, which
    only show how well the model fits, use a sample of at most ``TRAIN_METRIC_ROWS`` rows, and
    plots a sample of at most ``PLOT_ROWS``, so none of it grows faster than training.
    """
    from toolkit.config.loading import flatten
    from toolkit.evaluation.evaluate import evaluate_split, running_metrics
    from toolkit.evaluation.metrics import json_safe
    from toolkit.evaluation.run_plots import plot_run, uses_model
    from toolkit.training.hparams import write_hparams

    timings = {} if timings is None else timings
    results: dict[str, Any] = {}
    evaluated_rows: dict[str, int] = {}
    held_out_name, held_out = data.held_out
    parts = {"train": data.train, "validation": data.validation, "test": data.test}
    plotting = None
    tallies = {}
    for split, part in parts.items():  # the held-out split last (test, else validation)
        if part is None:
            continue
        tallies[split] = running_metrics(data.spec, config)
        limit = TRAIN_METRIC_ROWS if split == "train" else None
        plotted = split == held_out_name and config.evaluation.plots
        with _timed(timings, "evaluation"):
            scores, evaluated_rows[split], kept = evaluate_split(
                model,
                part,
                data.spec,
                config,
                max_rows=limit,
                seed=config.seed,
                calibration=calibration.post_hoc,
                keep_rows=PLOT_ROWS if plotted else 0,
                running=tallies[split],
            )
        results[split] = scores
        if plotted:
            frame, predictions, y, images = _plot_points(
                config, data, model, held_out, kept, calibration.post_hoc
            )
            # Drawn in a thread while the baselines are waited for and metrics.json is
            # written (nothing here uses the model any more), or a sweep's next trial trains.
            plotting = _BackgroundPlots(
                plot_run,
                config,
                run,
                data.spec,
                history,
                # Only the band of a one-feature model runs it: a sweep's next trial need
                # not keep this model alive while these are drawn.
                model if uses_model(config, data.spec, predictions) else None,
                held_out_name,
                frame,
                predictions,
                y,
                images,
            )
    if notes is not None:
        notes.append(
            _negative_prediction_warning(
                config, data.spec, tallies["train"], tallies[held_out_name], held_out_name
            )
        )
        notes.append(_constant_prediction_warning(config, tallies["train"]))
    late_baselines = None
    if baselines is not None:  # started by _fit (or the sweep) when evaluation.baselines
        if deferred_plots is not None and not baselines.finished:
            # A sweep's first trial: they finish while the next trial trains, and this
            # metrics.json gets them then (the sweep waits for them before it ends).
            baselines.training_ended(timings.get("training"))
            late_baselines = _LateBaselines(run.metrics, baselines)
        else:
            # The seconds spent waiting for them after training: what they add to the run.
            with _timed(timings, "baselines"):
                results.update(baselines.result(training_seconds=timings.get("training")))
    results["evaluated_on"] = held_out_name
    results["evaluated_rows"] = evaluated_rows
    if calibration.temperature is not None:
        results["temperature_scaling"] = calibration.temperature
    if calibration.std_scaling is not None:
        results["std_scaling"] = calibration.std_scaling
    if calibration.conformal is not None:
        conformal = calibration.conformal
        results["conformal"] = {
            "method": conformal.method,
            "alpha": conformal.alpha,
            "calibrated_on": conformal.calibrated_on,
            "rows": len(conformal.scores),
            "quantile": conformal.quantile,
        }
    atomic_write_json(run.metrics, json_safe(results))
    if late_baselines is not None:
        deferred_plots.append(late_baselines)
    if plotting is not None:
        if deferred_plots is not None and not uses_model(config, data.spec, predictions):
            deferred_plots.append(plotting)  # a sweep's next trial trains meanwhile
        else:
            with _timed(timings, "plots"):  # the seconds waited for them
                plotting.join()
    monitor = config.callbacks.checkpoint.monitor if config.callbacks.checkpoint else "val_loss"
    if (
        config.callbacks.tensorboard is not None
        and config.callbacks.tensorboard.hparams
        and monitor in history
    ):
        column = history[monitor].to_numpy(dtype=float)
        finite = column[np.isfinite(column)]
        if len(finite):
            from toolkit.training.run_checkpoint import resolve_mode

            mode = resolve_mode(
                monitor, config.callbacks.checkpoint.mode if config.callbacks.checkpoint else "auto"
            )
            best = float(finite.min() if mode == "min" else finite.max())
            write_hparams(
                run.tensorboard, flatten(config.model_dump(mode="json")), {f"best_{monitor}": best}
            )
    return results
