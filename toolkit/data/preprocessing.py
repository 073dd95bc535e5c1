"""Preprocessing fitted on the training split only, stored as plain JSON.

The spec says which columns are numeric or categorical, their training statistics and
vocabularies, and how the target is encoded. The model builder turns it into Keras layers
inside the saved model, so a saved model takes raw columns.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from toolkit.config.schema import DataConfig
from toolkit.data.memory import aligned_empty
from toolkit.errors import DataError, predict_call
from toolkit.text import counted, missing_columns

MISSING_TOKEN = "<missing>"


@dataclass(frozen=True)
class NumericFeature:
    name: str
    mean: float
    std: float
    missing: int = 0  # missing values in the training split (imputed with the mean)


@dataclass(frozen=True)
class CategoricalFeature:
    name: str
    vocabulary: list[str]
    missing: int = 0  # missing values in the training split (the token MISSING_TOKEN)
    # Distinct training values left out of the vocabulary by data.max_tokens; they, and
    # values never seen in training, share the out-of-vocabulary bucket.
    out_of_vocabulary: int = 0


@dataclass(frozen=True)
class TargetSpec:
    name: str
    task: str
    classes: list[str] = field(default_factory=list)
    mean: float = 0.0
    std: float = 1.0
    # What the target column held, so predicted labels come back in that type: "bool", "int"
    # (any numbers: a classifier's are whole, and 1.0 and 1 are one class) or "str". Runs
    # from before it have none in preprocessing.json and keep their string labels.
    label_type: str = "str"

    def labels(self) -> np.ndarray:
        """The classes in the target column's type (``label_type``): a bool, int64 or object
        array, so ``prediction == label`` holds for a correct prediction."""
        return typed_labels(self.classes, self.label_type)


def typed_labels(classes, label_type: str) -> np.ndarray:
    """``classes`` (as preprocessing.json writes them, text) in the type ``label_type`` names:
    a bool, int64 or object array."""
    if label_type == "bool":
        return np.asarray([label == "True" for label in classes], dtype=bool)
    if label_type == "int":
        return np.asarray([int(label) for label in classes], dtype=np.int64)
    return np.asarray(classes, dtype=object)


@dataclass(frozen=True)
class ImageFeature:
    """Images: the frame column holding them (arrays, or file paths decoded as Keras'
    ``image_dataset_from_directory`` does), their shape (H, W, C) as the model takes them,
    and the range raw pixel values come in."""

    column: str
    stored: str  # "array" | "path"
    shape: list[int]
    value_range: list[float]
    color_mode: str = "rgb"
    interpolation: str = "bilinear"
    crop_to_aspect_ratio: bool = False
    resize: bool = False  # files are resized to ``shape`` on loading (image_size was set)


@dataclass(frozen=True)
class SignalFeature:
    """Signals of shape (L, C) in an array column, with per-channel training statistics."""

    column: str
    shape: list[int]
    mean: list[float]
    std: list[float]


@dataclass(frozen=True)
class FeatureSpec:
    """Everything needed to turn raw columns into model inputs and outputs back into labels."""

    numeric: list[NumericFeature]
    categorical: list[CategoricalFeature]
    target: TargetSpec
    image: ImageFeature | None = None
    signal: SignalFeature | None = None

    @property
    def columns(self) -> list[str]:
        """The frame columns the model reads, array columns included."""
        arrays = [f.column for f in (self.image, self.signal) if f is not None]
        return [f.name for f in self.numeric] + [f.name for f in self.categorical] + arrays

    @property
    def has_table(self) -> bool:
        return bool(self.numeric or self.categorical)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        raw = json.loads(text)
        return cls(
            numeric=[NumericFeature(**f) for f in raw["numeric"]],
            categorical=[CategoricalFeature(**f) for f in raw["categorical"]],
            target=TargetSpec(**raw["target"]),
            image=ImageFeature(**raw["image"]) if raw.get("image") else None,
            signal=SignalFeature(**raw["signal"]) if raw.get("signal") else None,
        )


def _check_columns(frame: pd.DataFrame, columns: list[str], what: str, note: str = "") -> None:
    """Every one of ``columns`` is in ``frame``, else one DataError naming the first missing
    one, a suggestion and the others missing (``missing_columns``), and ``note`` last."""
    missing = [column for column in columns if column not in frame.columns]
    if not missing:
        return
    raise DataError(
        f"{what} column '{missing[0]}' is not in the data"
        f"{missing_columns(missing, list(frame.columns), columns)}; "
        f"columns: {', '.join(map(str, frame.columns))}" + (f"; {note}" if note else "")
    )


# data.target when a config leaves it out: the column scikit-learn's bundled tables have.
DEFAULT_TARGET = "target"


def target_note(target: str) -> str:
    """What ends a missing target's message when it is data.target's default: a shipped
    config (binary.yaml, multiclass.yaml) names no target, as its scikit-learn table has a
    column 'target', and one copied with only data.source swapped said "target column
    'target' is not in the data", naming a column the user never wrote."""
    if target != DEFAULT_TARGET:
        return ""
    return (
        f"data.target is '{DEFAULT_TARGET}' when the config does not set it: set it to the "
        "column to predict"
    )


# A text column whose values are at least this share numbers is numeric with typos in it.
NUMERIC_SHARE = 0.9


# ``frame.attrs`` key of a shard set read whole: ((shard path, position of its first row),
# ...), so that errors name a row within its shard, as the streamed path does. pandas carries
# attrs to a frame's columns and row selections.
SHARDS_ATTR = "toolkit_shards"


def shards_of(values: pd.Series | pd.DataFrame) -> tuple[tuple[str, int], ...]:
    """The shards ``values`` were read from (``SHARDS_ATTR``), or () for one file or frame."""
    return tuple(values.attrs.get(SHARDS_ATTR, ()))


def row_number(position: Any, shards: tuple[tuple[str, int], ...] = ()) -> str:
    """A row as every data error names it: counted from 1, row 1 being the first data row
    (after a file's header, so row r of a CSV file is its line r + 1), as epochs count from
    1. ``position``: the row's position from 0, which the index of a frame read from a file,
    streamed or given to the API (``Run.predict`` resets it) holds. Counted from 0, "row 0"
    sent a user looking in a spreadsheet to the header. In a shard set read whole
    (``shards``), the row within its shard: ``18 of data/part-1.csv``."""
    if not isinstance(position, (int, np.integer)):
        return str(position)
    if not shards:
        return str(int(position) + 1)
    path, number = _in_shard(int(position), shards)
    return f"{number} of {path}"


def _in_shard(position: int, shards: tuple[tuple[str, int], ...]) -> tuple[str, int]:
    """The shard holding the row at ``position`` of the whole set, and its row number there."""
    path, first = next((s for s in reversed(shards) if s[1] <= position), shards[0])
    return path, position - first + 1


def missing_targets(values: pd.Series) -> np.ndarray:
    """Which target ``values`` hold no label: missing, or text that is empty or only spaces.
    pandas reads a CSV field of spaces (and a Parquet file or frame holds '') as text, not as
    missing, and a classifier learned it as one more class (' ' beside 'setosa'), predicted
    and scored like the others; a regressor's was refused as text, not as the missing value
    it is. Checked on the distinct values, so a million rows of a few labels cost little."""
    missing = values.isna().to_numpy()
    if not (
        isinstance(values.dtype, pd.CategoricalDtype)  # a Parquet file's dictionary column
        or pd.api.types.is_object_dtype(values.dtype)
        or pd.api.types.is_string_dtype(values.dtype)
    ):
        return missing
    codes, uniques = pd.factorize(values)
    blank = np.array([isinstance(u, str) and not u.strip() for u in uniques], dtype=bool)
    if not blank.any():
        return missing
    return missing | ((codes >= 0) & blank[np.maximum(codes, 0)])


