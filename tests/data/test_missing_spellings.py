"""Every reader takes pandas' spellings of a missing value as missing.

Training in memory reads a CSV with pandas, whose default na_values hold 'None' and '<NA>';
Arrow's defaults (streamed training, predict, evaluate --data) do not. A number column with
'None' for its gaps trained in memory, then predict and evaluate --data refused the very
training file ("column 'x2' must be numeric, row 4 holds 'None'"), and streamed training
refused it too. Checked against the same rows with blank cells, which every reader reads
as missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tests.helpers import predict_via_cli, run_cli, tiny_config, train_via_cli


def test_none_and_na_cells_are_missing_to_predict_evaluate_and_streamed_training(tmp_path):
    rng = np.random.default_rng(8)
    rows = 200
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=rows).round(3),
            "x2": rng.normal(size=rows).round(3).astype(object),
            "colour": rng.choice(["red", "green"], rows).astype(object),
        }
    )
    frame["y"] = (2.0 * frame["x1"] + rng.normal(scale=0.1, size=rows)).round(3)
    frame.loc[[3, 40, 120], "x2"] = "None"
    frame.loc[[7, 90], "x2"] = "<NA>"
    frame.loc[[5, 60], "colour"] = "None"
    source = tmp_path / "data.csv"
    frame.to_csv(source, index=False)
    blanks = tmp_path / "blanks.csv"
    frame.replace({"None": np.nan, "<NA>": np.nan}).to_csv(blanks, index=False)
    assert ",None," in source.read_text() and ",None," not in blanks.read_text()

    runs = {}
    for streaming in (False, True):
        config = tiny_config(data={"source": str(source), "target": "y", "streaming": streaming})
        config["data"].pop("synthetic")
        runs[streaming] = train_via_cli(tmp_path, config, name=f"config-{streaming}")

    run = runs[False]
    predicted = {}
    for given in (source, blanks):
        predicted[given.name] = predict_via_cli(run, given, tmp_path / f"p-{given.name}")
    np.testing.assert_allclose(predicted["data.csv"], predicted["blanks.csv"], rtol=1e-6)

    result = run_cli("evaluate", run, "--data", source)
    assert result.returncode == 0, result.stderr
    rmse = float(np.sqrt(np.mean((frame["y"].to_numpy() - predicted["data.csv"]) ** 2)))
    np.testing.assert_allclose(json.loads(result.stdout)["metrics"]["rmse"], rmse, rtol=1e-4)

    spec = json.loads((Path(runs[True]) / "preprocessing.json").read_text())
    (x2,) = [f for f in spec["numeric"] if f["name"] == "x2"]
    assert x2["missing"] > 0
