"""``toolkit predict`` carries the input's other columns (ids, notes) through in their types.

Checked through the real command against pandas (and pyarrow) reading the input the test
wrote. The CSV inputs are larger than the reader's block, so they are read in more than one
chunk and the chunks must agree on each column's type.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.helpers import cli_in_one_process, run_cli, tiny_config
from toolkit.data.streaming.reader import CSV_BLOCK_BYTES

COLOURS = ["red", "green", "blue"]
CARRIED = ["id", "weight", "flag", "note", "zip", "when", "count"]


def _features(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": rng.normal(size=rows).round(3),
            "b": rng.normal(size=rows).round(3),
            "colour": rng.choice(COLOURS, rows),
        }
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("carried")
    rng = np.random.default_rng(0)
    frame = _features(300, rng)
    frame["target"] = 2.0 * frame["a"] + rng.normal(0.0, 0.1, 300)
    frame.to_csv(root / "train.csv", index=False)
    config = tiny_config(
        data={"source": str(root / "train.csv"), "target": "target", "validation": 0.2}
    )
    config["data"].pop("synthetic")
    config["data"]["features"] = ["a", "b", "colour"]
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_cli("train", path, "--output-dir", root / "out")
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


def _big_csv(path: Path, rows: int = 80_000) -> tuple[pd.DataFrame, int]:
    """A CSV of features and carried columns, more than one reader block long; returns the
    frame written and a row whose line starts beyond the first block."""
    rng = np.random.default_rng(1)
    frame = _features(rows, rng)
    frame.insert(0, "id", np.arange(rows) * 3 + 1)
    frame["weight"] = rng.random(rows).round(4)
    frame["flag"] = rng.random(rows) < 0.5
    frame["note"] = rng.choice(["ok", "late", "check later"], rows)
    frame["zip"] = [f"{z:05d}" for z in rng.integers(0, 3000, rows)]  # leading zeros
    frame["when"] = "2024-01-02"
    frame["count"] = rng.integers(0, 50, rows)
    frame["target"] = (2.0 * frame["a"]).round(3)
    frame.loc[rng.random(rows) < 0.01, "note"] = None
    late = rows - 100
    frame.to_csv(path, index=False)
    with open(path, "rb") as handle:
        offsets = np.cumsum([len(line) for line in handle])
    assert offsets[late] > CSV_BLOCK_BYTES  # line late + 2 begins after the first block
    return frame, late


def _read_csv(path: Path) -> pd.DataFrame:
    # A zip code with leading zeros is text to anyone who keeps them, so it is read as such.
    return pd.read_csv(path, dtype={"zip": str})


@pytest.mark.slow
@pytest.mark.parametrize("output", ["out.parquet", "out.csv"])
def test_csv_carried_columns_keep_their_types_across_chunks(run_dir, tmp_path, output):
    frame, late = _big_csv(tmp_path / "rows.csv")
    # A gap in the id column after the first chunk, so the chunks differ in what pandas
    # would infer for it: the output must still write whole numbers.
    frame["id"] = frame["id"].astype("Int64")
    frame.loc[late, "id"] = pd.NA
    frame.to_csv(tmp_path / "rows.csv", index=False)

    result = run_cli(
        "predict", run_dir, "--input", tmp_path / "rows.csv", "--output", tmp_path / output
    )
    assert result.returncode == 0, result.stderr

    expected = _read_csv(tmp_path / "rows.csv")[CARRIED]
    assert expected["id"].isna().sum() == 1 and expected["id"].dtype == np.float64
    if output.endswith(".parquet"):
        written = pd.read_parquet(tmp_path / output)
        schema = pq.read_schema(tmp_path / output)
        assert schema.field("id").type == pa.int64()  # with its gap: not float
        assert schema.field("zip").type == pa.string()
    else:
        written = _read_csv(tmp_path / output)
        ids = [line.split(",", 1)[0] for line in (tmp_path / output).read_text().splitlines()]
        assert ids[1:4] == ["1", "4", "7"] and ids[late + 1] == ""
        assert not any("." in value for value in ids[1:])  # 17, never 17.0
        # A CSV output writes the carried columns back as the text they were.
        as_text = {"dtype": str, "keep_default_na": False}
        pd.testing.assert_frame_equal(
            pd.read_csv(tmp_path / output, **as_text)[CARRIED],
            pd.read_csv(tmp_path / "rows.csv", **as_text)[CARRIED],
        )
    assert list(written.columns[: len(CARRIED)]) == CARRIED
    pd.testing.assert_frame_equal(written[CARRIED], expected)
    assert list(written["zip"][:5]) == list(frame["zip"][:5])  # the text as it was
    assert written["prediction"].dtype == np.float64 and len(written) == len(frame)


def _parquet_input(path: Path) -> pa.Table:
    """Carried columns of many Arrow types, in row groups of 100 (one chunk each)."""
    rows = 400
    rng = np.random.default_rng(2)
    counts = rng.integers(0, 9, rows).astype(np.int32).tolist()
    counts[250] = None  # a gap in the third row group only
    notes = [None] * 100 + rng.choice(["x", "y"], rows - 100).tolist()  # none in the first
    table = pa.Table.from_pandas(_features(rows, rng), preserve_index=False)
    extra = {
        "id": pa.array(np.arange(rows) + 10, pa.int64()),
        "count": pa.array(counts, pa.int32()),
        "score": pa.array(rng.random(rows), pa.float32()),
        "weight": pa.array(rng.random(rows), pa.float64()),
        "flag": pa.array(rng.random(rows) < 0.3, pa.bool_()),
        "note": pa.array(notes, pa.string()),
        "when": pa.array(np.arange(rows) * 86_400_000 + 1_700_000_000_000, pa.timestamp("ms")),
        "day": pa.array(np.arange(rows) + 19_000, pa.int32()).cast(pa.date32()),
        "group": pa.array(rng.choice(["p", "q"], rows)).dictionary_encode(),
    }
    for name, values in extra.items():
        table = table.append_column(name, values)
    table = table.replace_schema_metadata(None)
    pq.write_table(table, path, row_group_size=100)
    return table


@pytest.mark.slow
def test_parquet_carried_columns_keep_their_arrow_types(run_dir, tmp_path):
    table = _parquet_input(tmp_path / "rows.parquet")
    carried = [n for n in table.column_names if n not in ("a", "b", "colour")]
    # Both outputs written in one fresh process (one TensorFlow start-up).
    outputs = ("out.parquet", "out.csv")
    answers = cli_in_one_process(
        *[
            ["predict", run_dir, "--input", tmp_path / "rows.parquet", "--output", tmp_path / o]
            for o in outputs
        ]
    )
    for output, result in zip(outputs, answers, strict=True):
        assert result.returncode == 0, (output, result.stderr)

    schema, given = (
        pq.read_schema(tmp_path / "out.parquet"),
        pq.read_schema(tmp_path / "rows.parquet"),
    )
    for name in carried:
        assert schema.field(name).type == given.field(name).type, name
    expected = pd.read_parquet(tmp_path / "rows.parquet")[carried]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out.parquet")[carried], expected)

    # CSV output: numbers stay numbers, flags flags, text text (and the same values).
    written = pd.read_csv(tmp_path / "out.csv")
    plain = ["id", "weight", "flag", "note"]
    pd.testing.assert_frame_equal(written[plain], expected[plain])
    np.testing.assert_array_equal(written["count"], expected["count"])  # floats: it has a gap
    np.testing.assert_array_equal(written["score"].astype(np.float32), expected["score"])


@pytest.mark.slow
def test_csv_carried_number_column_with_text_after_the_first_block(run_dir, tmp_path):
    """A Parquet output's column types are fixed by its first chunk: a number column that
    turns to text later is a one-line error naming the row. A CSV output writes the text
    back as it was, so the same file predicts."""
    # The refused file alone in its folder (checked to stay so); what later commands write
    # goes to another, so that all four run in one fresh process (one TensorFlow start-up).
    given, later = tmp_path / "given", tmp_path / "later"
    given.mkdir()
    later.mkdir()
    frame, late = _big_csv(given / "rows.csv")
    frame["weight"] = frame["weight"].astype(object)
    frame.loc[late, "weight"] = "unknown"
    frame.to_csv(given / "rows.csv", index=False)
    frame.drop(columns="weight").to_csv(later / "kept.csv", index=False)
    result, as_csv, scored, done = cli_in_one_process(
        ["predict", run_dir, "--input", given / "rows.csv", "--output", given / "o.parquet"],
        ["predict", run_dir, "--input", given / "rows.csv", "--output", later / "o.csv"],
        ["evaluate", run_dir, "--data", given / "rows.csv"],
        ["predict", run_dir, "--input", later / "kept.csv", "--output", later / "p.csv"],
    )

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "column 'weight'" in lines[0] and "'unknown'" in lines[0]
    assert f"row {late + 1} (line {late + 2})" in lines[0], lines[0]  # rows from 1
    line = (given / "rows.csv").read_text().splitlines()[late + 1]  # line late + 2
    assert "unknown" in line.split(",")
    assert sorted(p.name for p in given.iterdir()) == ["rows.csv"]  # nothing half-written

    assert as_csv.returncode == 0, as_csv.stderr
    weights = pd.read_csv(later / "o.csv", dtype=str, keep_default_na=False)["weight"]
    expected = pd.read_csv(given / "rows.csv", dtype=str, keep_default_na=False)["weight"]
    pd.testing.assert_series_equal(weights, expected)
    assert weights[late] == "unknown"

    # evaluate writes no carried columns: the same file scores, as predictions without the
    # column do (their RMSE computed here).
    assert scored.returncode == 0, scored.stderr
    assert done.returncode == 0, done.stderr
    predicted = pd.read_csv(later / "p.csv")
    rmse = float(np.sqrt(np.mean((predicted["target"] - predicted["prediction"]) ** 2)))
    assert json.loads(scored.stdout)["metrics"]["rmse"] == pytest.approx(rmse, rel=1e-6)