def missing_target_words(values: pd.Series, missing: np.ndarray) -> str:
    """ "" or, when some of the ``missing`` rows hold blank text, words saying it counts as
    missing: the file shows no gap there, only spaces or an empty string."""
    return "; blank text counts as missing" if not values.isna().to_numpy()[missing].all() else ""


def _rows(index: pd.Index, limit: int = 5, shards: tuple[tuple[str, int], ...] = ()) -> str:
    positions = index[:limit]
    if shards and all(isinstance(p, (int, np.integer)) for p in positions):
        # ``rows 4, 8 of a.csv; 2 of b.csv``: each shard named once.
        by_shard: dict[str, list[str]] = {}
        for position in positions:
            path, number = _in_shard(int(position), shards)
            by_shard.setdefault(path, []).append(str(number))
        shown = "; ".join(f"{', '.join(numbers)} of {path}" for path, numbers in by_shard.items())
    else:
        shown = ", ".join(row_number(position) for position in positions)
    more = f" and {len(index) - limit} more" if len(index) > limit else ""
    return f"row{'s' if len(index) > 1 else ''} {shown}{more}"


def numbers_remedy(column: str, texts) -> str:
    """What ends the message about text in a column of numbers. One text value throughout
    ('?', '-', 'unknown') is most often a file's mark for a missing value (UCI tables use
    '?'), which pandas does not read as missing: the remedy names that first, as treating
    the column as categories would throw its numbers away."""
    fix = f"fix the values, or list '{column}' in data.categorical to treat it as categories"
    distinct = set(texts)
    if len(distinct) != 1:
        return fix
    return (
        f"if {next(iter(distinct))!r} marks a missing value, leave those cells empty (a "
        f"missing number takes the training mean); else {fix}"
    )


# '31,728' or '-1,234,567.50': a number with its thousands set off by commas, as spreadsheets
# and reports write amounts. pandas reads such a column as text (read_csv's thousands=None).
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")


def thousands_separated(texts) -> np.ndarray:
    """Which of ``texts`` are numbers written with thousands separators ('31,728')."""
    return np.array(
        [isinstance(t, str) and _THOUSANDS.fullmatch(t.strip()) is not None for t in texts],
        dtype=bool,
    )


# '$59,157', '€ 12.50' or '34.4%': a number with a currency sign before it or a percent sign
# after it, as spreadsheets export formatted cells. pandas reads such a column as text.
_MARKED = re.compile(
    r"[+-]?[$€£¥]\s?[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?"
    r"|[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?\s?%"
)


def marked_numbers(texts) -> np.ndarray:
    """Which of ``texts`` are numbers written with a currency or percent sign ('$59,157',
    '34.4%')."""
    return np.array(
        [isinstance(t, str) and _MARKED.fullmatch(t.strip()) is not None for t in texts],
        dtype=bool,
    )


def marked_remedy(column: str) -> str:
    """What ends the message about a column of numbers written with currency or percent
    signs."""
    return (
        "read as text they are one category per amount: write them as plain numbers (34.4 "
        f"for '34.4%', 59157 for '$59,157'), or list '{column}' in data.categorical to treat "
        "it as categories"
    )


# The remedy when the only text in a number column is numbers written '31,728'.
THOUSANDS_ADVICE = (
    "write the numbers without thousands separators (pandas: read_csv(..., thousands=','))"
)


def thousands_remedy(column: str) -> str:
    """What ends the message about a column of numbers written with thousands separators."""
    return (
        f"read as text they are one category per amount: {THOUSANDS_ADVICE}, or list "
        f"'{column}' in data.categorical to treat it as categories"
    )


def _text_in_numbers(values: pd.Series, bad: pd.Index) -> str:
    """``row 17 holds 'oops' (also rows 20, 31)``: the first offending row and the others."""
    first, shards = bad[0], shards_of(values)
    also = f" (also {_rows(bad[1:], shards=shards)})" if len(bad) > 1 else ""
    return f"row {row_number(first, shards)} holds {values[first]!r}{also}"


# The largest number the model computes with (inputs and targets are float32).
FLOAT32_MAX = float(np.finfo(np.float32).max)


def not_float32(numbers: np.ndarray) -> np.ndarray:
    """Which ``numbers`` the model cannot take: infinite, or finite in float64 but beyond
    float32's range, which become infinite when read as model inputs (NaN is missing)."""
    with np.errstate(invalid="ignore"):
        return np.abs(numbers) > FLOAT32_MAX


def any_not_float32(numbers: np.ndarray) -> bool:
    """``not_float32(numbers).any()`` from the smallest and largest number (NaN skipped): two
    passes and no temporary arrays, where the mask takes three (a fifth of the one pass's
    statistics of 5M streamed rows)."""
    if not len(numbers):
        return False
    return bool(np.fmin.reduce(numbers) < -FLOAT32_MAX or np.fmax.reduce(numbers) > FLOAT32_MAX)


def check_finite(
    values: pd.Series, what: str, shards: tuple[tuple[str, int], ...] | None = None
) -> None:
    """A DataError naming the rows of the numeric ``values`` that are infinite, or beyond
    float32's range (1e300 in a float64 Parquet column): an ``inf`` in a column makes its
    mean and the loss NaN, and training fails at its first epoch.
    ``shards``: those the rows were read from, when ``values`` no longer carries them."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iu":
        return  # whole numbers are finite, and 64 bits of them within float32's range
    if isinstance(values.dtype, np.dtype) and values.dtype.kind == "f":
        numbers = values.to_numpy()  # as it is: a float64 copy of a float32 column cost more
    else:
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    if any_not_float32(numbers):
        bad = not_float32(numbers)
        shards = shards_of(values) if shards is None else shards
        rows = _rows(values.index[bad], shards=shards)
        if np.isinf(numbers[bad]).all():
            raise DataError(
                f"{what} has infinite values ({rows}); "
                "drop them or replace them with finite numbers or blanks"
            )
        raise DataError(
            f"{what} has values beyond float32's range of +-3.4e38, which the model computes "
            f"in ({rows}); drop them, rescale the column, or replace them with blanks"
        )


def _numeric_column(
    values: pd.Series,
    what: str,
    *,
    needed: str = "must be numeric",
    advice: str = "fix the values or list the column in data.categorical",
) -> pd.Series:
    """``values`` as numbers, or a DataError naming the first row that is not a number."""
    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna() & values.notna()
    if bad.any():
        rows = values.index[bad].sort_values()
        if thousands_separated(values[rows]).all():
            advice = THOUSANDS_ADVICE
        raise DataError(f"{what} {needed}, but {_text_in_numbers(values, rows)}; {advice}")
    return converted


def numeric_target(values: pd.Series, what: str) -> pd.Series:
    """A regression target's ``values`` as numbers, or a DataError naming the first row that
    is not a number."""
    return _numeric_column(
        values,
        what,
        needed="must be numeric for regression",
        advice="fix the values, or set model.task to binary or multiclass if they are class labels",
    )


def scored_numbers(values: pd.Series, what: str) -> pd.Series:
    """The target ``values`` a trained regression run scores, as numbers; a DataError naming
    the rows that hold text, or True/False, which pandas took as 1 and 0 without a word
    (training warns of a two-valued target; scored, a wrong column passed unnoticed)."""
    if pd.api.types.is_bool_dtype(values):
        booleans = values.notna().to_numpy()
    elif values.dtype == object:
        booleans = values.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
    else:
        booleans = np.zeros(len(values), dtype=bool)
    if booleans.any():
        every = booleans.all() and len(values) > 1
        rows = "every row" if every else _rows(values.index[booleans], shards=shards_of(values))
        raise DataError(
            f"{what} holds True/False ({rows}) where this regression run expects numbers; "
            "if they stand for 1 and 0 (as training read a True/False target), write them as "
            "1 and 0"
        )
    return _numeric_column(
        values,
        what,
        needed="must hold numbers, as this regression run was trained on",
        advice="fix or drop those rows",
    )


# The model inputs of image and signal data.
IMAGE_INPUT = "image"
SIGNAL_INPUT = "signal"


def array_column(config: DataConfig) -> str | None:
    """The frame column that holds the images (or their paths) or signals, if any."""
    return config.array_column


def check_named_columns(columns: list[str], config: DataConfig, *, label: str) -> None:
    """The columns the data section names (target, features, categorical, the image path
    column) are among a table's ``columns``, else one DataError naming the first missing one.
    ``toolkit validate`` checks a file's header with it, as training checks the table."""
    # Named by the file: with data.validation or data.test files beside data.source, "target
    # column 'label' is not in the data" left the user to guess which of them lacked it.
    header = pd.DataFrame(columns=columns)
    _check_columns(header, [config.target], f"{label}: target", target_note(config.target))
    features = config.feature_columns(columns)
    _check_columns(header, features, f"{label}: feature")
    _check_columns(header, sorted(config.categorical or ()), f"{label}: categorical")
    column = array_column(config)
    if column is not None:
        kind = "image path" if config.image.column else "image"
        _check_columns(header, [column], f"{label}: {kind}")
        if column in features:
            raise DataError(f"data.features lists the {config.input_kind} column '{column}'")


