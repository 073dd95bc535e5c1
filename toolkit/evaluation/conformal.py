"""Split conformal prediction: intervals and prediction sets with finite-sample coverage.

Calibration scores s_1..s_n come from rows the model never trained on. With a test row
exchangeable with them, its score is at most the ceil((n + 1)(1 - alpha))-th smallest
calibration score with probability at least 1 - alpha, and (for continuous scores) exactly
k / (n + 1) with k that rank (Vovk et al., 2005; Lei et al., 2018): 29/30 = 0.967 for
n = 29 and alpha = 0.05. The randomised quantile (Vovk et al., 2005, smoothed conformal
predictors) removes that excess: with one U ~ Uniform(0, 1) per calibration it takes the
ceil((n + 1)(1 - alpha) - 1 + U)-th smallest score, whose rank averages (n + 1)(1 - alpha)
over U, so the expected coverage is exactly 1 - alpha for any n (continuous scores; ties
can only raise it). One U per calibration, not per row, keeps every prediction a fixed
function of the saved run. The scores:

* regression ``split``: |y - mean| / std when the model gives a std (a normalised score,
  so intervals keep the model's shape), else |y - mean|; interval mean -/+ q std (or q).
* regression ``cqr`` (Romano, Patterson & Candès, 2019): with the model's own alpha/2 and
  1 - alpha/2 predictive quantiles lo, hi: max(lo - y, y - hi); interval [lo - q, hi + q].
* classifiers ``split`` (Sadinle, Lei & Wasserman, 2019): 1 - p(true class); the set holds
  every class with 1 - p(class) <= q. 1 - p is computed as the sum of the other classes'
  probabilities (``class_scores``), which keeps its digits when p rounds to 1.

The scores are saved in the run directory (``conformal.json``) so ``toolkit predict`` and
``toolkit evaluate`` apply the same calibration.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    from toolkit.evaluation.predict import Predictions

CONFORMAL_FILE = "conformal.json"
_MIN_STD = 1e-12


def conformal_quantile(
    scores: np.ndarray, alpha: float, randomization: float | None = None
) -> float:
    """The ceil((n + 1)(1 - alpha))-th smallest of the n ``scores``, or with
    ``randomization`` U in [0, 1) the ceil((n + 1)(1 - alpha) - 1 + U)-th (expected coverage
    exactly 1 - alpha); +inf when the rank exceeds n (too few calibration rows for this
    alpha: the only valid set is everything)."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64).reshape(-1))
    n = len(ordered)
    target = (n + 1) * (1.0 - alpha)
    if randomization is not None:
        target += randomization - 1.0
    rank = math.ceil(target - 1e-9)  # guard against (n+1)(1-a) = 18.999...
    if rank > n:
        return math.inf
    return float(ordered[max(rank, 1) - 1])


def class_scores(probabilities: np.ndarray) -> np.ndarray:
    """1 - p(class) for every row and class, (rows, classes), as the sum of the other
    classes' probabilities. A confident model's top probability rounds to 1.0 (a logit gap of
    40 already does in float64), so 1 - p would be exactly 0 on most rows of an accurate
    classifier: the calibration scores tie, the quantile is 0, and every set holding a class
    at p = 1.0 covers at least as often as the model is right (0.98 for 0.95 on a simulated
    classifier right on 97% of rows, tests/evaluation/test_conformal.py). The other classes'
    small probabilities keep their digits, and so do the scores."""
    p = np.asarray(probabilities, dtype=np.float64)
    scores = p.sum(axis=1, keepdims=True) - p  # exact enough below the top class (p <= 1/2)
    is_top = np.arange(p.shape[1]) == p.argmax(axis=1)[:, None]
    below_top = np.where(is_top, 0.0, p).sum(axis=1, keepdims=True)
    return np.where(is_top, below_top, scores)


