"""Table inputs: the ``numeric`` matrix and one string input per categorical column.

The preprocessing fitted on the training split (imputation, standardisation, vocabularies)
is built into the model, so a saved model takes raw values.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator

import keras

from toolkit.data.preprocessing import NUMERIC_INPUT, FeatureSpec
from toolkit.models.layers.impute_standardize import ImputeStandardize
from toolkit.text import unique_name

# Top-level layer names the builders give (the table's, the bodies', the heads', an
# ensemble's): a categorical column of one of these names gets another name for its input
# layer, as Keras refuses a model with two layers of one name.
_BUILDER_NAMES = re.compile(
    r"numeric|image|signal|impute_standardize|features|joined|flatten|global_pool|output|logits"
    r"|gaussian_head|temperature|members|stochastic|target_scale|kl_factor|rescaling"
    r"|backbone.*|lookup_.*|(block|conv|member)\d+.*"
)


# Keras' warning for a dict input whose key is not its layer's name, as a column whose name
# Keras does not allow as a layer's (``a/b``) has: the model takes its inputs by key, and
# that is the column's name.
RENAMED_INPUT_WARNING = "When providing `inputs` as a dict, all keys in the dict must match"


@contextlib.contextmanager
def renamed_inputs_quietly() -> Iterator[None]:
    """Build a model without Keras' warning about an input renamed for its layer."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=RENAMED_INPUT_WARNING)
        yield


def _layer_name(column: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", column)


def categorical_layer_names(columns: list[str]) -> dict[str, tuple[str, str]]:
    """Each categorical column's input and lookup layer names, unique in the model.

    The input keeps the column's name where Keras allows it (no ``/``) and no builder's layer
    has it; otherwise, and for every lookup, the name is made of letters, digits and ``_``,
    with a number added where two columns would share one (``a b`` and ``a_b``). The model
    still takes its inputs by column name: these are only its layers' names.
    """
    inputs: set[str] = set()
    lookups: set[str] = set()
    names = {}
    for column in columns:
        keeps = "/" not in column and not _BUILDER_NAMES.fullmatch(column)
        input_name = column if keeps else f"input_{_layer_name(column)}"
        names[column] = (
            unique_name(input_name, inputs),
            unique_name(f"lookup_{_layer_name(column)}", lookups),
        )
    return names


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
    layer_names = categorical_layer_names([feature.name for feature in spec.categorical])
    for feature in spec.categorical:
        input_name, lookup_name = layer_names[feature.name]
        tensor = keras.Input(shape=(1,), name=input_name, dtype="string")
        inputs[feature.name] = tensor
        lookup = keras.layers.StringLookup(
            vocabulary=feature.vocabulary,
            num_oov_indices=1,
            output_mode="one_hot",
            name=lookup_name,
        )
        parts.append(lookup(tensor))
    features = parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="features")(parts)
    return inputs, features