# pandas' name for a column the CSV header leaves blank.
_UNNAMED = re.compile(r"Unnamed: \d+")


def no_values(column: str, where: str = "") -> DataError:
    """The error for a feature column without a value (``where``: " in the training split",
    ...). A blank header name over an empty column ('Unnamed: 22', pandas' name for the 23rd)
    is what a trailing comma at the end of every line makes; the line says so, and what to
    do, as the column's name alone did not."""
    message = f"feature column '{column}' has no values (all missing){where}"
    if _UNNAMED.fullmatch(column):
        message += (
            ": a column with no name in the header and no values is what a trailing comma at "
            "the end of each line makes; remove the trailing commas, or list the columns to "
            "use in data.features"
        )
    return DataError(message)


def check_table(
    frame: pd.DataFrame, config: DataConfig, *, label: str = "data", task: str | None = None
) -> None:
    """Check a whole table before it is split, so errors name rows as they are in the file.

    Columns must exist; the target must have no missing values (and for ``task`` regression,
    must hold numbers); feature columns that are not
    categorical must hold numbers. A column is categorical when ``data.categorical`` lists it
    or, with ``data.categorical: null``, when it holds text -- unless at least
    ``NUMERIC_SHARE`` of its values are numbers, in which case the rest are reported as errors.
    """
    check_named_columns(list(frame.columns), config, label=label)
    features = config.feature_columns(frame.columns)
    target = frame[config.target]
    missing = missing_targets(target)
    if missing.any():
        raise DataError(
            f"{label}: target column '{config.target}' has missing values "
            f"({_rows(target.index[missing], shards=shards_of(target))}"
            f"{missing_target_words(target, missing)}); drop or fill them"
        )
    if pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target):
        check_finite(target, f"{label}: target column '{config.target}'")
    elif task == "regression":
        # Checked on the whole table: after the split, the training split's check named only
        # its own rows, and text in a held-out row surfaced on the next run, as "validation
        # data" at a row of the one file the user gave.
        numeric_target(target, f"{label}: target column '{config.target}'")
    for column in features:
        values = frame[column]
        if config.categorical is not None and column in config.categorical:
            continue
        if values.isna().all():
            raise DataError(f"{label}: {no_values(column)}")
        if pd.api.types.is_numeric_dtype(values):
            if not pd.api.types.is_bool_dtype(values):
                check_finite(values, f"{label}: feature column '{column}'")
            continue
        # Each distinct value parsed once (a categorical column of a million rows holds a
        # few): its share of numbers weighted by how often each value occurs.
        counts = values.value_counts(dropna=True)
        parsed = pd.to_numeric(pd.Series(counts.index, dtype=object), errors="coerce")
        is_number = parsed.notna().to_numpy()
        if is_number.all():
            check_finite(
                pd.to_numeric(values), f"{label}: feature column '{column}'", shards_of(values)
            )
            continue
        # Amounts written '31,728', '$59,157' or '34.4%' became categories, one per amount,
        # with no word (or a guess of "an id or a date" when each row differed): numbers a
        # parser misread.
        numbers = is_number
        for written, detect, remedy in (
            ("with thousands separators", thousands_separated, thousands_remedy),
            ("with a currency or percent sign", marked_numbers, marked_remedy),
        ):
            found = detect(counts.index)
            if not found.any():
                continue
            numbers = numbers | found
            if float(counts.to_numpy()[numbers].sum() / counts.to_numpy().sum()) >= NUMERIC_SHARE:
                present = values.dropna()
                bad = present.index[detect(present)]
                raise DataError(
                    f"{label}: column '{column}' holds numbers written {written}: "
                    f"{_text_in_numbers(values, bad)}; {remedy(column)}"
                )
        if config.categorical is not None:
            _numeric_column(values, f"{label}: column '{column}' (not in data.categorical)")
        share = float(counts.to_numpy()[is_number].sum() / counts.to_numpy().sum())
        if share >= NUMERIC_SHARE:
            present = values.dropna()
            numbers = pd.to_numeric(present, errors="coerce").notna()
            bad = present.index[~numbers.to_numpy()]
            raise DataError(
                f"{label}: column '{column}' holds numbers in {math.floor(share * 100)}% of its "
                f"rows, but {_text_in_numbers(values, bad)}; "
                + numbers_remedy(column, present[bad])
            )


# A numeric column holding each whole number of a range once, over at least this many rows,
# is a row number or an id (as text columns, see toolkit.training.train.IDENTIFIER_ROWS).
NUMERIC_IDENTIFIER_ROWS = 20


def numeric_identifier_warnings(frame: pd.DataFrame, spec: FeatureSpec) -> list[str]:
    """One line per numeric feature that numbers the rows: every whole number from its
    minimum to its maximum exactly once (1..n, 1000..1000+n-1). ``data.features: null`` takes
    such an id column in as a quantity, which the model can fit to the row order (a table
    sorted by date or label) and which new rows' ids leave. Text ids are reported by the
    identifier warning of training; a number column gave none. A column that merely has
    distinct values (incomes, timestamps in seconds) is not a range and is not named."""
    lines = []
    for feature in spec.numeric:
        values = frame[feature.name]
        if (
            len(values) < NUMERIC_IDENTIFIER_ROWS
            or pd.api.types.is_bool_dtype(values)
            or not pd.api.types.is_numeric_dtype(values)
        ):
            continue
        if isinstance(values.dtype, np.dtype):
            # NumPy's numbers as they are (a float64 copy of a float32 column, and a mask of
            # its NaN, cost more than the rest): a NaN makes the minimum and maximum NaN.
            numbers = values.to_numpy()
            low, high = float(numbers.min()), float(numbers.max())
            if math.isnan(low) or math.isnan(high):
                continue
        elif values.isna().any():
            continue
        else:
            numbers = values.to_numpy(dtype=np.float64)
            low, high = float(numbers.min()), float(numbers.max())
        if high - low + 1 != len(numbers):  # on a million rows of floats, the span alone
            continue
        numbers = numbers.astype(np.float64, copy=False)
        if np.all(numbers == np.round(numbers)) and np.unique(numbers).size == len(numbers):
            lines.append(numeric_identifier_line(feature.name, low, high))
    return lines


def numeric_identifier_line(column: str, low: float, high: float) -> str:
    """``numeric_identifier_warnings``' line for ``column`` holding each whole number from
    ``low`` to ``high`` once (shared with the streamed pass, so both word it alike)."""
    return (
        f"column '{column}' holds each whole number from {low:.0f} to "
        f"{high:.0f} once (a row number or an id?): as a feature the model reads it "
        "as a quantity, can learn the row order, and new rows' ids lie outside what "
        "it saw; leave it out with data.features"
    )


# Constant feature columns a warning names at most; the rest are counted.
CONSTANT_NAMED = 10


