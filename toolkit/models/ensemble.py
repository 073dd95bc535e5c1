"""Deep ensembles (Lakshminarayanan et al., 2017) as one Keras model.

Each member is a nested ``keras.Model`` made by the builder's own body and head, so any body
and head can be an ensemble member; the members read the same preprocessed features and
their outputs are stacked on axis 1: ``(batch, members, outputs)``. Trained as one model,
each member still learns on its own objective: ``EnsembleLoss`` averages the members' losses
and ``divide_penalties`` divides their weight penalties and KL terms by the number of
members, so the training loss is the mean of the members' whole objectives and a member's
gradient is the one it would get trained alone (divided by the number of members, which
Adam's per-weight scaling cancels). Members differ by their initial weights and dropout
seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import keras
import pydantic

# Dropout seeds of member i are the run's seed plus i times this stride, far apart from the
# per-block offsets the body adds.
MEMBER_SEED_STRIDE = 1000

# The fields that set a weight penalty, at any depth of ``model:`` (the model's own, a dense
# block's, the conv section's and a conv block's).
PENALTY_FIELDS = ("l1", "l2")

Section = TypeVar("Section", bound=pydantic.BaseModel)


def divide_penalties(section: Section, members: int) -> Section:
    """``section`` (``model:`` or a part of it) with every ``l1`` and ``l2`` divided by
    ``members``.

    Keras adds every layer's penalty to the training loss in full, while ``EnsembleLoss``
    averages the members' losses: undivided, each member's weight decay would pull
    ``members`` times harder against its data than the config says (an ensemble of 5 with
    ``l2: 1e-4`` trained its members as if alone at 5e-4).
    """
    update = {}
    for name in type(section).model_fields:
        value = getattr(section, name)
        if name in PENALTY_FIELDS and value:
            update[name] = value / members
        elif isinstance(value, pydantic.BaseModel):
            update[name] = divide_penalties(value, members)
        elif isinstance(value, list) and any(
            isinstance(item, pydantic.BaseModel) for item in value
        ):
            update[name] = [
                divide_penalties(item, members) if isinstance(item, pydantic.BaseModel) else item
                for item in value
            ]
    return section.model_copy(update=update)


def build_members(
    features: keras.KerasTensor,
    network: Callable[[keras.KerasTensor, int, keras.KerasTensor | None], keras.KerasTensor],
    *,
    members: int,
    seed: int,
    join: keras.KerasTensor | None = None,
) -> keras.KerasTensor:
    """``members`` copies of ``network(features, seed, join)``, stacked on axis 1.

    ``join``: table features that join an image or signal body's features before its dense
    blocks; each member takes them as a second input of its own.
    """
    stacked = []
    for index in range(members):
        member_input = keras.Input(
            shape=features.shape[1:], dtype=features.dtype, name=f"member{index}_features"
        )
        member_join = (
            None
            if join is None
            else keras.Input(shape=join.shape[1:], dtype=join.dtype, name=f"member{index}_table")
        )
        member = keras.Model(
            member_input if member_join is None else [member_input, member_join],
            network(member_input, seed + MEMBER_SEED_STRIDE * index, member_join),
            name=f"member{index}",
        )
        output = member(features if join is None else [features, join])
        stacked.append(
            keras.layers.Reshape((1, *output.shape[1:]), name=f"member{index}_row")(output)
        )
    return keras.layers.Concatenate(axis=1, name="members")(stacked)
