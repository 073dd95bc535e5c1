"""Preprocessing statistics in one pass over chunks of the training split.

Means and variances are exact: each chunk's count, mean and sum of squared deviations are
merged into the running ones (Chan, Golub and LeVeque's pairwise update), which is stable
where a running sum of squares is not. Categorical values are counted per chunk; a column
with more distinct values than can be counted in bounded memory keeps its most frequent ones
(noted as approximate). The result is the same ``FeatureSpec`` ``fit_spec`` makes from a
table in memory, to float tolerance.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd

from toolkit.config.schema import DataConfig
from toolkit.data.preprocessing import (
    FLOAT32_MAX,
    MISSING_TOKEN,
    NUMERIC_IDENTIFIER_ROWS,
    NUMERIC_SHARE,
    CategoricalFeature,
    FeatureSpec,
    NumericFeature,
    TargetSpec,
    _as_tokens,
    _label_tokens,
    _numeric_column,
    any_not_float32,
    check_finite,
    check_not_continuous,
    classes_target,
    constant_target,
    is_constant,
    joined_label_type,
    label_type,
    marked_numbers,
    marked_remedy,
    missing_target_words,
    missing_targets,
    no_values,
    numbers_remedy,
    numeric_identifier_line,
    numeric_target,
    row_number,
    thousands_remedy,
    thousands_separated,
    two_valued_target_warning,
    vocabulary,
)
from toolkit.data.streaming.reader import Rows
from toolkit.errors import DataError

# Distinct values counted per categorical column before the rarest are dropped.
COUNTED_TOKENS = 1_000_000


class Moments:
    """Count, mean and sum of squared deviations of each column, merged chunk by chunk."""

    def __init__(self, columns: int) -> None:
        self.count = np.zeros(columns)
        self.mean = np.zeros(columns)
        self.m2 = np.zeros(columns)

    def update(self, values: np.ndarray, present: np.ndarray | None = None) -> np.ndarray | None:
        """Add a chunk: ``values`` is (rows, columns) float64, NaN where missing
        (``present``: ``~np.isnan(values)``, when the caller has it). Returns that mask, or
        None when no value is missing."""
        sums = None
        if present is None:
            # A finite sum has no NaN in it: no value is missing (the common case), told
            # without the mask, its count and its test, three passes over the chunk.
            sums = values.sum(axis=0)
            if not np.isfinite(sums).all():
                present, sums = ~np.isnan(values), None
        if present is None or present.all():
            # No value missing: the same sums without the masking copies.
            count = np.full(values.shape[1], float(len(values)))
            mean = (values.sum(axis=0) if sums is None else sums) / count
            deviations = values - mean
            m2 = np.square(deviations, out=deviations).sum(axis=0)  # ** 2, in place
        else:
            count = present.sum(axis=0).astype(np.float64)
            filled = np.where(present, values, 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(count > 0, filled.sum(axis=0) / count, 0.0)
            m2 = (np.where(present, values - mean, 0.0) ** 2).sum(axis=0)
        total = self.count + count
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = mean - self.mean
            self.mean = np.where(total > 0, self.mean + delta * count / total, 0.0)
            self.m2 = np.where(total > 0, self.m2 + m2 + delta**2 * self.count * count / total, 0.0)
        self.count = total
        return None if present is None or present.all() else present

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation (ddof 0, as the in-memory fit)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(np.where(self.count > 0, self.m2 / self.count, 0.0))


def _mixed(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer of int64 ``values``, as uint64 (wrapping arithmetic): a
    value's 64-bit hash, summed by ``RangeCheck`` into a hash of the multiset."""
    z = values.view(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


# Whole numbers beyond this are not taken as ids (int64 holds them, with room to add).
_WHOLE_LIMIT = 2.0**62
# Numbers of a range hashed at a time when the range is checked.
_RANGE_CHUNK = 1 << 20


class RangeCheck:
    """Whether a numeric column holds each whole number from its minimum to its maximum
    exactly once, told in one pass in fixed memory (as ``numeric_identifier_warnings`` tells
    it in memory with ``np.unique``). Count, minimum and maximum pin down the span; the sum
    and the sum of squares do not pin down a permutation ({4, 7, 8, 9} has the sum and the
    squares of {5, 6, 7, 10}), so the check sums a 64-bit hash of every value (mod 2**64) and
    compares it at the end with that of low..high: a multiset with a repeat matches it with
    probability about 2**-64."""

    def __init__(self) -> None:
        self.possible = True
        self.count = 0
        self.low = math.inf
        self.high = -math.inf
        self.hashed = 0  # a Python int mod 2**64 (NumPy's scalars warn when they wrap)

    def update(self, numbers: np.ndarray | None) -> None:
        """Add a chunk of a column as float64 (None: not numbers, which rules it out)."""
        if not self.possible or numbers is None or not len(numbers):
            self.possible = self.possible and numbers is not None
            return
        low, high = float(numbers.min()), float(numbers.max())  # NaN when one is missing
        if not (low > -_WHOLE_LIMIT and high < _WHOLE_LIMIT):
            self.possible = False
            return
        whole = numbers.astype(np.int64)
        if not np.array_equal(whole, numbers):
            self.possible = False
            return
        self.count += len(numbers)
        self.low, self.high = min(self.low, low), max(self.high, high)
        if self.high - self.low + 1 < self.count:  # more rows than the span: a repeat
            self.possible = False
            return
        self.hashed = (self.hashed + int(_mixed(whole).sum(dtype=np.uint64))) % 2**64

    def is_range(self) -> bool:
        """True when the column held each whole number from ``low`` to ``high`` once."""
        if not self.possible or not self.count or self.high - self.low + 1 != self.count:
            return False
        expected = 0
        for start in range(int(self.low), int(self.high) + 1, _RANGE_CHUNK):
            stop = min(start + _RANGE_CHUNK, int(self.high) + 1)
            hashed = _mixed(np.arange(start, stop, dtype=np.int64)).sum(dtype=np.uint64)
            expected = (expected + int(hashed)) % 2**64
        return expected == self.hashed


# Hashes a DistinctSketch keeps: its estimate is off by about 1/sqrt(k), 1.6%.
SKETCH_HASHES = 4096
# A pruned column whose estimated distinct values come this close to its rows is taken as
# having a different value in every row (three times the sketch's error).
SKETCH_TOLERANCE = 0.05


class DistinctSketch:
    """How many distinct values a column has, estimated in fixed memory: the ``k`` smallest
    of their 64-bit hashes (a "k minimum values" sketch; with n distinct values the k-th
    smallest hash falls near k/n of the hash range). Exact below ``k`` distinct values."""

    def __init__(self, k: int = SKETCH_HASHES) -> None:
        self.k = k
        self.smallest = np.empty(0, dtype=np.uint64)

    def update(self, tokens: np.ndarray) -> None:
        hashes = pd.util.hash_array(tokens.astype(str).astype(object))
        if len(self.smallest) == self.k:
            hashes = hashes[hashes < self.smallest[-1]]  # most rows stop here, cheaply
        self.smallest = np.unique(np.concatenate([self.smallest, hashes]))[: self.k]

    def estimate(self) -> float:
        if len(self.smallest) < self.k:
            return float(len(self.smallest))
        return (self.k - 1) / (float(self.smallest[-1]) / 2.0**64)


class TokenCounts:
    """How often each value of a categorical column occurs, in bounded memory; and, once
    pruned, how many distinct values it has, estimated by a ``DistinctSketch``."""

    def __init__(self, limit: int = COUNTED_TOKENS) -> None:
        self.counts: Counter[str] = Counter()
        self.limit = limit
        self.approximate = False
        self.sketch = DistinctSketch()

    def update(self, tokens: np.ndarray) -> None:
        values, counts = np.unique(tokens.astype(str), return_counts=True)
        self.add(values, counts)

    def add(self, values: np.ndarray, counts: np.ndarray) -> None:
        """Add a chunk's distinct tokens ``values`` (sorted, as ``np.unique`` gives them:
        pruning keeps ties in the order they were first counted) and how often each occurs."""
        self.counts.update(dict(zip(values.tolist(), counts.tolist(), strict=True)))
        # Fed the chunk's distinct values: the sketch must see every value from the start,
        # as nobody knows yet whether the column will outgrow the counts.
        self.sketch.update(values)
        if len(self.counts) > self.limit:
            # Keep the more frequent half: a value rarer than these cannot enter a vocabulary
            # capped well below the limit, except by a long run late in the data.
            self.counts = Counter(dict(self.counts.most_common(self.limit // 2)))
            self.approximate = True

    def distinct(self, *, rows: int, missing: int) -> int:
        """Distinct tokens of the column (the missing token among them when ``missing``):
        counted, or once pruned, estimated; an estimate within ``SKETCH_TOLERANCE`` of the
        ``rows - missing`` present values is that, so an id column is still told from the
        rest (the in-memory path names one with a different value in every row)."""
        if not self.approximate:
            return len(self.counts)
        gap = 1 if missing else 0
        present = rows - missing
        estimate = self.sketch.estimate() - gap
        if estimate >= (1 - SKETCH_TOLERANCE) * present:
            estimate = present
        return round(min(estimate, present)) + gap


class StatisticsAccumulator:
    """The training split's statistics, fed one chunk (a raw frame) at a time."""

    def __init__(
        self,
        config: DataConfig,
        task: str,
        features: list[str],
        categorical: set[str],
        *,
        counted_tokens: int = COUNTED_TOKENS,
    ) -> None:
        """``counted_tokens``: distinct values counted per categorical column before the
        rarest are dropped (a parameter so that tests reach it with small data)."""
        self.config = config
        self.task = task
        self.numeric = [c for c in features if c not in categorical]
        self.categorical = [c for c in features if c in categorical]
        self.moments = Moments(len(self.numeric))
        self.tokens = {c: TokenCounts(counted_tokens) for c in self.categorical}
        self.missing = dict.fromkeys(features, 0)
        self.target_moments = Moments(1)
        self.labels: Counter[str] = Counter()
        self.label_type: str | None = None  # the target's, see TargetSpec
        # A regression target's distinct values while there are at most two (None after):
        # a 0/1 target is named as in memory (two_valued_target_warning).
        self.target_values: set[float] | None = set()
        self.rows = 0
        # Every row of data.source, not only the training rows: the in-memory warning looks
        # at the whole table (numeric_identifier_warnings).
        self.ranges = {c: RangeCheck() for c in self.numeric}
        self.all_rows = 0

    def update(
        self, frame: pd.DataFrame | Rows, *, what: str, keep: np.ndarray | None = None
    ) -> None:
        """Add the training rows ``frame``: a frame indexed by position (for error messages),
        or ``Rows`` as read, whose columns go through pandas only where Arrow cannot tell
        what they hold (the same statistics either way). ``keep``: which of the ``Rows`` are
        training rows (a mask); see ``_kept_numbers``."""
        matrix = None
        if keep is not None:
            matrix = self._kept_numbers(frame, keep)
            others = None if matrix is None else [*self.categorical, self.config.target]
            frame = frame.filter(keep, columns=others)
        if not len(frame):
            return
        rows = frame if isinstance(frame, Rows) else None
        self.rows += len(frame)
        if self.numeric and matrix is None:
            matrix = np.empty((len(frame), len(self.numeric)))
            for index, column in enumerate(self.numeric):
                numbers = None if rows is None else _arrow_numbers(rows.column(column))
                if numbers is None:
                    values = frame[column] if rows is None else rows.series(column)
                    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(
                        values
                    ):
                        values = _numeric_column(values, f"{what}: feature column '{column}'")
                    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
                    if any_not_float32(numbers):
                        check_finite(values, f"{what}: feature column '{column}'")
                elif any_not_float32(numbers):
                    check_finite(rows.series(column), f"{what}: feature column '{column}'")
                matrix[:, index] = numbers
        if self.numeric:
            present = self.moments.update(matrix)
            if present is not None:  # a value is missing
                missing = len(matrix) - present.sum(axis=0)
                for index, column in enumerate(self.numeric):
                    self.missing[column] += int(missing[index])
        for column in self.categorical:
            counted = None if rows is None else _arrow_token_counts(rows.column(column))
            if counted is not None:
                self.missing[column] += counted[2]
                self.tokens[column].add(counted[0], counted[1])
                continue
            values = frame[column] if rows is None else rows.series(column)
            self.missing[column] += int(values.isna().sum())
            self.tokens[column].update(_as_tokens(values))
        name = self.config.target
        if self.task == "regression" and rows is not None:
            numbers = _arrow_numbers(rows.column(name))
            # NaN (a missing target) and numbers the model cannot take are named below.
            if numbers is not None and (np.abs(numbers) <= FLOAT32_MAX).all():
                self.target_moments.update(numbers.reshape(-1, 1))
                self._count_target_values(numbers)
                return
        target = frame[name] if rows is None else rows.series(name)
        missing = missing_targets(target)
        if missing.any():
            row = target.index[missing][0]
            raise DataError(
                f"{what}: target column '{self.config.target}' has missing values (row "
                f"{row_number(row)}{missing_target_words(target, missing)}); drop or fill them"
            )
        if self.task == "regression":
            if not pd.api.types.is_numeric_dtype(target):
                target = numeric_target(target, f"{what}: target column '{target.name}'")
            check_finite(target, f"{what}: target column '{target.name}'")
            numbers = target.to_numpy(dtype=np.float64)
            self.target_moments.update(numbers.reshape(-1, 1))
            self._count_target_values(numbers)
        else:
            check_not_continuous(target, self.task, self.config.target)
            counts = pd.Series(_label_tokens(target)).value_counts().to_dict()
            self.labels.update(counts)
            self.label_type = joined_label_type(
                self.label_type, label_type(pd.Series(pd.unique(target)), list(counts))
            )

    def observe(self, rows: Rows) -> None:
        """Add every row of a chunk of data.source (whatever its split) to the checks of
        ``identifier_warnings``."""
        self.all_rows += len(rows)
        for column, check in self.ranges.items():
            if not check.possible:
                continue
            numbers = _arrow_numbers(rows.column(column))
            if numbers is None:
                # Text in a shard whose column is numbers elsewhere (parsed, as in memory);
                # True/False is not a number to the in-memory check.
                values = rows.series(column)
                if pd.api.types.is_bool_dtype(values):
                    numbers = None
                else:
                    numbers = pd.to_numeric(values, errors="coerce").to_numpy(
                        dtype=np.float64, na_value=np.nan
                    )
            check.update(numbers)

    def identifier_warnings(self) -> list[str]:
        """The in-memory ``numeric_identifier_warnings`` of data.source's rows: one line per
        numeric feature holding each whole number of a range once."""
        if self.all_rows < NUMERIC_IDENTIFIER_ROWS:
            return []
        return [
            numeric_identifier_line(column, check.low, check.high)
            for column, check in self.ranges.items()
            if check.is_range()
        ]

    def _kept_numbers(self, rows: Rows, keep: np.ndarray) -> np.ndarray | None:
        """The numeric features of the rows ``keep`` picks, as ``update`` fills its matrix
        (the same numbers in the same order, so the same sums): gathered, a row at a time,
        from the matrix of every row, where Arrow's filter of every column of the chunk cost
        a fifth of the pass. None when a column is not Arrow's numbers or holds a number the
        model cannot take: ``update`` then filters the rows and words the error."""
        if not self.numeric:
            return None
        columns = []
        for column in self.numeric:
            numbers = _arrow_numbers(rows.column(column))
            if numbers is None or any_not_float32(numbers):
                return None
            columns.append(numbers)
        matrix = np.empty((len(rows), len(columns)))
        for index, numbers in enumerate(columns):
            matrix[:, index] = numbers
        return np.compress(keep, matrix, axis=0)  # matrix[keep], in a third of the time

    def _count_target_values(self, numbers: np.ndarray) -> None:
        """Add a chunk's regression targets to ``target_values``, until a third value: a
        continuous target stops after its first chunk."""
        if self.target_values is None:
            return
        self.target_values.update(np.unique(numbers).tolist())
        if len(self.target_values) > 2:
            self.target_values = None

    def two_valued_target(self) -> str | None:
        """The in-memory path's line for a regression target of two values only in the
        training rows (class labels coded 0 and 1), else None."""
        if self.task != "regression" or self.target_values is None:
            return None
        if len(self.target_values) != 2:
            return None
        values = pd.Series(sorted(self.target_values), name=self.config.target)
        return two_valued_target_warning(values)

    def check_held_out(
        self, frame: pd.DataFrame | Rows, *, what: str, keep: np.ndarray | None = None
    ) -> None:
        """A DataError naming the rows of held-out ``frame`` (validation or test) whose
        numeric feature or regression target is infinite: training never reads them, and an
        ``inf`` there made that split's loss and every metric NaN (metrics.json held nulls).
        ``keep``: which of the ``Rows`` are held-out rows (a mask); they are filtered only
        when a number of the whole chunk is out of range."""
        columns = list(self.numeric)
        if self.task == "regression":
            columns.append(self.config.target)
        if keep is not None:
            whole = (_arrow_numbers(frame.column(column)) for column in columns)
            if all(n is not None and not any_not_float32(n) for n in whole):
                return
            frame = frame.filter(keep)
        rows = frame if isinstance(frame, Rows) else None
        for column in columns:
            if rows is not None:
                numbers = _arrow_numbers(rows.column(column))
                if numbers is not None and not any_not_float32(numbers):
                    continue
            values = frame[column] if rows is None else rows.series(column)
            if column == self.config.target:
                check_finite(
                    pd.to_numeric(values, errors="coerce"), f"{what}: target column '{column}'"
                )
                continue
            if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
                # Text in a numeric column is named when the split is encoded; only the
                # numbers matter here ("inf" in a CSV shard read as text parses to one).
                values = pd.to_numeric(values, errors="coerce")
            check_finite(values, f"{what}: feature column '{column}'")

    def constant_numeric(self) -> dict[str, float]:
        """The numeric features with one value in every training row that has one, and that
        value (as ``preprocessing.constant_numeric`` finds them in memory): a spread of
        rounding error only, as the mean of a column of 0.1 leaves."""
        return {
            column: float(self.moments.mean[index])
            for index, column in enumerate(self.numeric)
            if self.moments.count[index]
            and is_constant(float(self.moments.std[index]), float(self.moments.mean[index]))
        }

    def spec(self) -> FeatureSpec:
        """The fitted spec; a DataError when the training split gave nothing to fit."""
        if not self.rows:
            raise DataError("the training split is empty")
        numeric = []
        for index, column in enumerate(self.numeric):
            if self.moments.count[index] == 0:
                raise no_values(column, " in the training split")
            std = float(self.moments.std[index])
            numeric.append(
                NumericFeature(
                    column,
                    float(self.moments.mean[index]),
                    std if std > 0 else 1.0,
                    self.missing[column],
                )
            )
        categorical = []
        for column in self.categorical:
            if self.config.categorical is None:
                self._check_not_numbers(column)
            counts = self.tokens[column]
            tokens, left_out = vocabulary(dict(counts.counts), self.config.max_tokens)
            if counts.approximate:
                # The pruned counts hold half the limit: the rest of the distinct values are
                # left out too (estimated), which is what names an id column in a warning.
                distinct = counts.distinct(rows=self.rows, missing=self.missing[column])
                left_out = max(left_out, distinct - len(tokens))
            categorical.append(CategoricalFeature(column, tokens, self.missing[column], left_out))
        name = self.config.target
        if self.task == "regression":
            std = float(self.target_moments.std[0])
            if is_constant(std, float(self.target_moments.mean[0])):
                raise constant_target(name, float(self.target_moments.mean[0]))
            target = TargetSpec(name, self.task, mean=float(self.target_moments.mean[0]), std=std)
        else:
            target = classes_target(
                name,
                self.task,
                list(self.labels),
                self.label_type or "str",
                positive=self.config.positive_class,
            )
        return FeatureSpec(numeric, categorical, target)

    def _check_not_numbers(self, column: str) -> None:
        """A text column taken as categorical that holds numbers in at least NUMERIC_SHARE of
        its training rows is numeric with typos in it: a DataError, as the in-memory check
        (they became a category per distinct number)."""
        counts = {k: v for k, v in self.tokens[column].counts.items() if k != MISSING_TOKEN}
        if not counts:
            return
        tokens = pd.Series(list(counts), dtype=object)
        rows = np.array(list(counts.values()))
        is_number = pd.to_numeric(tokens, errors="coerce").notna().to_numpy()
        grouped = thousands_separated(tokens)
        if grouped.any() and rows[is_number | grouped].sum() >= NUMERIC_SHARE * rows.sum():
            shown = ", ".join(repr(value) for value in tokens[grouped][:3])
            raise DataError(
                f"{self.config.source}: column '{column}' holds numbers written with thousands "
                f"separators in its training rows ({shown}, ...); {thousands_remedy(column)}"
            )
        marked = marked_numbers(tokens)
        if marked.any() and rows[is_number | grouped | marked].sum() >= NUMERIC_SHARE * rows.sum():
            shown = ", ".join(repr(value) for value in tokens[marked][:3])
            raise DataError(
                f"{self.config.source}: column '{column}' holds numbers written with a currency "
                f"or percent sign in its training rows ({shown}, ...); {marked_remedy(column)}"
            )
        share = float(rows[is_number].sum() / rows.sum())
        if share < NUMERIC_SHARE or is_number.all():
            return
        text = [(tokens[i], int(rows[i])) for i in np.flatnonzero(~is_number)]
        shown = ", ".join(f"{value!r} ({n} row{'s' if n > 1 else ''})" for value, n in text[:3])
        more = f" and {len(text) - 3} more values" if len(text) > 3 else ""
        raise DataError(
            f"{self.config.source}: column '{column}' holds numbers in "
            f"{math.floor(share * 100)}% of its training rows, but also {shown}{more}; "
            + numbers_remedy(column, [value for value, _ in text])
        )

    @property
    def approximate(self) -> list[str]:
        """Categorical columns whose counts were pruned (too many distinct values)."""
        return [c for c, counts in self.tokens.items() if counts.approximate]


def _arrow_numbers(column) -> np.ndarray | None:
    """An Arrow column of integers or floats as float64, NaN where missing (what pandas'
    ``to_numpy(dtype=np.float64, na_value=np.nan)`` gives of it); None for other types,
    which go through pandas."""
    import pyarrow as pa

    kind = column.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return None
    return column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def _arrow_token_counts(column) -> tuple[np.ndarray, np.ndarray, int] | None:
    """A text column's distinct tokens (sorted, ``MISSING_TOKEN`` for missing values), how
    often each occurs and how many are missing, counted by Arrow; None for other types
    (numbers or booleans as categories), which go through pandas' ``_as_tokens``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
        column = column.cast(kind)
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return None
    missing = column.null_count
    if missing:
        column = pc.fill_null(column, MISSING_TOKEN)
    counts = pc.value_counts(column)
    values = counts.field("values").to_numpy(zero_copy_only=False).astype(str)
    order = np.argsort(values)
    if len(values) > 1 and (values[order][1:] == values[order][:-1]).any():
        return None  # tokens NumPy takes for one ("a" and "a\x00"): counted as before
    return values[order], counts.field("counts").to_numpy()[order], missing