def constant_numeric(matrix: np.ndarray, spec: FeatureSpec) -> dict[str, float]:
    """The numeric features of ``spec`` that hold one value in every row of ``matrix`` (the
    training split's numeric input, in spec order, NaN where missing), with that value."""
    constant = {}
    if not len(matrix):
        return constant
    with np.errstate(invalid="ignore"):
        low, high = np.nanmin(matrix, axis=0), np.nanmax(matrix, axis=0)
    for feature, first, last in zip(spec.numeric, low, high, strict=True):
        if first == last:
            constant[feature.name] = float(first)
    return constant


# The training rows whose targets ``two_valued_target_warning`` looks at first.
_FIRST_VALUES = 1000


def two_valued_target_warning(target: pd.Series, rows: np.ndarray | None = None) -> str | None:
    """A line when a regression target (``target``: its training rows, or with ``rows`` the
    rows at those positions) holds two values only, as class labels coded 0 and 1 do:
    ``configs/regression.yaml`` with ``--set data.source=... --set data.target=...`` on a 0/1
    diagnosis trained a Gaussian regressor whose summary line (rmse, r2) gave no hint that
    the task was wrong. A target of more values (counts, ratings) is a regression's own and
    is not named."""
    count = len(target) if rows is None else len(rows)
    first = target.iloc[:_FIRST_VALUES] if rows is None else target.iloc[rows[:_FIRST_VALUES]]
    if count > _FIRST_VALUES and len(pd.unique(first.dropna())) > 2:
        # Three values among the first rows are more than two among all: the training rows
        # are gathered and hashed (most of a second for 4.5M) only when there are not.
        return None
    values = pd.unique((target if rows is None else target.iloc[rows]).dropna())
    if len(values) != 2:
        return None
    low, high = sorted(values.tolist())
    return (
        f"regression target '{target.name}' holds two values only ({low:g} and {high:g}) in "
        "the training rows: fitted as numbers, the predictions fall between them; if they "
        "are class labels set model.task: binary"
    )


def constant_feature_warning(spec: FeatureSpec, numeric: dict[str, float]) -> str | None:
    """One line naming the feature columns that hold one value in every training row, or
    None: ``numeric`` those of the numeric ones (``constant_numeric``, or a streamed pass's
    moments), and the categorical ones with one category (missing counts as a category: a
    column present in some rows and missing in others tells them apart). Such a column
    carries nothing to learn: standardised, a number is 0 in every training row. Not an
    error: it costs an input and nothing else (the shipped digits example has three blank
    pixels), and a column constant in a small training split may not be in the next data."""
    named = [f"'{name}' (always {value:g})" for name, value in numeric.items()]
    for feature in spec.categorical:
        if len(feature.vocabulary) + feature.out_of_vocabulary != 1:
            continue
        token = feature.vocabulary[0]
        named.append(
            f"'{feature.name}' (always missing)"
            if token == MISSING_TOKEN
            else f"'{feature.name}' (always '{token}')"
        )
    if not named:
        return None
    more = len(named) - CONSTANT_NAMED
    listed = ", ".join(named[:CONSTANT_NAMED]) + (f" and {more} more" if more > 0 else "")
    one = len(named) == 1
    return (
        f"feature {'column' if one else 'columns'} {listed} "
        f"{'holds' if one else 'hold'} the same value in every training row: "
        f"{'it carries' if one else 'they carry'} no information the model can learn "
        f"(standardised, a number is 0 in every training row); harmless, but if "
        f"{'it' if one else 'they'} should vary check the data (data.features can leave "
        f"{'it' if one else 'them'} out)"
    )


# The model's one input for all numeric columns, in spec order: a (n, k) float32 matrix. One
# input instead of one per column: with 512 columns, per-column inputs made each training
# step carry 512 tensors through the input pipeline and a concatenation.
NUMERIC_INPUT = "numeric"


def column_kinds(frame: pd.DataFrame, config: DataConfig) -> tuple[list[str], set[str]]:
    """The feature columns of ``frame`` and which of them are categorical: those listed in
    ``data.categorical``, or (when it is null) the non-numeric and boolean ones. Streamed
    sources call this on their first chunk."""
    _check_columns(frame, [config.target], "target", target_note(config.target))
    features = config.feature_columns(frame.columns)
    _check_columns(frame, features, "feature")
    if config.target in features:
        raise DataError(f"data.features lists the target column '{config.target}'")
    column = array_column(config)
    if not features and column is None:
        raise DataError("no feature columns: the data has only the target column")
    categorical = set(config.categorical or ())
    _check_columns(frame, sorted(categorical), "categorical")
    if config.categorical is None:
        categorical = {
            c
            for c in features
            if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])
        }
    for reserved in (NUMERIC_INPUT, IMAGE_INPUT, SIGNAL_INPUT):
        if reserved in categorical:
            raise DataError(
                f"categorical column '{reserved}' has the name of one of the model's inputs "
                f"({NUMERIC_INPUT}, {IMAGE_INPUT}, {SIGNAL_INPUT}); rename it"
            )
    return features, categorical


def vocabulary(counts: dict[str, int], max_tokens: int | None) -> tuple[list[str], int]:
    """The vocabulary of a column from its token counts, and how many tokens it leaves out:
    every token when there are at most ``max_tokens``, else the ``max_tokens`` most frequent
    (ties broken by the token); sorted, so the order does not depend on the data's order."""
    tokens = list(counts)
    if max_tokens is not None and len(tokens) > max_tokens:
        tokens = sorted(tokens, key=lambda token: (-counts[token], token))[:max_tokens]
    return sorted(tokens), len(counts) - len(tokens)


def _column(frame: pd.DataFrame, name: str, rows: np.ndarray | None) -> pd.Series:
    """One column of ``frame``, or of its rows at positions ``rows`` (copying that column
    only: a whole-table copy per split was the in-memory path's peak)."""
    values = frame[name]
    return values if rows is None else values.iloc[rows]


def _plain_numbers(frame: pd.DataFrame, name: str, rows: np.ndarray | None) -> np.ndarray | None:
    """Column ``name`` (its rows at ``rows``) as a NumPy array, when it holds plain numbers
    (a NumPy integer or float dtype: nothing to convert, NaN the only missing value); None
    otherwise. ``pd.to_numeric`` and the checks for text cost more than the rest of the
    encoding and change nothing in such a column."""
    values = frame[name]
    if not (isinstance(values.dtype, np.dtype) and values.dtype.kind in "iuf"):
        return None
    array = values.to_numpy()
    return array if rows is None else array[rows]


def training_numbers(
    frame: pd.DataFrame, config: DataConfig, task: str, rows: np.ndarray | None
) -> np.ndarray | None:
    """The numeric feature columns of ``frame`` (its rows at ``rows``) as ``feature_arrays``
    encodes them, when every one of them is float32 (a table file's features are read so):
    the matrix then holds their exact values, and ``fit_spec(encoded=...)`` fits them from
    it. Else None. Gathering the training rows of each column twice, shuffled, once to fit
    and once to encode, was a fifth of loading 5M rows."""
    features, categorical = column_kinds(frame, config)
    names = [column for column in features if column not in categorical]
    if not names or any(frame[column].dtype != np.float32 for column in names):
        return None
    numeric = [NumericFeature(column, 0.0, 1.0) for column in names]
    spec = FeatureSpec(numeric, [], TargetSpec(config.target, task))
    return feature_arrays(frame, spec, rows=rows)[NUMERIC_INPUT]


