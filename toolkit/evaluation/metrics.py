"""Evaluation metrics as pure functions on numpy arrays.

Every public ``*_metrics`` function returns a plain ``dict`` of Python floats, ints, strings and
lists that ``json.dumps(..., allow_nan=False)`` accepts: undefined values (for example ROC AUC on a
split holding one class only, or any metric of a model whose outputs are NaN) are reported as
``None`` instead of NaN. The scores themselves are scikit-learn's; this module adds the Gaussian
and calibration metrics it lacks. It imports neither TensorFlow nor Keras, so metrics and reports
stay fast and testable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import special

# scikit-learn's metrics are imported by the functions that use them, and the normal
# distribution's functions are written with scipy.special rather than scipy.stats: ``predict``
# needs this module for its intervals but neither of those (together about 1 s of CPU at
# start-up, SciPy's stats alone 0.5-0.7 s).
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _normal_pdf(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * np.square(z)) / math.sqrt(2.0 * math.pi)


def _normal_logpdf(y: Any, loc: Any, scale: np.ndarray) -> np.ndarray:
    z = (np.asarray(y, dtype=np.float64) - loc) / scale
    return -0.5 * np.square(z) - np.log(scale) - _LOG_SQRT_2PI


__all__ = [
    "aggregate_repeats",
    "binary_metrics",
    "calibration_bins",
    "expected_calibration_error",
    "gaussian_crps",
    "gaussian_nll",
    "interval_coverage_curve",
    "json_safe",
    "metric_direction",
    "mixture_cdf",
    "mixture_crps",
    "mixture_nll",
    "mixture_quantile",
    "multiclass_metrics",
    "pit_coverage_curve",
    "regression_metrics",
    "scored_regression_metrics",
]

_EPS = 1e-15
_MIN_STD = 1e-12
_POINT_KEYS = ("rmse", "mae", "r2")
_UNCERTAINTY_KEYS = ("nll", "coverage", "interval_width", "crps")
_THRESHOLD_KEYS = ("accuracy", "precision", "recall", "f1")
_BINARY_KEYS = (*_THRESHOLD_KEYS, "roc_auc", "pr_auc", "log_loss", "brier", "ece")
_MULTICLASS_KEYS = ("accuracy", "f1_macro", "f1_weighted", "log_loss", "brier", "ece")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """Convert numpy scalars/arrays to Python types and NaN/inf to ``None`` (recursively).

    Used so every metric dict can be written with ``json.dumps(..., allow_nan=False)``.
    """
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


def _as_2d(y: Any, *, name: str) -> np.ndarray:
    """Return ``y`` as a float array of shape (n, k); a 1-D input becomes (n, 1)."""
    arr = np.asarray(y, dtype=np.float64)
    if arr.ndim == 0:
        raise ValueError(f"{name} must be an array, got a scalar")
    return arr[:, None] if arr.ndim == 1 else arr.reshape(arr.shape[0], -1)


def _regression_arrays(
    y_true: Any, y_pred: Any, std: Any | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate and align regression inputs to (n, k) arrays (``std`` broadcast to that shape)."""
    yt = _as_2d(y_true, name="y_true")
    yp = _as_2d(y_pred, name="y_pred")
    if yt.shape[0] != yp.shape[0]:
        raise ValueError(f"y_true has {yt.shape[0]} rows but y_pred has {yp.shape[0]}")
    if yt.shape != yp.shape:
        if yt.shape[1] == 1:
            yt = np.broadcast_to(yt, yp.shape)
        elif yp.shape[1] == 1:
            yp = np.broadcast_to(yp, yt.shape)
        else:
            raise ValueError(f"y_true shape {yt.shape} does not match y_pred shape {yp.shape}")
    if yt.shape[0] == 0:
        raise ValueError("regression metrics need at least one sample")
    if std is None:
        return yt, yp, None
    sd = _as_2d(std, name="std")
    if sd.shape[0] != yt.shape[0]:
        raise ValueError(f"std has {sd.shape[0]} rows but y_true has {yt.shape[0]}")
    sd = np.broadcast_to(sd, yt.shape)
    if np.any(sd < 0):
        raise ValueError("std must be non-negative")
    return yt, yp, np.maximum(sd, _MIN_STD)


