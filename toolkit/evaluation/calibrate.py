"""After training: fit a classifier's temperature or a regressor's std factor, and compute
the conformal scores.

All use rows the model did not train on: the temperature and the std factor the validation
split (Guo et al., 2017; Levi et al., 2022), the conformal scores the validation split or the
calibration split held out of training (``prediction.conformal.calibration``). The
temperature goes into the model's ``TemperatureScale`` layer, and the std factor into the
predictions, before the conformal scores are computed, so the scores describe the
predictions the saved run gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.config.schema import ExperimentConfig
from toolkit.evaluation.conformal import ConformalCalibration
from toolkit.evaluation.metrics import regression_metrics
from toolkit.evaluation.posthoc import PostHocCalibration
from toolkit.evaluation.predict import model_outputs, summarize_outputs
from toolkit.evaluation.std_scaling import at_bound, fit_std_scale
from toolkit.evaluation.temperature import (
    calibration_change,
    fit_temperature,
    separable,
    temperature_at_bound,
)

if TYPE_CHECKING:
    from toolkit.data.prepared import PreparedData

ECE_DEFINITION = (
    "expected calibration error over 10 equal-width bins, sum_b (n_b / n) |observed_b - "
    "confidence_b|: of P(y = 1) against the positive rate for binary classifiers, of the "
    "top-class probability against accuracy for multiclass ones"
)


# Rows of a (streamed, possibly huge) split that the temperature and the conformal scores
# are computed from: a seeded sample of a larger split is still exchangeable with new rows.
CALIBRATION_ROWS = 100_000


@dataclass
class RunCalibration:
    """What ``calibrate_run`` fitted, with its reports (the temperature is in the model)."""

    conformal: ConformalCalibration | None = None
    temperature: dict[str, Any] | None = None
    std_scaling: dict[str, Any] | None = None

    @property
    def std_scale(self) -> float:
        """The factor the run's regression predictions are scaled by (1: none)."""
        return 1.0 if self.std_scaling is None else self.std_scaling["factor"]

    @property
    def post_hoc(self) -> PostHocCalibration:
        """The post-hoc calibration predictions of the run apply, as a saved run loads it."""
        return PostHocCalibration(std_scale=self.std_scale, conformal=self.conformal)


def _temperature_layer(model):
    from toolkit.models.layers.temperature_scale import TemperatureScale

    found = [layer for layer in model.layers if isinstance(layer, TemperatureScale)]
    return found[0] if found else None


def fit_temperature_scaling(
    config: ExperimentConfig,
    data: PreparedData,
    model,
    *,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any] | None:
    """Fit T on the validation split, set it in the model; ECE and log loss before and after
    on the validation split (where T was fitted) and the test split (where it was not).
    ``validation``: the outputs (at T = 1) and targets of ``_validation_outputs``, when
    already predicted."""
    layer = _temperature_layer(model)
    if layer is None:
        return None
    task = config.model.task
    layer.temperature.assign(1.0)
    logits, y = validation or _validation_outputs(config, data, model)
    temperature = fit_temperature(task, logits, y[:, 0])
    report: dict[str, Any] = {
        "temperature": temperature,
        "fitted_on": "validation",
        **(
            {
                "separable": "every validation row was classified right: T only sharpens "
                "the probabilities, until the true class's mean reaches (n + 1) / (n + 2)"
            }
            if separable(task, logits, y[:, 0])
            else {}
        ),
        "ece_definition": ECE_DEFINITION,
        "validation": calibration_change(task, logits, y[:, 0], temperature),
    }
    bound = temperature_at_bound(temperature)
    if bound is not None and "separable" not in report:
        # As std scaling's: the fit wanted more than the search allows, say so.
        log_loss = report["validation"]["log_loss_after"]
        report["bounded"] = f"T stopped at its {bound} bound {temperature:.3g}: " + (
            "the probabilities are flattened almost to uniform, the network's scores "
            f"barely tell the classes apart on the validation split (log loss "
            f"{log_loss:.3f}); train longer or check the data"
            if bound == "upper"
            else f"the probabilities are still too soft (validation log loss {log_loss:.3f})"
        )
    if data.test is not None:
        test_features, test_y = data.test.sample(CALIBRATION_ROWS, seed=config.seed)
        test_logits = model_outputs(model, test_features, config)
        report["test"] = calibration_change(task, test_logits, test_y[:, 0], temperature)
    layer.temperature.assign(temperature)
    return report


def _at_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """The model's outputs once ``temperature`` is in its ``TemperatureScale`` layer, from its
    outputs at T = 1: the layer's own float32 division, so they equal a new prediction."""
    divided = logits.astype(np.float32) / np.float32(temperature)
    return divided.astype(np.float64)


def _scaling_change(
    config: ExperimentConfig, outputs: np.ndarray, y: np.ndarray, factor: float
) -> dict[str, Any]:
    """NLL and coverage of the ``prediction.interval`` interval at s = 1 and at ``factor``,
    scored as metrics.json scores the splits."""
    result: dict[str, Any] = {}
    for key, s in (("before", 1.0), ("after", factor)):
        p = summarize_outputs(outputs, config, calibration=PostHocCalibration(std_scale=s))
        bounds = (p.lower, p.upper) if p.lower is not None else None
        scores = regression_metrics(
            y,
            p.mean,
            std=p.std,
            interval=config.prediction.interval,
            mixture=p.mixture,
            bounds=bounds,
        )
        for name in ("nll", "coverage", "interval_width"):
            result[f"{name}_{key}"] = scores[name]
    return result