def fit_spec(
    train: pd.DataFrame,
    config: DataConfig,
    task: str,
    *,
    rows: np.ndarray | None = None,
    encoded: np.ndarray | None = None,
) -> FeatureSpec:
    """Learn column kinds, statistics, vocabularies and the target encoding from ``train``
    (from its rows at positions ``rows`` when given). ``encoded``: those rows' numeric
    columns from ``training_numbers``, fitted from there rather than gathered again."""
    features, categorical = column_kinds(train, config)
    numeric: list[NumericFeature] = []
    categories: list[CategoricalFeature] = []
    for column in features:
        if column not in categorical:
            if encoded is not None:
                numbers = encoded[:, len(numeric)]
            else:
                numbers = _plain_numbers(train, column, rows)
            if numbers is not None:
                numeric.append(_numeric_feature(column, numbers))
                continue
        values = _column(train, column, rows)
        missing = int(values.isna().sum())
        if column in categorical:
            if isinstance(values.dtype, pd.StringDtype) or (
                isinstance(values.dtype, np.dtype) and values.dtype.kind in "biuf"
            ):
                counts = _token_counts(values, missing)
            else:  # objects: True, 1 and 1.0 count as one value, but are two tokens
                counts = dict(pd.Series(_as_tokens(values)).value_counts(sort=False).items())
            tokens, left_out = vocabulary(counts, config.max_tokens)
            categories.append(CategoricalFeature(column, tokens, missing, left_out))
            continue
        if missing == len(values):
            raise no_values(column, " in the training split")
        # Accumulated in float64 whatever the column's type (features are read as float32).
        values = _numeric_column(values, f"feature column '{column}'").astype(np.float64)
        mean = float(values.mean())
        std = float(values.std(ddof=0))
        numeric.append(NumericFeature(column, mean, std if std > 0 else 1.0, missing))
    image = signal = None
    if config.input_kind in ("image", "signal"):
        part = train if rows is None else train.iloc[rows]
        if config.input_kind == "image":
            from toolkit.data.images import fit_image_feature

            image = fit_image_feature(part, config)
        else:
            from toolkit.data.arrays import fit_signal_feature

            signal = fit_signal_feature(part, config)
    return FeatureSpec(
        numeric,
        categories,
        _fit_target(_column(train, config.target, rows), task, config.positive_class),
        image=image,
        signal=signal,
    )


def _numeric_feature(column: str, numbers: np.ndarray) -> NumericFeature:
    """``fit_spec``'s statistics of a column of plain numbers (``_plain_numbers``): the same
    pandas mean and deviation, in float64, without converting it first."""
    moments = _plain_moments(numbers)
    if moments is not None:  # no value missing
        mean, std = moments
        return NumericFeature(column, mean, std if std > 0 else 1.0, 0)
    missing = int(np.isnan(numbers).sum()) if numbers.dtype.kind == "f" else 0
    if missing == len(numbers):
        raise no_values(column, " in the training split")
    values = pd.Series(numbers.astype(np.float64))
    mean = float(values.mean())
    std = float(values.std(ddof=0))
    return NumericFeature(column, mean, std if std > 0 else 1.0, missing)


def _plain_moments(numbers: np.ndarray) -> tuple[float, float] | None:
    """The mean and population deviation of ``numbers`` as pandas' ``Series.mean()`` and
    ``std(ddof=0)`` compute them when none is NaN: the float64 sum over the count, then the
    float64 sum of ``(mean - x) ** 2`` over the count, the same operations in the same order
    (so the same bits), without pandas' NaN mask and copies of the column (a seventh of the
    time: 1.5 s of fitting 20 columns of 4.5M rows). None when the sum is not finite (a NaN
    or an infinity among them), or there are none: pandas' own path then."""
    if not len(numbers):
        return None
    values = numbers.astype(np.float64)  # a copy, squared in place below
    total = values.sum(dtype=np.float64)
    if not np.isfinite(total):
        return None
    count = np.float64(len(values))
    mean = total / count
    squares = np.subtract(mean, values, out=values)
    np.square(squares, out=squares)
    return float(mean), float(np.sqrt(squares.sum(dtype=np.float64) / count))


def refit_spec(
    spec: FeatureSpec,
    features: dict[str, np.ndarray],
    target: np.ndarray,
    *,
    max_tokens: int | None,
) -> FeatureSpec:
    """``spec`` with its statistics fitted again on encoded rows (a cross-validation fold's
    training part): the same columns, kinds and classes, new means, scales and vocabularies."""
    numeric = []
    if spec.numeric:
        matrix = features[NUMERIC_INPUT].astype(np.float64)
        present = ~np.isnan(matrix)
        for index, feature in enumerate(spec.numeric):
            values = matrix[present[:, index], index]
            if not len(values):
                raise no_values(feature.name, " in a fold")
            std = float(values.std())
            numeric.append(
                NumericFeature(
                    feature.name,
                    float(values.mean()),
                    std if std > 0 else 1.0,
                    int((~present[:, index]).sum()),
                )
            )
    categorical = []
    for feature in spec.categorical:
        tokens = pd.Series(features[feature.name][:, 0])
        counts = tokens.value_counts(sort=False)
        kept, left_out = vocabulary(dict(counts.items()), max_tokens)
        missing = int(counts.get(MISSING_TOKEN, 0))
        categorical.append(CategoricalFeature(feature.name, kept, missing, left_out))
    target_spec = spec.target
    if target_spec.task == "regression":
        values = target[:, 0].astype(np.float64)
        std = float(values.std())
        target_spec = TargetSpec(
            target_spec.name, "regression", mean=float(values.mean()), std=std if std > 0 else 1.0
        )
    signal = spec.signal
    if signal is not None:
        # Each channel's statistics from the fold's signals, as the numbers' above. Left out
        # (with the image), every cross-validated trial on signals or images failed building
        # its model ('NoneType' object has no attribute 'shape').
        stacked = np.asarray(features[SIGNAL_INPUT], dtype=np.float64)
        axes = tuple(range(stacked.ndim - 1))  # every axis but the channels
        std = stacked.std(axis=axes)
        signal = replace(
            signal,
            mean=[float(m) for m in stacked.mean(axis=axes)],
            std=[float(s) if s > 0 else 1.0 for s in std],
        )
    # The image's shape and value range are the data's, not statistics of the rows.
    return FeatureSpec(numeric, categorical, target_spec, image=spec.image, signal=signal)


def _fit_target(target: pd.Series, task: str, positive: str | None = None) -> TargetSpec:
    missing = missing_targets(target)
    if missing.any():
        raise DataError(
            f"target column '{target.name}' has missing values "
            f"({_rows(target.index[missing], shards=shards_of(target))}"
            f"{missing_target_words(target, missing)}); drop or fill them"
        )
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(target):
            target = numeric_target(target, f"target column '{target.name}'")
        if len(target) < 2:
            # One row is 'constant' too, but the cause is what held the others out.
            raise too_few_training_rows(len(target))
        std = float(target.std(ddof=0))
        if is_constant(std, float(target.mean())):
            raise constant_target(str(target.name), float(target.iloc[0]))
        return TargetSpec(str(target.name), task, mean=float(target.mean()), std=std)
    return class_labels(target, task, positive)


def is_constant(std: float, mean: float) -> bool:
    """A spread that is rounding error only: every value the same."""
    return std <= 1e-12 * max(1.0, abs(mean))


def too_few_training_rows(rows: int) -> DataError:
    return DataError(
        f"the training split has {counted(rows, 'row')}, too few to learn from; hold out "
        "less (data.validation, data.test, prediction.conformal.calibration) or add data"
    )


def constant_target(name: str, value: float) -> DataError:
    return DataError(
        f"target column '{name}' has the same value ({value:g}) in every training row: "
        "there is nothing to learn"
    )


def class_labels(target: pd.Series, task: str, positive: str | None = None) -> TargetSpec:
    """A classifier's target spec from a column of labels, or a DataError when the column
    cannot be the task's labels: numbers with fractions (a regression target), or a count of
    classes the task cannot take."""
    distinct = pd.Series(pd.unique(target.dropna()))
    check_not_continuous(distinct, task, str(target.name))
    tokens = pd.unique(_label_tokens(distinct))
    return classes_target(
        str(target.name), task, tokens, label_type(distinct, tokens), positive=positive
    )