def _all_finite(*arrays: np.ndarray | None) -> bool:
    return all(a is None or bool(np.isfinite(a).all()) for a in arrays)


def _binary_arrays(y_true: Any, probability: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return (labels in {0, 1} as int, positive-class probability) as 1-D arrays."""
    y = np.asarray(y_true).reshape(-1)
    p = np.asarray(probability, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 2:
        p = p[:, 1]
    p = p.reshape(-1)
    if y.shape[0] != p.shape[0]:
        raise ValueError(f"y_true has {y.shape[0]} samples but probability has {p.shape[0]}")
    if y.shape[0] == 0:
        raise ValueError("binary metrics need at least one sample")
    y = y.astype(np.float64)
    if not np.all(np.isin(y, (0.0, 1.0))):
        raise ValueError("binary y_true must only contain 0 and 1")
    if np.any(p < 0) or np.any(p > 1):
        raise ValueError("probability must lie in [0, 1]")
    return y.astype(np.int64), p


def _class_indices(y_true: Any, class_names: Sequence[str] | None) -> np.ndarray:
    """Return integer class indices; string labels are mapped through ``class_names``."""
    y = np.asarray(y_true).reshape(-1)
    if y.dtype.kind in "OUS":
        if class_names is None:
            raise ValueError("string labels need class_names")
        lookup = {str(name): i for i, name in enumerate(class_names)}
        try:
            return np.array([lookup[str(v)] for v in y], dtype=np.int64)
        except KeyError as exc:
            raise ValueError(f"label {exc.args[0]!r} is not in class_names") from None
    if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
        raise ValueError("class labels must be integers")
    return y.astype(np.int64)


_HIGHER_IS_BETTER = ("accuracy", "acc", "auc", "precision", "recall", "f1", "r2")
_LOWER_IS_BETTER = ("loss", "error", "rmse", "mae", "mse", "nll", "crps", "brier", "ece")


def metric_direction(name: str) -> str | None:
    """Return ``"max"`` or ``"min"`` for a metric (or Keras history column) name, else ``None``.

    A ``val_`` prefix is ignored. Metrics without a natural direction (``coverage``,
    ``interval_width``, ``top_k``) and unknown names give ``None``.
    """
    key = name.lower().removeprefix("val_")
    if key in ("coverage", "interval_width", "top_k", "epoch", "lr", "learning_rate"):
        return None
    tokens = key.replace("-", "_").split("_")
    if any(tok in _LOWER_IS_BETTER for tok in tokens) or "crossentropy" in key:
        return "min"
    if any(tok in _HIGHER_IS_BETTER for tok in tokens) or "accuracy" in key:
        return "max"
    return None


# --------------------------------------------------------------------------------------------
# Gaussian helpers
# --------------------------------------------------------------------------------------------


def gaussian_crps(y_true: Any, mean: Any, std: Any) -> np.ndarray:
    """Closed-form CRPS of a Gaussian N(mean, std) at the observations (elementwise, lower is better).

    CRPS = sigma * [z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi)], z = (y - mean) / sigma
    (Gneiting & Raftery 2007). It is in the units of y and reduces to |y - mean| as std -> 0.
    """
    y = np.asarray(y_true, dtype=np.float64)
    mu = np.asarray(mean, dtype=np.float64)
    sigma = np.maximum(np.asarray(std, dtype=np.float64), _MIN_STD)
    z = (y - mu) / sigma
    return sigma * (z * (2.0 * special.ndtr(z) - 1.0) + 2.0 * _normal_pdf(z) - 1.0 / np.sqrt(np.pi))


def gaussian_nll(y_true: Any, mean: Any, std: Any) -> np.ndarray:
    """Elementwise negative log-likelihood of y under N(mean, std) (natural log, includes constant)."""
    sigma = np.maximum(np.asarray(std, dtype=np.float64), _MIN_STD)
    return -_normal_logpdf(y_true, np.asarray(mean, dtype=np.float64), sigma)


# A row's mixture is an equally weighted mixture of Gaussians N(loc[i, k], scale[i, k]),
# k = 1..K: the predictive distribution of an ensemble, of Monte-Carlo samples, or both.


def _mixture_arrays(loc: Any, scale: Any) -> tuple[np.ndarray, np.ndarray]:
    mu = np.asarray(loc, dtype=np.float64)
    sigma = np.maximum(np.asarray(scale, dtype=np.float64), _MIN_STD)
    if mu.ndim != 2 or mu.shape != sigma.shape:
        raise ValueError(f"loc and scale must both be (n, K); got {mu.shape} and {sigma.shape}")
    return mu, sigma


def mixture_nll(y_true: Any, loc: Any, scale: Any) -> np.ndarray:
    """Per-row negative log density of y under its equally weighted Gaussian mixture:
    -log((1/K) sum_k N(y; loc_k, scale_k)), computed with logsumexp."""
    mu, sigma = _mixture_arrays(loc, scale)
    y = np.asarray(y_true, dtype=np.float64).reshape(-1, 1)
    log_density = _normal_logpdf(y, mu, sigma)
    return -(special.logsumexp(log_density, axis=1) - np.log(mu.shape[1]))


def mixture_quantile(level: float, loc: Any, scale: Any, *, tol: float = 1e-10) -> np.ndarray:
    """Per-row ``level`` quantile of the equally weighted Gaussian mixture, by bisection on
    its CDF (monotone, so bisection cannot fail), to ``tol`` relative to the row's spread."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    mu, sigma = _mixture_arrays(loc, scale)
    # Every component's own level-quantile brackets the mixture's (the CDF is their mean).
    own = mu + sigma * special.ndtri(level)
    low, high = own.min(axis=1), own.max(axis=1)
    spread = np.maximum(high - low, sigma.max(axis=1))
    for _ in range(200):
        middle = 0.5 * (low + high)
        below = special.ndtr((middle[:, None] - mu) / sigma).mean(axis=1) < level
        low = np.where(below, middle, low)
        high = np.where(below, high, middle)
        if np.all(high - low <= tol * spread):
            break
    return 0.5 * (low + high)


