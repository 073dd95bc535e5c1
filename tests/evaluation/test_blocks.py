"""Rows re-cut into fixed blocks by their position, whatever chunks they came in."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from toolkit.evaluation.blocks import array_blocks


@pytest.mark.parametrize("sizes", [[5, 0, 17, 3, 40, 1], [10, 10], [64], [0, 0], [7]])
def test_blocks_hold_the_rows_in_order_and_start_where_they_say(sizes):
    total = sum(sizes)
    x = np.arange(total, dtype=float)
    edges = np.cumsum([0, *sizes])
    chunks = [({"x": x[a:b]}, x[a:b] * 2) for a, b in itertools.pairwise(edges)]
    blocks = list(array_blocks(chunks, rows=10))
    if total == 0:
        assert [(first, len(target)) for first, (_, target) in blocks] == [(0, 0)]
        return
    assert [first for first, _ in blocks] == list(range(0, total, 10))
    for first, (features, target) in blocks:
        expected = np.arange(first, min(first + 10, total))
        np.testing.assert_array_equal(features["x"], expected)
        np.testing.assert_array_equal(target, expected * 2)


def test_without_draws_whole_chunks_are_joined_until_a_block_is_full():
    x = np.arange(60, dtype=float)
    chunks = [({"x": x[a:b]}, x[a:b]) for a, b in [(0, 6), (6, 8), (8, 30), (30, 60)]]
    blocks = list(array_blocks(chunks, rows=10, exact=False))
    assert [(first, len(target)) for first, (_, target) in blocks] == [(0, 30), (30, 30)]
    np.testing.assert_array_equal(np.concatenate([t for _, (_, t) in blocks]), x)
