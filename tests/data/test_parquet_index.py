"""A Parquet file written by pandas from a filtered or sorted frame holds its index as a column
'__index_level_0__' (a named index under its name). pandas' read_parquet makes it the index
again: it is the rows' old labels, not data. Training must not take it in as a feature, and
predict must read such a file (it was a KeyError traceback); a named index is a column, as
in the same table saved as CSV.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from tests.cli_chain import RUN, cli_chain
from tests.helpers import tiny_config


def _table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=rows).round(3),
            "b": rng.normal(size=rows).round(3),
            "colour": rng.choice(["red", "green", "blue"], rows),
        }
    )
    frame["y"] = (2.0 * frame["a"] - frame["b"] + rng.normal(scale=0.1, size=rows)).round(3)
    return frame


def test_pandas_index_columns_are_not_features_and_predict_reads_them(tmp_path):
    frame = _table(400, 3)
    kept = frame[frame["b"] > -1.0]  # filtered: its index is no longer 0..n-1
    source = tmp_path / "train.parquet"
    kept.to_parquet(source)
    assert "__index_level_0__" in pq.read_schema(source).names
    config = tiny_config(data={"source": str(source), "target": "y"})
    config["data"].pop("synthetic")
    new = _table(60, 4)
    new = new[new["a"] > -1.0].drop(columns="y")
    plain, unnamed, named = (
        tmp_path / "plain.csv",
        tmp_path / "unnamed.parquet",
        tmp_path / "named.parquet",
    )
    new.assign(rowid=new.index).to_csv(plain, index=False)
    new.to_parquet(unnamed)
    new.rename_axis("rowid").to_parquet(named)

    # train, then predict on each file, in one fresh process (one TensorFlow start-up).
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))
    trained, *answers = cli_chain(
        ["train", path, "--set", f"output_dir={tmp_path / 'r'}"],
        *[
            ["predict", RUN, "--input", given, "--output", tmp_path / f"p-{given.stem}.csv"]
            for given in (plain, unnamed, named)
        ],
    )
    assert trained.returncode == 0, trained.stderr
    run = Path(trained.stdout.strip().splitlines()[-1])
    spec = json.loads((run / "preprocessing.json").read_text())
    features = [f["name"] for f in spec["numeric"] + spec["categorical"]]
    assert sorted(features) == ["a", "b", "colour"]

    predicted = {}
    for given, result in zip((plain, unnamed, named), answers, strict=True):
        assert result.returncode == 0, result.stderr
        assert result.args[2] == str(run), result.args
        predicted[given.stem] = pd.read_csv(tmp_path / f"p-{given.stem}.csv")
    reference = predicted["plain"]
    assert list(reference.columns[:1]) == ["rowid"]
    assert "__index_level_0__" not in predicted["unnamed"].columns
    assert list(predicted["unnamed"].columns) == list(reference.columns[1:])
    np.testing.assert_allclose(predicted["unnamed"]["prediction"], reference["prediction"])
    # The named index is carried as the id column it is, with the rows' labels.
    assert list(predicted["named"].columns) == list(reference.columns)
    assert predicted["named"]["rowid"].tolist() == new.index.tolist()
    np.testing.assert_allclose(predicted["named"]["prediction"], reference["prediction"])
