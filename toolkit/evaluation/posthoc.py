"""The post-hoc calibration a run's predictions carry, as one object.

Training may fit two steps after the model: a regressor's std factor (``std_scaling.json``,
``toolkit.evaluation.std_scaling``) and conformal scores (``conformal.json``,
``toolkit.evaluation.conformal``). Every prediction path (predict, evaluate, plots, export)
must apply both; passing them as one object means a path cannot take one and forget the
other, and a new step is added here rather than to every function.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from toolkit.evaluation.conformal import ConformalCalibration, load_calibration
from toolkit.evaluation.std_scaling import load_std_scale


@dataclass(frozen=True)
class PostHocCalibration:
    """What turns a model's raw predictive distribution into the run's: ``std_scale``
    scales a regressor's distribution about its mean (1: not at all), then ``conformal``
    adds intervals or prediction sets (None: none). ``PostHocCalibration.NONE`` is neither."""

    NONE: ClassVar[PostHocCalibration]

    std_scale: float = 1.0
    conformal: ConformalCalibration | None = None

    @classmethod
    def load(cls, run_dir: str | Path) -> PostHocCalibration:
        """The calibration saved in ``run_dir``; ``NONE``'s parts for files it lacks."""
        return cls(std_scale=load_std_scale(run_dir), conformal=load_calibration(run_dir))


PostHocCalibration.NONE = PostHocCalibration()
