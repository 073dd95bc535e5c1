"""The binary head: one logit (losses and metrics are built ``from_logits``)."""

from __future__ import annotations

import keras

from toolkit.data.preprocessing import FeatureSpec
from toolkit.models.uncertainty import Uncertainty, dense


def build_binary_head(
    x: keras.KerasTensor, spec: FeatureSpec, *, uncertainty: Uncertainty
) -> keras.KerasTensor:
    return dense(1, name="logits", variational=uncertainty.output, dtype="float32")(x)
