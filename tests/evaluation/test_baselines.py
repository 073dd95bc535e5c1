"""Baselines fitted in a thread while the network trains equal scikit-learn's estimators fitted
directly, here, on the same rows; a budget that runs out records ``skipped``."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import log_loss, mean_squared_error
from sklearn.preprocessing import StandardScaler

from tests.helpers import tiny_config
from toolkit.config.loading import validate_config
from toolkit.data.prepared import prepare_data
from toolkit.data.preprocessing import NUMERIC_INPUT
from toolkit.evaluation.baselines import BaselineFit


def _prepared(task: str, **baselines):
    raw = tiny_config(task, evaluation={"plots": False, "baselines": {**baselines} or True})
    raw["data"]["synthetic"] = {"samples": 400, "features": 4}
    config = validate_config(raw)
    return config, prepare_data(config)


def _raw(split) -> tuple[np.ndarray, np.ndarray]:
    """The split's rows as float64 features and target, untransformed (boosting is invariant
    to the standardisation the toolkit applies; the ridge is given it by ``_ridge``)."""
    features, target = split.sample(None)
    return features[NUMERIC_INPUT].astype(np.float64), target[:, 0]


def _ridge(x_train: np.ndarray, y_train: np.ndarray):
    """The linear regression baseline computed here: columns standardised with the training
    rows' mean and population std, as the toolkit does, then a ridge whose penalty from
    1e-3 to 1e3 is chosen by leave-one-out error. Returns the scaler and the fitted ridge."""
    scaler = StandardScaler().fit(x_train)
    ridge = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(scaler.transform(x_train), y_train)
    return scaler, ridge


@pytest.mark.parametrize("task", ["regression", "binary"])
def test_baselines_fitted_in_the_background_equal_scikit_learn_fitted_directly(task):
    config, data = _prepared(task)
    fitted = BaselineFit(config, data)  # a thread, as while a network trains
    result = fitted.result(training_seconds=1.0)
    x_train, y_train = _raw(data.train)
    x_eval, y_eval = _raw(data.held_out[1])
    baselines = result["baselines"]
    rounds = baselines["hist_gradient_boosting"]["rounds"]
    assert result["baselines_info"]["sample_rows"] == len(x_train)
    assert result["baselines_info"]["evaluated_rows"] == len(x_eval)
    if task == "regression":
        scaler, ridge = _ridge(x_train, y_train)
        assert baselines["linear_regression"]["alpha"] == pytest.approx(ridge.alpha_)
        rmse = np.sqrt(mean_squared_error(y_eval, ridge.predict(scaler.transform(x_eval))))
        assert baselines["linear_regression"]["rmse"] == pytest.approx(rmse, rel=1e-3)
        boosting = HistGradientBoostingRegressor(max_iter=rounds, random_state=config.seed)
        boosting.fit(x_train, y_train)
        rmse = np.sqrt(mean_squared_error(y_eval, boosting.predict(x_eval)))
        assert baselines["hist_gradient_boosting"]["rmse"] == pytest.approx(rmse, rel=1e-3)
    else:
        y_train, y_eval = y_train.astype(int), y_eval.astype(int)
        linear = LogisticRegression(max_iter=2000).fit(x_train, y_train)
        boosting = HistGradientBoostingClassifier(max_iter=rounds, random_state=config.seed)
        boosting.fit(x_train, y_train)
        # The logistic model is fitted on standardised columns, where its L2 penalty weighs
        # differently: the same classifier up to that, so its accuracy is compared loosely.
        accuracy = float(np.mean(linear.predict(x_eval) == y_eval))
        assert baselines["logistic_regression"]["accuracy"] == pytest.approx(accuracy, abs=0.05)
        loss = log_loss(y_eval, boosting.predict_proba(x_eval)[:, 1], labels=[0, 1])
        assert baselines["hist_gradient_boosting"]["log_loss"] == pytest.approx(loss, rel=1e-3)
    # Asked again (a sweep's later trials): the same answer, not a second fit.
    assert fitted.result(training_seconds=50.0) == result


def test_a_background_fit_out_of_budget_records_skipped():
    config, data = _prepared("regression", time_budget=1e-6)
    result = BaselineFit(config, data).result(training_seconds=1.0)
    assert result["baselines"] == {
        "linear_regression": {"skipped": "time budget"},
        "hist_gradient_boosting": {"skipped": "time budget"},
    }


def test_baselines_a_sweep_trial_did_not_wait_for_reach_its_metrics_json(tmp_path):
    """A sweep's first trial writes metrics.json while the baselines still fit; joined later,
    they are added to it, beside what it held."""
    import json

    from toolkit.training.train import _LateBaselines

    config, data = _prepared("regression")
    fitted = BaselineFit(config, data)
    fitted.training_ended(1.0)
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"validation": {"rmse": 1.5}, "evaluated_on": "validation"}))
    _LateBaselines(path, fitted).join()
    metrics = json.loads(path.read_text())
    assert fitted.finished
    assert metrics["validation"] == {"rmse": 1.5} and metrics["evaluated_on"] == "validation"
    assert {"baselines": metrics["baselines"], "baselines_info": metrics["baselines_info"]} == (
        fitted.result()
    )
    assert "rmse" in metrics["baselines"]["linear_regression"]


def _baselines_and_ridge(raw: dict):
    """The baselines the toolkit fits for config ``raw``, and the independent ridge of
    ``_ridge`` fitted on the same training rows: (result, ridge, its predictions of the
    validation rows, their targets)."""
    config = validate_config(raw)
    data = prepare_data(config)
    result = BaselineFit(config, data).result(training_seconds=1.0)
    x_train, y_train = _raw(data.train)
    x_eval, y_eval = _raw(data.held_out[1])
    scaler, ridge = _ridge(x_train, y_train)
    return result, ridge, ridge.predict(scaler.transform(x_eval)), y_eval


def test_baselines_are_clipped_to_the_stated_target_range_as_the_network_is(tmp_path):
    """Counts whose linear fit goes below 0: with prediction.target_range [0, null] the
    network's predictions are clipped, and the baselines compared with it must be too."""
    import pandas as pd

    rng = np.random.default_rng(4)
    x = rng.uniform(-2, 2, size=(400, 2))
    counts = rng.poisson(np.exp(0.2 + 0.9 * x[:, 0]))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": counts}).to_csv(tmp_path / "c.csv", index=False)
    raw = tiny_config(
        "regression",
        data={"source": str(tmp_path / "c.csv"), "target": "y", "validation": 0.25},
        evaluation={"plots": False, "baselines": True},
        prediction={"target_range": [0, None]},
    )
    result, _, predicted, y_eval = _baselines_and_ridge(raw)
    assert (predicted < 0).any()  # the case in question
    rmse = np.sqrt(mean_squared_error(y_eval, np.maximum(predicted, 0.0)))
    assert result["baselines"]["linear_regression"]["rmse"] == pytest.approx(rmse, rel=1e-6)


