"""The toolkit's own Keras 3 callbacks; each works in plain Keras code with the TF backend.

They count epochs from 1, as Keras' progress bar does: TensorBoard steps, CSV rows and
messages. Monitors that sample every n-th epoch also sample the last one.
"""

from .confusion_matrix_image import ConfusionMatrixImage
from .epoch_csv_logger import EpochCSVLogger
from .epoch_tensorboard import EpochTensorBoard
from .gradient_norm_monitor import GradientNormMonitor
from .learning_curve_plot import LearningCurvePlot
from .learning_rate_logger import LearningRateLogger
from .periodic_callback import PeriodicCallback
from .throughput_logger import ThroughputLogger
from .uncertainty_monitor import UncertaintyMonitor

__all__ = [
    "ConfusionMatrixImage",
    "EpochCSVLogger",
    "EpochTensorBoard",
    "GradientNormMonitor",
    "LearningCurvePlot",
    "LearningRateLogger",
    "PeriodicCallback",
    "ThroughputLogger",
    "UncertaintyMonitor",
]
