"""Keras Tuner's own oracles (random, bayesian, hyperband, grid) with one hook added.

The oracle owns the search; the hook tells the sweep when a trial has ended, in whichever
process holds the oracle (the only one, or the chief of a distributed sweep).
"""

from __future__ import annotations

from collections.abc import Callable

import keras_tuner
from keras_tuner.engine.trial import Trial, TrialStatus

from toolkit.config.schema import TunerConfig

# Keras Tuner stops after 3 failures in a row by raising inside end_trial, which leaves the
# trial "ongoing" and a chief waiting forever. The sweep stops itself instead, a little later.
MAX_CONSECUTIVE_FAILURES = 5


class RecordingOracle(keras_tuner.Oracle):
    """Calls ``listener(trial)`` after every ended trial; after ``MAX_CONSECUTIVE_FAILURES``
    failed trials in a row it answers every request for a trial with STOPPED.

    Mixed in before one of Keras Tuner's oracles (see ``make_oracle``).
    """

    listener: Callable[[Trial], None] | None = None
    stop_reason: str | None = None

    @keras_tuner.synchronized
    def create_trial(self, tuner_id: str) -> Trial:
        if self.stop_reason is not None:
            self.tuner_ids.discard(tuner_id)
            return Trial(self.get_space(), status=TrialStatus.STOPPED)
        return super().create_trial(tuner_id)

    @keras_tuner.synchronized
    def end_trial(self, trial: Trial) -> None:
        super().end_trial(trial)
        ended = self.trials[trial.trial_id]
        failures = 0
        for trial_id in reversed(self.end_order):
            if self.trials[trial_id].status != TrialStatus.FAILED:
                break
            failures += 1
        if failures >= MAX_CONSECUTIVE_FAILURES:
            self.stop_reason = f"{failures} trials in a row failed; stopping the search"
        if self.listener is not None:
            self.listener(ended)


class _Random(RecordingOracle, keras_tuner.oracles.RandomSearchOracle):
    pass


class _Bayesian(RecordingOracle, keras_tuner.oracles.BayesianOptimizationOracle):
    pass


class _Hyperband(RecordingOracle, keras_tuner.oracles.HyperbandOracle):
    pass


class _Grid(RecordingOracle, keras_tuner.oracles.GridSearchOracle):
    pass


def make_oracle(tuner: TunerConfig, *, seed: int, max_epochs: int) -> RecordingOracle:
    """The oracle of ``tuner.algorithm``; hyperband uses ``max_epochs`` and ``factor``."""
    common = {
        "objective": keras_tuner.Objective(tuner.objective, direction=tuner.resolved_direction),
        "seed": seed,
        "max_consecutive_failed_trials": 10**9,
    }
    if tuner.algorithm == "random":
        oracle = _Random(max_trials=tuner.max_trials, **common)
    elif tuner.algorithm == "bayesian":
        oracle = _Bayesian(max_trials=tuner.max_trials, **common)
    elif tuner.algorithm == "hyperband":
        oracle = _Hyperband(
            max_epochs=max_epochs, factor=tuner.factor, hyperband_iterations=1, **common
        )
    else:
        oracle = _Grid(max_trials=tuner.max_trials, **common)
    oracle.verbose = 0  # the sweep prints its own one line per trial
    return oracle
