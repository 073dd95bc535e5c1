"""The multiclass head: one logit per class of the training split."""

from __future__ import annotations

import keras

from toolkit.data.preprocessing import FeatureSpec
from toolkit.models.uncertainty import Uncertainty, dense


def build_multiclass_head(
    x: keras.KerasTensor, spec: FeatureSpec, *, uncertainty: Uncertainty
) -> keras.KerasTensor:
    classes = len(spec.target.classes)
    return dense(classes, name="logits", variational=uncertainty.output, dtype="float32")(x)