def _cqr_bounds(predictions: Predictions, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    from toolkit.evaluation.predict import predictive_interval

    bounds = predictive_interval(predictions, 1.0 - alpha)
    if bounds is None:
        raise ToolkitError(
            "conformal method 'cqr' needs predictive quantiles, and this model gives none"
        )
    return bounds


@dataclass(frozen=True)
class ConformalCalibration:
    """The calibration scores of one run and how to turn them into intervals or sets."""

    task: str
    method: str
    alpha: float
    scores: np.ndarray
    calibrated_on: str
    normalized: bool = False
    # U of the randomised quantile; None: the conservative ceil((n + 1)(1 - alpha))-th score.
    randomization: float | None = None

    @property
    def quantile(self) -> float:
        return conformal_quantile(self.scores, self.alpha, self.randomization)

    @classmethod
    def fit(
        cls,
        predictions: Predictions,
        y: np.ndarray,
        *,
        method: str,
        alpha: float,
        calibrated_on: str,
        randomization: float | None = None,
    ) -> ConformalCalibration:
        """Scores of held-out ``predictions`` against their encoded targets ``y``;
        ``randomization``: U of the randomised quantile (None: the conservative one)."""
        task = predictions.task
        u = randomization
        if task != "regression":
            labels = np.asarray(y).reshape(-1).astype(int)
            scores = class_scores(predictions.mean)[np.arange(len(labels)), labels]
            return cls(task, method, alpha, np.sort(scores), calibrated_on, randomization=u)
        target = np.asarray(y, dtype=np.float64).reshape(-1)
        if method == "cqr":
            lower, upper = _cqr_bounds(predictions, alpha)
            scores = np.maximum(lower - target, target - upper)
            return cls(task, method, alpha, np.sort(scores), calibrated_on, randomization=u)
        residual = np.abs(target - predictions.mean)
        normalized = predictions.std is not None
        if normalized:
            residual = residual / np.maximum(predictions.std, _MIN_STD)
        return cls(task, method, alpha, np.sort(residual), calibrated_on, normalized, u)

    def apply(self, predictions: Predictions) -> Predictions:
        """Fill ``predictions``' conformal intervals or prediction sets (in place)."""
        q = self.quantile
        if predictions.task != "regression":
            predictions.prediction_sets = class_scores(predictions.mean) <= q
            return predictions
        if self.method == "cqr":
            lower, upper = _cqr_bounds(predictions, self.alpha)
            predictions.conformal_lower, predictions.conformal_upper = lower - q, upper + q
            return predictions
        if self.normalized and predictions.std is None:
            raise ToolkitError("the conformal scores are normalised by a std this model lacks")
        half = q * np.maximum(predictions.std, _MIN_STD) if self.normalized else q
        predictions.conformal_lower = predictions.mean - half
        predictions.conformal_upper = predictions.mean + half
        return predictions

    def to_json(self) -> str:
        q = self.quantile
        return json.dumps(
            {
                "task": self.task,
                "method": self.method,
                "alpha": self.alpha,
                "calibrated_on": self.calibrated_on,
                "normalized": self.normalized,
                "randomization": self.randomization,
                "rows": len(self.scores),
                "quantile": q if math.isfinite(q) else None,
                "scores": self.scores.tolist(),
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> ConformalCalibration:
        data = json.loads(text)
        return cls(
            task=data["task"],
            method=data["method"],
            alpha=float(data["alpha"]),
            scores=np.asarray(data["scores"], dtype=np.float64),
            calibrated_on=data["calibrated_on"],
            normalized=bool(data.get("normalized", False)),
            # Files written before the randomised quantile existed used the conservative one.
            randomization=data.get("randomization"),
        )


def load_calibration(run_dir: str | Path) -> ConformalCalibration | None:
    """The run's conformal calibration, or None when it was trained without one."""
    path = Path(run_dir) / CONFORMAL_FILE
    if not path.exists():
        return None
    try:
        return ConformalCalibration.from_json(path.read_text())
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ToolkitError(f"{path} cannot be read: {error}") from None


def conformal_metrics(predictions: Predictions, y: np.ndarray) -> dict[str, Any]:
    """Coverage and size of the conformal intervals or sets on labelled rows."""
    if predictions.task == "regression":
        if predictions.conformal_lower is None:
            return {}
        target = np.asarray(y, dtype=np.float64).reshape(-1)
        lower, upper = predictions.conformal_lower, predictions.conformal_upper
        return {
            "conformal_coverage": float(np.mean((lower <= target) & (target <= upper))),
            "conformal_interval_width": float(np.mean(upper - lower)),
        }
    if predictions.prediction_sets is None:
        return {}
    labels = np.asarray(y).reshape(-1).astype(int)
    sets = predictions.prediction_sets
    return {
        "set_coverage": float(np.mean(sets[np.arange(len(labels)), labels])),
        "mean_set_size": float(np.mean(sets.sum(axis=1))),
    }


def set_labels(sets: np.ndarray, classes: list[str] | np.ndarray) -> list[str]:
    """Each row's prediction set as a JSON list of class labels (unambiguous in a CSV), in
    the type of ``classes`` (``TargetSpec.labels``): ``[0, 1]`` or ``[true]`` for an integer
    or boolean target, as its ``prediction`` column holds them."""
    names = np.asarray(classes)  # .tolist() gives Python values, which JSON takes
    return [json.dumps(names[row].tolist()) for row in sets]
