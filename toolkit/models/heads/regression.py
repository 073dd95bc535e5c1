"""The regression head: one linear output, trained on the standardised target and scaled back
to the target's units by ``TargetScale``."""

from __future__ import annotations

import keras

from toolkit.data.preprocessing import FeatureSpec
from toolkit.models.layers.target_scale import TargetScale
from toolkit.models.uncertainty import Uncertainty, dense


def build_regression_head(
    x: keras.KerasTensor, spec: FeatureSpec, *, uncertainty: Uncertainty
) -> keras.KerasTensor:
    z = dense(1, name="output", variational=uncertainty.output, dtype="float32")(x)
    return TargetScale(spec.target.mean, spec.target.std, name="target_scale")(z)
