"""``sklearn:<name>``: scikit-learn's bundled datasets, as tables in memory.

Nothing here downloads: the datasets ship inside scikit-learn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from toolkit.data.sources.table import TableSource

_SKLEARN_LOADERS = {
    "diabetes": "load_diabetes",
    "breast_cancer": "load_breast_cancer",
    "iris": "load_iris",
    "wine": "load_wine",
    "digits": "load_digits",
}


def load_builtin(name: str) -> pd.DataFrame:
    """A scikit-learn dataset as a frame: its feature names as columns, ``target`` last."""
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, _SKLEARN_LOADERS[name])(as_frame=True)
    frame = bunch.frame.copy()
    if "target_names" in bunch and name != "diabetes":
        # Classifiers get readable labels ("malignant"), which the model maps to indices.
        labels = np.asarray(bunch.target_names)
        if name == "digits":
            labels = np.asarray([str(i) for i in range(10)])
        frame["target"] = labels[frame["target"].to_numpy()]
    return frame


class SklearnSource(TableSource):
    """A scikit-learn dataset, split and encoded like any table."""

    kind = "sklearn"

    def load_frame(self) -> pd.DataFrame:
        return load_builtin(self.config.source.removeprefix("sklearn:"))

    def training_frame(self) -> pd.DataFrame:
        return self.load_frame()
