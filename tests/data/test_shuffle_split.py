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
    with pytest.raises(DataError, match=r"validation 0\.5 leaves no training rows"):
        _shuffle_split(np.arange(1), 0.5, seed=0, what="validation")
