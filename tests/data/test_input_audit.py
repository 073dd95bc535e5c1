"""What predict reports about new rows: counts checked against the rows the test wrote."""

from __future__ import annotations

import numpy as np
import pandas as pd

from toolkit.data.input_audit import TRACKED_VALUES, InputAudit
from toolkit.data.preprocessing import (
    MISSING_TOKEN,
    NUMERIC_INPUT,
    CategoricalFeature,
    FeatureSpec,
    NumericFeature,
    TargetSpec,
)
from toolkit.data.sources.base import InputChunk


def _spec(*, size_missing: int = 0) -> FeatureSpec:
    return FeatureSpec(
        numeric=[NumericFeature("size", 0.0, 1.0, missing=size_missing)],
        categorical=[
            CategoricalFeature("colour", ["blue", "green", "red"]),
            CategoricalFeature("shop", ["a", "b", MISSING_TOKEN], missing=4),
        ],
        target=TargetSpec("y", "regression"),
    )


def _chunk(size: list[float], colour: list[str], shop: list[str]) -> InputChunk:
    features = {
        NUMERIC_INPUT: np.asarray(size, dtype=np.float32)[:, None],
        "colour": np.asarray(colour, dtype=object)[:, None],
        "shop": np.asarray(shop, dtype=object)[:, None],
    }
    return InputChunk(features, None, pd.DataFrame(index=range(len(size))))


def test_counts_span_chunks_and_name_the_commonest_values():
    chunks = [
        _chunk([1.0, np.nan, 2.0], ["pink", "red", MISSING_TOKEN], ["a", MISSING_TOKEN, "c"]),
        _chunk([np.nan, 3.0], ["pink", "teal"], ["b", "a"]),
    ]
    audit = InputAudit(_spec())
    assert len(list(audit.watch(chunks))) == 2
    assert audit.findings() == [
        "column 'size': 2 of 5 rows are missing, which training never had; the training mean "
        "was used",
        "column 'colour': 3 of 5 rows hold categories never seen in training ('pink', 'teal'); "
        "they were scored as the out-of-vocabulary bucket",
        "column 'colour': 1 of 5 rows are missing, which training never had; they were scored "
        "as the out-of-vocabulary bucket",
        # shop: a missing value is in its vocabulary (training had some); 'c' is new
        "column 'shop': 1 of 5 rows hold categories never seen in training ('c'); they were "
        "scored as the out-of-vocabulary bucket",
    ]
    # Training with missing sizes imputed them too: nothing new to say about that column.
    audit = InputAudit(_spec(size_missing=3))
    list(audit.watch(chunks))
    assert not any(line.startswith("column 'size'") for line in audit.findings())


def test_an_id_column_keeps_the_count_exact_and_the_memory_bounded():
    rows = 5 * TRACKED_VALUES
    ids = [f"id-{i}" for i in range(rows)]
    chunks = [
        _chunk([0.0] * 1000, ids[start : start + 1000], ["a"] * 1000)
        for start in range(0, rows, 1000)
    ]
    audit = InputAudit(_spec())
    list(audit.watch(chunks))
    assert len(audit.unseen["colour"]) == TRACKED_VALUES  # stopped after the chunk that filled it
    (line,) = audit.findings()
    assert line.startswith(f"column 'colour': {rows} of {rows} rows hold categories never seen")
    assert "and others" in line


def test_predict_does_not_call_categories_left_out_by_max_tokens_never_seen(tmp_path):
    """Every category of the rows to predict was in training, but data.max_tokens kept only
    the commonest: predict's warning counts the rows outside the vocabulary (checked with
    pandas) and must not say their categories were never seen."""
    import toolkit
    from tests.helpers import run_cli, tiny_config

    rng = np.random.default_rng(3)
    rows = 400
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "city": rng.choice([f"c{i:02d}" for i in range(30)], size=rows),
        }
    )
    frame["y"] = frame["x"] + rng.normal(size=rows)
    frame.iloc[:300].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[300:].to_csv(tmp_path / "validation.csv", index=False)
    config = tiny_config(
        data={
            "source": str(tmp_path / "train.csv"),
            "validation": str(tmp_path / "validation.csv"),
            "target": "y",
            "max_tokens": 10,
        }
    )
    config["data"].pop("synthetic")
    run = toolkit.train(config, output_dir=tmp_path / "runs", verbose=0)
    assert run.status == "completed"

    # The vocabulary, independently: the 10 commonest training cities, ties by name.
    counts = frame.iloc[:300]["city"].value_counts()
    kept = sorted(counts.index, key=lambda city: (-counts[city], city))[:10]
    rows_to_predict = frame.iloc[:300]  # only cities training saw
    rows_to_predict.to_csv(tmp_path / "rows.csv", index=False)
    outside = int((~rows_to_predict["city"].isin(kept)).sum())
    assert outside > 0

    result = run_cli(
        "predict", run.path, "--input", tmp_path / "rows.csv", "--output", tmp_path / "p.csv"
    )
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("toolkit: warn")]
    assert len(warnings) == 1, result.stderr
    assert f"column 'city': {outside} of 300 rows hold categories outside" in warnings[0]
    assert f"the 10 commonest of the {counts.size} training had (data.max_tokens)" in warnings[0]
    assert "never seen in training" not in warnings[0]
