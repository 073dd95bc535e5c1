"""A table whose rows are stored twice puts copies of training rows in the held-out splits,
whose scores then measure recall of seen rows: run.json's warnings name the share of copies
(in memory), counted here apart from the toolkit's row hashes, by each record's id."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.helpers import tiny_config
from toolkit.config.loading import validate_config
from toolkit.data.prepared import prepare_data


def _records(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"record": [f"r{i:04d}" for i in range(rows)], "a": rng.normal(size=rows)})
    frame["b"] = rng.choice(["x", "y", "z"], rows)
    frame["target"] = 2.0 * frame["a"] + rng.normal(0.0, 0.3, rows)
    return frame


def _prepared(path) -> object:
    raw = tiny_config()
    raw["data"] = {"source": str(path), "target": "target", "validation": 0.2, "test": 0.2}
    return prepare_data(validate_config(raw))


def _ids(split) -> np.ndarray:
    return split.features["record"][:, 0].astype(str)


def test_held_out_rows_that_copy_training_rows_are_named_with_their_share(tmp_path):
    records = _records(300)
    doubled = tmp_path / "doubled.csv"
    pd.concat([records, records]).to_csv(doubled, index=False)
    data = _prepared(doubled)
    # A held-out row copies a training row when its record is also in training.
    trained = set(_ids(data.train))
    expected = []
    for name, split in (("validation", data.validation), ("test", data.test)):
        ids = _ids(split)
        copies = int(np.isin(ids, list(trained)).sum())
        assert copies > 0.3 * len(ids)  # about half of them, by chance of the seeded split
        expected.append(f"{copies} of the {name} split's {len(ids)} ({copies / len(ids):.0%})")
    (line,) = [w for w in data.warnings if "repeat a training row" in w]
    assert line.startswith(" and ".join(expected) + " rows repeat a training row in every ")
    assert line.endswith("drop them before training (pandas' drop_duplicates)")

    # The same records once each: no held-out row is a copy, and nothing is said.
    single = tmp_path / "single.csv"
    records.to_csv(single, index=False)
    assert not [w for w in _prepared(single).warnings if "repeat a training row" in w]


def test_one_stray_duplicate_is_not_named(tmp_path):
    """One copied record among 300 moves a held-out score little (iris holds one such pair):
    under 5% of a split's rows are not named."""
    records = _records(300)
    path = tmp_path / "one.csv"
    pd.concat([records, records.iloc[[5]]]).to_csv(path, index=False)
    assert not [w for w in _prepared(path).warnings if "repeat a training row" in w]
