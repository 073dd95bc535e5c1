"""The toolkit's own Keras 3 callbacks; each works in plain Keras code with the TF backend."""

from .confusion_matrix import ConfusionMatrixImage
from .epoch_timer import ThroughputLogger
from .gradient_monitor import GradientNormMonitor
from .learning_curve import LearningCurvePlot
from .lr_logger import LearningRateLogger
from .uncertainty_monitor import UncertaintyMonitor

__all__ = [
    "ConfusionMatrixImage",
    "GradientNormMonitor",
    "LearningCurvePlot",
    "LearningRateLogger",
    "ThroughputLogger",
    "UncertaintyMonitor",
]
