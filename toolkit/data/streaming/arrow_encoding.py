"""Encoding pyarrow batches straight into model inputs, without a pandas frame on the way.

The streamed training pipeline encodes every row of every epoch, so this is its inner loop:
numeric columns go from Arrow into the float32 matrix, strings into token arrays, the target
into its encoding. It covers the columns whose Arrow type says what they hold (numbers,
strings, dictionary-encoded strings) and returns None for anything else -- a text value in a
numeric column, a missing target, an unknown class, booleans or floats as categories -- so
the caller falls back to the pandas path, which gives the same arrays and the error messages
that name the row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from toolkit.data.preprocessing import MISSING_TOKEN, NUMERIC_INPUT, FeatureSpec


def _is_number(kind) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind)


def _is_text(kind) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _tokens(column) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.null_count:
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        column = pc.fill_null(column, MISSING_TOKEN)
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    # One Python string per distinct value, shared by the rows that hold it: a string object
    # per row cost more than all the rest of the encoding.
    values = column.dictionary.to_numpy(zero_copy_only=False)
    return values[column.indices.to_numpy(zero_copy_only=False)]


def encode_batch(batch, spec: FeatureSpec) -> tuple[dict[str, np.ndarray], np.ndarray] | None:
    """``(features, target)`` of a RecordBatch as ``feature_arrays``/``encode_target`` give
    them, or None when only the pandas path can encode it (see the module docstring)."""
    schema = batch.schema
    features: dict[str, np.ndarray] = {}
    if spec.numeric:
        matrix = np.empty((batch.num_rows, len(spec.numeric)), dtype=np.float32)
        for index, feature in enumerate(spec.numeric):
            column = batch.column(schema.get_field_index(feature.name))
            if not _is_number(column.type):
                return None
            matrix[:, index] = column.to_numpy(zero_copy_only=False)
        features[NUMERIC_INPUT] = matrix
    for feature in spec.categorical:
        column = batch.column(schema.get_field_index(feature.name))
        if not _is_text(column.type):
            return None
        features[feature.name] = _tokens(column).reshape(-1, 1)
    target_spec = spec.target
    column = batch.column(schema.get_field_index(target_spec.name))
    if column.null_count:
        return None
    if target_spec.task == "regression":
        if not _is_number(column.type):
            return None
        return features, column.to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, 1)
    import pyarrow as pa

    if pa.types.is_integer(column.type):
        column = column.cast(pa.string())  # 1 -> "1", as the pandas path writes labels
    elif not _is_text(column.type):
        return None
    codes = pd.Index(target_spec.classes).get_indexer(_tokens(column))
    if (codes < 0).any():
        return None
    dtype = np.float32 if target_spec.task == "binary" else np.int32
    return features, codes.astype(dtype).reshape(-1, 1)
