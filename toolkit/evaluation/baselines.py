"""Classical scikit-learn baselines on the same split, so a network must earn its keep.

Their cost is bounded whatever the size of the data: they are fitted on a seeded sample of
the training split (``evaluation.baselines.max_rows``, recorded in ``baselines_info``) and scored
on a sample of the held-out split of the same size; the estimators suit large data (a linear
model and scikit-learn's histogram gradient boosting, orders of magnitude faster than a
full-depth random forest); they are fitted in a thread while the network trains (they
depend on the data only), so their seconds leave a run's critical path; and they share a
time budget (by default: while the network trains, then a quarter of its training time
more, 5 to 60 s). Boosting is fitted with all its rounds (``MAX_ROUNDS``, fewer if its own
seeded early stopping ends it) whenever the sample is small or a first fit of a few rounds
says, in CPU seconds, that they cost a small share of the budget the run is sure to have:
the same figures whatever the machine's load. Only where the budget binds does it get as
many rounds as the time left allows, recorded as ``rounds_cut_by: "time budget"`` beside
``rounds``; an estimator that cannot run in time is recorded as ``{"skipped": "time
budget"}`` instead of holding up the run. A sweep fits them once per data (or fold), while
its first trial trains, and every trial refers to that result.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from threadpoolctl import threadpool_limits

from toolkit.data.preprocessing import IMAGE_INPUT, NUMERIC_INPUT, SIGNAL_INPUT
from toolkit.evaluation import metrics

if TYPE_CHECKING:
    from toolkit.config.schema import ExperimentConfig
    from toolkit.data.prepared import PreparedData

SKIPPED = {"skipped": "time budget"}
# time_budget: auto, in seconds.
MIN_BUDGET = 5.0
MAX_BUDGET = 60.0
# Boosting rounds: at most scikit-learn's default max_iter; a first fit of a few to time one.
MAX_ROUNDS = 100
PROBE_ROUNDS = 10
# All MAX_ROUNDS are fitted, whatever the load, on a sample of at most FULL_FIT_CELLS values
# (rows x columns; 100 rounds on 20,000 rows of 8 columns, 160,000 values, took 0.28 s of
# CPU here, 18 times less than the 5 s the budget is sure to have), or when the probe's CPU
# seconds scaled to them are at most FULL_FIT_SHARE of that sure budget (_Clock.assured).
# CPU seconds of the fitting thread, not wall time: with three CPU-burning processes on two
# cores, a 10-round probe on 2,000 rows took 0.185 s of wall time instead of 0.028 s, and
# 0.025 s of the thread's CPU time against 0.027 s. But not CPU time alone: on a busier
# machine the same 10-round fit of 120 rows took from 0.013 to 0.96 s of the thread's CPU.
FULL_FIT_CELLS = 100_000
FULL_FIT_SHARE = 0.25
CUT_BY = "time budget"
# The modules whose ConvergenceWarning the baselines silence (_quiet_linear_models).
_LINEAR_MODELS = r"sklearn\.linear_model\."


def _matrix(features: dict[str, np.ndarray], spec) -> np.ndarray:
    """Numeric columns imputed and standardised, categoricals one-hot, images and signals
    flattened (scaled as in the network). float32, as the network sees them, and built in
    place: the matrices are fitted while the network trains, beside its memory."""
    parts = []
    if spec.image is not None:
        low, high = spec.image.value_range
        images = features[IMAGE_INPUT].astype(np.float32)
        images -= low
        images /= high - low
        parts.append(images.reshape(len(images), -1))
    if spec.signal is not None:
        signals = features[SIGNAL_INPUT].astype(np.float32)
        signals -= np.asarray(spec.signal.mean, dtype=np.float32)
        signals /= np.asarray(spec.signal.std, dtype=np.float32)
        parts.append(signals.reshape(len(signals), -1))
    if spec.numeric:
        mean = np.array([f.mean for f in spec.numeric], dtype=np.float32)
        std = np.array([f.std for f in spec.numeric], dtype=np.float32)
        numeric = features[NUMERIC_INPUT].astype(np.float32)
        missing = np.isnan(numeric)
        numeric[missing] = np.broadcast_to(mean, numeric.shape)[missing]
        numeric -= mean
        numeric /= std
        parts.append(numeric)
    for feature in spec.categorical:
        column = features[feature.name][:, 0]
        one_hot = np.zeros((len(column), len(feature.vocabulary)), dtype=np.float32)
        for index, token in enumerate(feature.vocabulary):
            one_hot[:, index] = column == token
        parts.append(one_hot)
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


# scikit-learn's histogram boosting takes a categorical column's codes below its max_bins
# (255), missing as NaN: the most frequent categories keep codes of their own, the rest
# share the last one.
MAX_CATEGORY_CODES = 255


class _BoostingMatrix:
    """The rows as histogram gradient boosting reads them: numeric columns as they are
    (missing stays NaN, which the trees route themselves), images and signals flattened,
    and each categorical column as one column of category codes declared categorical, not
    one-hot. One-hot, a column with a category per row (an id, a date) became a thousand
    columns, and 10 rounds of boosting on 1,200 rows took 2 s instead of 0.1 s. The codes
    are fitted on the training sample (``fit``) and applied to the held-out one; the
    categorical columns come last (``categorical``)."""

    def __init__(self, spec) -> None:
        self.spec = spec
        self.codes: dict[str, dict[str, int]] = {}

    def fit(self, features: dict[str, np.ndarray]) -> _BoostingMatrix:
        for feature in self.spec.categorical:
            column = features[feature.name][:, 0]
            tokens, counts = np.unique(
                column[np.isin(column, feature.vocabulary)].astype(str), return_counts=True
            )
            # By frequency, ties by the token: the same codes whatever the rows' order.
            ranked = sorted(zip(tokens, counts, strict=True), key=lambda pair: (-pair[1], pair[0]))
            self.codes[feature.name] = {
                str(token): min(rank, MAX_CATEGORY_CODES - 1)
                for rank, (token, _) in enumerate(ranked)
            }
        return self

    def categorical(self, matrix: np.ndarray) -> np.ndarray | None:
        """scikit-learn's ``categorical_features`` for ``matrix``: its last columns."""
        if not self.spec.categorical:
            return None
        mask = np.zeros(matrix.shape[1], dtype=bool)
        mask[matrix.shape[1] - len(self.spec.categorical) :] = True
        return mask

    def transform(self, features: dict[str, np.ndarray]) -> np.ndarray:
        parts = []
        for present, name in ((self.spec.image, IMAGE_INPUT), (self.spec.signal, SIGNAL_INPUT)):
            if present is not None:
                values = features[name].astype(np.float32)
                parts.append(values.reshape(len(values), -1))
        if self.spec.numeric:
            parts.append(features[NUMERIC_INPUT].astype(np.float32))
        for feature in self.spec.categorical:
            codes = self.codes[feature.name]
            tokens = features[feature.name][:, 0]
            # A category the training sample did not hold: NaN, boosting's missing value.
            coded = [codes.get(str(token), np.nan) for token in tokens]
            parts.append(np.array(coded, dtype=np.float32).reshape(-1, 1))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


