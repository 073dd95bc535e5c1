"""Train/validation/test splits: by fraction with the seed (stratified for classifiers) or by file."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from toolkit.config.schema import DataConfig
from toolkit.data.preprocessing import check_table
from toolkit.data.sources import read_table
from toolkit.errors import DataError


@dataclass(frozen=True)
class Splits:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame | None


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


def split_frame(frame: pd.DataFrame, config: DataConfig, *, task: str, seed: int) -> Splits:
    """Split ``frame`` as the config says; held-out files are read as they are."""
    stratify = config.stratify if config.stratify is not None else task != "regression"
    rest = frame

    def held_out(setting: float | str | None, what: str) -> pd.DataFrame | None:
        nonlocal rest
        if setting is None:
            return None
        if isinstance(setting, str):
            table = read_table(setting, label=f"data.{what} file")
            check_table(table, config, label=setting)
            return table
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
