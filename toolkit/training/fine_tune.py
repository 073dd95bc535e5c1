"""Two-phase transfer learning, the Keras guide's recipe from ``training.fine_tune``.

Phase 1 trains the new top on the frozen backbone for ``training.epochs``. Phase 2 unfreezes
the backbone (all of it or its last N layers), recompiles with its own learning rate and
trains ``fine_tune.epochs`` more. Batch normalisation in the backbone stays in inference mode
(the body calls it with ``training=False``). Both phases write to the same run directory:
history.csv and TensorBoard continue from phase 1's last epoch, and resume points record the
phase, so ``--resume`` works on either side of the boundary.
"""

from __future__ import annotations

import keras

from toolkit.config.schema import ExperimentConfig
from toolkit.data.preprocessing import FeatureSpec
from toolkit.models.bodies.backbone import unfreeze
from toolkit.training.compile import compile_model

PHASE_ONE_WEIGHTS = "phase1.weights.h5"


def phase_two_config(config: ExperimentConfig) -> ExperimentConfig:
    """The config phase 2 compiles with: the fine-tuning learning rate, no schedule."""
    training = config.training
    optimizer = training.optimizer.model_copy(
        update={"learning_rate": training.fine_tune.learning_rate}
    )
    return config.model_copy(
        update={
            "training": training.model_copy(
                update={
                    "optimizer": optimizer,
                    "lr_schedule": None,
                    "epochs": training.fine_tune.epochs,
                }
            )
        }
    )


def enter_phase_two(
    model: keras.Model,
    config: ExperimentConfig,
    spec: FeatureSpec,
    strategy,
    *,
    steps_per_epoch: int,
) -> list[str]:
    """Unfreeze the backbone as ``fine_tune.unfreeze`` says and recompile with a fresh
    optimizer at the fine-tuning rate; returns the backbone layers now trainable."""
    with strategy.scope():
        trainable = unfreeze(model, config.training.fine_tune.unfreeze)
        compile_model(model, phase_two_config(config), spec, steps_per_epoch=steps_per_epoch)
    return trainable
