"""The serving function of a run's model: raw named inputs in, named outputs out.

Every export format is built from ``serving_function``: it runs the model (``passes`` times
for MC-dropout and Bayesian models, inside the graph), then ``summarize`` turns the stacked
passes into the outputs ``toolkit predict`` writes, computed the same way:

- every task: ``prediction`` (the mean in the target's units; for classifiers the label);
- classifiers: ``probabilities``, one column per class in preprocessing.json's order (mean
  over passes); stochastic ones also ``entropy`` and ``mutual_information``;
- regression with uncertainty (a Gaussian head, or several passes or members): ``std``,
  ``lower``, ``upper`` (the ``prediction.interval`` band: the Gaussian mixture's quantiles,
  by bisection on its CDF, or mean -/+ z std for point components), ``epistemic_std``
  (passes or members) and ``aleatoric_std`` (Gaussian head);
- with the run's conformal calibration (conformal.json): ``conformal_lower`` and
  ``conformal_upper`` (regression), ``prediction_set`` (1 or 0 per class) and ``set_size``
  (classifiers).

An ensemble's members are more draws: every pass of every member is one equally weighted
component, as in ``toolkit.evaluation.predict``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from toolkit.config.schema import ExperimentConfig
from toolkit.data.preprocessing import (
    BOOLEAN_SPELLINGS,
    MISSING_TOKEN,
    FeatureSpec,
    typed_labels,
)
from toolkit.data.table_files import PANDAS_NA_VALUES
from toolkit.evaluation.posthoc import PostHocCalibration
from toolkit.text import unique_name

# Bisection steps for a mixture quantile: each halves the bracket, which starts as wide as the
# components' own quantiles spread; 60 halvings reach float32's resolution from any bracket.
_BISECTION_STEPS = 60


@dataclass(frozen=True)
class ServingPlan:
    """What the exported endpoint computes: how many passes, which task, which outputs."""

    task: str
    gaussian: bool
    passes: int
    interval: float
    classes: tuple[str, ...]
    members: int = 1
    label_type: str = "str"  # the target's (preprocessing.json): labels come back in it
    calibration: PostHocCalibration = PostHocCalibration.NONE  # the run's, as predict applies
    target_range: tuple[float | None, float | None] | None = None  # prediction.target_range
    # The passes as one call over the batch repeated ``passes`` times (every stochastic layer
    # draws per row: MC dropout), not one call per pass (a Bayesian layer's weight draw is
    # shared by the batch).
    tiled: bool = False

    @classmethod
    def of(
        cls,
        model,
        spec: FeatureSpec,
        config: ExperimentConfig,
        *,
        mc_samples: int | None,
        calibration: PostHocCalibration = PostHocCalibration.NONE,
    ) -> ServingPlan:
        from toolkit.models.layers.stochastic import draws_per_row, is_stochastic

        stochastic = config.model.is_stochastic and is_stochastic(model)
        samples = mc_samples if mc_samples is not None else config.prediction.mc_samples
        ensemble = config.model.ensemble
        passes = samples if stochastic else 1
        return cls(
            task=config.model.task,
            gaussian=config.model.gaussian_output,
            passes=passes,
            interval=config.prediction.interval,
            classes=tuple(spec.target.classes),
            members=1 if ensemble is None else ensemble.members,
            label_type=spec.target.label_type,
            calibration=calibration,
            target_range=(
                None
                if config.prediction.target_range is None
                else tuple(config.prediction.target_range)
            ),
            tiled=passes > 1 and draws_per_row(model),
        )

    @property
    def stochastic(self) -> bool:
        return self.passes > 1

    @property
    def components(self) -> int:
        """Equally weighted components of the predictive distribution: passes x members."""
        return self.passes * self.members

    def outputs(self) -> list[str]:
        """The endpoint's output names, in the order documented above."""
        several = self.components > 1
        conformal = self.calibration.conformal is not None
        if self.task != "regression":
            extra = ["entropy", "mutual_information"] if several else []
            sets = ["prediction_set", "set_size"] if conformal else []
            return ["prediction", "probabilities", *extra, *sets]
        names = ["prediction"]
        if self.gaussian or several:
            names += ["std", "lower", "upper"]
            names += ["epistemic_std"] if several else []
            names += ["aleatoric_std"] if self.gaussian else []
        if conformal:
            names += ["conformal_lower", "conformal_upper"]
        return names


