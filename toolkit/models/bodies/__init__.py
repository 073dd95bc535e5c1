"""Network bodies: each turns the inputs' features into the tensor a head reads.

A body is called as ``build(features, model_config, uncertainty=..., seed=..., join=...)``
(``join``: table features concatenated before its dense blocks) and makes its dense and
dropout layers through ``toolkit.models.uncertainty`` so the uncertainty options apply to
it. Adding one is a module here and an entry in ``BODIES``.
"""

from __future__ import annotations

from typing import Protocol

import keras

from toolkit.config.schema import ModelConfig
from toolkit.models.bodies.backbone import build_backbone_body
from toolkit.models.bodies.conv import build_conv_body
from toolkit.models.bodies.dense import build_dense_body
from toolkit.models.uncertainty import Uncertainty
from toolkit.registry import lookup


class BodyBuilder(Protocol):
    def __call__(
        self,
        features: keras.KerasTensor,
        model: ModelConfig,
        *,
        uncertainty: Uncertainty,
        seed: int,
        join: keras.KerasTensor | None = None,
    ) -> keras.KerasTensor: ...


BODIES: dict[str, BodyBuilder] = {
    "dense": build_dense_body,
    "conv": build_conv_body,
    "backbone": build_backbone_body,
}


def get(name: str) -> BodyBuilder:
    """The body builder registered as ``name``."""
    return lookup(BODIES, name, kind="body")