def _validation_outputs(
    config: ExperimentConfig, data: PreparedData, model
) -> tuple[np.ndarray, np.ndarray]:
    """The model's raw outputs on the validation rows calibration uses, and their targets."""
    features, y = data.validation.sample(CALIBRATION_ROWS, seed=config.seed)
    return model_outputs(model, features, config), y


def fit_std_scaling(
    config: ExperimentConfig,
    data: PreparedData,
    model,
    *,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Fit s on the validation split; NLL, coverage and width before and after on the
    validation split (where s was fitted) and the test split (where it was not).
    ``validation``: the outputs and targets of ``_validation_outputs``, when already
    predicted."""
    outputs, y = validation or _validation_outputs(config, data, model)
    p = summarize_outputs(outputs, config)
    factor = fit_std_scale(p.locations, p.scales, y[:, 0])
    report: dict[str, Any] = {
        "factor": factor,
        "fitted_on": "validation",
        "validation": _scaling_change(config, outputs, y[:, 0], factor),
    }
    bound = at_bound(factor)
    if bound is not None:
        # Like temperature scaling's 'separable': the factor is not the NLL's minimum, say so.
        coverage = report["validation"]["coverage_after"]
        wrong = "narrow" if bound == "upper" else "wide"
        if bound == "lower":
            advice = "; use prediction.conformal"
        elif config.model.gaussian_output:
            # The head already models the noise: a few errors far beyond it (outliers, a tail
            # heavier than a Gaussian's) outweigh the rest in the NLL.
            advice = (
                "; a few validation errors lie far beyond the model's std (outliers, or a "
                "tail heavier than a Gaussian's): check the largest residuals, or use "
                "prediction.conformal"
            )
        else:
            advice = (
                "; the model's std lacks the noise in the data: use model.head gaussian, or "
                "prediction.conformal"
            )
        report["bounded"] = (
            f"s stopped at its {bound} bound {factor:.3g}: the intervals are still too "
            f"{wrong} (validation coverage {coverage:.3f} at interval "
            f"{config.prediction.interval:g})" + advice
        )
    if data.test is not None:
        test_features, test_y = data.test.sample(CALIBRATION_ROWS, seed=config.seed)
        test_outputs = model_outputs(model, test_features, config)
        report["test"] = _scaling_change(config, test_outputs, test_y[:, 0], factor)
    return report


def fit_conformal(
    config: ExperimentConfig,
    data: PreparedData,
    model,
    *,
    calibration: PostHocCalibration = PostHocCalibration.NONE,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> ConformalCalibration | None:
    """The conformal scores of the model on its calibration rows, its predictions calibrated
    by the steps fitted before (``calibration``, without a conformal part): the scores
    describe the predictions the saved run gives. ``validation``: the outputs and targets of
    ``_validation_outputs``, when already predicted (used when the scores are computed on
    the validation split)."""
    section = config.prediction.conformal
    if section is None:
        return None
    held_out = section.calibration == "validation"
    if held_out and validation is not None:
        outputs, y = validation
    else:
        split = data.validation if held_out else data.calibration
        features, y = split.sample(CALIBRATION_ROWS, seed=config.seed)
        outputs = model_outputs(model, features, config)
    predictions = summarize_outputs(outputs, config, calibration=calibration)
    return ConformalCalibration.fit(
        predictions,
        y[:, 0] if np.ndim(y) == 2 else y,
        method=section.method,
        alpha=section.alpha,
        calibrated_on="validation" if held_out else "calibration",
        # One seeded U per run: its intervals stay a fixed function of the saved run.
        randomization=(
            float(np.random.default_rng(config.seed).uniform()) if section.randomized else None
        ),
    )


def calibrate_run(config: ExperimentConfig, data: PreparedData, model) -> RunCalibration:
    """Temperature or std factor first (they change the predictions), then the conformal
    scores of the changed predictions."""
    prediction = config.prediction
    # The temperature or std factor and the conformal scores on the validation split read the
    # same rows of the same model: predicted once for both. s scales the outputs, and T only
    # divides the last layer's, so the scores' outputs follow from the ones T is fitted on.
    # A sampled model's T or s and its scores now come from the same passes, not two draws.
    validation = None
    conformal = prediction.conformal
    if (
        (prediction.temperature_scaling or prediction.std_scaling)
        and conformal is not None
        and conformal.calibration == "validation"
    ):
        layer = _temperature_layer(model)
        if layer is not None:
            layer.temperature.assign(1.0)  # the outputs T is fitted on
        validation = _validation_outputs(config, data, model)
    temperature = (
        fit_temperature_scaling(config, data, model, validation=validation)
        if prediction.temperature_scaling
        else None
    )
    if temperature is not None and validation is not None:
        outputs, y = validation
        validation = (_at_temperature(outputs, temperature["temperature"]), y)
    calibration = RunCalibration(
        temperature=temperature,
        std_scaling=(
            fit_std_scaling(config, data, model, validation=validation)
            if prediction.std_scaling
            else None
        ),
    )
    calibration.conformal = fit_conformal(
        config, data, model, calibration=calibration.post_hoc, validation=validation
    )
    return calibration
