"""Train/validation/test splits of a table in memory: by fraction with the seed (stratified
for classifiers), by hashing ``data.split_key``, or from separate files."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from toolkit.config.schema import DataConfig
from toolkit.data import hashing
from toolkit.data.preprocessing import check_table
from toolkit.errors import DataError


@dataclass(frozen=True)
class Splits:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame | None
    # Rows held out of training for conformal calibration (prediction.conformal.calibration).
    calibration: pd.DataFrame | None = None


def split_calibration(
    splits: Splits, fraction: float, *, target: str, stratify: bool, seed: int
) -> Splits:
    """``splits`` with ``fraction`` of its training rows moved to a calibration split; the
    validation and test splits stay as they are."""
    labels = splits.train[target] if stratify else None
    train, calibration = _split_off(
        splits.train, fraction, stratify=labels, seed=seed, what="conformal calibration"
    )
    return Splits(
        train=train.reset_index(drop=True),
        validation=splits.validation,
        test=splits.test,
        calibration=calibration.reset_index(drop=True),
    )


def _split_off(
    frame: pd.DataFrame, fraction: float, *, stratify: pd.Series | None, seed: int, what: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    if stratify is not None:
        counts = stratify.value_counts()
        lonely = counts[counts < 2]
        if len(lonely):
            raise DataError(
                f"class '{lonely.index[0]}' of target has a single example, so a stratified "
                f"{what} split is impossible; add examples or set data.stratify: false"
            )
    try:
        rest, held_out = train_test_split(
            frame, test_size=fraction, random_state=seed, stratify=stratify
        )
    except ValueError as error:
        raise DataError(f"cannot make the {what} split: {error}") from None
    return rest, held_out


def _hash_split(frame: pd.DataFrame, config: DataConfig) -> Splits:
    """Each row's split from the hash of its ``data.split_key`` (see ``toolkit.data.hashing``);
    a split given as a file is read instead."""
    key = config.split_key
    if key not in frame.columns:
        from toolkit.errors import did_you_mean

        raise DataError(
            f"data.split_key column '{key}' is not in the data{did_you_mean(key, frame.columns)}"
        )
    fractions = {
        "validation": config.validation if isinstance(config.validation, float) else None,
        "test": config.test if isinstance(config.test, float) else None,
    }
    assigned = hashing.assign(hashing.key_hashes(frame[key]), **fractions)
    parts = {name: frame[assigned == code] for code, name in hashing.SPLIT_NAMES.items()}
    for name in ("validation", "test"):
        setting = getattr(config, name)
        if isinstance(setting, str):
            parts[name] = _held_out_file(setting, config, name)
        elif setting is None:
            parts[name] = None
    for name, part in parts.items():
        if part is not None and part.empty:
            raise DataError(
                f"hashing data.split_key '{key}' left the {name} split empty "
                f"({frame[key].nunique()} distinct keys); use more keys or a larger fraction"
            )
    return Splits(
        train=parts["train"].reset_index(drop=True),
        validation=parts["validation"].reset_index(drop=True),
        test=None if parts["test"] is None else parts["test"].reset_index(drop=True),
    )


def _held_out_file(location: str, config: DataConfig, what: str) -> pd.DataFrame:
    from toolkit.data.sources.table import read_tables

    table = read_tables(location, label=f"data.{what} file")
    check_table(table, config, label=location)
    return table


def split_frame(frame: pd.DataFrame, config: DataConfig, *, task: str, seed: int) -> Splits:
    """Split ``frame`` as the config says; held-out files are read as they are."""
    if config.split_key is not None:
        return _hash_split(frame, config)
    stratify = config.stratify if config.stratify is not None else task != "regression"
    rest = frame

    def held_out(setting: float | str | None, what: str) -> pd.DataFrame | None:
        nonlocal rest
        if setting is None:
            return None
        if isinstance(setting, str):
            return _held_out_file(setting, config, what)
        labels = rest[config.target] if stratify else None
        rest, part = _split_off(rest, setting, stratify=labels, seed=seed, what=what)
        return part

    test = held_out(config.test, "test")
    validation = held_out(config.validation, "validation")
    assert validation is not None  # the schema requires a validation setting
    return Splits(
        train=rest.reset_index(drop=True),
        validation=validation.reset_index(drop=True),
        test=None if test is None else test.reset_index(drop=True),
    )
