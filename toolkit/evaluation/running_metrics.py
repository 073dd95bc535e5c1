"""Task metrics accumulated chunk by chunk, so scoring a split of any size keeps a few numbers
per class or bin rather than a few numbers per row (``toolkit evaluate`` on 10 million rows).

Each metric is a sum over rows, finished when every chunk has been seen. The one exception is
a binary classifier's ROC and PR AUC, which rank every score: its labels and probabilities are
kept (9 bytes a row) and handed to scikit-learn at the end. The whole-array functions in
``metrics`` stay scikit-learn's; the tests check that both give the same numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import special

from toolkit.evaluation import metrics
from toolkit.evaluation.conformal import conformal_metrics

if TYPE_CHECKING:
    from toolkit.evaluation.predict import Predictions


class RunningMetrics:
    """The metrics of ``metrics.regression_metrics``, ``binary_metrics`` and
    ``multiclass_metrics`` (plus per-class accuracy and conformal coverage), over rows given
    in chunks: ``update(predictions, y)`` for each chunk, then ``result()``.

    ``y`` is the encoded target, as ``encode_target`` gives it. A regressor's interval is the
    one ``predict`` wrote when its level is ``interval``, else the predictive distribution's
    central ``interval``. Like the whole-array functions, every metric of a task is ``None``
    once a prediction or target is NaN or infinite.
    """

    def __init__(
        self,
        task: str,
        *,
        interval: float = 0.95,
        class_names: list[str] | None = None,
        threshold: float = 0.5,
        n_bins: int = 10,
        top_k: int = 3,
    ) -> None:
        if task not in ("regression", "binary", "multiclass"):
            raise ValueError(f"unknown task {task!r}")
        if task != "regression" and not class_names:
            raise ValueError("a classifier's metrics need its class names")
        self.task = task
        self.interval = interval
        self.class_names = [str(name) for name in class_names or []]
        self.threshold = threshold
        self.n_bins = n_bins
        self.top_k = top_k
        self.rows = 0
        self._finite = True
        self._sums: dict[str, float] = {}
        self._conformal: dict[str, float] = {}
        self._uncertain: bool | None = None  # whether a regressor's rows carry a distribution
        self._moments = (0, 0.0, 0.0)  # count, mean, sum of squared deviations of the target
        self._predicted_moments = (0, 0.0, 0.0)  # the same of the predicted means
        self._target_range = (np.inf, -np.inf)
        # Regression: rows whose prediction, and rows whose interval lower bound (as predict
        # writes them), is below 0, for the warning on a target that never is (``target_low``).
        self.negative_predictions = 0
        self.negative_bounds = 0
        classes = max(len(self.class_names), 2)
        self._confusion = np.zeros((classes, classes), dtype=np.int64)
        self._bins = np.zeros((3, n_bins))  # count, confidence sum, outcome sum per bin
        self._ranked: list[tuple[np.ndarray, np.ndarray]] = []  # binary: (labels, P(y = 1))

    def update(self, predictions: Predictions, y: np.ndarray) -> None:
        """Add a chunk: its predictions and encoded targets, one row each."""
        target = np.asarray(y, dtype=np.float64).reshape(len(y), -1)[:, 0]
        if len(target) != len(predictions.mean):
            raise ValueError(f"{len(target)} targets for {len(predictions.mean)} predictions")
        if len(target) == 0:
            return
        self.rows += len(target)
        self._add_conformal(predictions, target)
        if self.task == "regression":
            predicted, bounds = _negative_rows(predictions)
            self.negative_predictions += predicted
            self.negative_bounds += bounds
            self._add_regression(predictions, target)
        else:
            self._add_classifier(np.asarray(predictions.mean, dtype=np.float64), target)

    @property
    def prediction_spread(self) -> tuple[float, float] | None:
        """A regressor's (std of the predicted means, std of the targets) over the rows seen,
        or None before two finite rows: predictions that hardly vary while the target does
        mean a network that ignores its inputs."""
        if self.task != "regression" or not self._finite or self._moments[0] < 2:
            return None
        count, _, squares = self._moments
        return float(np.sqrt(self._predicted_moments[2] / count)), float(np.sqrt(squares / count))

    @property
    def target_low(self) -> float:
        """The smallest target of the rows seen (inf before any, or once one is not finite)."""
        return self._target_range[0]

    def _add(self, **sums: float) -> None:
        for name, value in sums.items():
            self._sums[name] = self._sums.get(name, 0.0) + float(value)

    # ---------------------------------------------------------------------------- regression

    def _add_regression(self, predictions: Predictions, y: np.ndarray) -> None:
        mean = np.asarray(predictions.mean, dtype=np.float64).reshape(-1)
        uncertain = predictions.mixture is not None or predictions.std is not None
        if self._uncertain is None:
            self._uncertain = uncertain
        elif uncertain != self._uncertain:
            raise ValueError("every chunk's predictions must carry the same uncertainty")
        scored = self._distribution_scores(predictions, mean, y) if uncertain else ()
        if not metrics._all_finite(y, mean, *scored):
            self._finite = False
        if not self._finite:
            return
        error = mean - y
        self._add(squared_error=np.sum(error**2), absolute_error=np.sum(np.abs(error)))
        self._add_target_moments(y)
        self._predicted_moments = _merged_moments(self._predicted_moments, mean)
        if uncertain:
            nll, crps, lower, upper = scored
            inside = (lower <= y) & (y <= upper)
            self._add(
                nll=nll.sum(), crps=crps.sum(), inside=inside.sum(), width=np.sum(upper - lower)
            )

    def _distribution_scores(
        self, predictions: Predictions, mean: np.ndarray, y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-row NLL and CRPS and the interval's bounds: of the mixture when there is one,
        else of a Gaussian with the predictions' std."""
        bounds = None
        if predictions.lower is not None and predictions.interval_level == self.interval:
            bounds = (predictions.lower, predictions.upper)
        if predictions.mixture is not None:
            locations, scales = predictions.mixture
            nll = metrics.mixture_nll(y, locations, scales)
            crps = metrics.mixture_crps(y, locations, scales)
            if bounds is None:
                tail = (1.0 - self.interval) / 2.0
                bounds = (
                    metrics.mixture_quantile(tail, locations, scales),
                    metrics.mixture_quantile(1.0 - tail, locations, scales),
                )
        else:
            std = np.maximum(np.asarray(predictions.std, dtype=np.float64).reshape(-1), 1e-12)
            nll = metrics.gaussian_nll(y, mean, std)
            crps = metrics.gaussian_crps(y, mean, std)
            if bounds is None:
                half = float(special.ndtri(0.5 + self.interval / 2.0)) * std
                bounds = (mean - half, mean + half)
        lower, upper = (np.asarray(b, dtype=np.float64).reshape(-1) for b in bounds)
        return nll, crps, lower, upper

    def _add_target_moments(self, y: np.ndarray) -> None:
        self._moments = _merged_moments(self._moments, y)
        low, high = self._target_range
        self._target_range = (min(low, float(y.min())), max(high, float(y.max())))

    def _regression_result(self) -> dict[str, Any]:
        keys = metrics._POINT_KEYS + (metrics._UNCERTAINTY_KEYS if self._uncertain else ())
        if not self._finite:
            return dict.fromkeys(keys)
        n, sums = self.rows, self._sums
        count, _, squares = self._moments
        low, high = self._target_range
        constant = count < 2 or low == high  # r2 is undefined, as in the whole-array function
        result: dict[str, Any] = {
            "rmse": np.sqrt(sums["squared_error"] / n),
            "mae": sums["absolute_error"] / n,
            "r2": None if constant else 1.0 - sums["squared_error"] / squares,
        }
        if self._uncertain:
            result["nll"] = sums["nll"] / n
            result["coverage"] = sums["inside"] / n
            result["interval_width"] = sums["width"] / n
            result["crps"] = sums["crps"] / n
        return result

    # --------------------------------------------------------------------------- classifiers

    def _add_classifier(self, probabilities: np.ndarray, y: np.ndarray) -> None:
        if not metrics._all_finite(probabilities):
            self._finite = False
        if not self._finite:
            return
        labels = y.astype(np.int64)
        classes = self._confusion.shape[0]
        if self.task == "binary":
            positive = probabilities[:, 1] if probabilities.ndim == 2 else probabilities
            predicted = (positive >= self.threshold).astype(np.int64)
            # scikit-learn's log loss: [1 - p, p], each clipped to [eps, 1 - eps].
            chosen = np.where(labels == 1, positive, 1.0 - positive)
            self._add(brier=np.sum((positive - labels) ** 2))
            confidence, outcome = positive, labels.astype(np.float64)
            self._ranked.append((labels.astype(np.int8), positive.copy()))
        else:
            # Rows renormalised (float32 softmax outputs rarely sum to exactly 1), as the
            # whole-array function does before its log loss, Brier score and ECE.
            total = np.maximum(probabilities.sum(axis=1, keepdims=True), metrics._EPS)
            probabilities = probabilities / total
            predicted = probabilities.argmax(axis=1)
            rows = np.arange(len(labels))
            chosen = probabilities[rows, labels]
            one_hot = np.eye(classes)[labels]
            self._add(brier=np.sum((probabilities - one_hot) ** 2))
            k = min(self.top_k, classes - 1)
            if classes > 2 and k >= 1:
                # scikit-learn's ranking: a stable sort of the scores, read from the top.
                ranked = np.argsort(probabilities, axis=1, kind="mergesort")[:, ::-1][:, :k]
                self._add(top_k_hits=np.sum(np.any(ranked == labels[:, None], axis=1)))
            confidence = probabilities.max(axis=1)
            outcome = (predicted == labels).astype(np.float64)
        eps = np.finfo(np.float64).eps
        self._add(log_loss=-np.sum(np.log(np.clip(chosen, eps, 1.0 - eps))))
        self._confusion += np.bincount(
            labels * classes + predicted, minlength=classes * classes
        ).reshape(classes, classes)
        self._bins += np.stack(metrics.calibration_bin_sums(confidence, outcome, self.n_bins))

    def _f1(self) -> np.ndarray:
        """Each class's F1, 2 TP / (2 TP + FP + FN); 0 where that is 0 / 0 (zero_division=0)."""
        true_positive = np.diag(self._confusion).astype(np.float64)
        denominator = self._confusion.sum(axis=1) + self._confusion.sum(axis=0)
        return np.divide(
            2.0 * true_positive,
            denominator,
            out=np.zeros_like(true_positive),
            where=denominator > 0,
        )

    def _binary_result(self) -> dict[str, Any]:
        from sklearn import metrics as skm

        if not self._finite:
            return dict.fromkeys(metrics._BINARY_KEYS)
        (tn, fp), (fn, tp) = self._confusion
        n = self.rows
        labels = np.concatenate([part[0] for part in self._ranked])
        scores = np.concatenate([part[1] for part in self._ranked])
        return {
            "accuracy": (tp + tn) / n,
            "precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / (tp + fn) if tp + fn else None,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
            "roc_auc": skm.roc_auc_score(labels, scores) if 0 < tp + fn < n else None,
            "pr_auc": skm.average_precision_score(labels, scores) if tp + fn else None,
            "log_loss": self._sums["log_loss"] / n,
            "brier": self._sums["brier"] / n,
            "ece": metrics.ece_from_bin_sums(*self._bins),
            "confusion_matrix": self._confusion,
            "class_names": self.class_names,
        }

    def _multiclass_result(self) -> dict[str, Any]:
        if not self._finite:
            return {**dict.fromkeys(metrics._MULTICLASS_KEYS), "class_names": self.class_names}
        n, confusion = self.rows, self._confusion
        support, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
        f1 = self._f1()
        seen = (support > 0) | (predicted > 0)  # the whole-array function's f1_macro classes
        result: dict[str, Any] = {
            "accuracy": np.trace(confusion) / n,
            "f1_macro": f1[seen].mean(),
            "f1_weighted": np.sum(f1 * support) / n,
            "log_loss": self._sums["log_loss"] / n,
            "brier": self._sums["brier"] / n,
        }
        k = min(self.top_k, len(self.class_names) - 1)
        if len(self.class_names) > 2 and k >= 1:
            result["top_k_accuracy"] = self._sums["top_k_hits"] / n
            result["top_k"] = k
        result["ece"] = metrics.ece_from_bin_sums(*self._bins)
        result["confusion_matrix"] = confusion
        result["class_names"] = self.class_names
        return result

    def _per_class_accuracy(self) -> dict[str, float | None]:
        """Each class's recall; None for a class the rows do not hold or when a probability
        is not finite."""
        support = self._confusion.sum(axis=1)
        diagonal = np.diag(self._confusion)
        return {
            name: float(diagonal[i] / support[i]) if self._finite and support[i] else None
            for i, name in enumerate(self.class_names)
        }

    # ----------------------------------------------------------------------------- conformal

    def _add_conformal(self, predictions: Predictions, y: np.ndarray) -> None:
        """The coverage and size of conformal intervals or sets, as sums over the rows."""
        for name, mean in conformal_metrics(predictions, y).items():
            self._conformal[name] = self._conformal.get(name, 0.0) + mean * len(y)

    # -------------------------------------------------------------------------------- result

    def result(self) -> dict[str, Any]:
        """The metrics of every row seen, as metrics.json holds them (strict-JSON values)."""
        if self.rows == 0:
            raise ValueError("no rows to evaluate")
        if self.task == "regression":
            result = self._regression_result()
        elif self.task == "binary":
            result = {**self._binary_result(), "per_class_accuracy": self._per_class_accuracy()}
        else:
            result = {**self._multiclass_result(), "per_class_accuracy": self._per_class_accuracy()}
        conformal = {name: total / self.rows for name, total in self._conformal.items()}
        return metrics.json_safe({**result, **conformal})


def _merged_moments(moments: tuple[int, float, float], values: np.ndarray) -> tuple:
    """``moments`` (count, mean, sum of squared deviations) with ``values`` merged in: Chan,
    Golub and LeVeque's pairwise update, exact, without the cancellation of sum x^2."""
    count, mean, squares = moments
    n, chunk_mean = len(values), float(np.mean(values))
    chunk_squares = float(np.sum((values - chunk_mean) ** 2))
    total = count + n
    delta = chunk_mean - mean
    return (total, mean + delta * n / total, squares + chunk_squares + delta**2 * count * n / total)


def _negative_rows(predictions: Predictions) -> tuple[int, int]:
    """Rows whose prediction is below 0, and rows whose interval lower bound or conformal
    lower bound is (the columns ``prediction``, ``lower`` and ``conformal_lower`` predict
    writes)."""
    predicted = np.asarray(predictions.mean, dtype=np.float64).reshape(-1) < 0
    bounds = np.zeros_like(predicted)
    for bound in (predictions.lower, predictions.conformal_lower):
        if bound is not None:
            bounds |= np.asarray(bound, dtype=np.float64).reshape(-1) < 0
    return int(predicted.sum()), int(bounds.sum())