def mixture_crps(y_true: Any, loc: Any, scale: Any, *, chunk: int = 256) -> np.ndarray:
    """Per-row CRPS of the equally weighted Gaussian mixture, in closed form (Grimit et al.
    2006): sum_k w_k A(y - mu_k, s_k^2) - 1/2 sum_jk w_j w_k A(mu_j - mu_k, s_j^2 + s_k^2) with
    A(m, v) = 2 sqrt(v) phi(m / sqrt(v)) + m (2 Phi(m / sqrt(v)) - 1). K = 1 is the Gaussian CRPS."""
    mu, sigma = _mixture_arrays(loc, scale)
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)

    def a(m: np.ndarray, v: np.ndarray) -> np.ndarray:
        s = np.sqrt(v)
        z = m / s
        return 2.0 * s * _normal_pdf(z) + m * (2.0 * special.ndtr(z) - 1.0)

    out = np.empty(len(y))
    variance = sigma**2
    for start in range(0, len(y), chunk):  # the pair term is (rows, K, K)
        rows = slice(start, start + chunk)
        m, v = mu[rows], variance[rows]
        first = a(y[rows, None] - m, v).mean(axis=1)
        pairs = a(m[:, :, None] - m[:, None, :], v[:, :, None] + v[:, None, :]).mean(axis=(1, 2))
        out[rows] = first - 0.5 * pairs
    return out


def interval_coverage_curve(
    y_true: Any, y_pred: Any, std: Any, *, levels: Sequence[float] | None = None
) -> dict[str, list[float]]:
    """Observed coverage of central Gaussian intervals at several nominal levels.

    Returns ``{"expected": [...], "observed": [...]}``; a calibrated model lies on the diagonal.
    Default levels are 0.05, 0.10, ..., 0.95.
    """
    yt, yp, sd = _regression_arrays(y_true, y_pred, std)
    assert sd is not None
    return pit_coverage_curve(special.ndtr((yt - yp) / sd), levels=levels)