class _Clock:
    """The baselines' deadline, and ``assured``: the seconds from the start the budget lasts
    at least, whenever the network stops (the deadline only moves earlier)."""

    def __init__(self, budget: float, assured: float | None = None) -> None:
        self.budget = budget
        self.assured = budget if assured is None else assured
        self.deadline = time.monotonic() + budget

    @property
    def left(self) -> float:
        return self.deadline - time.monotonic()


def _boosting(task: str, seed: int, rounds: int, categorical: np.ndarray | None = None):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    estimator = (
        HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    )
    # Early stopping on an internal validation fraction, as scikit-learn does by default on
    # more than 10,000 rows.
    return estimator(
        max_iter=rounds,
        early_stopping="auto",
        random_state=seed,
        categorical_features=categorical,
    )


def _fit_boosting(
    task: str,
    seed: int,
    x: np.ndarray,
    y: np.ndarray,
    clock: _Clock,
    keep: Callable[[Any], None],
    *,
    categorical: np.ndarray | None = None,
) -> None:
    """Histogram gradient boosting, first fitted with ``PROBE_ROUNDS`` to cost a round; each
    model that fits in time is handed to ``keep``, so a second fit the budget cuts short
    still leaves the first, rather than nothing. (Growing it a few rounds at a time with
    warm_start costs three times as much: every call scores the training rows with all the
    trees so far.)

    The second fit has all ``MAX_ROUNDS`` on at most ``FULL_FIT_CELLS`` values, or when the
    probe's CPU time says they take at most ``FULL_FIT_SHARE`` of ``clock.assured``: decisions
    the machine's load does not sway, so the same data and seed give the same rounds and
    scores (unless the deadline passes before the full fit ends: then the probe stays, and
    says it was cut). They were made from the probe's wall time against the time left,
    which load inflated, and the first probe's timing held the import of scikit-learn's
    ensemble module: 58 to 100 rounds on one 160-row split. Beyond that, the rounds are what
    the time left allows by the probe's wall time (``_cut``)."""
    probe = _boosting(task, seed, PROBE_ROUNDS, categorical)  # imports, untimed
    started, cpu = time.monotonic(), time.thread_time()
    probe.fit(x, y)
    # One thread (threadpool_limits in _fit): OpenMP's work is this thread's CPU time.
    cpu_per_round = (time.thread_time() - cpu) / PROBE_ROUNDS
    wall_per_round = (time.monotonic() - started) / PROBE_ROUNDS
    if clock.left <= 0:
        return
    keep(probe)
    if probe.n_iter_ < PROBE_ROUNDS:
        return  # early stopping ended it
    if x.size <= FULL_FIT_CELLS or cpu_per_round * MAX_ROUNDS <= FULL_FIT_SHARE * clock.assured:
        rounds = MAX_ROUNDS
    else:
        rounds = min(MAX_ROUNDS, int(clock.left / wall_per_round))
    if rounds > PROBE_ROUNDS:
        boosting = _boosting(task, seed, rounds, categorical).fit(x, y)
        if clock.left > 0:
            keep(boosting)


