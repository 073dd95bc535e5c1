"""Linear learning-rate warm-up in front of any Keras schedule."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="toolkit")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Rise linearly from 0 to ``schedule(0)`` over ``warmup_steps``, then follow ``schedule``
    shifted by the warm-up, so the decay starts where the warm-up ends."""

    def __init__(self, schedule, warmup_steps: int):
        if isinstance(schedule, dict):
            schedule = keras.optimizers.schedules.deserialize(schedule)
        self.schedule = schedule
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = float(self.warmup_steps)
        after = self.schedule(ops.maximum(step - warmup, 0.0))
        ramp = self.schedule(0) * (step + 1.0) / warmup
        return ops.where(step < warmup, ramp, after)

    def get_config(self) -> dict:
        return {
            "schedule": keras.optimizers.schedules.serialize(self.schedule),
            "warmup_steps": self.warmup_steps,
        }
