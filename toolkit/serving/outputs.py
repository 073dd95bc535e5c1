"""The serving function of a run's model: raw named inputs in, named outputs out.

Every export format is built from ``serving_function``: it runs the model (``passes`` times
for MC-dropout and Bayesian models, inside the graph), then ``summarize`` turns the stacked
passes into the outputs ``toolkit predict`` writes, computed the same way:

- every task: ``prediction`` (the mean in the target's units; for classifiers the label);
- classifiers: ``probabilities``, one column per class in preprocessing.json's order (mean
  over passes); stochastic ones also ``entropy`` and ``mutual_information``;
- regression with uncertainty (a Gaussian head, or several passes): ``std``, ``lower``,
  ``upper`` (the ``prediction.interval`` band), ``epistemic_std`` (passes) and
  ``aleatoric_std`` (Gaussian head).

New kinds of model (ensembles: more draws; conformal intervals: more outputs) grow here, and
every format gets them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from toolkit.config.schema import ExperimentConfig
from toolkit.data.preprocessing import FeatureSpec


@dataclass(frozen=True)
class ServingPlan:
    """What the exported endpoint computes: how many passes, which task, which outputs."""

    task: str
    gaussian: bool
    passes: int
    interval: float
    classes: tuple[str, ...]

    @classmethod
    def of(
        cls, model, spec: FeatureSpec, config: ExperimentConfig, *, mc_samples: int | None
    ) -> ServingPlan:
        from toolkit.models.layers.stochastic import is_stochastic

        stochastic = config.model.is_stochastic and is_stochastic(model)
        samples = mc_samples if mc_samples is not None else config.prediction.mc_samples
        return cls(
            task=config.model.task,
            gaussian=config.model.head == "gaussian",
            passes=samples if stochastic else 1,
            interval=config.prediction.interval,
            classes=tuple(spec.target.classes),
        )

    @property
    def stochastic(self) -> bool:
        return self.passes > 1

    def outputs(self) -> list[str]:
        """The endpoint's output names, in the order documented above."""
        if self.task != "regression":
            extra = ["entropy", "mutual_information"] if self.stochastic else []
            return ["prediction", "probabilities", *extra]
        names = ["prediction"]
        if self.gaussian or self.stochastic:
            names += ["std", "lower", "upper"]
            names += ["epistemic_std"] if self.stochastic else []
            names += ["aleatoric_std"] if self.gaussian else []
        return names


def input_signature(model) -> dict[str, Any]:
    """A ``tf.TensorSpec`` per named model input (numeric matrix, categorical columns, images),
    any batch size."""
    import tensorflow as tf

    from toolkit.errors import ToolkitError

    if not isinstance(model.input, dict):
        raise ToolkitError(
            "the model does not take named inputs (a dict); it was not built by this toolkit"
        )
    return {
        name: tf.TensorSpec((None, *tensor.shape[1:]), tf.as_dtype(tensor.dtype), name=name)
        for name, tensor in model.input.items()
    }


def summarize(plan: ServingPlan, draws) -> dict[str, Any]:
    """The named outputs from the model's stacked outputs ``draws`` of shape (passes, n, k)."""
    import tensorflow as tf
    from scipy.stats import norm

    if plan.task == "regression":
        location = draws[..., 0]
        mean = tf.reduce_mean(location, axis=0)
        outputs = {"prediction": mean}
        variance = None
        if plan.stochastic:
            epistemic_variance = tf.math.reduce_variance(location, axis=0)
            outputs["epistemic_std"] = tf.sqrt(epistemic_variance)
            variance = epistemic_variance
        if plan.gaussian:
            # Law of total variance over the passes of a Gaussian mixture.
            aleatoric_variance = tf.reduce_mean(tf.square(draws[..., 1]), axis=0)
            outputs["aleatoric_std"] = tf.sqrt(aleatoric_variance)
            variance = aleatoric_variance if variance is None else variance + aleatoric_variance
        if variance is not None:
            z = float(norm.ppf(0.5 + plan.interval / 2.0))
            std = tf.sqrt(variance)
            outputs.update(std=std, lower=mean - z * std, upper=mean + z * std)
        return outputs
    if plan.task == "binary":
        positive = tf.sigmoid(draws[..., 0])
        probabilities = tf.stack([1.0 - positive, positive], axis=-1)
    else:
        probabilities = tf.nn.softmax(draws, axis=-1)
    mean = tf.reduce_mean(probabilities, axis=0)
    labels = tf.constant(list(plan.classes), dtype=tf.string)
    outputs = {"probabilities": mean, "prediction": tf.gather(labels, tf.argmax(mean, axis=-1))}
    if plan.stochastic:

        def entropy(p):
            return -tf.reduce_sum(p * tf.math.log(tf.clip_by_value(p, 1e-12, 1.0)), axis=-1)

        total = entropy(mean)
        expected = tf.reduce_mean(entropy(probabilities), axis=0)
        outputs.update(entropy=total, mutual_information=tf.maximum(total - expected, 0.0))
    return outputs


def serving_function(model, plan: ServingPlan) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``inputs -> outputs``: ``plan.passes`` passes of ``model`` (sampling on, each pass its
    own draws) summarised as ``summarize`` says. Trace it inside ``portable_sampling()``."""
    import tensorflow as tf

    def serve(inputs: dict[str, Any]) -> dict[str, Any]:
        draws = tf.stack(
            [tf.cast(model(inputs, training=False), tf.float32) for _ in range(plan.passes)]
        )
        return summarize(plan, draws)

    return serve
