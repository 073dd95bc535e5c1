"""Splits by fraction without scikit-learn on the path of a run: the same rows as
scikit-learn's ``train_test_split`` (which the toolkit used, and which is the reference)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from toolkit.data.splits import _shuffle_split
from toolkit.errors import DataError


@pytest.mark.parametrize("rows", [2, 3, 10, 999, 54_000])
@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.25, 1 / 3, 0.5])
@pytest.mark.parametrize("seed", [0, 7])
def test_the_split_equals_scikit_learns_train_test_split(rows, fraction, seed):
    positions = np.arange(rows) * 3 + 1  # not 0..n-1: positions are returned, not indices
    rest, held_out = _shuffle_split(positions, fraction, seed=seed, what="validation")
    expected_rest, expected_held_out = train_test_split(
        positions, test_size=fraction, random_state=seed
    )
    np.testing.assert_array_equal(rest, expected_rest)
    np.testing.assert_array_equal(held_out, expected_held_out)


def test_a_split_that_leaves_no_training_rows_is_a_data_error():
    with pytest.raises(DataError, match=r"data.validation 0\.5 of 1 row leaves no rows to train"):
        _shuffle_split(np.arange(1), 0.5, seed=0, what="validation")


def test_stratified_splits_that_cannot_be_made_name_the_setting_not_scikit_learns_terms():
    """scikit-learn's 'With n_samples=384, test_size=0.999 and train_size=None, the resulting
    train set will be empty' and 'The test_size = 2 should be greater or equal to the number
    of classes = 3' named none of the config's keys. Each condition is now said in them."""
    import pandas as pd

    from toolkit.data.splits import _split_off

    labels = pd.Series(np.repeat(["a", "b", "c"], [130, 130, 124]), name="label")
    positions = np.arange(len(labels))
    with pytest.raises(DataError) as raised:
        _split_off(positions, 0.999, stratify=labels, seed=0, what="conformal calibration")
    assert str(raised.value) == (
        "cannot make the conformal calibration split: prediction.conformal.calibration 0.999 "
        "of 384 rows leaves no rows to train on; use a smaller fraction"
    )
    with pytest.raises(DataError) as raised:
        _split_off(positions, 0.005, stratify=labels, seed=0, what="validation")
    # ceil(0.005 * 384) = 2 held out, fewer than the 3 classes
    assert str(raised.value) == (
        "cannot make the validation split: data.validation 0.005 of 384 rows holds out 2 and "
        "keeps 382, and a stratified split needs a row of each of the 3 classes of target "
        "column 'label' on both sides; use a fraction that leaves at least 3 rows on each "
        "side, or data.stratify: false"
    )
    # Where scikit-learn splits, the toolkit does too, into the same rows.
    rest, held_out = _split_off(positions, 0.01, stratify=labels, seed=0, what="test")
    expected = train_test_split(positions, test_size=0.01, random_state=0, stratify=labels)
    np.testing.assert_array_equal(rest, expected[0])
    np.testing.assert_array_equal(held_out, expected[1])


def test_a_stratified_calibration_split_of_a_continuous_regression_target_says_so():
    # prediction.conformal.calibration with data.stratify: true said "class '0.12...' of
    # target has a single example"; an integer-valued target still splits by its values.
    import pandas as pd

    from toolkit.data.splits import SplitRows, split_calibration

    rng = np.random.default_rng(0)
    positions = np.arange(200)
    continuous = pd.DataFrame({"y": rng.normal(size=200)})
    with pytest.raises(
        DataError, match=r"^data.stratify: true stratifies the regression target column 'y' by"
    ):
        split_calibration(
            SplitRows(positions, positions[:0], None),
            continuous,
            0.2,
            target="y",
            stratify=True,
            seed=0,
            regression=True,
        )
    counts = pd.DataFrame({"y": rng.integers(0, 5, size=200).astype(float)})
    parts = split_calibration(
        SplitRows(positions, positions[:0], None),
        counts,
        0.2,
        target="y",
        stratify=True,
        seed=0,
        regression=True,
    )
    expected = train_test_split(positions, test_size=0.2, random_state=0, stratify=counts["y"])
    np.testing.assert_array_equal(parts.train, expected[0])
    np.testing.assert_array_equal(parts.calibration, expected[1])