# What a signature's argument may be called in every format: a Python identifier (what
# tf.function's parameters must be: it renames others itself, with a warning), in ASCII.
_SERVING_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def serving_names(model) -> dict[str, str]:
    """Each model input (by the name the model takes it by: ``numeric``, a categorical
    column's name) -> its argument's name in the export: the same, or for a column named
    ``my col``, ``città`` or ``1st``, one made of what signatures allow (``my_col``,
    ``citt_``, ``arg_1st``), with a number added where two would be the same, in any case:
    TensorFlow names a signature's arguments in lower case (and ONNX's inputs after them),
    so ``sex`` beside ``Sex`` becomes ``sex_2``. ``<export>.json`` maps them back."""
    from toolkit.errors import ToolkitError

    if not isinstance(model.input, dict):
        raise ToolkitError(
            "the model does not take named inputs (a dict); it was not built by this toolkit"
        )
    keys = list(model.input)
    # The first of the names a signature can take keeps it; a later one that differs from it
    # only in case would be the same argument ("more than one argument was named 'sex'").
    kept: dict[str, str] = {}
    for key in keys:
        if _SERVING_NAME.fullmatch(key):
            kept.setdefault(key.lower(), key)
    taken = set(kept)
    names = {}
    for key in keys:
        if kept.get(key.lower()) == key:
            names[key] = key
            continue
        base = re.sub(r"[^A-Za-z0-9_]", "_", key)
        base = base if _SERVING_NAME.fullmatch(base) else f"arg_{base}"  # as tf.function does
        unique, count = base, 1
        while unique.lower() in taken:
            count += 1
            unique = f"{base}_{count}"
        taken.add(unique.lower())
        names[key] = unique
    return names


def input_signature(model) -> dict[str, Any]:
    """A ``tf.TensorSpec`` per named model input (numeric matrix, categorical columns, images),
    any batch size, keyed and named by ``serving_names``."""
    import tensorflow as tf

    return {
        name: tf.TensorSpec(
            (None, *model.input[key].shape[1:]), tf.as_dtype(model.input[key].dtype), name=name
        )
        for key, name in serving_names(model).items()
    }


# Abramowitz and Stegun 7.1.26: erf(x) = 1 - (a1 t + ... + a5 t^5) exp(-x^2), t = 1 / (1 + p x)
# for x >= 0, within 1.5e-7 of erf everywhere. LiteRT has no Erf op (nor Erfc, which ONNX
# lacks too), so every format's graph builds erf from exp, division and a polynomial.
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def _erf(x):
    """erf of a float32 tensor from operations every export format has, to 1.5e-7."""
    import tensorflow as tf

    magnitude = tf.abs(x)
    t = 1.0 / (1.0 + _ERF_P * magnitude)
    polynomial = 0.0
    for coefficient in reversed(_ERF_A):
        polynomial = (polynomial + coefficient) * t
    return tf.sign(x) * (1.0 - polynomial * tf.exp(-tf.square(magnitude)))


def _mixture_quantile(level: float, location, scale):
    """Per-row ``level`` quantile of the equally weighted Gaussian mixture of components
    ``location``/``scale`` (components, n), by bisection on its CDF (as
    ``toolkit.evaluation.metrics.mixture_quantile``)."""
    import math

    import tensorflow as tf
    from scipy.special import ndtri

    own = location + scale * float(ndtri(level))
    bracket = (tf.reduce_min(own, axis=0), tf.reduce_max(own, axis=0))

    def halve(low, high):
        middle = 0.5 * (low + high)
        z = (middle[None, :] - location) / scale
        cdf = tf.reduce_mean(0.5 * (1.0 + _erf(z / math.sqrt(2.0))), axis=0)
        below = cdf < level
        return tf.where(below, middle, low), tf.where(below, high, middle)

    # A loop in the graph, not the steps unrolled: unrolled, the two quantiles were some 3,000
    # ops, and converting them took tf2onnx about 30 s of CPU and LiteRT's converter 13 s for
    # a two-member ensemble. ONNX (Loop) and LiteRT (WHILE) carry the loop as TensorFlow runs
    # it: the same operations in the same order.
    low, high = tf.while_loop(
        lambda low, high: True, halve, bracket, maximum_iterations=_BISECTION_STEPS
    )
    return 0.5 * (low + high)