def mixture_cdf(y_true: Any, loc: Any, scale: Any) -> np.ndarray:
    """Per-row CDF of the equally weighted Gaussian mixture at y: the probability integral
    transform, uniform on [0, 1] when the predictive distributions are calibrated."""
    mu, sigma = _mixture_arrays(loc, scale)
    y = np.asarray(y_true, dtype=np.float64).reshape(-1, 1)
    return special.ndtr((y - mu) / sigma).mean(axis=1)


def pit_coverage_curve(
    pit: Any, *, levels: Sequence[float] | None = None
) -> dict[str, list[float]]:
    """Observed coverage of the central intervals of each row's predictive distribution, from
    the rows' CDF values at their targets (``pit``): y lies in the central ``level`` interval
    exactly when its CDF value is within ``level / 2`` of 1/2. For a mixture these are the
    intervals predict writes (its quantiles), at every level, not a Gaussian's.
    """
    levels = np.round(np.arange(0.05, 0.951, 0.05), 2) if levels is None else np.asarray(levels)
    if np.any((levels <= 0.0) | (levels >= 1.0)):
        raise ValueError(f"interval levels must be in (0, 1), got {levels.tolist()}")
    distance = np.abs(np.asarray(pit, dtype=np.float64).reshape(-1) - 0.5)
    observed = np.mean(distance[:, None] <= levels[None, :] / 2.0, axis=0)
    return {"expected": levels.astype(float).tolist(), "observed": observed.tolist()}


# --------------------------------------------------------------------------------------------
# calibration
# --------------------------------------------------------------------------------------------


def _confidence_and_outcome(y_true: Any, probability: Any) -> tuple[np.ndarray, np.ndarray]:
    """P(y = 1) and y of a binary problem (1-D ``probability``), or the top-label confidence
    and whether the arg-max prediction is right (2-D)."""
    p = np.asarray(probability, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] > 1:
        labels = _class_indices(y_true, None)
        if labels.shape[0] != p.shape[0]:
            raise ValueError("y_true and probabilities have different lengths")
        return p.max(axis=1), (p.argmax(axis=1) == labels).astype(np.float64)
    labels, confidence = _binary_arrays(y_true, p)
    return confidence, labels.astype(np.float64)


