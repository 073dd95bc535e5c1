"""Table inputs: the ``numeric`` matrix and one string input per categorical column.

The preprocessing fitted on the training split (imputation, standardisation, vocabularies)
is built into the model, so a saved model takes raw values.
"""

from __future__ import annotations

import re

import keras

from toolkit.data.preprocessing import NUMERIC_INPUT, FeatureSpec
from toolkit.models.layers.impute_standardize import ImputeStandardize


def _layer_name(column: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", column)


def build_table_inputs(
    spec: FeatureSpec,
) -> tuple[dict[str, keras.KerasTensor], keras.KerasTensor]:
    """A ``numeric`` input holding every numeric column (imputed and standardised in the
    model) and one input per categorical column (one-hot, with an out-of-vocabulary bucket for
    values never seen in training)."""
    inputs: dict[str, keras.KerasTensor] = {}
    parts = []
    if spec.numeric:
        tensor = keras.Input(shape=(len(spec.numeric),), name=NUMERIC_INPUT, dtype="float32")
        inputs[NUMERIC_INPUT] = tensor
        parts.append(
            ImputeStandardize(
                mean=[f.mean for f in spec.numeric],
                std=[f.std for f in spec.numeric],
                name="impute_standardize",
            )(tensor)
        )
    for feature in spec.categorical:
        tensor = keras.Input(shape=(1,), name=feature.name, dtype="string")
        inputs[feature.name] = tensor
        lookup = keras.layers.StringLookup(
            vocabulary=feature.vocabulary,
            num_oov_indices=1,
            output_mode="one_hot",
            name=f"lookup_{_layer_name(feature.name)}",
        )
        parts.append(lookup(tensor))
    features = parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="features")(parts)
    return inputs, features
