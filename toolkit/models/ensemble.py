"""Deep ensembles (Lakshminarayanan et al., 2017) as one Keras model.

Each member is a nested ``keras.Model`` made by the builder's own body and head, so any body
and head can be an ensemble member; the members read the same preprocessed features and
their outputs are stacked on axis 1: ``(batch, members, outputs)``. Trained as one model,
each member still learns on its own loss (``EnsembleLoss`` averages them, so the gradient
of a member's weights is that member's gradient); members differ by their initial weights
and dropout seeds.
"""

from __future__ import annotations

from collections.abc import Callable

import keras

# Dropout seeds of member i are the run's seed plus i times this stride, far apart from the
# per-block offsets the body adds.
MEMBER_SEED_STRIDE = 1000


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
