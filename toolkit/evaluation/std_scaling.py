"""Std scaling: the regression counterpart of temperature scaling (Levi et al., 2022). One
factor s > 0, fitted on held-out rows by minimising their negative log-likelihood, maps the
predictive distribution through x -> mean + s (x - mean): every component's location
mu_k -> mean + s (mu_k - mean) and scale sigma_k -> s sigma_k, so std, epistemic_std and
aleatoric_std all scale by s and the interval moves with them.

Why: early stopping on a small validation split restores an early checkpoint whose scales
are still too wide (issue #16: validation z-scores with root-mean-square 0.66-0.76, 95%
intervals covering 0.985-0.992 of new rows).

The factor is saved in the run directory (``std_scaling.json``) so ``toolkit predict`` and
``toolkit evaluate`` apply it, as they apply ``conformal.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from toolkit.errors import ToolkitError
from toolkit.evaluation.metrics import mixture_nll

STD_SCALING_FILE = "std_scaling.json"
_MIN_STD = 1e-12
# s is searched in [1/4, 4] on a log scale, as the temperature is (there from 1/4).
_LOG_S_BOUNDS = (math.log(0.25), math.log(4.0))


def at_log_bound(value: float, log_bounds: tuple[float, float]) -> str | None:
    """'upper' or 'lower' when a value fitted on a log scale stopped at an end of its search
    (within its optimiser's tolerance), else None: the fit wanted more than it allows."""
    for name, bound in (("lower", log_bounds[0]), ("upper", log_bounds[1])):
        if abs(math.log(value) - bound) < 1e-4:
            return name
    return None


def at_bound(factor: float) -> str | None:
    """``at_log_bound`` for s in [1/4, 4]."""
    return at_log_bound(factor, _LOG_S_BOUNDS)


def scaled_components(
    locations: np.ndarray, scales: np.ndarray | None, factor: float
) -> tuple[np.ndarray, np.ndarray | None]:
    """The components (rows, K) of the predictive distribution after x -> mean + s (x - mean),
    mean the row's mixture mean (the components are equally weighted)."""
    if factor == 1.0:
        return locations, scales
    mean = locations.mean(axis=1, keepdims=True)
    return mean + factor * (locations - mean), None if scales is None else factor * scales


def fit_std_scale(locations: np.ndarray, scales: np.ndarray | None, y: np.ndarray) -> float:
    """The s > 0 minimising the mean NLL of ``y`` under the scaled predictive distribution.

    One Gaussian (a single component with a scale, or point components summarised as
    N(mean, their spread), as the metrics score them): the closed form sqrt(mean(z^2)),
    z = (y - mean) / std. A mixture: minimised numerically in log s. Both within [1/4, 4].
    """
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    locations = np.asarray(locations, dtype=np.float64)
    low, high = (math.exp(bound) for bound in _LOG_S_BOUNDS)
    mean = locations.mean(axis=1)
    if scales is None or scales.shape[1] == 1:
        std = locations.std(axis=1) if scales is None else scales[:, 0]
        z = (y - mean) / np.maximum(std, _MIN_STD)
        return float(np.clip(math.sqrt(float(np.mean(z**2))), low, high))

    def nll(log_s: float) -> float:
        scaled = scaled_components(locations, scales, math.exp(log_s))
        return float(np.mean(mixture_nll(y, *scaled)))

    # Imported here: predict, evaluate and export read a fitted factor (load_std_scale) and
    # never fit one; SciPy's optimizers were a tenth of a second of their start.
    from scipy import optimize

    result = optimize.minimize_scalar(
        nll, bounds=_LOG_S_BOUNDS, method="bounded", options={"xatol": 1e-6}
    )
    return float(math.exp(result.x))


def std_scale_json(factor: float) -> str:
    """The text of ``std_scaling.json``."""
    return json.dumps({"factor": factor, "fitted_on": "validation"}, indent=1)


def load_std_scale(run_dir: str | Path) -> float:
    """The run's std factor, 1 when it was trained without std scaling."""
    path = Path(run_dir) / STD_SCALING_FILE
    if not path.exists():
        return 1.0
    try:
        factor = float(json.loads(path.read_text())["factor"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ToolkitError(f"{path} cannot be read: {error}") from None
    if not (math.isfinite(factor) and factor > 0):
        raise ToolkitError(f"{path} cannot be read: factor {factor} is not a positive number")
    return factor
