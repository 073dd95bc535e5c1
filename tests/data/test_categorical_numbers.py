"""A categorical column of numbers reaches the model as the tokens training made of it,
however a CSV spells the numbers.

Training reads a CSV with pandas, which parses a column of '4.0' (how pandas itself writes a
whole-number column with blanks) as numbers, tokens '4'; predict and ``evaluate --data`` read
every column as text. Checked through the real commands: the same rows spelt '4.0' and '4'
must score alike, and as the run's own evaluation of them does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tests.cli_chain import RUN, cli_chain, train_call, trained_run
from tests.helpers import tiny_config


def test_whole_numbers_written_as_floats_are_in_the_vocabulary(tmp_path):
    rng = np.random.default_rng(5)
    rows = 240
    shop = rng.integers(0, 4, rows).astype(float)
    shop[rng.choice(rows, 12, replace=False)] = np.nan  # blanks: pandas writes 1.0, 2.0, ...
    frame = pd.DataFrame({"x": rng.normal(size=rows).round(3), "shop": shop})
    frame["y"] = (4.0 * np.nan_to_num(frame["shop"], nan=1.5) + frame["x"]).round(3)
    frame.iloc[:180].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[180:].to_csv(tmp_path / "validation.csv", index=False)
    assert "2.0," in (tmp_path / "validation.csv").read_text()
    config = tiny_config(
        data={
            "source": str(tmp_path / "train.csv"),
            "validation": str(tmp_path / "validation.csv"),
            "target": "y",
            "categorical": ["shop"],
        },
        training={"epochs": 40, "batch_size": 16},
    )
    config["data"].pop("synthetic")

    held_out = frame.iloc[180:]
    as_floats = tmp_path / "floats.csv"
    held_out.drop(columns="y").to_csv(as_floats, index=False)
    as_ints = tmp_path / "ints.csv"
    held_out.drop(columns="y").astype({"shop": "Int64"}).to_csv(as_ints, index=False)
    assert ",2.0" in as_floats.read_text() and ",2.0" not in as_ints.read_text()
    # train, predict on both spellings and evaluate, in one fresh process.
    trained, *predicts, result = cli_chain(
        train_call(tmp_path, config),
        *_predict_calls(as_floats, as_ints, tmp_path),
        ["evaluate", RUN],
    )
    run = trained_run(trained)
    predicted = _same_predictions(run, predicts, as_floats, as_ints, tmp_path)

    # The run's own evaluation of its validation rows (read as training read them) against
    # the RMSE of predict's output on the same rows, computed here.
    assert result.returncode == 0, result.stderr
    assert result.args[2] == str(run), result.args
    scores = json.loads(result.stdout)
    assert scores["split"] == "validation"
    rmse = float(np.sqrt(np.mean((held_out["y"].to_numpy() - predicted["floats.csv"]) ** 2)))
    np.testing.assert_allclose(scores["metrics"]["rmse"], rmse, rtol=1e-4)


def test_a_streamed_runs_categories_of_numbers_take_any_spelling(tmp_path):
    """A streamed run reads the column as text, so its vocabulary is '1.0', '2.0', ...: the
    same rows spelt '1', '2' (the column without its blanks) must score as those spelt
    '1.0', with no row called unseen."""
    rng = np.random.default_rng(6)
    rows = 200
    shop = rng.integers(0, 3, rows).astype(float)
    shop[:6] = np.nan
    frame = pd.DataFrame({"x": rng.normal(size=rows).round(3), "shop": shop})
    frame["y"] = (3.0 * np.nan_to_num(frame["shop"], nan=1.0) + frame["x"]).round(3)
    frame.to_csv(tmp_path / "data.csv", index=False)
    config = tiny_config(
        data={
            "source": str(tmp_path / "data.csv"),
            "target": "y",
            "categorical": ["shop"],
            "streaming": True,
            "validation": 0.25,
        },
        training={"epochs": 5, "batch_size": 16},
    )
    config["data"].pop("synthetic")
    rows_to_predict = frame.iloc[10:40].drop(columns="y")  # no blanks
    as_floats, as_ints = tmp_path / "floats.csv", tmp_path / "ints.csv"
    rows_to_predict.to_csv(as_floats, index=False)
    rows_to_predict.astype({"shop": int}).to_csv(as_ints, index=False)
    assert ",1.0" in as_floats.read_text() and ",1.0" not in as_ints.read_text()
    # train and predict on both spellings in one fresh process.
    trained, *predicts = cli_chain(
        train_call(tmp_path, config), *_predict_calls(as_floats, as_ints, tmp_path)
    )
    run = trained_run(trained)
    spec = json.loads((run / "preprocessing.json").read_text())
    (shop_spec,) = [f for f in spec["categorical"] if f["name"] == "shop"]
    assert "1.0" in shop_spec["vocabulary"]
    _same_predictions(run, predicts, as_floats, as_ints, tmp_path)


def _predict_calls(as_floats: Path, as_ints: Path, tmp_path: Path) -> list[list[str | Path]]:
    """``toolkit predict`` of the run just trained on each file, to ``tmp_path/p-NAME``."""
    return [
        ["predict", RUN, "--input", path, "--output", tmp_path / f"p-{path.name}"]
        for path in (as_floats, as_ints)
    ]


def _same_predictions(run, predicts, as_floats, as_ints, tmp_path) -> dict[str, np.ndarray]:
    """``toolkit predict``'s predictions (``predicts``, the answers of ``_predict_calls``) for
    the rows spelt either way, checked equal and without a word of categories never seen;
    by file name."""
    predicted = {}
    for path, answer in zip((as_floats, as_ints), predicts, strict=True):
        assert answer.returncode == 0, answer.stderr
        assert answer.args[2] == str(run), answer.args
        assert "never seen" not in answer.stderr, answer.stderr
        predicted[path.name] = pd.read_csv(tmp_path / f"p-{path.name}")["prediction"].to_numpy()
    np.testing.assert_allclose(predicted[as_floats.name], predicted[as_ints.name], rtol=1e-6)
    return predicted
