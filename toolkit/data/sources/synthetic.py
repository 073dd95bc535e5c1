"""``synthetic:<kind>``: generated tables with a known structure, for tests and demos."""

from __future__ import annotations

import numpy as np
import pandas as pd

from toolkit.config.schema import SyntheticConfig
from toolkit.data.sources.table import TableSource


def make_synthetic(kind: str, spec: SyntheticConfig, seed: int) -> pd.DataFrame:
    """Generated data with a known structure, for tests and demos."""
    rng = np.random.default_rng(seed)
    n = spec.samples
    if kind == "sine":
        x = rng.uniform(-1.0, 1.0, size=n)
        y = np.sin(3.0 * x) + rng.normal(0.0, spec.noise, size=n)
        return pd.DataFrame({"x": x, "target": y})
    features = rng.normal(size=(n, spec.features))
    frame = pd.DataFrame(features, columns=[f"x{i}" for i in range(spec.features)])
    weights = rng.normal(size=spec.features)
    signal = features @ weights / np.sqrt(spec.features)
    for index in range(spec.categorical_features):
        levels = np.array(["a", "b", "c", "d"])
        column = levels[rng.integers(0, len(levels), size=n)]
        frame[f"cat{index}"] = column
        signal = signal + 0.5 * (column == "a") - 0.5 * (column == "d")
    noise = rng.normal(0.0, spec.noise, size=n)
    if kind == "regression":
        frame["target"] = 3.0 * signal + 10.0 + noise
    elif kind == "binary":
        frame["target"] = np.where(signal + noise > 0, "yes", "no")
    else:
        edges = np.quantile(signal + noise, np.linspace(0, 1, spec.classes + 1)[1:-1])
        frame["target"] = np.array([f"class{i}" for i in range(spec.classes)])[
            np.searchsorted(edges, signal + noise)
        ]
    return frame


class SyntheticSource(TableSource):
    """Generated data (``data.synthetic`` sets its size), split and encoded like any table."""

    kind = "synthetic"

    def load_frame(self) -> pd.DataFrame:
        return make_synthetic(
            self.config.source.removeprefix("synthetic:"), self.config.synthetic, self.seed
        )

    def training_frame(self) -> pd.DataFrame:
        return self.load_frame()