def _interval(plan: ServingPlan, level: float, draws, mean, std):
    """The central ``level`` interval: mixture quantiles of several Gaussian components, else
    mean -/+ z std (exact for one Gaussian, the Gaussian approximation for point components)."""
    from scipy.special import ndtri

    if plan.gaussian and plan.components > 1:
        tail = (1.0 - level) / 2.0
        return (
            _mixture_quantile(tail, draws[..., 0], draws[..., 1]),
            _mixture_quantile(1.0 - tail, draws[..., 0], draws[..., 1]),
        )
    z = float(ndtri(0.5 + level / 2.0))
    return mean - z * std, mean + z * std


def _conformal_regression(plan: ServingPlan, draws, mean, std, *, raw_mean) -> dict[str, Any]:
    """The run's conformal interval, its quantile q a constant of the graph: cqr about the
    model's own quantiles (from ``raw_mean``, before a target range clips it), split about
    ``mean`` (clipped), as ``toolkit.evaluation.conformal`` builds them."""
    conformal = plan.calibration.conformal
    q = float(conformal.quantile)
    if conformal.method == "cqr":
        lower, upper = _interval(plan, 1.0 - conformal.alpha, draws, raw_mean, std)
        return {"conformal_lower": lower - q, "conformal_upper": upper + q}
    half = q * std if conformal.normalized else q
    return {"conformal_lower": mean - half, "conformal_upper": mean + half}


def _class_scores(mean):
    """1 - p per class as the sum of the other classes' probabilities, as
    ``toolkit.evaluation.conformal.class_scores`` computes them (in float32 the top class's p
    rounds to 1 at a logit gap of 17)."""
    import tensorflow as tf

    scores = tf.reduce_sum(mean, axis=-1, keepdims=True) - mean
    classes = tf.range(tf.shape(mean)[-1], dtype=tf.int64)
    is_top = tf.equal(classes, tf.argmax(mean, axis=-1)[..., None])
    below_top = tf.reduce_sum(tf.where(is_top, tf.zeros_like(mean), mean), -1, keepdims=True)
    return tf.where(is_top, below_top, scores)


def _std_scaled(draws, factor: float):
    """The components after x -> mean + s (x - mean), as
    ``toolkit.evaluation.std_scaling.scaled_components`` transforms them."""
    import tensorflow as tf

    location = draws[..., 0]
    mean = tf.reduce_mean(location, axis=0, keepdims=True)
    scaled = [mean + factor * (location - mean)]
    if draws.shape[-1] > 1:
        scaled.append(factor * draws[..., 1])
    return tf.stack(scaled, axis=-1)


def _clipped(plan: ServingPlan, values):
    """``values`` clipped to the run's ``prediction.target_range`` (unchanged without one)."""
    import tensorflow as tf

    if plan.target_range is None:
        return values
    low, high = plan.target_range
    if low is not None:
        values = tf.maximum(values, tf.cast(low, values.dtype))
    if high is not None:
        values = tf.minimum(values, tf.cast(high, values.dtype))
    return values


