"""A small trained classifier run shared by the predict, evaluate and safe-loading tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import tiny_config


def labelled_rows(n: int = 200) -> pd.DataFrame:
    """A numeric and a categorical feature, an id column and a two-class label."""
    return pd.DataFrame(
        {
            "id": range(n),
            "size": [float(i % 17) for i in range(n)],
            "colour": [["red", "green", "blue"][i % 3] for i in range(n)],
            "label": [["small", "large"][(i % 17) > 8] for i in range(n)],
        }
    )


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """One binary classifier (2 epochs), trained in this process: the tests run the
    commands on it, each in its own process."""
    import toolkit

    root = tmp_path_factory.mktemp("reliability-run")
    labelled_rows().to_csv(root / "data.csv", index=False)
    config = tiny_config(
        "binary",
        data={
            "source": str(root / "data.csv"),
            "target": "label",
            "features": ["size", "colour"],
            "test": 0.2,
        },
    )
    config["training"]["epochs"] = 2
    run = toolkit.train(config, output_dir=root / "experiments", verbose=0)
    assert run.status == "completed", run.reason
    return run.path
