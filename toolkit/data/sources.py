"""Where rows come from: scikit-learn's bundled datasets, generated data, CSV and Parquet.

Nothing here downloads: the built-in datasets ship inside scikit-learn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from toolkit.config.schema import DataConfig, SyntheticConfig
from toolkit.errors import DataError

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


def read_table(path: str | Path, *, label: str = "data file") -> pd.DataFrame:
    """Read a CSV or Parquet file, turning every failure into a one-line DataError."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{label} not found: {path}")
    if path.is_dir():
        raise DataError(f"{label} is a directory, expected a .csv or .parquet file: {path}")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"{label} {path} cannot be read: {first}") from None
    except Exception as error:  # pyarrow raises its own types for corrupt files
        raise DataError(f"{label} {path} cannot be read: {type(error).__name__}") from None
    if frame.empty:
        raise DataError(f"{label} {path} has no rows")
    return frame


def load_source(config: DataConfig, seed: int) -> pd.DataFrame:
    """The full table named by ``data.source``, checked against the config before splitting."""
    from toolkit.data.preprocessing import check_table

    kind, _, name = config.source.partition(":")
    if kind == "sklearn":
        frame = load_builtin(name)
    elif kind == "synthetic":
        frame = make_synthetic(name, config.synthetic, seed)
    else:
        frame = read_table(config.source)
    check_table(frame, config, label=config.source)
    return frame