def _cut(model) -> bool:
    """Whether the budget, not early stopping or ``MAX_ROUNDS``, ended ``model``'s rounds."""
    return model.max_iter < MAX_ROUNDS and model.n_iter_ >= model.max_iter


# The ridge penalties the linear regression baseline chooses from, by leave-one-out error
# (RidgeCV's closed form: one fit's cost). Plain least squares on the one-hot, standardised
# columns scored test r2 0.18 on mtcars (32 rows) where the ridge scores 0.68, and meant
# nothing with more columns than rows; on large samples the chosen penalty is negligible.
RIDGE_ALPHAS = np.logspace(-3, 3, 13)


# Rows a leave-one-out ridge reads at a time in float64.
RIDGE_CHUNK_ROWS = 8192


class LeaveOneOutRidge:
    """scikit-learn's ``RidgeCV`` (efficient leave-one-out over ``alphas``, an unpenalised
    intercept), computed for more rows than columns from the columns' Gram matrix in chunks
    of rows: RidgeCV decomposes the whole float64 matrix instead, which on a 100,000-row
    sample of 1,000 columns took 81 s of CPU and 1.7 GB more than least squares (6 s). With
    no more rows than columns RidgeCV's own n x n decomposition is used."""

    def __init__(self, alphas: np.ndarray = RIDGE_ALPHAS) -> None:
        self.alphas = np.asarray(alphas, dtype=np.float64)

    def fit(self, x: np.ndarray, y: np.ndarray) -> LeaveOneOutRidge:
        """Choose the penalty of the smallest mean squared leave-one-out error (the first of
        equals, as RidgeCV does) and fit the ridge with it."""
        n, p = x.shape
        y = np.asarray(y, dtype=np.float64)
        if n <= p:
            from sklearn.linear_model import RidgeCV

            ridge = RidgeCV(alphas=self.alphas).fit(x, y)
            self.alpha_, self.coef_ = float(ridge.alpha_), ridge.coef_
            self.intercept_ = float(ridge.intercept_)
            return self
        mean, y_mean = x.mean(axis=0, dtype=np.float64), float(y.mean())
        centred = y - y_mean
        gram, moments = np.zeros((p, p)), np.zeros(p)
        for rows in self._chunks(n):
            part = x[rows].astype(np.float64) - mean
            gram += part.T @ part
            moments += part.T @ centred[rows]
        eigenvalues, vectors = np.linalg.eigh(gram)
        # Shrinkage per eigen-direction and penalty: (p, len(alphas)).
        inverse = 1.0 / (np.maximum(eigenvalues, 0.0)[:, None] + self.alphas[None, :])
        coefficients = (vectors.T @ moments)[:, None] * inverse
        errors = np.zeros(len(self.alphas))
        for rows in self._chunks(n):
            z = (x[rows].astype(np.float64) - mean) @ vectors
            # The hat matrix's diagonal: the intercept's 1/n plus the penalised directions'.
            leverage = 1.0 / n + (z**2) @ inverse
            residual = centred[rows][:, None] - z @ coefficients
            errors += np.sum((residual / (1.0 - leverage)) ** 2, axis=0)
        best = int(np.argmin(errors))
        self.alpha_ = float(self.alphas[best])
        self.coef_ = vectors @ coefficients[:, best]
        self.intercept_ = y_mean - float(mean @ self.coef_)
        return self

    @staticmethod
    def _chunks(n: int):
        return (slice(i, i + RIDGE_CHUNK_ROWS) for i in range(0, n, RIDGE_CHUNK_ROWS))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The fitted ridge's predictions of ``x``'s rows (in float64 a chunk at a time, not
        a float64 copy of the whole held-out sample)."""
        parts = [x[rows].astype(np.float64) @ self.coef_ for rows in self._chunks(len(x))]
        return np.concatenate(parts) + self.intercept_ if parts else np.zeros(0)


def _linear(task: str):
    """The linear baseline: a ridge regression whose penalty is chosen by leave-one-out
    error, or a logistic regression (scikit-learn's default C = 1 is already an L2 penalty)."""
    from sklearn.linear_model import LogisticRegression

    if task == "regression":
        return LeaveOneOutRidge()
    return LogisticRegression(max_iter=2000)


def _score(
    task: str,
    model,
    x_eval: np.ndarray,
    y_eval: np.ndarray,
    classes,
    target_range: list[float | None] | None = None,
) -> dict[str, Any]:
    if task == "regression":
        predicted = model.predict(x_eval)
        if target_range is not None:
            # Clipped as the network's predictions are (prediction.target_range): the
            # comparison is of like with like, and the range is a fact the user stated.
            predicted = np.clip(predicted, *target_range)
        return metrics.regression_metrics(y_eval, predicted)
    probabilities = np.zeros((len(x_eval), len(classes)))
    probabilities[:, model.classes_] = model.predict_proba(x_eval)
    if task == "binary":
        return metrics.binary_metrics(y_eval.astype(int), probabilities[:, 1])
    return metrics.multiclass_metrics(y_eval.astype(int), probabilities, class_names=classes)


def _quiet_linear_models() -> None:
    """A logistic regression that has not converged in ``max_iter`` is still a baseline:
    scikit-learn's ConvergenceWarning from its linear models is ignored, by a filter added
    once to the process's filters (if not already there) and never removed.

    Not ``warnings.catch_warnings()`` around the fit: the baselines fit in a thread while the
    network trains, and catch_warnings swaps the process-global filter list, so a filter the
    training thread set meanwhile was lost when the fit ended (its restore puts back the list
    of its entry) and the training thread's warnings were filtered by the baselines' filters
    while they fitted. Python 3.11's filters cannot be scoped to a thread.

    The filter names UserWarning, ConvergenceWarning's base, so that adding it does not import
    scikit-learn in the caller's thread (0.7 s; the baselines' thread imports it while the
    network trains). It also silences the linear models' other UserWarnings, which can only
    be about the settings the toolkit chose for its baselines."""
    for action, _, category, module, _ in warnings.filters:
        if (
            action == "ignore"
            and category is UserWarning
            and module is not None
            and module.pattern == _LINEAR_MODELS
        ):
            return
    warnings.filterwarnings("ignore", category=UserWarning, module=_LINEAR_MODELS)


class BaselineFit:
    """The baselines of ``data``, fitted in a background thread while the network trains, so
    their seconds stay off a run's critical path: they depend on the data only. ``result()``
    waits for them.

    The budget with ``time_budget: auto``: until the network's training ends (at most
    ``MAX_BUDGET`` in all), then a quarter of its training time more (at least
    ``MIN_BUDGET``), so they never cost much more than the network they are compared with;
    an estimator still running then is recorded as skipped. A number is the seconds from the
    start of the fit.
    """

    def __init__(self, config: ExperimentConfig, data: PreparedData, *, start: bool = True) -> None:
        self.config = config
        self.data = data
        setting = config.evaluation.baselines.time_budget
        self._auto = setting == "auto"
        self._budget = MAX_BUDGET if self._auto else float(setting)
        # auto: the deadline moves to at least MIN_BUDGET after the start (training_ended).
        self._assured = min(MIN_BUDGET, self._budget) if self._auto else self._budget
        self._started = time.monotonic()
        self._clock = _Clock(self._budget, self._assured)
        self._results: dict[str, Any] = {}
        self._info: dict[str, Any] = {}
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._final: dict[str, Any] | None = None
        self._thread: threading.Thread | None = None
        if start:
            self.start()

    def start(self) -> None:
        """Start the fit in its thread (once; later calls do nothing). ``start=False`` leaves
        it to the caller: a sweep makes its baselines before its first trial and starts them
        when that trial's network starts training, not while the trial builds its model (their
        thread's import of scikit-learn held the interpreter for 0.7 s of it)."""
        if self._thread is not None:
            return
        self._started = time.monotonic()
        self._clock = _Clock(self._budget, self._assured)
        _quiet_linear_models()  # in the caller's thread, before the fit starts
        self._thread = threading.Thread(target=self._guarded, name="baselines", daemon=True)
        self._thread.start()

    def _guarded(self) -> None:
        try:
            self._fit()
        except BaseException as error:  # raised again by result(), in the caller's thread
            self._error = error
        finally:
            self._done.set()

    def result(self, *, training_seconds: float | None = None) -> dict[str, Any]:
        """metrics.json's ``baselines`` and ``baselines_info``; for a background fit, waits
        at most what its budget has left (``training_seconds``: how long the network
        trained, for ``time_budget: auto``). The first answer is kept: every trial of a
        sweep refers to the same fit."""
        if self._final is None:
            self._final = self._wait(training_seconds)
        return {key: dict(value) for key, value in self._final.items()}

    @property
    def finished(self) -> bool:
        """Whether the fit has ended, so that ``result()`` would not wait."""
        return self._done.is_set()

    def training_ended(self, training_seconds: float | None) -> None:
        """The network they are compared with trained ``training_seconds`` and has stopped:
        with ``time_budget: auto``, the baselines have a quarter of that time more."""
        if self._auto and training_seconds is not None:
            after = min(MAX_BUDGET, max(MIN_BUDGET, 0.25 * training_seconds))
            self._clock.deadline = min(self._clock.deadline, time.monotonic() + after)

    def _wait(self, training_seconds: float | None) -> dict[str, Any]:
        self.training_ended(training_seconds)
        self._done.wait(timeout=max(0.0, self._clock.left))
        if self._error is not None:
            raise self._error
        results = {name: dict(SKIPPED) for name in self._names()}
        # Copies taken in one step: after a timeout the thread may still be adding to them.
        finished, fitted_info = dict(self._results), dict(self._info)
        results.update({name: dict(value) for name, value in finished.items()})
        info = fitted_info or {"sample_rows": 0, "evaluated_rows": 0}
        info["seconds"] = round(time.monotonic() - self._started, 2)
        if self._done.is_set():
            info["seconds"] = self._info.get("seconds", info["seconds"])
        info["time_budget"] = round(self._clock.deadline - self._started, 2)
        return {"baselines": results, "baselines_info": info}

    def _names(self) -> tuple[str, str]:
        task = self.config.model.task
        linear = "linear_regression" if task == "regression" else "logistic_regression"
        return linear, "hist_gradient_boosting"

    def _fit(self) -> None:
        config, data, clock = self.config, self.data, self._clock
        settings = config.evaluation.baselines
        spec = data.spec
        task = config.model.task
        train_features, train_target = data.train.sample(settings.max_rows, seed=config.seed)
        _, held_out = data.held_out
        eval_features, eval_target = held_out.sample(settings.max_rows, seed=config.seed)
        y_train, y_eval = train_target[:, 0], eval_target[:, 0]
        if task != "regression":
            y_train = y_train.astype(int)
        self._info = {"sample_rows": len(y_train), "evaluated_rows": len(y_eval)}
        linear_name, boosting_name = self._names()

        def keep(name: str, model, x_eval: np.ndarray) -> None:
            scores = _score(
                task,
                model,
                x_eval,
                y_eval,
                spec.target.classes,
                target_range=config.prediction.target_range,
            )
            if name == boosting_name:
                scores["rounds"] = int(model.n_iter_)
                if _cut(model):  # not reproducible: the machine's speed chose the rounds
                    scores["rounds_cut_by"] = CUT_BY
            elif task == "regression":
                scores["alpha"] = float(model.alpha_)  # the ridge penalty leave-one-out chose
            self._results[name] = scores

        # One thread (OpenMP and BLAS): beside TensorFlow's threads on a busy machine,
        # scikit-learn's spinning OpenMP threads made boosting 100,000 rows take 70 s
        # instead of 3 s. numpy's floating-point warnings (overflow on extreme columns)
        # silenced by errstate, which is per thread (a context variable), unlike
        # warnings.catch_warnings: see _quiet_linear_models.
        with np.errstate(all="ignore"), threadpool_limits(limits=1):
            if clock.left > 0:
                x_eval = _matrix(eval_features, spec)
                model = _linear(task).fit(_matrix(train_features, spec), y_train)
                if clock.left > 0:
                    keep(linear_name, model, x_eval)
            if clock.left > 0:
                coding = _BoostingMatrix(spec).fit(train_features)
                x_train, x_eval = coding.transform(train_features), coding.transform(eval_features)
                _fit_boosting(
                    task,
                    config.seed,
                    x_train,
                    y_train,
                    clock,
                    lambda model: keep(boosting_name, model, x_eval),
                    categorical=coding.categorical(x_train),
                )
        self._info["seconds"] = round(time.monotonic() - self._started, 2)