def summarize(plan: ServingPlan, draws) -> dict[str, Any]:
    """The named outputs from the model's stacked outputs ``draws`` of shape
    (components, n, k): every pass of every member."""
    import tensorflow as tf

    several = plan.components > 1
    if plan.task == "regression":
        if plan.calibration.std_scale != 1.0:
            draws = _std_scaled(draws, plan.calibration.std_scale)
        location = draws[..., 0]
        raw_mean = tf.reduce_mean(location, axis=0)
        # As toolkit.evaluation.predict clips to a target range: the intervals are the
        # model's distribution's, clipped; a split conformal interval is built on the clipped
        # mean, as its scores were.
        mean = _clipped(plan, raw_mean)
        outputs = {"prediction": mean}
        variance = None
        if several:
            epistemic_variance = tf.math.reduce_variance(location, axis=0)
            outputs["epistemic_std"] = tf.sqrt(epistemic_variance)
            variance = epistemic_variance
        if plan.gaussian:
            # Law of total variance over the components of a Gaussian mixture.
            aleatoric_variance = tf.reduce_mean(tf.square(draws[..., 1]), axis=0)
            outputs["aleatoric_std"] = tf.sqrt(aleatoric_variance)
            variance = aleatoric_variance if variance is None else variance + aleatoric_variance
        std = None
        if variance is not None:
            std = tf.sqrt(variance)
            lower, upper = _interval(plan, plan.interval, draws, raw_mean, std)
            outputs.update(std=std, lower=_clipped(plan, lower), upper=_clipped(plan, upper))
        if plan.calibration.conformal is not None:
            conformal = _conformal_regression(plan, draws, mean, std, raw_mean=raw_mean)
            outputs.update({name: _clipped(plan, value) for name, value in conformal.items()})
        return outputs
    if plan.task == "binary":
        logit = draws[..., 0]
        probabilities = tf.stack([tf.sigmoid(-logit), tf.sigmoid(logit)], axis=-1)
    else:
        probabilities = tf.nn.softmax(draws, axis=-1)
    mean = tf.reduce_mean(probabilities, axis=0)
    # In the target's type, as toolkit predict writes them: 0/1 or True/False, not text.
    labels = tf.constant(typed_labels(plan.classes, plan.label_type))
    outputs = {"probabilities": mean, "prediction": tf.gather(labels, tf.argmax(mean, axis=-1))}
    if several:

        def entropy(p):
            return -tf.reduce_sum(p * tf.math.log(tf.clip_by_value(p, 1e-12, 1.0)), axis=-1)

        total = entropy(mean)
        expected = tf.reduce_mean(entropy(probabilities), axis=0)
        outputs.update(entropy=total, mutual_information=tf.maximum(total - expected, 0.0))
    conformal = plan.calibration.conformal
    if conformal is not None:
        # 1 for the classes in the set: integers, which every format's runtime returns alike.
        members = tf.cast(_class_scores(mean) <= float(conformal.quantile), tf.int32)
        outputs.update(prediction_set=members, set_size=tf.reduce_sum(members, axis=-1))
    return outputs


def _spellings(token: str) -> list[str]:
    """The spellings of the number ``token`` spells that a client is likely to send: ``4``
    and ``4.0`` (``str`` of pandas' float, as a whole-number column with blanks reads)."""
    try:
        number = float(token)
    except ValueError:
        return []
    if not math.isfinite(number):
        return []
    spellings = [str(number)]
    if number.is_integer():
        spellings.append(str(int(number)))
    return spellings


# What pandas' read_csv reads as missing (its default na_values), so ``toolkit predict`` scores
# it as ``MISSING_TOKEN``; a client has no missing string to send, and sends one of these.
_MISSING_SPELLINGS = PANDAS_NA_VALUES


def _boolean_spellings(token: str) -> list[str]:
    """The spellings pandas reads as the boolean ``token`` spells ('true', 'TRUE', 'True')."""
    if token not in BOOLEAN_SPELLINGS:
        return []
    return [text for text, value in BOOLEAN_SPELLINGS.items() if value is BOOLEAN_SPELLINGS[token]]


