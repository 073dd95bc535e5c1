"""The toolkit's own Keras 3 callbacks; each works in plain Keras code with the TF backend.

The classes load on first use, so the package's Keras-free helpers (``callbacks._files``,
which ``toolkit.runs`` uses) can be imported without starting TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .confusion_matrix import ConfusionMatrixImage
    from .epoch_timer import ThroughputLogger
    from .gradient_monitor import GradientNormMonitor
    from .learning_curve import LearningCurvePlot
    from .lr_logger import LearningRateLogger
    from .uncertainty_monitor import UncertaintyMonitor

# Public class -> the module that defines it.
_MODULES = {
    "ConfusionMatrixImage": "confusion_matrix",
    "GradientNormMonitor": "gradient_monitor",
    "LearningCurvePlot": "learning_curve",
    "LearningRateLogger": "lr_logger",
    "ThroughputLogger": "epoch_timer",
    "UncertaintyMonitor": "uncertainty_monitor",
}

__all__ = [
    "ConfusionMatrixImage",
    "GradientNormMonitor",
    "LearningCurvePlot",
    "LearningRateLogger",
    "ThroughputLogger",
    "UncertaintyMonitor",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_MODULES[name]}", __name__), name)
