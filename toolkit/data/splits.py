"""Train/validation/test splits of a table in memory: by fraction with the seed (stratified
for classifiers), by hashing ``data.split_key``, or from separate files. Splits are row
positions (``split_rows``), so a table is never copied once per split."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from toolkit.config.schema import DataConfig
from toolkit.data import hashing
from toolkit.data.preprocessing import _label_tokens, check_table, quantity_hint, row_hashes
from toolkit.errors import DataError
from toolkit.text import counted


@dataclass(frozen=True)
class Splits:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame | None


@dataclass(frozen=True)
class SplitRows:
    """Each split as positions of rows of the table (in the split's order), or as a table of
    its own (read from its file)."""

    train: np.ndarray
    validation: np.ndarray | pd.DataFrame
    test: np.ndarray | pd.DataFrame | None
    # Rows held out of training for conformal calibration (prediction.conformal.calibration).
    calibration: np.ndarray | None = None
    # A line for run.json when data.split_key's splits stray from their fractions.
    warning: str | None = None


def split_calibration(
    parts: SplitRows,
    frame: pd.DataFrame,
    fraction: float,
    *,
    target: str,
    stratify: bool,
    seed: int,
    regression: bool = False,
) -> SplitRows:
    """``parts`` with ``fraction`` of its training rows moved to a calibration split; the
    validation and test splits stay as they are."""
    labels = frame[target].iloc[parts.train].reset_index(drop=True) if stratify else None
    train, calibration = _split_off(
        parts.train,
        fraction,
        stratify=labels,
        seed=seed,
        what="conformal calibration",
        regression=regression,
    )
    return SplitRows(train, parts.validation, parts.test, calibration, parts.warning)


def _split_off(
    positions: np.ndarray,
    fraction: float,
    *,
    stratify: pd.Series | None,
    seed: int,
    what: str,
    regression: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``positions`` split into kept and held-out rows, stratified by ``stratify``'s values
    when given (``regression``: those values are a regression target's)."""
    if stratify is None:
        return _shuffle_split(positions, fraction, seed=seed, what=what)
    from sklearn.model_selection import train_test_split

    counts = stratify.value_counts()
    lonely = counts[counts < 2]
    # Each refusal names the column stratified by (the target's, as the callers pass it):
    # "class '7' of target" left a user with several label-like columns guessing.
    column = f"target column '{stratify.name}'" if stratify.name is not None else "the target"
    if len(lonely) and regression:
        # Honoured on purpose, as it works for a target of a few whole-number values; a
        # continuous one has a value per row, which read as "class '12.55' of target".
        raise DataError(
            f"data.stratify: true stratifies the regression {column} by each distinct value, and "
            f"{len(lonely)} of its {len(counts)} values (such as {lonely.index[0]!r}) have a "
            f"single example, so a stratified {what} split is impossible; set data.stratify: "
            "false (the default for regression), as a continuous target needs"
        )
    if len(lonely):
        numeric = pd.api.types.is_numeric_dtype(stratify) and not pd.api.types.is_bool_dtype(
            stratify
        )
        # The class as its label reads everywhere else (171, not the float column's 171.0).
        label = _label_tokens(pd.Series([lonely.index[0]], dtype=stratify.dtype))[0]
        raise DataError(
            f"{column}: class '{label}' has a single example, so a stratified "
            f"{what} split is impossible; add examples of it or drop its row (with "
            "data.stratify: false the row lands in one split, and a class only held out "
            "cannot be scored)" + quantity_hint(str(stratify.name), len(counts), numeric)
        )
    # scikit-learn's own errors ("With n_samples=384, test_size=0.999 and train_size=None, the
    # resulting train set will be empty. Adjust any of the aforementioned parameters.") named
    # none of the config's keys: its two conditions are checked first, in the config's terms.
    count = len(positions)
    held_out_count = math.ceil(fraction * count)
    kept = count - held_out_count
    classes = int(stratify.nunique())
    if kept <= 0:
        raise DataError(_no_rows_left(what, fraction, count))
    if min(held_out_count, kept) < classes:
        raise DataError(
            f"cannot make the {what} split: {_SETTINGS.get(what, what)} {fraction:g} of "
            f"{counted(count, 'row')} holds out {held_out_count} and keeps {kept}, and a "
            f"stratified split needs a row of each of the {classes} classes of {column} on both "
            f"sides; use a fraction that leaves at least {classes} rows on each side, or "
            "data.stratify: false"
        )
    try:
        rest, held_out = train_test_split(
            positions, test_size=fraction, random_state=seed, stratify=stratify
        )
    except ValueError as error:
        raise DataError(f"cannot make the {what} split stratified by {column}: {error}") from None
    return rest, held_out


# The config key behind each split's fraction, as its errors name it.
_SETTINGS = {
    "test": "data.test",
    "validation": "data.validation",
    "conformal calibration": "prediction.conformal.calibration",
}


def _no_rows_left(what: str, fraction: float, count: int) -> str:
    return (
        f"cannot make the {what} split: {_SETTINGS.get(what, what)} {fraction:g} of "
        f"{counted(count, 'row')} leaves no rows to train on; use a smaller fraction"
    )


def _shuffle_split(
    positions: np.ndarray, fraction: float, *, seed: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``train_test_split(positions, test_size=fraction, random_state=seed)``
    without importing scikit-learn (a second and a half of a run's start-up): the same
    permutation of a ``RandomState(seed)``, its first ``ceil(fraction * n)`` rows held out."""
    count = len(positions)
    held_out_count = math.ceil(fraction * count)
    if count - held_out_count <= 0:
        raise DataError(_no_rows_left(what, fraction, count))
    permutation = np.random.RandomState(seed).permutation(count)
    return positions[permutation[held_out_count:]], positions[permutation[:held_out_count]]


def _hash_rows(
    frame: pd.DataFrame, config: DataConfig
) -> tuple[dict[str, np.ndarray | None], str | None]:
    """Each row's split from the hash of its ``data.split_key`` (``toolkit.data.hashing``),
    and a warning when the splits' row shares stray from the fractions."""
    key = config.split_key
    if key not in frame.columns:
        from toolkit.errors import did_you_mean_column

        hint = did_you_mean_column(key, frame.columns)
        raise DataError(f"data.split_key column '{key}' is not in the data{hint}")
    fractions = {
        "validation": config.validation if isinstance(config.validation, float) else None,
        "test": config.test if isinstance(config.test, float) else None,
    }
    assigned = hashing.assign(hashing.key_hashes(frame[key]), **fractions)
    parts: dict[str, np.ndarray | None] = {}
    for code, name in hashing.SPLIT_NAMES.items():
        if name != "train" and fractions[name] is None:
            parts[name] = None
            continue
        parts[name] = np.flatnonzero(assigned == code)
        if not len(parts[name]):
            raise DataError(
                f"hashing data.split_key '{key}' left the {name} split empty "
                f"({frame[key].nunique()} distinct keys); use more keys or a larger fraction"
            )

    def sizes() -> hashing.KeySizes:
        counted = hashing.KeySizes()
        counted.update(frame[key])
        return counted

    rows = {name: len(part) for name, part in parts.items() if part is not None}
    return parts, hashing.split_share_warning(key, rows, fractions, sizes)


def _held_out_file(location: str, config: DataConfig, what: str, task: str) -> pd.DataFrame:
    """A split given as a file (or folder) of the same kind as ``data.source``."""
    from toolkit.data.sources.files import read_data_file

    table = read_data_file(location, config, label=f"data.{what} file")
    check_table(table, config, label=location, task=task)
    return table


def split_rows(
    frame: pd.DataFrame,
    config: DataConfig,
    *,
    task: str,
    seed: int,
    shipped_test: pd.DataFrame | None = None,
) -> SplitRows:
    """Split ``frame`` as the config says: by fraction with the seed (stratified for
    classifiers), or by hashing ``data.split_key``; held-out files are read as they are.

    ``shipped_test``: the test part a dataset comes with (keras.datasets); it is the test
    split unless ``data.test`` says otherwise.
    """
    warning = None
    if config.split_key is not None:
        hashed, warning = _hash_rows(frame, config)
        parts: dict[str, np.ndarray | pd.DataFrame | None] = dict(hashed)
    else:
        stratify = config.stratify if config.stratify is not None else task != "regression"
        labels = frame[config.target].reset_index(drop=True) if stratify else None
        if labels is not None and task != "regression":
            # Labels the task cannot take fail as such, not as a class too rare to stratify.
            from toolkit.data.preprocessing import class_labels

            class_labels(labels, task, config.positive_class)
        rest = np.arange(len(frame))
        parts = {}
        for what in ("test", "validation"):
            setting = getattr(config, what)
            if isinstance(setting, float):
                rest, parts[what] = _split_off(
                    rest,
                    setting,
                    stratify=None if labels is None else labels.iloc[rest],
                    seed=seed,
                    what=what,
                    regression=task == "regression",
                )
        parts["train"] = rest
    for what in ("validation", "test"):
        setting = getattr(config, what)
        if isinstance(setting, str):
            parts[what] = _held_out_file(setting, config, what, task)
        elif setting is None:
            parts[what] = None
    if shipped_test is not None and config.test is None:
        parts["test"] = shipped_test
    assert parts["validation"] is not None  # the schema requires a validation setting
    return SplitRows(parts["train"], parts["validation"], parts.get("test"), warning=warning)


# A held-out split whose rows repeat training rows in at least this share is named: below,
# a stray duplicate or two (iris has one pair) moves its scores little.
COPIES_SHARE = 0.05


def held_out_copies_warning(
    frame: pd.DataFrame, parts: SplitRows, columns: list[str]
) -> str | None:
    """A line naming each held-out split (drawn from ``frame``'s rows) whose rows repeat a
    training row in every one of ``columns`` (the features and the target) in at least
    ``COPIES_SHARE`` of them. A table whose rows were duplicated (concatenated twice, a
    join that repeated them) puts copies of training rows in validation and test, whose
    scores then measure recall of seen rows: 400 rows stored twice gave a test split that
    was half copies, and nothing said so. Rows of held-out files are not compared."""
    held = {
        name: part
        for name, part in (("validation", parts.validation), ("test", parts.test))
        if isinstance(part, np.ndarray) and len(part)
    }
    if not held or not len(parts.train):
        return None
    # A copy of a training row holds its values in a few of the columns too: when too few
    # held-out rows hold a training row's values there (continuous numbers: almost none),
    # none of the splits is named, and the hash of every column of every row (a second of
    # 5M rows of 22 columns) is not needed. Three columns: 5M float32 numbers of one column
    # alone put 6% of held-out rows beside a training row's value.
    few = columns[:2] + columns[-1:]
    if len(columns) > len(few) and not _copies(_row_hashes(frame, few), parts.train, held):
        return None
    found = _copies(_row_hashes(frame, columns), parts.train, held)
    if not found:
        return None
    return (
        f"{' and '.join(found)} rows repeat a training row in every feature and the target: "
        "their scores measure recall of rows seen in training, not new rows; if the table "
        "holds copies of one record, drop them before training (pandas' drop_duplicates)"
    )


def _row_hashes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One 64-bit hash per row over the values of ``columns`` (NaN alike in every row)."""
    return row_hashes(frame[columns])


def _copies(hashes: np.ndarray, train: np.ndarray, held: dict[str, np.ndarray]) -> list[str]:
    """``held_out_copies_warning``'s words for each held-out split (its rows at positions)
    whose rows' ``hashes`` are a training row's in at least ``COPIES_SHARE`` of them."""
    # pandas' hash-table isin: numpy's sorts both sides, 0.67 s against 0.02 s on 200,000
    # hashes against 800,000.
    trained = pd.Index(hashes[train])
    found = []
    for name, part in held.items():
        copies = int(pd.Index(hashes[part]).isin(trained).sum())
        if copies and copies >= COPIES_SHARE * len(part):
            found.append(f"{copies} of the {name} split's {len(part)} ({copies / len(part):.0%})")
    return found


def split_frame(
    frame: pd.DataFrame,
    config: DataConfig,
    *,
    task: str,
    seed: int,
    shipped_test: pd.DataFrame | None = None,
) -> Splits:
    """``split_rows`` as tables of their own."""
    rows = split_rows(frame, config, task=task, seed=seed, shipped_test=shipped_test)

    def table(part):
        if part is None or isinstance(part, pd.DataFrame):
            return None if part is None else part.reset_index(drop=True)
        return frame.iloc[part].reset_index(drop=True)

    return Splits(table(rows.train), table(rows.validation), table(rows.test))