def label_type(values: pd.Series, tokens) -> str:
    """``TargetSpec.label_type`` of a target column's ``values`` (their ``tokens``): "bool"
    for booleans, "int" for numbers (whole: fractions are refused), else "str"."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind == "boolean":
        return "bool"
    if kind in ("integer", "floating", "mixed-integer-float"):
        try:  # an infinite label, which training refuses elsewhere, stays a string
            [int(token) for token in tokens]
        except ValueError:
            return "str"
        return "int"
    return "str"


def joined_label_type(first: str | None, second: str) -> str:
    """The label type of a target read in parts (streamed chunks): one type, else "str"."""
    return second if first in (None, second) else "str"


def check_not_continuous(values: pd.Series, task: str, name: str) -> None:
    """A DataError when a classifier's target ``values`` hold numbers with fractions."""
    if pd.api.types.is_float_dtype(values):
        numbers = values.to_numpy(dtype=float)
        fractional = numbers[np.isfinite(numbers) & (numbers != np.floor(numbers))]
        if len(fractional):
            raise DataError(
                f"target column '{name}' holds numbers with fractions (e.g. "
                f"{float(fractional[0])!r}), which are not class labels for task '{task}'; for a "
                "numeric target use model.task: regression"
            )


def classes_target(
    name: str, task: str, labels, label_type: str = "str", *, positive: str | None = None
) -> TargetSpec:
    """A classifier's target spec from the distinct labels seen in training (``label_type``:
    the column's, see ``TargetSpec``), sorted; a binary target's ``positive`` class
    (``data.positive_class``) goes second, where every binary metric and output looks."""
    classes = sorted(labels, key=_natural_key)
    if task == "binary" and len(classes) != 2:
        variants = label_variants(classes)
        # What to do depends on why: labels that differ only in spelling are one class;
        # three real classes or more are a multiclass target. The line named the count alone,
        # and a user who picked configs/binary.yaml for iris was left to find model.task.
        # Many numbers are more likely a quantity (configs/binary.yaml on diabetes' target
        # was told to use multiclass for its 214 "classes").
        quantity = quantity_hint(name, len(classes), label_type == "int")
        remedy = (
            f"; {variants}: make them one label in the data"
            if variants
            else f"{quantity}; if class labels, model.task: multiclass"
            if quantity
            else f"; for {len(classes)} classes set model.task: multiclass"
            if len(classes) > 2
            # One class is rarely the data's truth: rows of the other were filtered out
            # upstream, or data.target names a column that is not the label.
            else "; check that no filter upstream dropped the other class and that data.target "
            "names the label column"
        )
        raise DataError(
            f"task 'binary' needs exactly 2 classes in target '{name}', found {len(classes)}: "
            + ", ".join(classes[:10])
            + ("" if len(classes) <= 10 else f" and {len(classes) - 10} more")
            + remedy
        )
    if task == "multiclass" and len(classes) < 2:
        # Named as the binary refusal names them: "found 1" left the user to guess which
        # column and which class (a file of one class, the others in another file).
        raise DataError(
            f"task 'multiclass' needs at least 2 classes in target '{name}', found "
            f"{len(classes)}: {', '.join(classes)}; check that no filter upstream dropped the "
            "other classes and that data.target names the label column"
        )
    if task == "binary" and positive is not None:
        if positive not in classes:
            from toolkit.errors import did_you_mean

            booleans = positive in ("True", "False") and label_type != "bool"
            hint = (
                "; YAML reads unquoted yes, no, on and off as true and false: quote the label"
                if booleans
                else did_you_mean(positive, classes)
            )
            raise DataError(
                f"data.positive_class '{positive}' is not a class of target '{name}'{hint}; "
                f"classes: {', '.join(classes)}"
            )
        classes = [classes[0] if classes[1] == positive else classes[1], positive]
    return TargetSpec(name, task, classes=classes, label_type=label_type)


def variant_key(label: str) -> str:
    """What two labels share when they differ only in surrounding spaces, case or Unicode
    form (``label_variants``)."""
    from toolkit.text import nfc

    return nfc(label).strip().casefold()


def label_variants(classes: list[str], shown: int = 3) -> str:
    """Words naming the classes that differ only in surrounding spaces or case (" yes" and
    "yes", "Yes" and "yes") or in Unicode form ("départ" with a precomposed "é" and with
    "e" and a combining accent, from files written on different systems), or "": a slip in
    the data that splits one class's rows between labels the model learns apart, and that a
    list of the labels hides (a leading space, or two labels that print alike)."""
    groups: dict[str, list[str]] = {}
    for label in classes:
        groups.setdefault(variant_key(label), []).append(label)
    variants = [labels for labels in groups.values() if len(labels) > 1]
    if not variants:
        return ""
    named = "; ".join(" and ".join(map(repr, labels)) for labels in variants[:shown])
    more = f" (and {len(variants) - shown} more)" if len(variants) > shown else ""
    # Labels alike once NFC-normalised but not before: their difference is the form.
    forms = any(len({label.strip().casefold() for label in labels}) > 1 for labels in variants)
    how = (
        "spaces, case or Unicode form (an accent precomposed or combining)"
        if forms
        else "spaces or case"
    )
    return f"classes {named}{more} differ only in {how}"


def _natural_key(label: str) -> tuple[int, float | str]:
    try:
        return (0, float(label))
    except ValueError:
        return (1, label)


