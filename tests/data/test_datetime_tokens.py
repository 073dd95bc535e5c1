"""A date column read from Parquet (datetime64) was tokens such as '2020-01-01 00:00:00',
and the same dates read from CSV (text) '2020-01-01': a run trained on one format and
predicting on the other put every row in the unseen bucket. A date or time is now the same
token whatever the format, in memory, streamed and in predict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tests.cli_chain import RUN, cli_chain
from tests.helpers import tiny_config
from toolkit.config.loading import validate_config
from toolkit.data.prepared import prepare_data


def test_dates_from_csv_and_parquet_are_the_same_categories(tmp_path):
    rng = np.random.default_rng(5)
    rows = 160
    days = pd.date_range("2020-01-01", periods=6, freq="D")
    day = days[rng.integers(0, len(days), rows)]
    # A column with times: pandas writes it at a common precision ('... 00:00:00.000').
    times = pd.DatetimeIndex(["2020-03-01", "2020-03-02 12:30:00.5", "2020-03-03 08:00"])
    when = times[rng.integers(0, len(times), rows)]
    frame = pd.DataFrame({"x": rng.normal(size=rows).round(3), "day": day, "when": when})
    frame["y"] = (
        frame["x"] + 3.0 * (day.day_of_week % 3) + rng.normal(scale=0.1, size=rows)
    ).round(3)
    csv, parquet = tmp_path / "data.csv", tmp_path / "data.parquet"
    frame.to_csv(csv, index=False)
    frame.to_parquet(parquet, index=False)
    # The reference: the days as pandas' CSV writer spells a column of midnights.
    assert pd.read_csv(csv)["day"].head(3).tolist() == day[:3].strftime("%Y-%m-%d").tolist()
    expected_days = sorted(days.strftime("%Y-%m-%d"))

    vocabularies = {}
    for source in (csv, parquet):
        for streaming in (False, True):
            config = _config(source, streaming)
            spec = prepare_data(validate_config(config)).spec  # what train reads
            vocabulary = {f.name: f.vocabulary for f in spec.categorical}
            assert sorted(t for t in vocabulary["day"] if t in expected_days) == expected_days, (
                source.name,
                streaming,
                vocabulary["day"],
            )
            vocabularies[source.suffix, streaming] = vocabulary
        # Streamed or in memory, one file gives one vocabulary.
        assert vocabularies[source.suffix, True] == vocabularies[source.suffix, False]
    assert vocabularies[".csv", False]["day"] == vocabularies[".parquet", False]["day"]

    # Trained on either format, rows given in the other predict as in the same one: the
    # column with times is spelt differently by the two ('... 00:00:00.000' in the CSV).
    new_csv, new_parquet = tmp_path / "new.csv", tmp_path / "new.parquet"
    frame.drop(columns="y").to_csv(new_csv, index=False)
    frame.drop(columns="y").to_parquet(new_parquet, index=False)
    # Both trains and their four predicts in one fresh process (one TensorFlow start-up).
    trained = ((csv, False), (parquet, True))
    calls = []
    for source, streaming in trained:
        path = tmp_path / f"config-{source.suffix[1:]}-{streaming}.yaml"
        path.write_text(json.dumps(_config(source, streaming)))
        calls.append(["train", path, "--set", f"output_dir={tmp_path / 'r'}"])
        for given in (new_csv, new_parquet):
            out = tmp_path / f"p-{source.suffix[1:]}-{streaming}-{given.suffix[1:]}.csv"
            calls.append(["predict", RUN, "--input", given, "--output", out])
    answers = iter(cli_chain(*calls))
    for source, streaming in trained:
        result = next(answers)
        assert result.returncode == 0, result.stderr
        run = Path(result.stdout.strip().splitlines()[-1])
        spec = json.loads((run / "preprocessing.json").read_text())
        written = {f["name"]: f["vocabulary"] for f in spec["categorical"]}
        assert written == vocabularies[source.suffix, streaming]
        predicted = {}
        for given in (new_csv, new_parquet):
            answer = next(answers)
            assert answer.returncode == 0, answer.stderr
            assert answer.args[2] == str(run), answer.args
            assert "never seen" not in answer.stderr, answer.stderr
            out = tmp_path / f"p-{source.suffix[1:]}-{streaming}-{given.suffix[1:]}.csv"
            predicted[given.suffix] = pd.read_csv(out)["prediction"].to_numpy()
        np.testing.assert_allclose(
            predicted[".csv"], predicted[".parquet"], rtol=1e-6, err_msg=f"{source} {streaming}"
        )


def _config(source: Path, streaming: bool) -> dict:
    config = tiny_config(
        data={"source": str(source), "target": "y", "streaming": streaming},
        training={"epochs": 5, "batch_size": 16},
    )
    config["data"].pop("synthetic")
    return config
