"""Bad data through the real CLI: exit 2, one line naming the file, column or row, no run dir.

Every training case fails while the data is loaded and checked, before TensorFlow starts and
before a run directory exists. The predict/evaluate cases use one small trained run. The
refusals are many: each group runs as ``toolkit.cli.main`` in one fresh process
(``cli_in_one_process``), each call with its own stdout, stderr and exit code.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.helpers import cli_in_one_process, cli_without_tensorflow, tiny_config
from tests.reliability._support import (
    assert_nothing_written,
    assert_one_line_error,
    with_values,
    write_yaml,
)
from toolkit.config.schema import DataConfig
from toolkit.data.preprocessing import check_table
from toolkit.errors import DataError


def _frame(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "colour": rng.choice(["red", "green"], size=n),
        }
    )
    frame["target"] = 2.0 * frame["a"] + rng.normal(size=n)
    return frame


def _csv(directory: Path, frame: pd.DataFrame, name: str = "data.csv", sep: str = ",") -> str:
    frame.to_csv(directory / name, index=False, sep=sep)
    return str(directory / name)


def _parquet(directory: Path, frame: pd.DataFrame, name: str = "data.parquet") -> str:
    frame.to_parquet(directory / name, index=False)
    return str(directory / name)


def _with_text(column: str, rows: dict[int, str]) -> pd.DataFrame:
    frame = _frame()
    frame[column] = frame[column].astype(object)
    for row, text in rows.items():
        frame.loc[row, column] = text
    return frame


# Each builder writes its files into the directory and returns the config values to set.
Builder = Callable[[Path], dict[str, Any]]


def _missing_file(d: Path) -> dict[str, Any]:
    return {"data.source": str(d / "nope.csv")}


def _random_parquet(d: Path) -> dict[str, Any]:
    (d / "data.parquet").write_bytes(os.urandom(4096))
    return {"data.source": str(d / "data.parquet")}


def _binary_csv(d: Path) -> dict[str, Any]:
    (d / "data.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(4096))
    return {"data.source": str(d / "data.csv")}


def _directory_csv(d: Path) -> dict[str, Any]:
    (d / "data.csv").mkdir()
    return {"data.source": str(d / "data.csv")}


def _empty_csv(d: Path) -> dict[str, Any]:
    (d / "data.csv").write_text("")
    return {"data.source": str(d / "data.csv")}


def _header_only(d: Path) -> dict[str, Any]:
    (d / "data.csv").write_text("a,b,target\n")
    return {"data.source": str(d / "data.csv")}


def _zero_byte_shard(d: Path, fmt: str, streaming: bool) -> dict[str, Any]:
    """Three good shards and a 0-byte part-3 (a writer killed before its first byte): the
    readers' words ("Empty CSV file", "Parquet file size is 0 bytes") said nothing of what
    a shard may be or what to do."""
    (d / "shards").mkdir()
    frame = _frame()
    for index in range(3):
        part = frame.iloc[index * 40 : (index + 1) * 40]
        path = d / "shards" / f"part-{index}.{fmt}"
        part.to_csv(path, index=False) if fmt == "csv" else part.to_parquet(path, index=False)
    (d / "shards" / f"part-3.{fmt}").write_bytes(b"")
    return {"data.source": str(d / "shards"), "data.streaming": streaming}


def _ragged_csv(d: Path) -> dict[str, Any]:
    (d / "data.csv").write_text("a,b,target\n1,2,3\n4,5,6,7,8\n")
    return {"data.source": str(d / "data.csv")}


def _text_in_a_second_validation_shard(d: Path) -> dict[str, Any]:
    """Streamed, data.validation two Parquet shards whose column 'a' is text (numbers but
    for 'oops' in its row 8 of the second): the row was counted within the validation sample
    (40 + 7) and the message named the first shard."""
    frame = _frame()
    frame.to_parquet(d / "train.parquet", index=False)
    (d / "validation").mkdir()
    shards = [_frame(40), _with_text("a", {7: "oops"}).head(30)]
    for index, shard in enumerate(shards):
        shard.assign(a=shard["a"].astype(str)).to_parquet(
            d / "validation" / f"part-{index}.parquet", index=False
        )
    return {
        "data.source": str(d / "train.parquet"),
        "data.validation": str(d / "validation"),
        "data.streaming": True,
    }


def _parquet_as_csv(d: Path) -> dict[str, Any]:
    _frame().to_parquet(d / "data.parquet")
    (d / "data.csv").write_bytes((d / "data.parquet").read_bytes())
    return {"data.source": str(d / "data.csv")}


def _latin1_csv(d: Path, streaming: bool = False) -> dict[str, Any]:
    """Saved as Latin-1 (Excel's plain "CSV" on Windows): 'rosé' in row 3. The message was
    Arrow's "In CSV column #2: CSV conversion error to string: invalid UTF8 data" streamed,
    and pandas' "'utf-8' codec can't decode byte 0xe9 in position 73" in memory: neither
    named the line or what the file must be."""
    _with_text("colour", {2: "rosé"}).to_csv(d / "data.csv", index=False, encoding="latin-1")
    return {"data.source": str(d / "data.csv"), "data.streaming": streaming}


LATIN1 = ("data.csv cannot be read: line 4 is not UTF-8 text (byte 0xe9 in", "ros\\xe9,")
LATIN1_REMEDY = "save the file as UTF-8 (in Excel: CSV UTF-8)"


def _one_class(d: Path, streaming: bool = False) -> dict[str, Any]:
    """Training rows of one class, the others in a validation file: 'task multiclass needs
    at least 2 classes, found 1' named neither the column nor the class."""
    frame = _frame().assign(kind="oak")
    frame.to_csv(d / "data.csv", index=False)
    frame.assign(kind="elm").to_csv(d / "val.csv", index=False)
    return {
        "data.source": str(d / "data.csv"),
        "data.validation": str(d / "val.csv"),
        "data.target": "kind",
        "model.task": "multiclass",
        "data.streaming": streaming,
    }


# Named with the likely causes, as the binary refusal names them: "found 1: oak" said nothing
# of why or what to do.
ONE_CLASS = (
    "task 'multiclass' needs at least 2 classes in target 'kind', found 1: oak; check that no "
    "filter upstream dropped the other classes and that data.target names the label column"
)


def _amounts(d: Path, streaming: bool = False) -> dict[str, Any]:
    """Prices as a spreadsheet writes them, '950.00' beside '1,250.00': pandas reads the
    column as text, and training made a category of each price with no word."""
    frame = _frame()
    frame["a"] = [f"{v:,.2f}" for v in np.linspace(400.0, 4000.0, len(frame))]
    return {"data.source": _csv(d, frame), "data.streaming": streaming}


AMOUNTS = (
    "column 'a' holds numbers written with thousands separators",
    "write the numbers without thousands separators (pandas: read_csv(..., thousands=','))",
    "or list 'a' in data.categorical",
)


def _marked(d: Path, streaming: bool = False) -> dict[str, Any]:
    """Percentages and prices as a spreadsheet exports formatted cells, '34.4%' and
    '$1,250.00': read as text, each became a category, named at best as "an id or a date?"."""
    frame = _frame()
    frame["a"] = [f"{v:.1f}%" for v in np.linspace(0.0, 100.0, len(frame))]
    frame["b"] = [f"${v:,.2f}" for v in np.linspace(400.0, 4000.0, len(frame))]
    return {"data.source": _csv(d, frame), "data.streaming": streaming}


MARKED = (
    "column 'a' holds numbers written with a currency or percent sign",
    "write them as plain numbers (34.4 for '34.4%', 59157 for '$59,157')",
    "or list 'a' in data.categorical",
)


def _trailing_commas(
    d: Path, *, header: bool, streaming: bool = False, lines: slice = slice(None)
) -> dict[str, Any]:
    """A comma at the end of each data line (of ``lines`` of them), and of the header when
    ``header``. With it on the header, pandas and Arrow read a last column 'Unnamed: 4' with
    no values, refused as "feature column 'Unnamed: 4' has no values" without a word of the
    cause. Without it, pandas took the first column as row labels and put every value under
    the next column's name ('target' first, data.features ['a']: 'a' trained as the target,
    'b' as 'a', with no word); Arrow said "Expected 4 columns, got 5"."""
    text = _frame()[["target", "a", "b", "colour"]].to_csv(index=False).splitlines()
    rows = [f"{line}," for line in text[1:][lines]]
    rows = text[1:][: lines.start or 0] + rows + text[1:][lines.stop or len(text) :]
    (d / "data.csv").write_text("\n".join([text[0] + ("," if header else ""), *rows]) + "\n")
    return {"data.source": str(d / "data.csv"), "data.streaming": streaming}


def _row_labels(d: Path) -> dict[str, Any]:
    """Row labels in a first column the header does not name (R's write.csv without its
    empty first name): pandas made them the index and shifted every name by one column."""
    frame = _frame()[["target", "a", "b", "colour"]]
    text = frame.to_csv(index=False).splitlines()
    rows = [f"r{i},{line}" for i, line in enumerate(text[1:])]
    (d / "data.csv").write_text("\n".join([text[0], *rows]) + "\n")
    return {"data.source": str(d / "data.csv"), "data.features": ["a"]}


UNNAMED_EMPTY = (
    "feature column 'Unnamed: 4' has no values (all missing)",
    "a column with no name in the header and no values is what a trailing comma at the end "
    "of each line makes; remove the trailing commas, or list the columns to use in "
    "data.features",
)
DATA_LINE_COMMAS = (
    "data.csv cannot be read: line 2 has 5 fields where the header has 4, the last one "
    "empty (a trailing comma at the end of each data line?): remove the trailing commas",
)

# A UCI-style '?' for a missing number: the remedy was only "fix the values, or list 'a' in
# data.categorical", and the second throws the column's numbers away.
QUESTION_MARK = (
    "if '?' marks a missing value, leave those cells empty (a missing number takes the "
    "training mean); else fix the values, or list 'a' in data.categorical"
)

CASES: list[Any] = [
    pytest.param(
        lambda d: {"data.source": _csv(d, _with_text("a", dict.fromkeys([5, 17, 40], "?")))},
        ("numbers in 97% of its rows, but row 6 holds '?' (also rows 18, 41); ", QUESTION_MARK),
        id="question-mark-for-missing",
    ),
    pytest.param(
        lambda d: {
            "data.source": _csv(d, _with_text("a", dict.fromkeys([5, 17, 40, 55, 90], "?"))),
            "data.streaming": True,
        },
        ("of its training rows, but also '?' (", QUESTION_MARK),
        id="question-mark-for-missing-streamed",
    ),
    pytest.param(_amounts, (*AMOUNTS, "row 21 holds '1,005.04'"), id="thousands-separators"),
    pytest.param(_marked, (*MARKED, "row 1 holds '0.0%' (also rows 2, 3"), id="percent-signs"),
    pytest.param(
        lambda d: _marked(d, streaming=True),
        (*MARKED, "in its training rows ("),
        id="percent-signs-streamed",
    ),
    pytest.param(
        lambda d: {**_marked(d), "data.features": ["b", "colour"]},
        (
            "column 'b' holds numbers written with a currency or percent sign",
            "row 1 holds '$400.00'",
        ),
        id="currency-signs",
    ),
    pytest.param(
        lambda d: _amounts(d, streaming=True), AMOUNTS, id="thousands-separators-streamed"
    ),
    pytest.param(  # the advice was "fix the values, or set model.task to binary ..."
        lambda d: {
            "data.source": _csv(
                d, _frame().assign(target=lambda f: [f"{v * 1000:,.0f}" for v in f["target"]])
            )
        },
        ("target column 'target' must be numeric for regression", AMOUNTS[1]),
        id="target-with-thousands-separators",
    ),
    pytest.param(lambda d: _trailing_commas(d, header=True), UNNAMED_EMPTY, id="trailing-commas"),
    pytest.param(
        lambda d: _trailing_commas(d, header=True, streaming=True),
        (*UNNAMED_EMPTY, "in the training split"),
        id="trailing-commas-streamed",
    ),
    *(
        pytest.param(
            lambda d, streaming=streaming: {
                **_trailing_commas(d, header=False, streaming=streaming),
                "data.features": ["a"],
            },
            DATA_LINE_COMMAS,
            id=f"trailing-commas-on-data-lines-only-{'streamed' if streaming else 'in-memory'}",
        )
        for streaming in (False, True)
    ),
    pytest.param(  # pandas' "Expected 4 fields in line 7, saw 5"
        lambda d: _trailing_commas(d, header=False, lines=slice(5, 9)),
        ("line 7 has 5 fields where the header has 4, the last one empty (a trailing comma",),
        id="trailing-commas-on-some-data-lines",
    ),
    pytest.param(
        _row_labels,
        (
            "data.csv cannot be read: line 2 has 5 fields where the header has 4 (a first "
            "column of row labels with no name in the header?): give every column a name",
        ),
        id="unnamed-row-labels-column",
    ),
    pytest.param(_one_class, (ONE_CLASS,), id="one-class-training"),
    pytest.param(lambda d: _one_class(d, streaming=True), (ONE_CLASS,), id="one-class-streamed"),
    pytest.param(_latin1_csv, (*LATIN1, LATIN1_REMEDY), id="latin-1-csv"),
    pytest.param(
        lambda d: _latin1_csv(d, streaming=True), (*LATIN1, LATIN1_REMEDY), id="latin-1-streamed"
    ),
    pytest.param(_missing_file, ("data.source not found", "nope.csv"), id="missing-file"),
    pytest.param(
        _random_parquet, ("data.parquet cannot be read", "not a parquet file"), id="random-parquet"
    ),
    pytest.param(_binary_csv, ("data.csv cannot be read",), id="binary-file-as-csv"),
    pytest.param(_parquet_as_csv, ("data.csv cannot be read",), id="parquet-named-csv"),
    pytest.param(
        _directory_csv, ("holds no .csv or .parquet files", "data.csv"), id="directory-as-csv"
    ),
    pytest.param(_empty_csv, ("data.csv cannot be read", "no columns"), id="empty-csv"),
    pytest.param(_header_only, ("data.csv has no rows",), id="header-only-csv"),
    pytest.param(
        # Said "class '-0.53...' of target has a single example", as if it were a classifier's.
        lambda d: {"data.source": _csv(d, _frame()), "data.stratify": True},
        (
            "data.stratify: true stratifies the regression target column 'target' by each "
            "distinct value",
            "of its 120 values",
            "set data.stratify: false",
        ),
        id="stratified-continuous-regression-target",
    ),
    *(
        pytest.param(
            lambda d, fmt=fmt, streaming=streaming: _zero_byte_shard(d, fmt, streaming),
            (f"shards/part-3.{fmt} is empty (0 bytes)", "a shard with no rows is accepted"),
            id=f"zero-byte-{fmt}-shard-{'streamed' if streaming else 'in-memory'}",
        )
        for fmt in ("csv", "parquet")
        for streaming in (False, True)
    ),
    pytest.param(
        _ragged_csv,
        (
            "data.csv cannot be read",
            "line 3 has 5 fields where the header has 3 ('4,5,6,7,8'): every line needs the "
            "header's 3 fields",
        ),
        id="ragged-csv",
    ),
    pytest.param(
        lambda d: {"data.source": _csv(d, _frame()), "data.target": "label"},
        ("target column 'label' is not in the data", "columns: a, b, colour, target"),
        id="target-column-absent",
    ),
    pytest.param(
        lambda d: {"data.source": _csv(d, _frame()), "data.features": ["a", "c"]},
        ("feature column 'c' is not in the data", "columns: a, b, colour, target"),
        id="feature-column-absent",
    ),
    pytest.param(
        lambda d: {"data.source": _csv(d, _frame()), "data.categorical": ["colr"]},
        ("categorical column 'colr'", "did you mean 'colour'"),
        id="categorical-column-absent",
    ),
    pytest.param(
        lambda d: {
            "data.source": _csv(d, _frame()),
            "data.features": ["a", "b"],
            "data.categorical": ["colour"],
        },
        ("categorical lists 'colour', which is not among data.features (a, b)",),
        id="categorical-column-not-a-feature",  # trained without it, saying nothing
    ),
    pytest.param(
        lambda d: {"data.source": _csv(d, _frame()), "data.categorical": ["target"]},
        ("categorical lists the target column 'target'", "cannot be a categorical feature"),
        id="target-listed-as-categorical",  # named column 'colour' as not categorical
    ),
    pytest.param(
        lambda d: {"data.source": _csv(d, _frame()), "data.features": ["a", "target"]},
        ("data: features lists the target column 'target'", "remove it from data.features"),
        id="target-listed-as-feature",
    ),
    pytest.param(
        lambda d: {
            "data.source": _csv(d, _with_text("a", {17: "oops"})),
            "data.categorical": ["colour"],
        },
        ("column 'a'", "must be numeric", "row 18 holds 'oops'", "data.categorical"),
        id="text-in-numeric-column-explicit-categorical",
    ),
    pytest.param(
        lambda d: {
            "data.source": _csv(d, _with_text("a", {17: "oops", 40: "n/a?"})),
            "data.categorical": None,
        },
        ("column 'a'", "numbers in 98%", "row 18 holds 'oops' (also row 41)", "data.categorical"),
        id="text-in-mostly-numeric-column",
    ),
    pytest.param(
        lambda d: {
            "data.source": _csv(d, _with_text("a", dict.fromkeys([3, 17, 40, 55, 90], "oops"))),
            "data.categorical": None,
            "data.streaming": True,
        },
        ("column 'a' holds numbers in", "of its training rows, but also 'oops'", "categorical"),
        id="text-in-mostly-numeric-column-streamed",  # became a category per number
    ),
    pytest.param(
        _text_in_a_second_validation_shard,
        ("part-1.parquet column 'a' must be numeric", "row 8 holds 'oops'"),
        id="text-in-a-numeric-column-of-a-second-streamed-shard",
    ),
    pytest.param(
        lambda d: {"data.source": _csv(d, _frame().assign(b=np.nan))},
        ("feature column 'b' has no values (all missing)",),
        id="all-nan-column",
    ),
    pytest.param(
        lambda d: {
            "data.source": _csv(
                d, _frame().assign(target=[np.nan if i in (5, 9) else 1.0 for i in range(120)])
            ),
        },
        ("target column 'target' has missing values (rows 6, 10)", "drop or fill"),
        id="nan-in-target",
    ),
    pytest.param(  # pandas reads a field of spaces as text: it trained as a class ' '
        lambda d: {
            "data.source": _csv(
                d, _frame().assign(target=[" " if i in (5, 9) else "xy"[i % 2] for i in range(120)])
            ),
            "model.task": "multiclass",
        },
        (
            "target column 'target' has missing values (rows 6, 10; blank text counts as missing)",
            "drop or fill",
        ),
        id="blank-label-in-a-csv-target",
    ),
    pytest.param(  # an empty string in a Parquet file: a class '' beside 'x' and 'y'
        lambda d: {
            "data.source": _parquet(
                d, _frame().assign(target=["" if i == 7 else "xy"[i % 2] for i in range(120)])
            ),
            "model.task": "binary",
        },
        ("target column 'target' has missing values (row 8; blank text counts as missing)",),
        id="empty-label-in-a-parquet-target",
    ),
    pytest.param(  # a dictionary column, read as a pandas categorical
        lambda d: {
            "data.source": _parquet(
                d,
                _frame().assign(
                    target=pd.Categorical(["" if i == 4 else "xy"[i % 2] for i in range(120)])
                ),
            ),
            "model.task": "binary",
        },
        ("target column 'target' has missing values (row 5; blank text counts as missing)",),
        id="empty-label-in-a-categorical-parquet-target",
    ),
    pytest.param(
        lambda d: {
            "data.source": _csv(
                d, _frame().assign(target=["  " if i < 60 else "xy"[i % 2] for i in range(120)])
            ),
            "model.task": "multiclass",
            "data.streaming": True,
        },
        ("target column 'target' has missing values (row", "blank text counts as missing"),
        id="blank-label-in-a-streamed-target",
    ),
    pytest.param(
        lambda d: {
            "data.source": _csv(d, _frame().assign(target=["x"] * 60 + ["y"] * 59 + ["z"])),
            "model.task": "multiclass",
        },
        (
            "target column 'target': class 'z' has a single example",
            "add examples of it or drop its row",
        ),
        id="single-example-class-stratified",
    ),
    pytest.param(
        lambda d: {
            "data.source": _csv(d, _frame().assign(target=["x", "y", "z"] * 40)),
            "model.task": "binary",
        },
        (
            "task 'binary' needs exactly 2 classes",
            "found 3: x, y, z; for 3 classes set model.task: multiclass",
        ),
        id="binary-target-with-three-classes",
    ),
    pytest.param(  # was "found 1: x" and no word of why or what to do
        lambda d: {"data.source": _csv(d, _frame().assign(target="x")), "model.task": "binary"},
        (
            "task 'binary' needs exactly 2 classes in target 'target', found 1: x; check that no "
            "filter upstream dropped the other class and that data.target names the label column",
        ),
        id="binary-target-with-one-class",
    ),
    pytest.param(
        lambda d: {
            "data.source": _csv(d, _frame().assign(target=["x"] * 60 + ["y"] * 59 + ["z"])),
            "model.task": "binary",
        },
        ("task 'binary' needs exactly 2 classes", "found 3: x, y, z; for 3 classes set model.task"),
        id="binary-target-with-a-rare-third-class",  # not "too rare to stratify"
    ),
    pytest.param(  # was "class '99.0'", with more rows of class 99 as the only fix
        lambda d: {
            "data.source": _csv(
                d, _frame().assign(target=[float(i % 29) for i in range(119)] + [99.0])
            ),
            "model.task": "multiclass",
        },
        (
            "target column 'target': class '99' has a single example",
            "cannot be scored); if 'target' holds a quantity, not class labels (30 distinct "
            "numbers), set model.task: regression",
        ),
        id="whole-number-quantity-as-classes-stratified",
    ),
    pytest.param(  # listed as an unseen class 'X ' (its space unseen), to add rows of
        lambda d: {
            "data.source": _csv(d, _frame().assign(target=["x", "y"] * 60)),
            "data.test": _csv(d, _frame(20).assign(target=["X ", "y"] * 10), "test.csv"),
            "model.task": "binary",
        },
        (
            "test.csv: test data: target column 'target' holds the run's classes spelt "
            "otherwise (spaces, case or Unicode form): 'X ' for 'x'; write them as the run's "
            "labels: x, y",
        ),
        id="test-labels-in-another-case",
    ),
    pytest.param(  # trained, and logged as 1.0 every epoch
        lambda d: {
            "data.source": _csv(d, _frame().assign(target=["x", "y", "z"] * 40)),
            "model.task": "multiclass",
            "model.metrics": ["accuracy", "top3_accuracy"],
        },
        (
            "model.metrics: top3_accuracy is 1 on every row of target 'target', whose 3 "
            "classes are all among the 3 most probable; allowed for 3 classes: accuracy",
        ),
        id="top-k-accuracy-of-k-classes",
    ),
    pytest.param(
        lambda d: {
            "data.source": _csv(d, _frame().assign(target=["x", "y", "z"] * 40)),
            "data.test": _csv(d, _frame(20).assign(target=["X", "w"] * 10), "test.csv"),
            "model.task": "multiclass",
        },
        (
            "target column 'target' has classes not seen in training: X, w;",
            "known: x, y, z; of these, 'X' for 'x' are the run's classes spelt otherwise",
        ),
        id="test-labels-unseen-and-in-another-case",
    ),
    pytest.param(
        lambda d: {
            "data.source": _csv(d, _frame().assign(target=[float(i) for i in range(120)])),
            "model.task": "multiclass",
            "data.stratify": False,
        },
        (
            "validation data: target column 'target' has classes not seen in training",
            "distinct numbers), set model.task: regression",
        ),
        id="whole-number-quantity-as-classes-unstratified",
    ),
    pytest.param(  # was told "for 120 classes set model.task: multiclass"
        lambda d: {
            "data.source": _csv(d, _frame().assign(target=[float(i) for i in range(120)])),
            "model.task": "binary",
        },
        (
            "task 'binary' needs exactly 2 classes in target 'target', found 120: 0, 1, 2",
            "and 110 more; if 'target' holds a quantity, not class labels (120 distinct "
            "numbers), set model.task: regression; if class labels, model.task: multiclass",
        ),
        id="whole-number-quantity-as-binary-classes",
    ),
    pytest.param(
        lambda d: {"data.source": _csv(d, _frame()), "model.task": "multiclass"},
        ("target column 'target' holds numbers with fractions", "model.task: regression"),
        id="continuous-target-for-a-classifier",
    ),
    pytest.param(
        lambda d: {
            "data.source": _csv(d, _frame()),
            "model.task": "multiclass",
            "data.streaming": True,
        },
        ("target column 'target' holds numbers with fractions", "model.task: regression"),
        id="continuous-target-for-a-streamed-classifier",  # listed every value as a class
    ),
    pytest.param(
        lambda d: {"data.source": _csv(d, _frame().assign(target=["lo", "hi"] * 60))},
        ("target column 'target' must be numeric for regression",),
        id="text-target-for-regression",
    ),
    pytest.param(
        lambda d: {"data.source": _csv(d, _frame(), sep=";")},
        ("data.csv has one column, 'a;b;colour;target'", "separated by ';'", "with commas"),
        id="semicolon-separated-csv",
    ),
    pytest.param(
        lambda d: {"data.source": _csv(d, _frame(), sep="\t")},
        ("data.csv has one column", "separated by tabs"),
        id="tab-separated-csv",
    ),
    pytest.param(
        lambda d: {
            "data.source": _csv(d, _frame().set_axis(["a", "a", "colour", "target"], axis=1)),
        },
        ("data.csv has the column 'a' twice in its header",),
        id="repeated-column-name",  # pandas read it as 'a' and 'a.1'
    ),
    pytest.param(
        lambda d: {
            "data.source": _csv(d, _with_text("target", {7: "unknown"})),
            "data.streaming": True,
        },
        ("target column 'target' must be numeric for regression", "holds 'unknown'"),
        id="text-in-a-streamed-regression-target",  # a ValueError traceback
    ),
    pytest.param(
        lambda d: {"data.source": _csv(d, _with_text("target", {7: "unknown", 3: "n.a."}))},
        ("target column 'target' must be numeric for regression", "row 4 holds 'n.a.'"),
        id="text-in-a-regression-target",  # said only "got str"
    ),
    pytest.param(  # text in held-out rows was left out, then named as "validation data"
        lambda d: {
            "data.source": _csv(d, _with_text("target", dict.fromkeys(range(0, 120, 10), "n.a.")))
        },
        (
            "data.csv: target column 'target' must be numeric for regression, but row 1 holds "
            "'n.a.' (also rows 11, 21, 31, 41, 51 and 6 more)",
        ),
        id="text-in-held-out-rows-of-a-regression-target",
    ),
    pytest.param(
        lambda d: {"data.source": _csv(d, _frame().assign(target=0.1))},
        ("target column 'target' has the same value (0.1) in every training row",),
        id="constant-regression-target",  # trained, and reported an RMSE of 0.27
    ),
    pytest.param(
        lambda d: {"data.source": _csv(d, _frame().assign(target=0.1)), "data.streaming": True},
        ("target column 'target' has the same value (0.1) in every training row",),
        id="constant-regression-target-streamed",
    ),
    pytest.param(
        lambda d: {"data.source": _csv(d, _frame()), "data.validation": str(d / "val.csv")},
        ("data.validation file not found", "val.csv"),
        id="validation-file-missing",
    ),
    pytest.param(
        lambda d: {
            "data.source": _csv(d, _frame()),
            "data.validation": _csv(d, _frame().drop(columns="b"), "val.csv"),
        },
        ("val.csv: validation data feature column 'b' is not in the data",),
        id="validation-file-without-a-column",
    ),
    pytest.param(
        lambda d: {
            "data.source": _csv(d, _frame()),
            "data.test": _csv(d, _frame().drop(columns="target"), "test.csv"),
        },
        ("test.csv: target column 'target' is not in the data", "columns: a, b, colour"),
        id="test-file-without-the-target",
    ),
]


@pytest.fixture(scope="module")
def refused_trainings(tmp_path_factory) -> dict[str, tuple[Any, Path]]:
    """Every case of ``CASES`` built in its own folder and given to ``toolkit train`` (run
    there), all in one process: by case id, the command's answer and its output directory."""
    calls, outputs = [], []
    for case in CASES:
        build, _ = case.values
        folder = tmp_path_factory.mktemp(case.id)
        config = with_values(tiny_config(), {"data.synthetic": {}, **build(folder)})
        config["data"].pop("synthetic")
        path = write_yaml(folder / "config.yaml", config)
        outputs.append(folder / "out")
        calls.append((["train", path, "--output-dir", outputs[-1]], folder))
    answers = cli_in_one_process(*calls, without_tensorflow=True)
    return {
        case.id: pair for case, pair in zip(CASES, zip(answers, outputs, strict=True), strict=True)
    }


@pytest.mark.parametrize(("build", "fragments"), CASES)
def test_bad_data_is_one_clear_line_and_leaves_nothing(
    build: Builder, fragments: tuple[str, ...], refused_trainings, request
):
    # ``build`` wrote this case's files for the fixture, which trained every case at once.
    result, out = refused_trainings[request.node.callspec.id]
    assert_one_line_error(result, *fragments)
    assert_nothing_written(out)


@pytest.mark.parametrize(
    ("suffix", "streaming"), [("parquet", False), ("parquet", True), ("csv", True)]
)
def test_one_file_is_named_a_file_not_a_shard(suffix: str, streaming: bool, cli, tmp_path):
    """One file was 'data.source shard data.parquet' when streamed, as if part of a set; and
    a Parquet file with a column twice, held in memory, failed with a pandas traceback
    ('The truth value of a Series is ambiguous')."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = _frame()
    path = tmp_path / f"data.{suffix}"
    if suffix == "parquet":
        columns = [pa.array(frame[c]) for c in ("a", "b", "target")]
        pq.write_table(pa.table(columns, names=["a", "a", "target"]), path)
    else:
        frame.set_axis(["a", "a", "colour", "target"], axis=1).to_csv(path, index=False)
    config = with_values(tiny_config(), {"data.source": str(path), "data.streaming": streaming})
    config["data"].pop("synthetic")
    out = tmp_path / "out"
    result = cli("train", write_yaml(tmp_path / "config.yaml", config), "--output-dir", out)
    line = assert_one_line_error(result)
    assert line == (
        f"toolkit: error: data.source {path} has the column 'a' twice in its header; rename one"
    )
    assert_nothing_written(out)


@pytest.mark.parametrize(
    ("share", "fails"), [(0.85, False), (0.9, True), (0.99, True), (0.0, False)]
)
def test_mostly_numeric_text_columns_are_errors_from_ninety_percent(share: float, fails: bool):
    numbers = round(share * 100)
    frame = pd.DataFrame(
        {"x": [str(i) for i in range(numbers)] + ["word"] * (100 - numbers), "target": 1.0}
    )
    config = DataConfig(source="data.csv")
    if fails:
        with pytest.raises(DataError, match=f"column 'x' holds numbers in {numbers}%"):
            check_table(frame, config)
    else:
        check_table(frame, config)  # a text column: categorical, as before


def test_thousands_separated_numbers_as_categories_when_listed_and_other_commas_are_text():
    """``data.categorical`` keeps amounts as categories on request; text with commas that
    is not a number in thousands ('1,5', '2,50', 'a,b') is a text column as before."""
    amounts = pd.DataFrame({"x": ["1,250", "980", "12,000"] * 10, "target": 1.0})
    check_table(amounts, DataConfig(source="data.csv", categorical=["x"]))
    for texts in (["1,5", "2,25"], ["2,50", "3,5"], ["a,b", "1,000"]):
        check_table(pd.DataFrame({"x": texts * 10, "target": 1.0}), DataConfig(source="d.csv"))


# --------------------------------------------------------------------------- predict, evaluate


@pytest.mark.slow  # trains the shared run on first use
def test_new_category_at_predict_time_goes_to_the_oov_bucket(trained_run, tmp_path):
    """Scored, and said: training had colours red, green and blue and no missing value."""
    rows = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "size": [3.0, 12.0, None, 4.0, 5.0],
            "colour": ["purple", "red", "pink", "purple", None],
        }
    )
    rows.to_csv(tmp_path / "rows.csv", index=False)
    # evaluate scores the same rows, labelled (it said nothing: a missing number silently
    # took the training mean). predict, then evaluate, in one fresh process (TensorFlow
    # started once for the two), each with its own exit code, stdout and stderr.
    labelled = rows.assign(label=["small", "large", "small", "large", "small"])
    labelled.to_csv(tmp_path / "labelled.csv", index=False)
    out = tmp_path / "predictions.csv"
    result, evaluated = cli_in_one_process(
        ["predict", trained_run, "--input", tmp_path / "rows.csv", "--output", out],
        ["evaluate", trained_run, "--data", tmp_path / "labelled.csv"],
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    predictions = pd.read_csv(out)
    assert len(predictions) == 5 and set(predictions["prediction"]) <= {"small", "large"}
    warned = [line for line in result.stderr.splitlines() if line.startswith("toolkit: warning")]
    assert warned == [
        "toolkit: warning: column 'size': 1 of 5 rows are missing, which training never had; "
        "the training mean was used",
        "toolkit: warning: column 'colour': 3 of 5 rows hold categories never seen in training "
        "('purple', 'pink'); they were scored as the out-of-vocabulary bucket",
        "toolkit: warning: column 'colour': 1 of 5 rows are missing, which training never had; "
        "they were scored as the out-of-vocabulary bucket",
    ]

    # evaluate of the same rows says the same.
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["metrics"]["accuracy"] is not None
    said = [line for line in evaluated.stderr.splitlines() if line.startswith("toolkit: warning")]
    assert said == warned

    # The Python API's Run.predict, on a frame and on the file, warns the same (it said
    # nothing, where predict_file and evaluate warned).
    import warnings as python_warnings

    import toolkit
    from toolkit.data.input_audit import InputWarning

    run = toolkit.load_run(trained_run)
    for given in (rows, tmp_path / "rows.csv"):
        with python_warnings.catch_warnings(record=True) as caught:
            python_warnings.simplefilter("always")
            run.predict(given)
        said = [f"toolkit: warning: {w.message}" for w in caught if w.category is InputWarning]
        assert said == warned, given


PREDICT_CASES = [
    pytest.param(
        lambda d: pd.DataFrame({"size": [1.0, 2.0], "colour": ["red", "rosé"]}).to_csv(
            d / "rows.csv", index=False, encoding="latin-1"
        ),
        ("--input file", "rows.csv cannot be read: line 3 is not UTF-8 text", LATIN1_REMEDY),
        id="predict-input-latin-1",
    ),
    pytest.param(  # a carried column's accented name: Python's own "'utf-8' codec can't
        # decode byte 0xe9 in position 24", which named neither the line nor the remedy
        lambda d: pd.DataFrame({"size": [1.0], "colour": ["red"], "température": [3.0]}).to_csv(
            d / "rows.csv", index=False, encoding="latin-1"
        ),
        ("--input file", "rows.csv cannot be read: line 1 is not UTF-8 text", LATIN1_REMEDY),
        id="predict-input-latin-1-header",
    ),
    pytest.param(
        lambda d: pd.DataFrame({"size": [1.0]}).to_csv(d / "rows.csv", index=False),
        ("--input file", "rows.csv feature column 'colour' is not in the data", "columns: size"),
        id="predict-input-missing-a-column",
    ),
    pytest.param(  # difflib's suggestion is case-sensitive: 'COLOUR' was not offered
        lambda d: pd.DataFrame({"size": [1.0], "COLOUR": ["red"]}).to_csv(
            d / "rows.csv", index=False
        ),
        ("rows.csv feature column 'colour' is not in the data (did you mean 'COLOUR'?)",),
        id="predict-input-column-in-another-case",
    ),
    pytest.param(
        lambda d: pd.DataFrame({"size": [1.0, "big"], "colour": ["red", "red"]}).to_csv(
            d / "rows.csv", index=False
        ),
        ("--input file", "rows.csv column 'size' must be numeric", "row 2 holds 'big'"),
        id="predict-input-text-in-numeric-column",
    ),
    pytest.param(
        lambda d: pd.DataFrame({"size": [1.0, "1,250.5"], "colour": ["red", "red"]}).to_csv(
            d / "rows.csv", index=False
        ),
        ("rows.csv column 'size' must be numeric, row 2 holds '1,250.5'", AMOUNTS[1]),
        id="predict-input-thousands-separators",
    ),
    pytest.param(
        lambda d: pd.DataFrame({"size": [1.0], "colour": ["red"]}).to_csv(
            d / "rows.csv", sep=";", index=False
        ),
        ("--input file", "has one column, 'size;colour'", "separated by ';'"),
        id="predict-input-semicolon-separated",
    ),
    pytest.param(
        lambda d: pd.DataFrame([[1.0, 2.0, "red"]], columns=["size", "size", "colour"]).to_csv(
            d / "rows.csv", index=False
        ),
        ("--input file", "has the column 'size' twice in its header"),
        id="predict-input-repeated-column-name",
    ),
    pytest.param(
        lambda d: None,
        ("--input file not found", "rows.csv"),
        id="predict-input-missing",
    ),
    pytest.param(
        lambda d: (d / "rows.csv").write_bytes(os.urandom(2048)),
        ("--input file", "rows.csv cannot be read"),
        id="predict-input-binary",
    ),
]


@pytest.fixture(scope="module")
def refused_predictions(trained_run, tmp_path_factory) -> dict[str, tuple[Any, Path]]:
    """Every case of ``PREDICT_CASES`` built in its own folder and given to ``toolkit
    predict`` on the shared run, all in one process: by case id, the answer and the output."""
    calls, outputs = [], []
    for case in PREDICT_CASES:
        build, _ = case.values
        folder = tmp_path_factory.mktemp(case.id)
        build(folder)
        outputs.append(folder / "predictions.csv")
        calls.append(
            (
                ["predict", trained_run, "--input", folder / "rows.csv", "--output", outputs[-1]],
                folder,
            )
        )
    # Every refusal comes before TensorFlow starts: those of a row's value (text in a number
    # column, a line not UTF-8) too, once the first chunk is read before the model loads.
    answers = cli_in_one_process(*calls, without_tensorflow=True)
    return {
        case.id: pair
        for case, pair in zip(PREDICT_CASES, zip(answers, outputs, strict=True), strict=True)
    }


@pytest.mark.slow  # trains the shared run on first use
@pytest.mark.parametrize(("build", "fragments"), PREDICT_CASES)
def test_bad_predict_input_is_one_clear_line(build, fragments, refused_predictions, request):
    # ``build`` wrote this case's rows for the fixture, which ran every case at once.
    result, out = refused_predictions[request.node.callspec.id]
    assert_one_line_error(result, *fragments)
    assert not out.exists()


@pytest.mark.slow  # trains the shared run on first use
def test_evaluate_data_without_the_target_names_it(cli, trained_run, tmp_path):
    pd.DataFrame({"size": [1.0], "colour": ["red"]}).to_csv(tmp_path / "rows.csv", index=False)
    result = cli("evaluate", trained_run, "--data", tmp_path / "rows.csv")
    assert_one_line_error(
        result, f"--data {tmp_path / 'rows.csv'} target column 'label' is not in the data"
    )
    assert result.stdout == ""


@pytest.mark.slow  # trains a small run (in this process)
def test_evaluate_names_a_target_column_whose_text_is_not_a_number(tmp_path):
    """A classifier trained on 0/1 labels, scored on a file that spells them True/False: the
    CSV parser named the column by its position ("In CSV column #1"), not by its name. The
    rows are refused before TensorFlow starts (it started first, 3 s of CPU)."""
    rows = _frame()
    rows["choice"] = (rows["target"] > 0).astype(float)
    rows.drop(columns="target").to_csv(tmp_path / "train.csv", index=False)
    config = tiny_config("binary", data={"source": str(tmp_path / "train.csv"), "target": "choice"})
    # Trained in this process: the command's reading of new rows is what is checked.
    import toolkit

    run = toolkit.train(config, output_dir=tmp_path, verbose=0).path
    new = rows.drop(columns="target").assign(choice=(rows["target"] > 0).map(str))
    new[["a", "choice", "b", "colour"]].to_csv(tmp_path / "new.csv", index=False)
    (result,) = cli_in_one_process(
        (["evaluate", run, "--data", tmp_path / "new.csv"], tmp_path), without_tensorflow=True
    )
    assert_one_line_error(
        result,
        "new.csv cannot be read: column 'choice' holds 'True' in row 1 (line 2) where the run expects a number",
    )


@pytest.mark.slow  # trains the shared run on first use
def test_predict_into_a_missing_directory_is_refused(cli, trained_run, tmp_path):
    pd.DataFrame({"size": [1.0], "colour": ["red"]}).to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "nowhere" / "p.csv"
    result = cli("predict", trained_run, "--input", tmp_path / "rows.csv", "--output", out)
    assert_one_line_error(result, "--output directory does not exist", "nowhere")
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.slow  # trains the shared run on first use
def test_predict_output_must_be_a_csv_or_parquet_file(trained_run, tmp_path):
    """The suffix picks the format: predictions.json was written as CSV under that name, and
    an output without one (/dev/stdout) was replaced by a plain file (the atomic rename)."""
    pd.DataFrame({"size": [1.0], "colour": ["red"]}).to_csv(tmp_path / "rows.csv", index=False)
    outs = [tmp_path / name for name in ("predictions.json", "predictions")]
    calls = [
        (["predict", trained_run, "--input", tmp_path / "rows.csv", "--output", out], tmp_path)
        for out in outs
    ]
    for out, result in zip(outs, cli_in_one_process(*calls, without_tensorflow=True), strict=True):
        assert_one_line_error(result, f"--output {out}", "must be .csv or .parquet")
        assert not out.exists()


@pytest.mark.slow  # trains the shared run on first use
def test_predict_writes_through_a_symbolic_link(cli, trained_run, tmp_path):
    pd.DataFrame({"size": [1.0], "colour": ["red"]}).to_csv(tmp_path / "rows.csv", index=False)
    (tmp_path / "shared").mkdir()
    target = tmp_path / "shared" / "predictions.csv"
    link = tmp_path / "predictions.csv"
    link.symlink_to(target)
    result = cli("predict", trained_run, "--input", tmp_path / "rows.csv", "--output", link)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and len(pd.read_csv(target)) == 1


@pytest.mark.slow  # trains the shared run on first use
def test_predict_refuses_to_write_over_its_input(trained_run, tmp_path):
    """--output naming the --input file (itself, through a link, or inside an input
    directory) replaced the user's rows with their predictions."""
    (tmp_path / "rows").mkdir()
    rows = tmp_path / "rows" / "rows.csv"
    pd.DataFrame({"size": [1.0], "colour": ["red"]}).to_csv(rows, index=False)
    original = rows.read_bytes()
    (tmp_path / "link.csv").symlink_to(rows)
    pairs = [(rows, rows), (rows, tmp_path / "link.csv"), (rows.parent, rows)]
    calls = [
        (["predict", trained_run, "--input", given, "--output", out], tmp_path)
        for given, out in pairs
    ]
    for (given, _), result in zip(
        pairs, cli_in_one_process(*calls, without_tensorflow=True), strict=True
    ):
        assert_one_line_error(result, "--output", str(given), "replace its rows")
    assert rows.read_bytes() == original


def test_unseen_classes_are_counted_not_all_listed():
    """A --data file with a few hundred unseen labels: the line names five of them and twenty
    of the known ones, with how many more (it listed every known class)."""
    from toolkit.data.preprocessing import FeatureSpec, classes_target, encode_target

    spec = FeatureSpec([], [], classes_target("y", "multiclass", [f"k{i}" for i in range(300)]))
    frame = pd.DataFrame({"y": [f"new{i}" for i in range(200)]})
    with pytest.raises(DataError) as caught:
        encode_target(frame, spec, what="--data file rows.csv")
    message = str(caught.value)
    assert "not seen in training: new0, new1, new10, new100, new101 and 195 more" in message
    # What to do, not only what is wrong (a user pass found the line without a remedy).
    assert "and 195 more; the model predicts only the classes it was trained on: drop" in message
    assert message.endswith(
        "known: k0, k1, k10, k100, k101, k102, k103, k104, k105, k106, k107, k108, k109, k11, k110, k111, k112, k113, k114, k115 and 280 more"
    )


def test_a_sweep_given_for_a_run_names_its_best_trial(tmp_path):
    sweep = tmp_path / "sweep-1"
    sweep.mkdir()
    best = "trials/x/trial-2-20261204"
    (sweep / "sweep.json").write_text(json.dumps({"best_trial": {"run_dir": best}}))
    commands = [["evaluate", sweep], ["predict", sweep, "--input", "a.csv", "--output", "b.csv"]]
    for result in cli_in_one_process(
        *[(command, tmp_path) for command in commands], without_tensorflow=True
    ):
        assert_one_line_error(result, f"{sweep} is a sweep, not a run", f"{sweep / best}")


def test_a_config_file_given_for_a_run_names_its_runs_not_a_missing_directory(tmp_path):
    """`toolkit evaluate configs/regression.yaml` (the config for the run it made) said
    'run directory not found' of a file that is there; it now says the file is a config and
    names the newest of its runs (<output_dir>/<name>/<run_id>), and any other file what a
    run directory is; one line each, before TensorFlow starts, nothing written."""
    config = tmp_path / "churn.yaml"
    output_dir = tmp_path / "exp"
    config.write_text(json.dumps(tiny_config("binary", name="churn", output_dir=str(output_dir))))
    table = tmp_path / "rows.csv"
    table.write_text("a,b\n1,2\n")
    commands = [
        ["evaluate", config],
        ["predict", config, "--input", table, "--output", tmp_path / "out.csv"],
        ["export", config],
    ]
    before = cli_without_tensorflow(*[(command, 2) for command in commands])
    for run_id in ("20261205-101500-000001-aaaa", "20261207-000920-000002-bbbb"):
        (output_dir / "churn" / run_id).mkdir(parents=True)
        (output_dir / "churn" / run_id / "run.json").write_text("{}")
    after = cli_without_tensorflow(
        *[(command, 2) for command in commands], (["evaluate", table], 2)
    )
    generic = "pass the run directory toolkit train printed (<output_dir>/<name>/<run_id>)"
    newest = output_dir / "churn" / "20261207-000920-000002-bbbb"
    assert before.stderr.splitlines() == 3 * [
        f"toolkit: error: {config} is a config, not a run directory: {generic}; "
        f"it has no runs in {output_dir / 'churn'}"
    ]
    assert after.stderr.splitlines() == [
        *3
        * [
            f"toolkit: error: {config} is a config, not a run directory; its runs are in "
            f"{output_dir / 'churn'} (2 runs): pass one, e.g. the newest, {newest}"
        ],
        f"toolkit: error: {table} is a file, not a run directory: {generic}",
    ]
    assert before.stdout == after.stdout == ""
    assert not (tmp_path / "out.csv").exists()
    assert sorted(p.name for p in (output_dir / "churn").iterdir()) == [
        "20261205-101500-000001-aaaa",
        "20261207-000920-000002-bbbb",
    ]


def test_a_column_named_in_another_unicode_form_is_said_to_be_one(tmp_path):
    """A CSV header that spells 'âge' as 'a' and a combining accent (NFD, as macOS may
    write names) against the config's precomposed 'âge' (NFC): the line said the column
    was not in the data and listed, among the columns, one that looked exactly like it.
    It now says the two are one name in two Unicode forms, in memory and streamed."""
    import unicodedata

    nfc, nfd = "âge", unicodedata.normalize("NFD", "âge")
    assert (len(nfc), len(nfd)) == (3, 4)
    table = tmp_path / "rows.csv"
    table.write_text(f"{nfd},x,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    config = tiny_config("regression", data={"source": str(table), "target": "y"})
    config["data"]["features"] = [nfc, "x"]
    paths = []
    for streaming in (False, True):
        path = tmp_path / f"streamed-{streaming}.yaml"
        path.write_text(json.dumps({**config, "data": {**config["data"], "streaming": streaming}}))
        paths.append(path)
    result = cli_without_tensorflow(*[(["validate", path], 2) for path in paths])
    expected = (
        f"toolkit: error: {table}: feature column '{nfc}' is not in the data (the data's "
        f"'{nfd}' looks the same but is another Unicode form of it: 4 code points (NFD) "
        "against 3 code points (NFC); spell it alike in both, e.g. with "
        f"unicodedata.normalize('NFC', name)); columns: {nfd}, x, y"
    )
    assert result.stderr.splitlines() == [expected, expected]


def test_validate_refuses_data_lines_with_a_trailing_comma_as_train_does(tmp_path):
    """Data lines ending in a comma the header lacks: train refused the file (in memory and
    streamed, plain and gzip), but validate read only the header and said the config was
    valid. Validate now reads the first data lines and gives train's line, without
    TensorFlow; the same file without the commas still validates."""
    import gzip

    text = _frame()[["target", "a", "b", "colour"]].to_csv(index=False).splitlines()
    bad = "\n".join([text[0], *(f"{line}," for line in text[1:])]) + "\n"
    good = "\n".join(text) + "\n"
    tables = {"bad.csv": bad, "good.csv": good}
    for name, content in tables.items():
        (tmp_path / name).write_text(content)
    (tmp_path / "bad.csv.gz").write_bytes(gzip.compress(bad.encode()))
    calls, expected = [], []
    for name, streaming in [("bad.csv", False), ("bad.csv", True), ("bad.csv.gz", False)]:
        config = tiny_config("regression", data={"source": str(tmp_path / name)})
        config["data"].pop("synthetic")
        config["data"]["streaming"] = streaming
        path = tmp_path / f"{name}-{streaming}.yaml"
        path.write_text(json.dumps(config))
        calls += [(["validate", path], 2), (["train", path, "--output-dir", tmp_path / "r"], 2)]
        line = (
            f"toolkit: error: data.source {tmp_path / name} cannot be read: line 2 has 5 "
            "fields where the header has 4, the last one empty (a trailing comma at the end "
            "of each data line?): remove the trailing commas"
        )
        expected += [line, line]
    config = tiny_config("regression", data={"source": str(tmp_path / "good.csv")})
    config["data"].pop("synthetic")
    (tmp_path / "good.yaml").write_text(json.dumps(config))
    calls.append((["validate", tmp_path / "good.yaml"], 0))
    result = cli_without_tensorflow(*calls)
    assert result.stderr.splitlines() == expected
    assert not (tmp_path / "r").exists()


@pytest.mark.slow  # trains a run
def test_a_category_in_another_unicode_form_is_named_with_the_training_category(cli, tmp_path):
    """Training read 'île' with a precomposed accent (NFC); new rows spell it 'i' and a
    combining accent (NFD, as macOS may write text). The model scores it as unseen (its
    lookup compares code points), and the warning named 'île' among the categories never
    seen in training, a value that looked exactly like one of them; it now says which
    training category it spells in another form."""
    import unicodedata

    rows = pd.DataFrame(
        {
            "x": np.arange(48, dtype=float) % 5,
            "region": ["île", "nord", "sud"] * 16,
            "y": np.arange(48, dtype=float) % 7,
        }
    )
    rows.to_csv(tmp_path / "train.csv", index=False)
    config = tiny_config("regression", data={"source": str(tmp_path / "train.csv"), "target": "y"})
    import toolkit

    # Trained in this process (predict, the behaviour under test, runs in its own).
    run = toolkit.train(config, output_dir=tmp_path / "r", verbose=0).path
    nfd = unicodedata.normalize("NFD", "île")
    new = pd.DataFrame({"x": [1.0, 2.0, 3.0], "region": [nfd, "nord", "ouest"]})
    new.to_csv(tmp_path / "new.csv", index=False)
    result = cli("predict", run, "--input", tmp_path / "new.csv", "--output", tmp_path / "p.csv")
    assert result.returncode == 0, result.stderr
    assert len(pd.read_csv(tmp_path / "p.csv")) == 3
    assert result.stderr.splitlines()[0] == (
        "toolkit: warning: column 'region': 2 of 3 rows hold categories never seen in "
        f"training ('{nfd}' [training's 'île' in another Unicode form: 4 code points (NFD) "
        "against 3 code points (NFC)], 'ouest'); they were scored as the out-of-vocabulary "
        "bucket"
    )


def test_a_missing_default_target_says_data_target_was_not_set(tmp_path):
    """configs/binary.yaml and multiclass.yaml name no data.target (their scikit-learn
    tables have a column 'target'): copied with only data.source swapped, validate and train
    said "target column 'target' is not in the data", a column the user never wrote. The
    line now says where 'target' came from; in memory and streamed, before TensorFlow."""
    table = tmp_path / "loans.csv"
    table.write_text(
        "income,deny\n" + "".join(f"{i},{'yes' if i % 4 else 'no'}\n" for i in range(40))
    )
    columns = "columns: income, deny; data.target is 'target' when the config does not set it"
    calls = []
    for streaming in (False, True):
        config = tiny_config("binary", data={"source": str(table), "streaming": streaming})
        config["data"].pop("synthetic")
        path = tmp_path / f"streamed-{streaming}.yaml"
        path.write_text(json.dumps(config))
        calls += [(["validate", path], 2), (["train", path, "--output-dir", tmp_path / "r"], 2)]
    result = cli_without_tensorflow(*calls)
    lines = result.stderr.splitlines()
    assert len(lines) == 4, result.stderr
    for line in lines:
        assert line.startswith("toolkit: error: "), line
        assert "target column 'target' is not in the data; " in line, line
        assert line.endswith(f"{columns}: set it to the column to predict"), line
    assert not (tmp_path / "r").exists()
    # A target the config names keeps the line as it was: the note is about the default.
    config = tiny_config("binary", data={"source": str(table), "target": "denied"})
    config["data"].pop("synthetic")
    (tmp_path / "named.yaml").write_text(json.dumps(config))
    named = cli_without_tensorflow((["validate", tmp_path / "named.yaml"], 2))
    # No "(did you mean 'deny'?)": three edits away, as 'tag' is from 'target' (both 0.6 by
    # difflib's ratio); only a name a typing slip or two away is suggested for a column.
    assert named.stderr == (
        f"toolkit: error: {table}: target column 'denied' is not in the data; "
        "columns: income, deny\n"
    )


def test_a_configs_folder_of_runs_given_for_a_run_names_its_newest(tmp_path):
    """The README's `toolkit evaluate experiments/diabetes-mlp/<run_id>`: given the folder
    itself, or the placeholder as it is, the line said only that it was no run directory
    (or not found), and a new user had to list the folder to find a run id."""
    folder = tmp_path / "experiments" / "diabetes-mlp"
    for name in ("20261205-101500-000001-aaaa", "repeat-20261207-000920-000002-bbbb"):
        (folder / name).mkdir(parents=True)
        (folder / name / "run.json").write_text("{}")
        (folder / name / "config.yaml").write_text("name: diabetes-mlp\n")
    (folder / "compare").mkdir()  # compare's output beside the runs is no run
    newest = "experiments/diabetes-mlp/repeat-20261207-000920-000002-bbbb"
    hint = f"holds 2 runs: pass one, e.g. the newest, {newest}"
    calls = [
        (command, tmp_path)
        for given in ("experiments/diabetes-mlp", "experiments/diabetes-mlp/<run_id>")
        for command in (["evaluate", given], ["report", given], ["train", "--resume", given])
    ]
    for (command, _), result in zip(
        calls, cli_in_one_process(*calls, without_tensorflow=True), strict=True
    ):
        assert_one_line_error(result, command[-1], hint)  # the folder given


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """A regressor trained (in this process) on a numeric target 'y', and rows like its own."""
    import toolkit

    root = tmp_path_factory.mktemp("regression-run")
    rows = _frame().drop(columns="target")
    rows["y"] = 2 * rows["a"] - rows["b"]
    rows.to_csv(root / "train.csv", index=False)
    config = tiny_config(data={"source": str(root / "train.csv"), "target": "y"})
    run = toolkit.train(config, output_dir=root / "runs", verbose=0)
    assert run.status == "completed", run.reason
    return run.path, rows.head(12).reset_index(drop=True)


@pytest.mark.slow  # trains a small run (in this process)
def test_evaluate_names_the_rows_of_text_in_a_regression_target_not_the_task(
    regression_run, tmp_path
):
    """Text in the target of rows a trained regressor scores: "set model.task to binary or
    multiclass" was training's advice, which a trained run cannot take; the line names the
    rows at fault and what the run expects."""
    import toolkit

    run, rows = regression_run
    bad = rows.assign(y=rows["y"].astype(str))  # numbers as text, as a text column holds them
    bad.loc[[3, 7], "y"] = ["oops", "n/a?"]  # rows 4 and 8 as the messages count them
    bad.to_parquet(tmp_path / "new.parquet", index=False)
    (result,) = cli_in_one_process(["evaluate", run, "--data", tmp_path / "new.parquet"])
    said = (
        "target column 'y' must hold numbers, as this regression run was trained on, but row 4 "
        "holds 'oops' (also row 8); fix or drop those rows"
    )
    line = assert_one_line_error(result, f"--data {tmp_path / 'new.parquet'}: {said}")
    assert "model.task" not in line
    with pytest.raises(DataError, match=r"^data: " + re.escape(said) + "$"):
        toolkit.load_run(run).evaluate(bad)


@pytest.mark.slow  # trains a small run (in this process)
def test_evaluate_refuses_a_true_false_target_of_a_regression_run(regression_run, tmp_path):
    """A True/False target scored by a regressor trained on numbers: pandas took it as 1 and 0
    and the metrics came out without a word, from a DataFrame or Parquet file (a CSV file's
    'True' was refused already, as not a number). Refused alike, naming the column, the rows
    and what to write if 1 and 0 is what they mean (what training read them as)."""
    import toolkit

    run, rows = regression_run
    flags = rows.assign(y=rows["y"] > 0)
    assert flags["y"].dtype == bool
    flags.to_parquet(tmp_path / "flags.parquet", index=False)
    flags.to_csv(tmp_path / "flags.csv", index=False)
    parquet, csv = cli_in_one_process(
        ["evaluate", run, "--data", tmp_path / "flags.parquet"],
        ["evaluate", run, "--data", tmp_path / "flags.csv"],
    )
    said = (
        "target column 'y' holds True/False (every row) where this regression run expects "
        "numbers; if they stand for 1 and 0 (as training read a True/False target), write them "
        "as 1 and 0"
    )
    assert_one_line_error(parquet, f"--data {tmp_path / 'flags.parquet'}: {said}")
    assert parquet.stdout == ""
    first = "True" if flags["y"].iloc[0] else "False"
    assert_one_line_error(
        csv, f"column 'y' holds '{first}' in row 1 (line 2) where the run expects"
    )
    loaded = toolkit.load_run(run)
    with pytest.raises(DataError, match=r"^data: " + re.escape(said) + "$"):
        loaded.evaluate(flags)
    # One True among numbers (an object column) is named by its row; the numbers score.
    mixed = rows.assign(y=rows["y"].astype(object))
    mixed.loc[4, "y"] = True
    with pytest.raises(DataError, match=re.escape("holds True/False (row 5) where")):
        loaded.evaluate(mixed)
    assert set(loaded.evaluate(rows)) >= {"rmse", "mae"}


@pytest.mark.slow  # trains a small run (in this process)
def test_evaluate_names_blank_targets_as_missing(regression_run, tmp_path):
    """A target of spaces or '' in rows to score is a missing target, named by row with the
    remedy for unlabelled rows, as training names it: a classifier's evaluate listed ' ' as
    a class not seen in training, a regressor's as text that is not a number."""
    run, rows = regression_run
    bad = rows.assign(y=rows["y"].astype(str))
    bad.loc[[3, 7], "y"] = [" ", ""]  # rows 4 and 8 as the messages count them
    bad.to_parquet(tmp_path / "new.parquet", index=False)
    (result,) = cli_in_one_process(["evaluate", run, "--data", tmp_path / "new.parquet"])
    assert_one_line_error(
        result,
        f"--data {tmp_path / 'new.parquet'}: target column 'y' has missing values (rows 4, 8; "
        "blank text counts as missing); scoring needs a target on every row: drop those rows, "
        "or use toolkit predict for unlabelled rows",
    )
