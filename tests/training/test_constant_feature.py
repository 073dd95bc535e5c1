"""A feature column with one value in every training row (a flag never set, a one-hot column of
a level the export left out, a category of one level) carries nothing to learn: standardised,
a number is 0 in every row. Runs took such columns in without a word; they now end with one
warning naming each, in memory and streamed, and still train."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tests.helpers import cli_in_one_process, tiny_config


def _tables(folder: Path) -> tuple[Path, Path]:
    """Training rows where 'flag' is always 3 (with gaps), 'region' always 'north' and
    'colour_blue' (a one-hot column) always 0; 'colour' has three levels, 'colour_red' both
    0 and 1, 'x' varies. The validation rows vary in 'flag' too: only training rows count."""
    rng = np.random.default_rng(4)

    def rows(n: int, flag) -> pd.DataFrame:
        colour = rng.choice(["red", "green", "blue"], size=n)
        frame = pd.DataFrame(
            {
                "x": rng.normal(size=n),
                "flag": flag,
                "region": "north",
                "colour": colour,
                "colour_red": (colour == "red").astype(float),
                "colour_blue": 0.0,
            }
        )
        frame["y"] = 2.0 * frame["x"] + (colour == "red") + rng.normal(scale=0.3, size=n)
        return frame

    train = rows(96, 3.0)
    train.loc[[5, 40], "flag"] = np.nan  # a gap takes the mean: still the one value
    train.to_csv(folder / "train.csv", index=False)
    rows(32, rng.integers(0, 5, size=32).astype(float)).to_csv(folder / "val.csv", index=False)
    return folder / "train.csv", folder / "val.csv"


def test_constant_feature_columns_are_named_once_in_memory_and_streamed(tmp_path):
    train, validation = _tables(tmp_path)
    frame = pd.read_csv(train)
    # Independently: which features hold one value over the training file's present cells.
    features = [c for c in frame.columns if c != "y"]
    constant = [c for c in features if frame[c].dropna().nunique() == 1]
    assert constant == ["flag", "region", "colour_blue"]
    calls, outputs = [], []
    for streaming in (False, True):
        config = tiny_config(
            data={
                "source": str(train),
                "validation": str(validation),
                "target": "y",
                "streaming": streaming,
            }
        )
        config["data"].pop("synthetic")
        path = tmp_path / f"streamed-{streaming}.yaml"
        path.write_text(json.dumps(config))
        outputs.append(tmp_path / f"runs-{streaming}")
        calls.append(["train", path, "--output-dir", outputs[-1]])
    # Numeric columns first, in the data's order, then categorical ones.
    expected = (
        "feature columns 'flag' (always 3), 'colour_blue' (always 0), 'region' (always "
        "'north') hold the same value in every training row: they carry no information the "
        "model can learn (standardised, a number is 0 in every training row); harmless, but if "
        "they should vary check the data (data.features can leave them out)"
    )
    for result, out in zip(cli_in_one_process(*calls), outputs, strict=True):
        assert result.returncode == 0, result.stderr[-2000:]
        (run,) = out.glob("*/*")
        record = json.loads((run / "run.json").read_text())
        assert record["status"] == "completed"
        assert record["warnings"] == [expected]
        # Said once, on the summary line, as the run's other data warnings are.
        assert result.stderr.count("hold the same value in every training row") == 1
        assert f"; warning: {expected}" in result.stderr


def test_a_one_level_category_alone_is_named_and_varied_columns_are_not(tmp_path):
    """Singular wording for one column; a categorical column of two levels, a column with
    gaps among varied values and a 0/1 one-hot column give no line."""
    from toolkit.data.preprocessing import (
        CategoricalFeature,
        FeatureSpec,
        NumericFeature,
        TargetSpec,
        constant_feature_warning,
        constant_numeric,
    )

    spec = FeatureSpec(
        [NumericFeature("gappy", 0.0, 1.0, 1), NumericFeature("dummy", 0.5, 0.5)],
        [
            CategoricalFeature("kind", ["a", "b"]),
            CategoricalFeature("sometimes", ["<missing>", "x"], missing=3),
            CategoricalFeature("many", ["a"], out_of_vocabulary=4),  # max_tokens 1
            CategoricalFeature("site", ["lab"]),
        ],
        TargetSpec("y", "regression"),
    )
    matrix = np.array([[np.nan, 0.0], [1.0, 1.0], [2.0, 0.0]], dtype=np.float32)
    assert constant_numeric(matrix, spec) == {}
    assert constant_feature_warning(spec, {}) == (
        "feature column 'site' (always 'lab') holds the same value in every training row: "
        "it carries no information the model can learn (standardised, a number is 0 in "
        "every training row); harmless, but if it should vary check the data (data.features "
        "can leave it out)"
    )
    spec = FeatureSpec(spec.numeric, spec.categorical[:3], spec.target)
    assert constant_feature_warning(spec, {}) is None
