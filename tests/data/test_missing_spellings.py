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

from tests.cli_chain import RUN, cli_chain
from tests.helpers import tiny_config


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

    # Both trains (the streamed one first), then predict and evaluate --data on the run in
    # memory, in one fresh process (one TensorFlow start-up).
    calls = []
    for streaming in (True, False):
        config = tiny_config(data={"source": str(source), "target": "y", "streaming": streaming})
        config["data"].pop("synthetic")
        path = tmp_path / f"config-{streaming}.yaml"
        path.write_text(json.dumps(config))
        calls.append(["train", path, "--set", f"output_dir={tmp_path / 'r'}"])
    for given in (source, blanks):
        calls.append(["predict", RUN, "--input", given, "--output", tmp_path / f"p-{given.name}"])
    calls.append(["evaluate", RUN, "--data", source])
    streamed, in_memory, *predicts, result = cli_chain(*calls)
    runs = {}
    for streaming, trained in ((True, streamed), (False, in_memory)):
        assert trained.returncode == 0, (streaming, trained.stderr)
        runs[streaming] = Path(trained.stdout.strip().splitlines()[-1])
    run = runs[False]
    predicted = {}
    for given, answer in zip((source, blanks), predicts, strict=True):
        assert answer.returncode == 0, answer.stderr
        assert answer.args[2] == str(run), answer.args
        assert "never seen" not in answer.stderr, answer.stderr
        predicted[given.name] = pd.read_csv(tmp_path / f"p-{given.name}")["prediction"].to_numpy()
    np.testing.assert_allclose(predicted["data.csv"], predicted["blanks.csv"], rtol=1e-6)
    assert result.returncode == 0, result.stderr
    assert result.args[2] == str(run), result.args
    rmse = float(np.sqrt(np.mean((frame["y"].to_numpy() - predicted["data.csv"]) ** 2)))
    np.testing.assert_allclose(json.loads(result.stdout)["metrics"]["rmse"], rmse, rtol=1e-4)

    spec = json.loads((Path(runs[True]) / "preprocessing.json").read_text())
    (x2,) = [f for f in spec["numeric"] if f["name"] == "x2"]
    assert x2["missing"] > 0
