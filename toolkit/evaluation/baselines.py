"""Classical scikit-learn baselines on the same split, so a network must earn its keep."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.data.preprocessing import NUMERIC_INPUT
from toolkit.evaluation import metrics

if TYPE_CHECKING:
    from toolkit.config.schema import ExperimentConfig
    from toolkit.data.prepared import PreparedData


def _matrix(features: dict[str, np.ndarray], spec) -> np.ndarray:
    """Numeric columns imputed and standardised, categoricals one-hot, as in the network."""
    parts = []
    if spec.numeric:
        mean = np.array([f.mean for f in spec.numeric])
        std = np.array([f.std for f in spec.numeric])
        numeric = features[NUMERIC_INPUT].astype(float)
        numeric = np.where(np.isnan(numeric), mean, numeric)
        parts.append((numeric - mean) / std)
    for feature in spec.categorical:
        column = features[feature.name][:, 0]
        parts.append(
            np.stack([column == token for token in feature.vocabulary], axis=1).astype(float)
        )
    return np.concatenate(parts, axis=1)


def fit_baselines(config: ExperimentConfig, data: PreparedData) -> dict[str, Any]:
    """Linear/logistic regression and a random forest, scored on the held-out split."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.linear_model import LinearRegression, LogisticRegression

    spec = data.spec
    x_train, y_train = _matrix(data.train[0], spec), data.train[1][:, 0]
    held_out = data.test if data.test is not None else data.validation
    x_eval, y_eval = _matrix(held_out[0], spec), held_out[1][:, 0]
    task = config.model.task
    results: dict[str, Any] = {}
    if task == "regression":
        models = {
            "linear_regression": LinearRegression(),
            "random_forest": RandomForestRegressor(
                n_estimators=200, random_state=config.seed, n_jobs=-1
            ),
        }
        for name, model in models.items():
            model.fit(x_train, y_train)
            results[name] = metrics.regression_metrics(y_eval, model.predict(x_eval))
        return results
    labels = y_train.astype(int)
    models = {
        "logistic_regression": LogisticRegression(max_iter=2000),
        "random_forest": RandomForestClassifier(
            n_estimators=200, random_state=config.seed, n_jobs=-1
        ),
    }
    for name, model in models.items():
        model.fit(x_train, labels)
        probabilities = np.zeros((len(x_eval), len(spec.target.classes)))
        probabilities[:, model.classes_] = model.predict_proba(x_eval)
        if task == "binary":
            results[name] = metrics.binary_metrics(y_eval.astype(int), probabilities[:, 1])
        else:
            results[name] = metrics.multiclass_metrics(
                y_eval.astype(int), probabilities, class_names=spec.target.classes
            )
    return results
