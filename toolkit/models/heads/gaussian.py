"""The Gaussian heads: a mean and a scale per row (trained with the Gaussian NLL), both in the
target's units. ``gaussian`` projects the scale from the features (heteroscedastic noise);
``homoscedastic`` learns one scale for every row."""

from __future__ import annotations

import keras

from toolkit.data.preprocessing import FeatureSpec
from toolkit.models.layers.gaussian_head import GaussianHead
from toolkit.models.layers.target_scale import TargetScale
from toolkit.models.uncertainty import Uncertainty


def build_gaussian_head(
    x: keras.KerasTensor, spec: FeatureSpec, *, uncertainty: Uncertainty
) -> keras.KerasTensor:
    z = GaussianHead(
        units=1, variational=uncertainty.output, name="gaussian_head", dtype="float32"
    )(x)
    return TargetScale(spec.target.mean, spec.target.std, gaussian=True, name="target_scale")(z)


def build_homoscedastic_head(
    x: keras.KerasTensor, spec: FeatureSpec, *, uncertainty: Uncertainty
) -> keras.KerasTensor:
    z = GaussianHead(
        units=1,
        variational=uncertainty.output,
        homoscedastic=True,
        name="gaussian_head",
        dtype="float32",
    )(x)
    return TargetScale(spec.target.mean, spec.target.std, gaussian=True, name="target_scale")(z)
