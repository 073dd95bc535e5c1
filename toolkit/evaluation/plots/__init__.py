"""Evaluation plots, one module per family; each function returns a matplotlib Figure.

Figures are built without pyplot and without TensorFlow (inputs are numpy arrays and
DataFrames), so what was drawn can be checked before :func:`save` writes the PNG.
"""

from toolkit.evaluation.plots.canvas import save
from toolkit.evaluation.plots.classification import (
    confusion_matrix,
    pr_curve,
    reliability_diagram,
    roc_curve,
)
from toolkit.evaluation.plots.images import confidently_wrong
from toolkit.evaluation.plots.regression import predicted_vs_actual, residuals
from toolkit.evaluation.plots.sweeps import sweep_figures
from toolkit.evaluation.plots.training import comparison_curves, learning_curves
from toolkit.evaluation.plots.uncertainty import (
    interval_calibration,
    intervals_sorted,
    predictive_band,
)

__all__ = [
    "comparison_curves",
    "confidently_wrong",
    "confusion_matrix",
    "interval_calibration",
    "intervals_sorted",
    "learning_curves",
    "pr_curve",
    "predicted_vs_actual",
    "predictive_band",
    "reliability_diagram",
    "residuals",
    "roc_curve",
    "save",
    "sweep_figures",
]
