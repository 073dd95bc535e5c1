"""Keras Tuner's own oracles (random, bayesian, hyperband, grid) by name, with one hook added.

The oracle owns the search; the hook tells the sweep when a trial has ended, in whichever
process holds the oracle (the only one, or the chief of a distributed sweep), and stops the
search after ``tuner.max_consecutive_failures`` failed trials in a row.
"""

from __future__ import annotations

from collections.abc import Callable

import keras_tuner
from keras_tuner.engine.trial import Trial, TrialStatus

from toolkit import compat
from toolkit.config.schema import SEED_LIMIT, TunerConfig
from toolkit.text import counted


class RecordingOracle(keras_tuner.Oracle):
    """Calls ``listener(trial)`` after every ended trial; after ``max_consecutive_failures``
    failed trials in a row it answers every request for a trial with STOPPED.

    Keras Tuner's own limit raises inside ``end_trial``, which leaves the trial "ongoing" and a
    chief waiting forever, so it is switched off (``compat.NO_FAILURE_LIMIT``) for this one.
    Mixed in before one of Keras Tuner's oracles (see ``ORACLES``).
    """

    listener: Callable[[Trial], None] | None = None
    max_consecutive_failures: int = 5
    stop_reason: str | None = None

    @keras_tuner.synchronized
    def create_trial(self, tuner_id: str) -> Trial:
        # A reloaded oracle (a resumed sweep) has its trials but not stop_reason: the
        # failures in a row it ended with stop it before another trial, as they did before.
        self._check_failures()
        if self.stop_reason is not None:
            compat.release_tuner(self, tuner_id)
            return Trial(self.get_space(), status=TrialStatus.STOPPED)
        return super().create_trial(tuner_id)

    @keras_tuner.synchronized
    def end_trial(self, trial: Trial) -> None:
        super().end_trial(trial)
        ended = self.trials[trial.trial_id]
        self._check_failures()
        if self.listener is not None:
            self.listener(ended)

    def _check_failures(self) -> None:
        """Set stop_reason once the trials that ended last failed max_consecutive_failures
        times in a row."""
        failures = compat.consecutive_failures(self)
        if failures >= self.max_consecutive_failures and self.stop_reason is None:
            self.stop_reason = (
                f"{counted(failures, 'trial')} in a row failed (tuner.max_consecutive_failures is "
                f"{self.max_consecutive_failures}); stopping the search"
            )


class RandomOracle(RecordingOracle, keras_tuner.oracles.RandomSearchOracle):
    pass


class BayesianOracle(RecordingOracle, keras_tuner.oracles.BayesianOptimizationOracle):
    """Keras Tuner's Gaussian process leaves failed trials out of its fit, so a point where
    training fails (a NaN loss) stays as promising as before and is proposed again: a sweep
    repeated the same failing hyperparameters until tuner.max_consecutive_failures stopped
    it. Here a failed trial counts as the worst completed trial's score (``compat``)."""

    def _vectorize_trials(self):
        return compat.with_failed_trials_scored_worst(self, *super()._vectorize_trials())

    def populate_space(self, trial_id: str) -> dict:
        """Keras Tuner's proposal, on one BLAS thread: fitting the Gaussian process and
        maximising its acquisition (about fifty L-BFGS runs on a few points) are tiny matrix
        products, for which OpenBLAS's spinning threads cost 4-5 times the CPU of one thread
        (2 s instead of 0.4 s a proposal, once the random initial points are done)."""
        from threadpoolctl import threadpool_limits  # a scikit-learn dependency, as this oracle

        with threadpool_limits(limits=1, user_api="blas"):
            return super().populate_space(trial_id)


class HyperbandOracle(RecordingOracle, keras_tuner.oracles.HyperbandOracle):
    pass


class GridOracle(RecordingOracle, keras_tuner.oracles.GridSearchOracle):
    def set_state(self, state: dict) -> None:
        super().set_state(state)
        compat.rebuild_grid_order(self)  # a reloaded grid would stop at once otherwise


# ``tuner.algorithm`` -> oracle class; the schema's Literal lists the same names.
ORACLES: dict[str, type[RecordingOracle]] = {
    "random": RandomOracle,
    "bayesian": BayesianOracle,
    "hyperband": HyperbandOracle,
    "grid": GridOracle,
}


def get(name: str) -> type[RecordingOracle]:
    """The oracle class of an algorithm name (``tuner.algorithm``)."""
    try:
        return ORACLES[name]
    except KeyError:
        raise ValueError(
            f"unknown tuner algorithm '{name}'; allowed: {', '.join(ORACLES)}"
        ) from None


def make_oracle(tuner: TunerConfig, *, seed: int, max_epochs: int) -> RecordingOracle:
    """The oracle of ``tuner.algorithm``; hyperband uses ``max_epochs`` and ``factor``."""
    oracle_class = get(tuner.algorithm)
    common = {
        "objective": keras_tuner.Objective(tuner.objective, direction=tuner.resolved_direction),
        # Keras Tuner takes a falsy seed as none (``seed or random.randint(1, 10000)``), so
        # seed 0 drew different trials on every run (keras-team/keras-tuner#421). 2**32 - 1
        # stands for it: the largest seed NumPy takes, which the schema keeps for this.
        "seed": seed if seed != 0 else SEED_LIMIT,
        "max_consecutive_failed_trials": compat.NO_FAILURE_LIMIT,
    }
    if oracle_class is BayesianOracle:
        compat.bayesian_dependencies()
    if oracle_class is HyperbandOracle:
        oracle = oracle_class(
            max_epochs=max_epochs, factor=tuner.factor, hyperband_iterations=1, **common
        )
    else:
        oracle = oracle_class(max_trials=tuner.max_trials, **common)
    oracle.max_consecutive_failures = tuner.max_consecutive_failures
    oracle.verbose = 0  # the sweep prints its own one line per trial
    return oracle
