"""The toolkit's own Keras 3 callbacks; each works in plain Keras code with the TF backend.

They count epochs from 1, as Keras' progress bar does: TensorBoard steps, CSV rows and
messages. Monitors that sample every n-th epoch also sample the last one.

The classes load on first use, so the package's Keras-free helpers (``callbacks._files``,
which ``toolkit.runs`` uses) can be imported without starting TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .confusion_matrix_image import ConfusionMatrixImage
    from .epoch_csv_logger import EpochCSVLogger
    from .epoch_tensorboard import EpochTensorBoard
    from .gradient_norm_monitor import GradientNormMonitor
    from .input_images import InputImages
    from .learning_curve_plot import LearningCurvePlot
    from .learning_rate_logger import LearningRateLogger
    from .periodic_callback import PeriodicCallback
    from .throughput_logger import ThroughputLogger
    from .uncertainty_monitor import UncertaintyMonitor

# Public class -> the module that defines it (named after the class).
_MODULES = {
    "ConfusionMatrixImage": "confusion_matrix_image",
    "EpochCSVLogger": "epoch_csv_logger",
    "EpochTensorBoard": "epoch_tensorboard",
    "GradientNormMonitor": "gradient_norm_monitor",
    "InputImages": "input_images",
    "LearningCurvePlot": "learning_curve_plot",
    "LearningRateLogger": "learning_rate_logger",
    "PeriodicCallback": "periodic_callback",
    "ThroughputLogger": "throughput_logger",
    "UncertaintyMonitor": "uncertainty_monitor",
}

__all__ = [
    "ConfusionMatrixImage",
    "EpochCSVLogger",
    "EpochTensorBoard",
    "GradientNormMonitor",
    "InputImages",
    "LearningCurvePlot",
    "LearningRateLogger",
    "PeriodicCallback",
    "ThroughputLogger",
    "UncertaintyMonitor",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_MODULES[name]}", __name__), name)
