"""A CSV written by pandas' ``to_csv()`` with its default ``index=True`` starts its header with
a blank name. pandas (training in memory) calls that column 'Unnamed: 0'; the Arrow readers
(predict, evaluate --data, streamed training) called it '', so a run trained on such a file
refused a file of the same form: "feature column 'Unnamed: 0' is not in the data; columns:
, x1, ...". Every reader now names it as pandas does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tests.cli_chain import RUN, cli_chain, train_call, trained_run
from tests.helpers import cli_without_tensorflow, tiny_config
from toolkit.config.loading import validate_config
from toolkit.data.prepared import prepare_data


def test_a_blank_header_name_is_pandas_unnamed_column_to_every_reader(tmp_path):
    rng = np.random.default_rng(12)
    rows = 160
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=rows).round(3),
            "b": rng.normal(size=rows).round(3),
            "colour": rng.choice(["red", "green"], rows),
        }
    )
    frame["y"] = (2.0 * frame["a"] + rng.normal(scale=0.1, size=rows)).round(3)
    source = tmp_path / "data.csv"
    frame.to_csv(source)  # index=True: the header starts ',a,b'
    assert source.read_text().startswith(",a,b,colour,y\n")

    # Streamed training reads the file with Arrow: its features as train reads them.
    streamed = prepare_data(validate_config(_config(source, streaming=True))).spec
    assert [f.name for f in streamed.numeric] == ["Unnamed: 0", "a", "b"]
    # The run in memory, trained by the command, for predict and evaluate --data: the
    # four commands in one fresh process (one TensorFlow start-up).
    new = frame.iloc[100:].drop(columns="y")
    as_written, named = tmp_path / "rows.csv", tmp_path / "named.csv"
    new.to_csv(as_written)
    new.rename_axis("Unnamed: 0").to_csv(named)
    held_out = tmp_path / "held_out.csv"
    frame.iloc[100:].to_csv(held_out)
    trained, *predicts, result = cli_chain(
        train_call(tmp_path, _config(source, streaming=False)),
        *[
            ["predict", RUN, "--input", given, "--output", tmp_path / f"p-{given.name}"]
            for given in (as_written, named)
        ],
        ["evaluate", RUN, "--data", held_out],
    )
    run = trained_run(trained)
    spec = json.loads((run / "preprocessing.json").read_text())
    assert [f["name"] for f in spec["numeric"]] == ["Unnamed: 0", "a", "b"]

    predicted = {
        given.name: _predicted(answer, run, tmp_path / f"p-{given.name}")
        for given, answer in zip((as_written, named), predicts, strict=True)
    }
    np.testing.assert_allclose(predicted["rows.csv"], predicted["named.csv"], rtol=1e-6)

    assert result.returncode == 0, result.stderr
    assert result.args[2] == str(run), result.args
    truth = frame["y"].iloc[100:].to_numpy()
    rmse = float(np.sqrt(np.mean((truth - predicted["rows.csv"]) ** 2)))
    np.testing.assert_allclose(json.loads(result.stdout)["metrics"]["rmse"], rmse, rtol=1e-4)


def test_two_blank_header_names_are_read_alike_in_memory_and_streamed(tmp_path):
    """A header with two blank names (',,a,b,...') was refused in memory ("has the column ''
    twice") but read streamed as 'Unnamed: 0', 'Unnamed: 1'. Both now read it as pandas'
    read_csv names it, the reference, and train on the same features."""
    rng = np.random.default_rng(3)
    rows = 120
    frame = pd.DataFrame(
        {
            "i": np.arange(rows),
            "j": np.arange(rows) * 2,
            "a": rng.normal(size=rows).round(3),
            "b": rng.normal(size=rows).round(3),
        }
    )
    frame["y"] = (frame["a"] - frame["b"]).round(3)
    source = tmp_path / "data.csv"
    frame.rename(columns={"i": "", "j": ""}).to_csv(source, index=False)
    assert source.read_text().startswith(",,a,b,y\n")
    expected = [name for name in pd.read_csv(source).columns if name != "y"]
    assert expected == ["Unnamed: 0", "Unnamed: 1", "a", "b"]

    paths = []
    for streaming in (False, True):
        config = _config(source, streaming)
        # The features as train reads them, in memory (pandas) and streamed (Arrow).
        spec = prepare_data(validate_config(config)).spec
        assert [f.name for f in spec.numeric] == expected, streaming
        paths.append(tmp_path / f"config-{streaming}.yaml")
        paths[-1].write_text(json.dumps(config))
    # `toolkit validate` accepts both (it checks the columns, without TensorFlow).
    cli_without_tensorflow(*[(["validate", path], 0) for path in paths])

    # The run in memory (the reader that refused the header), trained and used by the CLI
    # (both commands in one fresh process).
    trained, predicted = cli_chain(
        train_call(tmp_path, _config(source, streaming=False)),
        ["predict", RUN, "--input", source, "--output", tmp_path / "p.csv"],
    )
    run = trained_run(trained)
    spec = json.loads((run / "preprocessing.json").read_text())
    assert [f["name"] for f in spec["numeric"]] == expected
    assert len(_predicted(predicted, run, tmp_path / "p.csv")) == rows


def _predicted(answer, run: Path, out: Path) -> np.ndarray:
    """A ``toolkit predict`` on ``run``'s ``prediction`` column, checked to have run without
    a word of categories never seen (as tests.helpers' predict_via_cli)."""
    assert answer.returncode == 0, answer.stderr
    assert answer.args[2] == str(run), answer.args
    assert "never seen" not in answer.stderr, answer.stderr
    return pd.read_csv(out)["prediction"].to_numpy()


def _config(source: Path, streaming: bool) -> dict:
    """A tiny regression on ``source``'s column 'y', in memory or streamed."""
    config = tiny_config(data={"source": str(source), "target": "y", "streaming": streaming})
    config["data"].pop("synthetic")
    return config