def respellings(spec: FeatureSpec) -> dict[str, dict[str, str]]:
    """Per categorical column: each other spelling of one of its vocabulary's tokens -> that
    token. ``toolkit predict`` reads '4.0' as training's '4' (and '4' as a streamed run's
    '4.0'), 'true' as training's 'True', and an empty cell or 'nan' as missing; the export must too, or such rows fall
    out of the vocabulary into the out-of-vocabulary bucket."""
    result: dict[str, dict[str, str]] = {}
    for feature in spec.categorical:
        known = set(feature.vocabulary)
        aliases: dict[str, str] = {}
        if MISSING_TOKEN in known:
            aliases = {text: MISSING_TOKEN for text in _MISSING_SPELLINGS if text not in known}
        for token in feature.vocabulary:
            for spelling in _spellings(token) + _boolean_spellings(token):
                if spelling not in known:
                    aliases.setdefault(spelling, token)
        if aliases:
            result[feature.name] = aliases
    return result


class Respell:
    """A categorical input's other spellings mapped to its vocabulary's tokens inside the
    graph: a string -> index lookup (as the model's own StringLookup, which every format
    converts) and a gather from the tokens; a token that is neither becomes one outside the
    vocabulary, which the model scores as it scored the original, as out-of-vocabulary."""

    def __init__(self, vocabulary: list[str], aliases: dict[str, str]) -> None:
        import keras

        keys = [*vocabulary, *aliases]
        unseen = unique_name("<not in the vocabulary>", set(keys))
        self.lookup = keras.layers.StringLookup(
            vocabulary=keys, num_oov_indices=1, output_mode="int"
        )
        self.lookup.build((None, 1))  # ExportArchive tracks built layers only
        self.tokens = [unseen, *vocabulary, *aliases.values()]

    def __call__(self, values):
        import tensorflow as tf

        return tf.gather(tf.constant(self.tokens), self.lookup(values))


def serving_function(
    model, plan: ServingPlan, respell: dict[str, Respell] | None = None
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``inputs -> outputs``: ``plan.passes`` passes of ``model`` (sampling on, each pass its
    own draws) summarised as ``summarize`` says. ``respell``: per categorical column (the
    model's input key), its other spellings mapped to the vocabulary's (``respellings``).
    Trace it inside ``portable_sampling()``.

    With ``plan.tiled`` the passes are one call over the batch repeated ``passes`` times
    (``passes * n`` rows, as much memory per request), else one call per pass: the graph then
    holds the model ``passes`` times, which took tf2onnx ~30 s and LiteRT's converter ~12 s
    of CPU for mc_dropout.yaml's 50. A loop (tf.while_loop) converted fast, but onnxruntime
    then drew the same numbers on every request, and LiteRT's built-in ops have no TensorList
    for its outputs."""
    import tensorflow as tf

    names = serving_names(model)
    respell = respell or {}

    def call(by_key: dict[str, Any]):
        output = tf.cast(model(by_key, training=False), tf.float32)
        # An ensemble's (n, members, k): each member is a draw of its own.
        return tf.transpose(output, [1, 0, 2]) if plan.members > 1 else output[None]

    def tiled(by_key: dict[str, Any]):
        rows = tf.shape(next(iter(by_key.values())))[0]
        # tf.tile, not a gather of the rows: LiteRT's converter has no built-in gather of
        # strings (a categorical column).
        repeated = {
            key: tf.tile(value, [plan.passes] + [1] * (value.shape.rank - 1))
            for key, value in by_key.items()
        }
        output = tf.cast(model(repeated, training=False), tf.float32)
        # (passes * n, [members,] k) -> (passes, n, [members,] k), pass-major as tiled.
        output = tf.reshape(output, [plan.passes, rows, *output.shape[1:]])
        if plan.members > 1:  # -> (passes * members, n, k), the unrolled passes' order
            output = tf.transpose(output, [0, 2, 1, 3])
            output = tf.reshape(output, [plan.components, rows, output.shape[-1]])
        return output

    def serve(inputs: dict[str, Any]) -> dict[str, Any]:
        by_key = {key: inputs[name] for key, name in names.items()}
        by_key = {
            key: respell[key](value) if key in respell else value for key, value in by_key.items()
        }
        if plan.tiled:
            draws = tiled(by_key)
        else:
            draws = tf.concat([call(by_key) for _ in range(plan.passes)], axis=0)
        return summarize(plan, draws)

    return serve
