"""Output heads: each maps the body's tensor to the task's output, in the target's units
(regression) or as logits (classifiers).

A head is called as ``build(x, spec, uncertainty=...)``; its output layer is variational when
``uncertainty.output`` says so. ``model.task`` picks the head unless ``model.head`` names one.
"""

from __future__ import annotations

from typing import Protocol

import keras

from toolkit.config.schema import ModelConfig
from toolkit.data.preprocessing import FeatureSpec
from toolkit.models.heads.binary import build_binary_head
from toolkit.models.heads.gaussian import build_gaussian_head, build_homoscedastic_head
from toolkit.models.heads.multiclass import build_multiclass_head
from toolkit.models.heads.regression import build_regression_head
from toolkit.models.uncertainty import Uncertainty
from toolkit.registry import lookup


class HeadBuilder(Protocol):
    def __call__(
        self, x: keras.KerasTensor, spec: FeatureSpec, *, uncertainty: Uncertainty
    ) -> keras.KerasTensor: ...


HEADS: dict[str, HeadBuilder] = {
    "regression": build_regression_head,
    "gaussian": build_gaussian_head,
    "homoscedastic": build_homoscedastic_head,
    "binary": build_binary_head,
    "multiclass": build_multiclass_head,
}


def head_name(model: ModelConfig) -> str:
    """``head: default`` is the task's own head; any other value names a head."""
    return model.task if model.head == "default" else model.head


def get(name: str) -> HeadBuilder:
    """The head builder registered as ``name``."""
    return lookup(HEADS, name, kind="head")