def test_the_linear_baseline_on_more_columns_than_rows_is_the_leave_one_out_ridge(tmp_path):
    """Least squares on more columns than rows interpolates the training rows, and on
    fewer rows than that overfits them (mtcars: test r2 0.18 against the ridge's 0.68): the
    baseline reports the ridge whose penalty leave-one-out error chooses, computed here with
    scikit-learn on 120 training rows of 200 columns."""
    import pandas as pd
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(5)
    x = rng.normal(size=(160, 200))
    y = x[:, :5].sum(axis=1) + 0.5 * rng.normal(size=160)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(200)]).assign(y=y)
    frame.to_csv(tmp_path / "wide.csv", index=False)
    raw = tiny_config(
        "regression",
        data={"source": str(tmp_path / "wide.csv"), "target": "y", "validation": 0.25},
        evaluation={"plots": False, "baselines": True},
    )
    result, ridge, predicted, y_eval = _baselines_and_ridge(raw)
    r2 = r2_score(y_eval, predicted)
    linear = result["baselines"]["linear_regression"]
    assert linear["r2"] == pytest.approx(r2, abs=1e-4)
    assert linear["alpha"] == pytest.approx(ridge.alpha_)
    assert r2 > 0.3  # the five informative columns are found


@pytest.mark.parametrize("rows", [20_000, 300])
def test_the_chunked_leave_one_out_ridge_is_scikit_learns_ridge_cv(rows):
    """The baseline's ridge reads a tall sample in chunks through its Gram matrix (RidgeCV
    decomposed the whole float64 matrix: 81 s of CPU on 100,000 x 1,000); it must choose the
    penalty RidgeCV chooses and predict as it does, here over three chunks of rows with
    one-hot columns that sum to 1 (collinear with the intercept), and on few rows where the
    penalty matters."""
    from toolkit.evaluation.baselines import RIDGE_CHUNK_ROWS, LeaveOneOutRidge

    rng = np.random.default_rng(6)
    numeric = rng.normal(size=(rows, 20))
    one_hot = np.eye(5)[rng.integers(0, 5, size=rows)]
    x = np.hstack([numeric, one_hot]).astype(np.float32)
    y = numeric[:, :3] @ [1.0, -0.5, 0.2] + one_hot @ np.arange(5) * 0.3 + rng.normal(size=rows)
    ours = LeaveOneOutRidge().fit(x, y)
    theirs = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(x.astype(np.float64), y)
    assert rows < RIDGE_CHUNK_ROWS or rows > 2 * RIDGE_CHUNK_ROWS
    assert ours.alpha_ == theirs.alpha_
    for rows in (rng.normal(size=(50, 25)).astype(np.float32), x):  # x: read in chunks
        np.testing.assert_allclose(ours.predict(rows), theirs.predict(rows), rtol=1e-6, atol=1e-8)