def calibration_bins(y_true: Any, probability: Any, *, n_bins: int = 10) -> dict[str, list]:
    """Equal-width reliability bins shared by :func:`expected_calibration_error` and the plot.

    1-D ``probability`` is P(y = 1) of a binary problem, compared with the observed positive
    rate. 2-D ``probability`` (n, n_classes) uses the top-label confidence, compared with the
    accuracy of the arg-max prediction. Returns bin ``edges``, ``count``, ``confidence`` (mean
    predicted value) and ``observed`` (empirical frequency); empty bins hold ``None``.
    """
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    confidence, outcome = _confidence_and_outcome(y_true, probability)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    count, confidence_sum, outcome_sum = calibration_bin_sums(confidence, outcome, n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf_mean = confidence_sum / count
        obs_mean = outcome_sum / count
    return {
        "edges": edges.tolist(),
        "count": count.astype(np.int64).tolist(),
        "confidence": json_safe(conf_mean),
        "observed": json_safe(obs_mean),
    }


def calibration_bin_sums(
    confidence: np.ndarray, outcome: np.ndarray, n_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width bin of ``confidence``: the count of rows, and the sums of their
    confidence and outcome (sums, so chunks of rows can be added up)."""
    index = np.clip(np.floor(confidence * n_bins).astype(np.int64), 0, n_bins - 1)
    return (
        np.bincount(index, minlength=n_bins).astype(np.float64),
        np.bincount(index, weights=confidence, minlength=n_bins),
        np.bincount(index, weights=outcome, minlength=n_bins),
    )


def ece_from_bin_sums(count: np.ndarray, confidence: np.ndarray, outcome: np.ndarray) -> float:
    """ECE = sum_b (n_b / n) |observed_b - confidence_b| from ``calibration_bin_sums``."""
    filled = count > 0
    gap = np.abs(outcome[filled] - confidence[filled]) / count[filled]
    return float(np.sum(count[filled] * gap) / count.sum())


def expected_calibration_error(y_true: Any, probability: Any, *, n_bins: int = 10) -> float:
    """Expected calibration error with ``n_bins`` equal-width bins (0 = perfectly calibrated).

    ECE = sum_b (n_b / n) * |observed_b - confidence_b|. See :func:`calibration_bins` for how 1-D
    (binary) and 2-D (multiclass, top-label) probabilities are treated.
    """
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    confidence, outcome = _confidence_and_outcome(y_true, probability)
    return ece_from_bin_sums(*calibration_bin_sums(confidence, outcome, n_bins))


# --------------------------------------------------------------------------------------------
# task metrics
# --------------------------------------------------------------------------------------------


def regression_metrics(
    y_true: Any,
    y_pred: Any,
    *,
    std: Any | None = None,
    interval: float = 0.95,
    mixture: tuple[Any, Any] | None = None,
    bounds: tuple[Any, Any] | None = None,
) -> dict[str, float | None]:
    """Point metrics (rmse, mae, r2) and, given a Gaussian predictive ``std``, uncertainty metrics.

    Inputs may be (n,) or (n, k); with k targets each metric is averaged over targets.
    Uncertainty metrics: ``nll`` (mean Gaussian NLL), ``coverage`` (fraction of y_true inside the
    central ``interval`` Gaussian interval), ``interval_width`` (mean width of that interval) and
    ``crps`` (mean closed-form Gaussian CRPS). ``std`` must be in the original units of y.
    A predictive distribution that is a Gaussian mixture (one target; ``mixture`` = (loc,
    scale), each (n, K)) is scored as that mixture: its NLL and CRPS, and the coverage and width
    of its central interval (``bounds`` = (lower, upper) when already computed). Without a
    mixture, ``bounds`` (one target) are the interval scored in place of mean -/+ z std.
    r2 is ``None`` when a target is constant or there are fewer than two samples; every metric
    is ``None`` when a prediction, target or std is NaN or infinite.
    """
    from sklearn import metrics as skm

    if not 0.0 < interval < 1.0:
        raise ValueError(f"interval must be in (0, 1), got {interval}")
    if mixture is not None:
        return _mixture_regression_metrics(y_true, y_pred, std, interval, mixture, bounds)
    yt, yp, sd = _regression_arrays(y_true, y_pred, std)
    keys = _POINT_KEYS + (_UNCERTAINTY_KEYS if sd is not None else ())
    if not _all_finite(yt, yp, sd):
        return dict.fromkeys(keys)
    constant = yt.shape[0] < 2 or np.any(np.ptp(yt, axis=0) == 0)
    result: dict[str, float | None] = {
        "rmse": skm.root_mean_squared_error(yt, yp),
        "mae": skm.mean_absolute_error(yt, yp),
        "r2": None if constant else skm.r2_score(yt, yp),
    }
    if sd is not None:
        z = float(special.ndtri(0.5 + interval / 2.0))
        result["nll"] = np.mean(gaussian_nll(yt, yp, sd))
        if bounds is None:
            result["coverage"] = np.mean(np.abs(yp - yt) <= z * sd)
            result["interval_width"] = np.mean(2.0 * z * sd)
        else:
            # The interval predict writes: mean -/+ z std, clipped to a stated target range.
            lower, upper = (np.asarray(b, dtype=np.float64).reshape(yt.shape) for b in bounds)
            result["coverage"] = np.mean((lower <= yt) & (yt <= upper))
            result["interval_width"] = np.mean(upper - lower)
        result["crps"] = np.mean(gaussian_crps(yt, yp, sd))
    return json_safe(result)


def _mixture_regression_metrics(
    y_true: Any,
    y_pred: Any,
    std: Any,
    interval: float,
    mixture: tuple[Any, Any],
    bounds: tuple[Any, Any] | None,
) -> dict[str, float | None]:
    yt, _, _ = _regression_arrays(y_true, y_pred, std)
    loc, scale = (np.asarray(part, dtype=np.float64) for part in mixture)
    if yt.shape[1] != 1:
        raise ValueError("mixture metrics take one target")
    if not _all_finite(yt, loc, scale):
        return dict.fromkeys(_POINT_KEYS + _UNCERTAINTY_KEYS)
    y = yt[:, 0]
    if bounds is None:
        tail = (1.0 - interval) / 2.0
        bounds = (mixture_quantile(tail, loc, scale), mixture_quantile(1.0 - tail, loc, scale))
    return scored_regression_metrics(
        y,
        y_pred,
        bounds=bounds,
        nll_rows=mixture_nll(y, loc, scale),
        crps_rows=mixture_crps(y, loc, scale),
    )


def scored_regression_metrics(
    y_true: Any,
    y_pred: Any,
    *,
    bounds: tuple[Any, Any],
    nll_rows: Any,
    crps_rows: Any,
) -> dict[str, float | None]:
    """Regression metrics from per-row scores computed before (a mixture's NLL and CRPS per
    row, and its interval)."""
    yt, yp, _ = _regression_arrays(y_true, y_pred)
    lower, upper = (np.asarray(b, dtype=np.float64).reshape(-1) for b in bounds)
    nll = np.asarray(nll_rows, dtype=np.float64)
    crps = np.asarray(crps_rows, dtype=np.float64)
    if not _all_finite(yt, yp, lower, upper, nll, crps):
        return dict.fromkeys(_POINT_KEYS + _UNCERTAINTY_KEYS)
    result = regression_metrics(yt, yp)
    y = yt[:, 0]
    result["nll"] = float(np.mean(nll))
    result["coverage"] = float(np.mean((lower <= y) & (y <= upper)))
    result["interval_width"] = float(np.mean(upper - lower))
    result["crps"] = float(np.mean(crps))
    return json_safe(result)


def binary_metrics(y_true: Any, probability: Any, *, threshold: float = 0.5) -> dict[str, Any]:
    """Threshold, ranking and probabilistic metrics of a binary classifier.

    ``probability`` is P(y = 1), shape (n,), (n, 1) or (n, 2). A sample is predicted positive
    when ``probability >= threshold``. Keys: accuracy, precision, recall, f1 (``None`` when
    0 / 0: precision with no row predicted positive, recall with no positive row, f1 with
    neither), roc_auc, pr_auc (average precision), log_loss, brier, ece (10 equal-width bins).
    ``roc_auc`` is ``None`` when the split holds one class only and ``pr_auc`` is ``None`` when it
    holds no positives (both are undefined there); every metric is ``None`` when a probability
    is NaN, so the dict always serialises to strict JSON.
    """
    from sklearn import metrics as skm

    y, p = _binary_arrays(y_true, probability)
    if not _all_finite(p):
        return dict.fromkeys(_BINARY_KEYS)
    pred = (p >= threshold).astype(np.int64)
    labels = [0, 1]
    result: dict[str, Any] = {
        "accuracy": skm.accuracy_score(y, pred),
        # None, not 0, where a ratio is 0 / 0: recall on rows without a positive.
        "precision": skm.precision_score(y, pred, labels=labels, zero_division=np.nan),
        "recall": skm.recall_score(y, pred, labels=labels, zero_division=np.nan),
        "f1": skm.f1_score(y, pred, labels=labels, zero_division=np.nan),
        "roc_auc": skm.roc_auc_score(y, p) if np.unique(y).size == 2 else None,
        "pr_auc": skm.average_precision_score(y, p) if y.sum() > 0 else None,
        "log_loss": skm.log_loss(y, p, labels=labels),
        "brier": skm.brier_score_loss(y, p, pos_label=1),
        "ece": expected_calibration_error(y, p, n_bins=10),
    }
    return json_safe(result)


def multiclass_metrics(
    y_true: Any, probabilities: Any, *, class_names: Sequence[str], top_k: int = 3
) -> dict[str, Any]:
    """Metrics of a multiclass classifier from its (n, n_classes) probability matrix.

    Keys: accuracy, f1_macro (the mean F1 over the classes the split holds or the model predicts:
    a class with neither has no F1 and is left out, rather than counted as 0), f1_weighted,
    log_loss (over all ``class_names``, so classes absent from the split are fine), brier (sum over classes, mean over rows), top_k_accuracy and top_k (k = min(top_k, n_classes - 1); both
    omitted for two classes, where top-2 accuracy is trivially 1), ece (top-label confidence),
    confusion_matrix (rows = true class, columns = predicted, as lists) and class_names.
    ``y_true`` holds class indices, or class names that are looked up in ``class_names``.
    Every metric is ``None`` (and the confusion matrix left out) when a probability is NaN.
    """
    from sklearn import metrics as skm

    names = [str(c) for c in class_names]
    n_classes = len(names)
    if n_classes < 2:
        raise ValueError("multiclass metrics need at least two class names")
    y = _class_indices(y_true, names)
    prob = np.asarray(probabilities, dtype=np.float64)
    if prob.ndim != 2 or prob.shape[1] != n_classes:
        raise ValueError(f"probabilities must have shape (n, {n_classes}), got {prob.shape}")
    if prob.shape[0] != y.shape[0] or y.shape[0] == 0:
        raise ValueError("y_true and probabilities must have the same, non-zero length")
    if np.any((y < 0) | (y >= n_classes)):
        raise ValueError(f"class indices must be in [0, {n_classes})")
    if np.any(prob < 0):
        raise ValueError("probabilities must be non-negative")
    if not _all_finite(prob):
        return {**dict.fromkeys(_MULTICLASS_KEYS), "class_names": names}
    # Normalise rows (float32 softmax outputs rarely sum to exactly 1) before log loss.
    prob = prob / np.maximum(prob.sum(axis=1, keepdims=True), _EPS)
    labels = list(range(n_classes))
    pred = prob.argmax(axis=1)
    # A class that is neither in the split nor predicted (a rare class that fell in another
    # split) has no precision or recall; counting its F1 as 0 took a fifth off the macro F1 of
    # a 5-class model that was right on every row of a 4-class split. A class predicted but
    # absent (or present but never predicted) keeps its F1 of 0: those are real errors.
    seen = np.union1d(y, pred).tolist()
    result: dict[str, Any] = {
        "accuracy": skm.accuracy_score(y, pred),
        "f1_macro": skm.f1_score(y, pred, labels=seen, average="macro", zero_division=0),
        "f1_weighted": skm.f1_score(y, pred, labels=labels, average="weighted", zero_division=0),
        "log_loss": skm.log_loss(y, prob, labels=labels),
        # Brier (1950): the mean over rows of sum_c (p_c - 1[y = c])^2, in [0, 2].
        "brier": float(np.mean(np.sum((prob - np.eye(n_classes)[y]) ** 2, axis=1))),
    }
    k = min(int(top_k), n_classes - 1)
    if n_classes > 2 and k >= 1:
        result["top_k_accuracy"] = skm.top_k_accuracy_score(y, prob, k=k, labels=labels)
        result["top_k"] = k
    result["ece"] = expected_calibration_error(y, prob, n_bins=10)
    result["confusion_matrix"] = skm.confusion_matrix(y, pred, labels=labels)
    result["class_names"] = names
    return json_safe(result)


# --------------------------------------------------------------------------------------------
# repeats
# --------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def aggregate_repeats(metric_dicts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Summarise the metric dicts of repeated runs as ``{"mean", "std", "values"}`` per metric.

    Works on flat metric dicts and on nested ones (e.g. ``{"test": {"rmse": ...}}``), keeping the
    nesting. Only numeric scalars are aggregated (lists such as confusion matrices and strings are
    skipped). ``std`` is the sample standard deviation (ddof=1; 0.0 for a single value). ``None``
    (undefined) values stay in ``values`` but are ignored by mean/std; if all are undefined the
    mean and std are ``None``. A metric missing from some repeats is aggregated over the others.
    """
    dicts = [d for d in metric_dicts if d is not None]
    keys = list(dict.fromkeys(k for d in dicts for k in d))
    out: dict[str, Any] = {}
    for key in keys:
        present = [d[key] for d in dicts if key in d]
        if all(isinstance(v, Mapping) for v in present):
            nested = aggregate_repeats(present)
            if nested:
                out[key] = nested
            continue
        if not all(v is None or _is_number(v) for v in present):
            continue
        values = [None if v is None or not math.isfinite(float(v)) else float(v) for v in present]
        finite = np.array([v for v in values if v is not None], dtype=np.float64)
        if finite.size == 0:
            mean = std = None
        else:
            mean = float(finite.mean())
            std = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
        out[key] = {"mean": mean, "std": std, "values": values}
    return out
