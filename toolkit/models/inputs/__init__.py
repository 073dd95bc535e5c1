"""Model inputs by kind of data: each builds the ``keras.Input``s and the in-model
preprocessing for its kind, and returns ``(inputs by name, the features tensor)``.

Adding a kind (text, time-series windows) is one module here and one entry in ``INPUTS``.
"""

from __future__ import annotations

from collections.abc import Callable

import keras

from toolkit.data.preprocessing import FeatureSpec
from toolkit.models.inputs.image import build_image_inputs
from toolkit.models.inputs.signal import build_signal_inputs
from toolkit.models.inputs.table import build_table_inputs, renamed_inputs_quietly
from toolkit.registry import lookup

InputBuilder = Callable[[FeatureSpec], tuple[dict[str, keras.KerasTensor], keras.KerasTensor]]

__all__ = ["INPUTS", "get", "renamed_inputs_quietly"]

INPUTS: dict[str, InputBuilder] = {
    "table": build_table_inputs,
    "image": build_image_inputs,
    "signal": build_signal_inputs,
}


def get(name: str) -> InputBuilder:
    """The input builder registered as ``name``."""
    return lookup(INPUTS, name, kind="input kind")