def _label_tokens(values: pd.Series) -> np.ndarray:
    """Values as strings (an object array); 1.0 and 1 are the same class: integral floats are
    written without the decimal point."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if pd.api.types.is_datetime64_dtype(values.dtype):  # tz-naive; str() names the zone
        return _datetime_tokens(values)
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        # The common case, without a Python loop; rows share one object per distinct value
        # (8 bytes a row instead of a string object each).
        codes, uniques = pd.factorize(values)
        return np.asarray(uniques, dtype=object)[codes]
    return np.asarray(
        [str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in values],
        dtype=object,
    )


def _datetime_tokens(values: pd.Series) -> np.ndarray:
    """Dates and times (a Parquet file's datetime64 column) as the text a CSV file holds:
    '2020-01-01' for a midnight, as pandas' to_csv writes a column of dates, else
    '2020-01-02 12:30:00'. str() gave '2020-01-01 00:00:00', which the CSV reads of the same
    dates ('2020-01-01', read as text) never matched: trained on one format and predicted on
    the other, every row fell in the unseen bucket. Per value, not per column as pandas
    writes, so a streamed chunk's tokens do not depend on its other rows; other spellings of
    the same time ('... 00:00:00.000' of a column with times) are matched by
    ``_as_read_in_training``."""
    codes, uniques = pd.factorize(values)
    texts = [
        stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else str(stamp)
        for stamp in pd.DatetimeIndex(uniques)
    ]
    return np.asarray([*texts, "NaT"], dtype=object)[codes]  # code -1 (NaT): the last


def _token_counts(values: pd.Series, missing: int) -> dict[str, int]:
    """How often each token of ``_as_tokens(values)`` occurs (``missing``: the values
    missing), from the distinct values: a token per row of a million-row column, hashed
    again to be counted, cost several times as much. For text, numbers and booleans only
    (in a column of objects, ``True``, ``1`` and ``1.0`` are counted as one value)."""
    distinct = values.value_counts(dropna=True, sort=False)
    distinct = distinct[distinct.to_numpy() > 0]  # a categorical dtype lists unused ones
    counts: dict[str, int] = {}
    labels = pd.Series(distinct.index, dtype=values.dtype if distinct.empty else None)
    for token, count in zip(_label_tokens(labels), distinct.to_numpy().tolist(), strict=True):
        counts[token] = counts.get(token, 0) + count  # 1 and 1.0 are one token
    if missing:
        counts[MISSING_TOKEN] = counts.get(MISSING_TOKEN, 0) + missing
    return counts


def _as_tokens(values: pd.Series) -> np.ndarray:
    """A categorical column as tokens (an object array), missing values as ``MISSING_TOKEN``."""
    missing = values.isna().to_numpy()
    if not missing.any():
        return _label_tokens(values)
    tokens = np.full(len(values), MISSING_TOKEN, dtype=object)
    tokens[~missing] = _label_tokens(values[~missing])
    return tokens


def _as_read_in_training(tokens: np.ndarray, vocabulary: list[str]) -> np.ndarray:
    """``tokens`` with each one outside ``vocabulary`` that spells a value of the vocabulary
    otherwise ('4.0', '04', '4e0' for '4', or '4' for '4.0'; 'true' or 'TRUE' for 'True')
    replaced by the vocabulary's spelling. Training in memory reads a CSV with pandas, which
    parses a column of '4.0' as numbers (tokens '4') and one of 'true' as booleans (tokens
    'True'); a streamed one, and predict and evaluate --data, read it as text ('4.0',
    'true'): the '4.0' pandas writes in a whole-number column with blanks, the '4' of the same
    column without them, or the 'true' of the very file training read, fell out of the
    vocabulary, every such row scored as an unseen category."""
    known = set(vocabulary)
    unknown = [t for t in pd.unique(tokens) if isinstance(t, str) and t not in known]
    if not unknown:
        return tokens
    spellings: dict[tuple[str, object], str] = {}
    for token in vocabulary:
        value = _spelt_value(token)
        if value is not None:
            spellings.setdefault(value, token)
    respelt: dict[str, str] = {}
    for token in unknown:
        value = _spelt_value(token)
        if value is not None and value in spellings:
            respelt[token] = spellings[value]
    if not respelt:
        return tokens
    return np.asarray([respelt.get(token, token) for token in tokens], dtype=object)


# The spellings pandas' read_csv parses as booleans (its default true_values and false_values).
BOOLEAN_SPELLINGS = {"True": True, "TRUE": True, "true": True, "False": False}
BOOLEAN_SPELLINGS |= {"FALSE": False, "false": False}


# An ISO date, or date and time without a zone: '2020-01-01', '2020-01-01 12:30:00.500'.
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?")


def _spelt_value(text: str) -> tuple[str, object] | None:
    """The boolean, finite number or ISO date and time ``text`` spells, tagged with its kind
    (True == 1.0 would otherwise make 'true' the category '1'), else None. Dates and times:
    pandas writes a column with times at a common precision ('2020-01-01 00:00:00.000'),
    which a Parquet file's value of the same time is not spelt as."""
    if text in BOOLEAN_SPELLINGS:
        return ("bool", BOOLEAN_SPELLINGS[text])
    if _ISO_DATETIME.fullmatch(text):
        try:
            return ("datetime", pd.Timestamp(text))
        except ValueError:  # '2020-13-45'
            return None
    number = _finite_number(text)
    return None if number is None else ("number", number)


def _finite_number(text: str) -> float | None:
    """The finite number ``text`` spells, else None."""
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def feature_arrays(
    frame: pd.DataFrame,
    spec: FeatureSpec,
    *,
    what: str = "input",
    rows: np.ndarray | None = None,
    new_images: bool = False,
    finite: bool = False,
) -> dict[str, np.ndarray]:
    """Raw columns as model inputs: the numeric ones as one float32 matrix under
    ``NUMERIC_INPUT`` (columns in spec order), each categorical as strings of shape (n, 1),
    images (N, H, W, C) and signals (N, L, C) as float32. ``rows``: only the rows at these
    positions, in this order. ``new_images``: image files of any size are resized to the
    model's (new images to predict). ``finite``: an infinite number is a DataError naming
    its column and rows (scored, one made every metric NaN; predicted, a probability of
    0.0 or none), as training refuses one; predict and evaluate pass it."""
    _check_columns(frame, spec.columns, f"{what} feature")
    arrays: dict[str, np.ndarray] = {}
    if spec.numeric:
        count = len(frame) if rows is None else len(rows)
        # Aligned: TensorFlow holds it without a copy (toolkit.data.in_memory).
        matrix = aligned_empty((count, len(spec.numeric)), np.float32)
        for index, feature in enumerate(spec.numeric):
            numbers = _plain_numbers(frame, feature.name, rows)
            if numbers is not None and not (finite and any_not_float32(numbers)):
                matrix[:, index] = numbers
                continue
            column = _column(frame, feature.name, rows)
            converted = pd.to_numeric(column, errors="coerce")
            bad = converted.isna() & column.notna()
            if bad.any():
                row = bad.idxmax()
                grouped = thousands_separated([column[row]]).all()
                raise DataError(
                    f"{what} column '{feature.name}' must be numeric, row "
                    f"{row_number(row, shards_of(column))} holds "
                    f"{column[row]!r}" + (f"; {THOUSANDS_ADVICE}" if grouped else "")
                )
            if finite:
                check_finite(converted, f"{what} column '{feature.name}'", shards_of(column))
            matrix[:, index] = converted.to_numpy(dtype=np.float32)
        arrays[NUMERIC_INPUT] = matrix
    for feature in spec.categorical:
        tokens = _as_tokens(_column(frame, feature.name, rows))
        arrays[feature.name] = _as_read_in_training(tokens, feature.vocabulary).reshape(-1, 1)
    if spec.image is not None or spec.signal is not None:
        part = frame if rows is None else frame.iloc[rows]
        if spec.image is not None:
            from toolkit.data.images import image_array

            arrays[IMAGE_INPUT] = image_array(
                part, spec.image, what=what, resize=True if new_images else None
            )
        if spec.signal is not None:
            from toolkit.data.arrays import signal_array

            arrays[SIGNAL_INPUT] = signal_array(part, spec.signal, what=what)
        if finite:
            for name in (IMAGE_INPUT, SIGNAL_INPUT):
                if name in arrays:
                    _check_finite_arrays(arrays[name], f"{what}: {name}s")
    return arrays


def _check_finite_arrays(values: np.ndarray, what: str) -> None:
    """Images or signals given as arrays in a frame (``Run.predict(x)``, a dict of columns)
    with a NaN or infinity: the row's probability was NaN and its prediction the first
    class, without a word. An .npz's are refused when it is read (``read_npz``)."""
    if not len(values):
        return
    # NaN and infinities show in each row's min or max: two passes and N numbers, where
    # np.isfinite held a boolean per pixel (600 MB for a chunk of 4096 224x224 RGB images).
    flat = values.reshape(len(values), -1)
    finite = np.isfinite(flat.min(axis=1)) & np.isfinite(flat.max(axis=1))
    if not finite.all():
        rows = np.flatnonzero(~finite)
        raise DataError(
            f"{what} hold NaN or infinite values in {counted(len(rows), 'row')}, the first "
            f"row {rows[0] + 1}; images and signals must be finite numbers"
        )


def encode_target(
    frame: pd.DataFrame,
    spec: FeatureSpec,
    *,
    what: str = "data",
    rows: np.ndarray | None = None,
    scoring: bool = False,
) -> np.ndarray:
    """Targets as the model trains on them: floats for regression, class indices otherwise
    (of the rows at positions ``rows`` when given). ``scoring``: rows a trained run scores
    (evaluate), whose task can no longer change: a regression target that is not numbers is
    the rows' fault, and said so, not answered with training's "set model.task"."""
    target = spec.target
    _check_columns(frame, [target.name], "target")
    values = _column(frame, target.name, rows)
    blank = missing_targets(values)
    if blank.any():
        # Named by row, as training names them: the rows to drop (or to predict instead).
        shards = shards_of(values)
        missing = [row_number(row, shards) for row in values.index[blank]]
        raise DataError(
            f"{what}: target column '{target.name}' has missing values (rows "
            f"{_some(missing)}{missing_target_words(values, blank)}); scoring needs a target "
            f"on every row: drop those rows, or use {predict_call()} for unlabelled rows"
        )
    if target.task == "regression":
        named = f"{what}: target column '{target.name}'"
        numbers = scored_numbers(values, named) if scoring else numeric_target(values, named)
        # Training refuses an infinite target; scored, one made every metric NaN.
        check_finite(numbers, f"{what}: target column '{target.name}'", shards_of(values))
        return numbers.to_numpy(dtype=np.float32).reshape(-1, 1)
    index = {label: i for i, label in enumerate(target.classes)}
    # As a categorical feature's: evaluate --data reads every column as text, so the 'true'
    # of the very file training read as True (or a '1.0' for the class 1) is that class.
    tokens = _as_read_in_training(_label_tokens(values), target.classes)
    unknown = sorted(set(tokens) - set(index))
    if unknown and len(unknown) == len(set(tokens)):
        # Not one label is the run's: the column likely codes the classes in another type
        # (0/1 for a run trained on True/False), which dropping rows would not mend.
        given, known = _label_kind(unknown), _label_kind(target.classes, target.label_type)
        if given != known:
            raise DataError(
                f"{what}: labels {_some(unknown)} in target column '{target.name}' ({given}) "
                f"are not the run's labels {_some(target.classes, 20)} ({known}); recode the "
                "column to the run's labels"
            )
    if unknown:
        # A label that is a class but for spaces, case or Unicode form ('Setosa ' for
        # 'setosa', from a file written elsewhere) is named with that class: the line listed
        # it among unseen classes, its trailing space invisible, and said to add examples.
        keys = {variant_key(label): label for label in target.classes}
        near = [
            (label, keys[variant_key(label)]) for label in unknown if variant_key(label) in keys
        ]
        pairs = ", ".join(f"{label!r} for {known!r}" for label, known in near[:5])
        pairs += f" and {len(near) - 5} more" if len(near) > 5 else ""
        if len(near) == len(unknown):
            raise DataError(
                f"{what}: target column '{target.name}' holds the run's classes spelt "
                f"otherwise (spaces, case or Unicode form): {pairs}; write them as the run's "
                f"labels: {_some(target.classes, 20)}"
            )
        spelt = (
            f"; of these, {pairs} are the run's classes spelt otherwise (spaces, case or "
            "Unicode form)"
            if near
            else ""
        )
        # A trained run's task cannot change: only training's refusal asks about regression.
        hint = spelt + quantity_hint(
            target.name,
            len(set(unknown) | set(target.classes)),
            target.label_type == "int" and not scoring,
        )
        raise DataError(
            f"{what}: target column '{target.name}' has classes not seen in training: "
            f"{_some(unknown)}; the model "
            "predicts only the classes it was trained on: drop those rows, or add examples of "
            f"them to the training rows; known: {_some(target.classes, 20)}{hint}"
        )
    dtype = np.float32 if target.task == "binary" else np.int32
    codes = pd.Index(target.classes).get_indexer(tokens)
    return codes.astype(dtype).reshape(-1, 1)


# More distinct numeric labels than this, in a classifier's refusal, and the line asks whether
# the column is a quantity: a code of a few classes (digits 0-9, grades 1-5) stays below it.
QUANTITY_CLASSES = 20


def quantity_hint(name: str, labels: int, numeric: bool) -> str:
    """ "" or the words a classifier's refusal ends with when its target holds many distinct
    numbers (``labels``; ``numeric``): configs/multiclass.yaml pointed at a numeric target
    (diabetes' progression, a price in whole units) was refused for a class with a single
    example, or for classes only held out, as if the fix were more rows of class 171."""
    if not numeric or labels <= QUANTITY_CLASSES:
        return ""
    return (
        f"; if '{name}' holds a quantity, not class labels ({labels} distinct numbers), set "
        "model.task: regression"
    )


def _label_kind(labels: list[str], label_type: str = "str") -> str:
    """What ``labels`` (tokens) are, in words: booleans, numbers, dates or text (mixed kinds
    are named together). ``label_type``: a run's ``TargetSpec.label_type``, which names its
    kind; "str" (also of runs from before it) is judged by the labels."""
    if label_type == "bool":
        return "booleans"
    if label_type == "int":
        return "numbers"
    words = {"bool": "booleans", "number": "numbers", "datetime": "dates"}
    kinds = []
    for label in labels:
        spelt = _spelt_value(label)
        word = "text" if spelt is None else words[spelt[0]]
        if word not in kinds:
            kinds.append(word)
    return " and ".join(sorted(kinds))


def _some(labels: list[str], shown: int = 5) -> str:
    """The first ``shown`` labels, and how many more there are."""
    more = f" and {len(labels) - shown} more" if len(labels) > shown else ""
    return ", ".join(labels[:shown]) + more


# Rows hashed at a time by ``row_hashes``: each column's hash and the row's running hash are
# then 2 MB arrays, which stay in the processor's cache between NumPy's passes over them.
HASHED_ROWS = 1 << 18


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """pandas' ``hash_pandas_object(frame, index=False)``: one 64-bit hash per row of every
    column's value, computed ``HASHED_ROWS`` rows at a time. A row's hash depends on its own
    values only, so the blocks give the same hashes; whole, each of the dozen passes per
    column went through memory (1.6 s for 5M rows of 22 columns, against 0.6 s).

    Columns of Python objects are hashed whole: pandas hashes the first of the values that
    compare equal for all of them (``1`` for a later ``1.0`` or ``True``), which a block
    would pick otherwise."""
    objects = any(isinstance(dtype, np.dtype) and dtype.kind == "O" for dtype in frame.dtypes)
    if len(frame) <= HASHED_ROWS or objects:
        return pd.util.hash_pandas_object(frame, index=False).to_numpy()
    hashes = np.empty(len(frame), dtype=np.uint64)
    for start in range(0, len(frame), HASHED_ROWS):
        block = frame.iloc[start : start + HASHED_ROWS]
        hashes[start : start + len(block)] = pd.util.hash_pandas_object(block, index=False)
    return hashes


def fingerprint(frame: pd.DataFrame, *, arrays: str | None = None) -> str:
    """A short stable hash of the rows, recorded in run.json to tell datasets apart.

    ``arrays`` names a column of images or signals: arrays hash by their bytes, file paths
    by the file's name and contents. Not by the whole path: config.yaml holds the source made
    absolute, so a run started from a relative folder hashed other paths on ``--resume`` and
    was refused as 'data changed'.
    """
    plain = frame.drop(columns=[arrays]) if arrays is not None else frame
    hashed = row_hashes(plain)
    digest = hashlib.sha256(hashed.tobytes())
    digest.update(",".join(map(str, frame.columns)).encode())
    if arrays is not None:
        for value in frame[arrays]:
            if isinstance(value, np.ndarray):
                digest.update(str(value.shape).encode())
                digest.update(np.ascontiguousarray(value).tobytes())
            else:
                digest.update(os.path.basename(str(value)).encode())
                try:
                    with open(value, "rb") as handle:
                        digest.update(hashlib.sha256(handle.read()).digest())
                except OSError:
                    digest.update(b"<unreadable>")
    return digest.hexdigest()[:16]


def describe(spec: FeatureSpec, rows: dict[str, int]) -> dict[str, Any]:
    """The data summary written as data_summary.json and shown in reports."""
    arrays = [
        {"name": f.column, "kind": kind, "shape": f.shape}
        for kind, f in (("image", spec.image), ("signal", spec.signal))
        if f is not None
    ]
    target = asdict(spec.target)
    if spec.target.task == "regression":
        # label_type is the type predicted class labels come back in; a regression target is
        # numbers and predicted as floats (TargetSpec keeps its "str" default, unused there).
        target["label_type"] = "float"
    return {
        "rows": rows,
        "target": target,
        "task": spec.target.task,
        "features": arrays
        + [
            {"name": f.name, "kind": "numeric", "mean": f.mean, "std": f.std, "missing": f.missing}
            for f in spec.numeric
        ]
        + [
            {
                "name": f.name,
                "kind": "categorical",
                "categories": len(f.vocabulary),
                "missing": f.missing,
                "out_of_vocabulary": f.out_of_vocabulary,
            }
            for f in spec.categorical
        ],
    }
