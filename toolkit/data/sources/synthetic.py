"""``synthetic:<kind>``: generated tables with a known structure, for tests and demos."""

from __future__ import annotations

import numpy as np
import pandas as pd

from toolkit.config.schema import SyntheticConfig
from toolkit.data.memory import available_memory, readable_bytes
from toolkit.data.sources.table import TableSource
from toolkit.errors import ConfigError
from toolkit.text import counted


def check_synthetic_fits(kind: str, spec: SyntheticConfig) -> None:
    """A ConfigError when the generated features alone (float64, as NumPy draws them) need
    more memory than is available: NumPy's MemoryError came as a traceback, or the machine
    swapped. Only the one array the generator makes at once is counted, so nothing that would
    fit is refused."""
    features = 1 if kind == "sine" else spec.features
    needed = spec.samples * features * np.dtype(np.float64).itemsize
    available = available_memory()
    if needed > available:
        raise ConfigError(
            f"data.synthetic: {spec.samples:,} samples x {counted(features, 'feature')} need "
            f"{readable_bytes(needed)} as float64; this machine has {readable_bytes(available)} "
            "available; lower data.synthetic.samples"
        )


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
        kind = self.config.source.removeprefix("synthetic:")
        check_synthetic_fits(kind, self.config.synthetic)
        return make_synthetic(kind, self.config.synthetic, self.seed)