def test_the_baselines_thread_does_not_swap_the_process_warning_filters(monkeypatch):
    """The baselines fit in a thread while the network trains in another, and
    ``warnings.catch_warnings`` swaps the process-global filter list: a filter the training
    thread set while the baselines fitted was lost when they ended (measured: about 1 in 6
    of filters added every millisecond during a fit). The toolkit's own code must not enter
    one there. (scikit-learn and joblib still do, briefly, inside their own functions.)"""
    import sys
    import threading
    import warnings

    config, data = _prepared("binary")
    entered = []
    enter = warnings.catch_warnings.__enter__

    def recording_enter(self):
        caller = sys._getframe(1).f_code.co_filename
        entered.append((threading.current_thread().name, caller))
        return enter(self)

    monkeypatch.setattr(warnings.catch_warnings, "__enter__", recording_enter)
    BaselineFit(config, data).result(training_seconds=1.0)
    assert any(name == "baselines" for name, _ in entered)  # the hook saw the thread
    assert [c for name, c in entered if name == "baselines" and "/toolkit/" in c] == []


def test_a_logistic_regression_that_does_not_converge_warns_nothing_from_the_baselines():
    """Still silenced without catch_warnings: once the baselines have started, scikit-learn's
    ConvergenceWarning from a linear model is ignored by a filter of the process's own."""
    import warnings

    config, data = _prepared("binary")
    x, y = _raw(data.train)
    with warnings.catch_warnings(record=True) as caught:
        BaselineFit(config, data).result(training_seconds=1.0)  # installs the filter
        LogisticRegression(max_iter=1).fit(x, y.astype(int))  # stopped before converging
    assert [w for w in caught if "converge" in str(w.message)] == []


