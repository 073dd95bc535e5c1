"""Experiment tracking: runs, sweep trials (nested under their sweep) and repeats (nested under
their group) logged to MLflow, without ever putting the local run directory at risk."""

from toolkit.tracking.context import check_tracking_available, nested_under, tracking_enabled
from toolkit.tracking.group_tracking import GroupTracking
from toolkit.tracking.run_tracking import RunTracking

__all__ = [
    "GroupTracking",
    "RunTracking",
    "check_tracking_available",
    "nested_under",
    "tracking_enabled",
]