def _categorical_table(path, *, rows: int, categories: int, seed: int = 5) -> None:
    """A regression table whose target depends on a categorical column of many levels (and
    which has a missing value), plus two numeric columns, one with missing values."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    levels = np.array([f"level-{i:03d}" for i in range(categories)])
    effect = rng.normal(0.0, 2.0, categories)
    category = rng.integers(0, categories, rows)
    x = rng.normal(size=(rows, 2))
    table = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "group": levels[category]})
    table["target"] = effect[category] + x[:, 0] + rng.normal(0.0, 0.3, rows)
    table.loc[rng.choice(rows, rows // 20, replace=False), "x1"] = np.nan
    table.loc[rng.choice(rows, rows // 50, replace=False), "group"] = None
    table.to_csv(path, index=False)


def _table_config(path, **baselines):
    raw = tiny_config("regression", evaluation={"plots": False, "baselines": {**baselines} or True})
    raw["data"] = {"source": str(path), "target": "target", "validation": 0.25}
    config = validate_config(raw)
    return config, prepare_data(config)


def test_boosting_reads_a_categorical_column_as_categories_as_scikit_learn_does(tmp_path):
    """The boosting baseline declares a categorical column categorical (codes, not one-hot):
    it equals scikit-learn's boosting fitted directly on pandas' category codes of the raw
    rows, with numeric columns as read (missing values left to the trees)."""
    import pandas as pd
    from sklearn.metrics import mean_squared_error

    _categorical_table(tmp_path / "table.csv", rows=600, categories=40)
    config, data = _table_config(tmp_path / "table.csv")
    result = BaselineFit(config, data).result(training_seconds=1.0)
    boosting = result["baselines"]["hist_gradient_boosting"]

    def frame(split) -> pd.DataFrame:
        features, target = split.sample(None)
        table = pd.DataFrame(features[NUMERIC_INPUT].astype(np.float64), columns=["x0", "x1"])
        table["group"] = features["group"][:, 0]
        return table, target[:, 0]

    train, y_train = frame(data.train)
    held_out, y_eval = frame(data.held_out[1])
    levels = sorted(set(train["group"]))  # categories as training saw them, missing one too
    for table in (train, held_out):
        table["group"] = pd.Categorical(table["group"], categories=levels).codes
        table.loc[table["group"] < 0, "group"] = np.nan
    direct = HistGradientBoostingRegressor(
        max_iter=boosting["rounds"], random_state=config.seed, categorical_features=[2]
    ).fit(train.to_numpy(np.float64), y_train)
    rmse = np.sqrt(mean_squared_error(y_eval, direct.predict(held_out.to_numpy(np.float64))))
    assert boosting["rmse"] == pytest.approx(rmse, rel=1e-3)


def test_a_column_with_more_categories_than_boosting_takes_shares_the_last_code(tmp_path):
    """scikit-learn's boosting takes codes below 255: the 254 most frequent categories of
    the training sample keep their own, the rest share one, and the fit goes through."""
    from toolkit.evaluation.baselines import MAX_CATEGORY_CODES, _BoostingMatrix

    _categorical_table(tmp_path / "table.csv", rows=3000, categories=600)
    config, data = _table_config(tmp_path / "table.csv")
    features, _ = data.train.sample(None)
    coding = _BoostingMatrix(data.spec).fit(features)
    codes = coding.codes["group"]
    tokens, counts = np.unique(features["group"][:, 0].astype(str), return_counts=True)
    most_frequent = sorted(zip(-counts, tokens, strict=True))[: MAX_CATEGORY_CODES - 1]
    assert {codes[str(token)] for _, token in most_frequent} == set(range(MAX_CATEGORY_CODES - 1))
    assert set(codes.values()) == set(range(MAX_CATEGORY_CODES))
    matrix = coding.transform(features)
    assert np.nanmax(matrix[:, -1]) == MAX_CATEGORY_CODES - 1
    result = BaselineFit(config, data).result(training_seconds=1.0)
    assert "rounds" in result["baselines"]["hist_gradient_boosting"]


class _ClockThatRunsOutAfterTheFirstModel:
    """A budget that ends the moment the first model is kept, as when the second, longer
    boosting fit outlasts it."""

    assured = 60.0

    def __init__(self) -> None:
        self.ended = False

    @property
    def left(self) -> float:
        return 0.0 if self.ended else 60.0


def test_a_second_boosting_fit_the_budget_cuts_short_leaves_the_first():
    """Boosting is fitted twice: a probe of a few rounds that times a round, then as many
    rounds as the budget has time for. When the second fit outlasts the budget, the probe's
    model is the baseline, rather than nothing ("skipped")."""
    from toolkit.evaluation.baselines import PROBE_ROUNDS, _fit_boosting

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 5)).astype(np.float32)
    y = x @ rng.normal(size=5) + rng.normal(0.0, 0.1, 3000)
    clock, kept = _ClockThatRunsOutAfterTheFirstModel(), []

    def keep(model) -> None:
        kept.append(model)
        clock.ended = True

    _fit_boosting("regression", 0, x, y, clock, keep)
    assert [model.n_iter_ for model in kept] == [PROBE_ROUNDS]


class _ClockWithLittleTimeLeft:
    """A budget that never runs out but always has 0.02 s left, of the 5 s the run is sure
    to have: what a probe's wall time against the time left made of a busy machine."""

    left = 0.02
    assured = 5.0


def test_a_small_sample_gets_all_its_rounds_whatever_the_time_left_looks_like():
    """On 160 rows of 4 columns boosting has all MAX_ROUNDS, however the probe's wall time
    compares with the time left: it was int(left / seconds per probe round), no more than
    the probe's 10 here (58 to 100 on a real, busy run), instead of scikit-learn's 100. The
    model kept last is scikit-learn's boosting with max_iter=MAX_ROUNDS, fitted here, and
    not marked as cut; the probe kept before it is."""
    from toolkit.evaluation.baselines import MAX_ROUNDS, PROBE_ROUNDS, _cut, _fit_boosting

    rng = np.random.default_rng(1)
    x = rng.normal(size=(160, 4)).astype(np.float32)
    y = x @ rng.normal(size=4) + rng.normal(0.0, 0.5, 160)
    kept = []
    _fit_boosting("regression", 7, x, y, _ClockWithLittleTimeLeft(), kept.append)
    direct = HistGradientBoostingRegressor(max_iter=MAX_ROUNDS, random_state=7).fit(x, y)
    assert [model.n_iter_ for model in kept] == [PROBE_ROUNDS, direct.n_iter_]
    assert [_cut(model) for model in kept] == [True, False]
    np.testing.assert_array_equal(kept[-1].predict(x), direct.predict(x))
