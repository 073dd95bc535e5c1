"""Classification plots: confusion matrix, ROC and precision-recall curves, reliability diagram.

Scores are P(y = 1) of a binary task, shape (n,), or a probability matrix (n, C), drawn one
class against the rest. Curves are scikit-learn's. Rows whose scores hold a NaN or infinite
value are left out and counted in the title.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from toolkit.evaluation.metrics import calibration_bins, expected_calibration_error
from toolkit.evaluation.plots import canvas

MAX_CURVES = 10  # one curve per class up to this many classes; above, the micro-average only

# (binary truth, score) -> (x, y, summary value)
Curve = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, float]]


@canvas.styled
def confusion_matrix(cm: Any, class_names: Sequence[str]) -> Figure:
    """Confusion matrix coloured by row-normalised rate (recall), annotated with counts and %.

    Rows are true classes, columns predicted ones.
    """
    counts = np.asarray(cm, dtype=np.float64)
    n = counts.shape[0]
    names = [str(c) for c in class_names]
    totals = counts.sum(axis=1, keepdims=True)
    rate = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    size = min(14.0, max(4.8, 0.6 * n + 3.0))
    fig, ax = canvas.single_axes(size + 1.0, size)
    image = ax.imshow(rate, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.grid(False)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    long_names = max(map(len, names)) > 4
    ax.set_xticks(
        range(n),
        labels=names,
        rotation=45 if long_names else 0,
        ha="right" if long_names else "center",
    )
    ax.set_yticks(range(n), labels=names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if n <= 25:
        for (i, j), count in np.ndenumerate(counts):
            colour = "white" if rate[i, j] > 0.55 else "black"
            text = f"{int(count)}\n{_percent(rate[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8 if n > 10 else 9, color=colour)
    total = counts.sum()
    accuracy = np.trace(counts) / total if total > 0 else float("nan")
    ax.set_title(f"Confusion matrix (accuracy {accuracy:.1%}, n = {int(total)})")
    return fig


def _percent(rate: float) -> str:
    """``rate`` as a whole percentage rounded half up: 1/8 shows as 13%, not 12%.

    Python's ``:.0%`` rounds an exact half to even (12.5% -> 12%, 87.5% -> 88%), which reads as
    a wrong count in a 40-row class. The 1e-9 absorbs float error in count / total (29/200 is
    14.499999...% in floats); a real rate is never that close to a half below it.
    """
    return f"{math.floor(rate * 100.0 + 0.5 + 1e-9):d}%"


def _one_vs_rest(
    y_true: Any, scores: Any, class_names: Sequence[str] | None
) -> tuple[list[tuple[str, np.ndarray, np.ndarray]], bool, str]:
    """(label, binary truth, score) per class, whether the task is binary, the left-out note."""
    s = np.asarray(scores, dtype=np.float64)
    s = s.reshape(len(s), -1)
    y = np.asarray(y_true).reshape(-1).astype(np.int64)
    mask = canvas.finite_rows(s)
    s, y = s[mask], y[mask]
    if s.shape[1] <= 2:
        names = list(class_names) if class_names is not None and len(class_names) == 2 else None
        return [(names[1] if names else "positive", y, s[:, -1])], True, canvas.left_out(mask)
    names = [str(c) for c in class_names] if class_names is not None else None
    names = names or [str(c) for c in range(s.shape[1])]
    pairs = [(names[c], (y == c).astype(np.int64), s[:, c]) for c in range(s.shape[1])]
    return pairs, False, canvas.left_out(mask)


def _draw_curves(
    ax: Axes,
    pairs: list[tuple[str, np.ndarray, np.ndarray]],
    binary: bool,
    curve: Curve,
    defined: Callable[[np.ndarray], bool],
    value_name: str,
    **style: Any,
) -> tuple[list[tuple[Line2D, np.ndarray]], list[str]]:
    """One curve per class (up to MAX_CURVES) and the micro-average of a multiclass task.

    Returns the drawn (line, truth) pairs and the labels of the classes whose curve is undefined.
    """
    drawn = []
    if binary or len(pairs) <= MAX_CURVES:
        for label, truth, score in pairs:
            if defined(truth):
                x, y, value = curve(truth, score)
                width = 1.8 if binary else 1.3
                (line,) = ax.plot(
                    x, y, lw=width, label=f"{label} ({value_name} {value:.3f})", **style
                )
                drawn.append((line, truth))
    if not binary and pairs:
        truth = np.concatenate([t for _, t, _ in pairs])
        if defined(truth):
            x, y, value = curve(truth, np.concatenate([s for _, _, s in pairs]))
            label = f"micro-average ({value_name} {value:.3f})"
            ax.plot(x, y, color="black", lw=2.2, ls=":", label=label, **style)
    return drawn, [label for label, truth, _ in pairs if not defined(truth)]


# scikit-learn is imported by the curves that use it: ``toolkit compare`` and ``toolkit
# report`` import this package for other plots, and scikit-learn took 1 s of their start.
def _roc(truth: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    from sklearn import metrics as skm

    fpr, tpr, _ = skm.roc_curve(truth, score)
    return fpr, tpr, float(skm.auc(fpr, tpr))


def _precision_recall(truth: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    from sklearn import metrics as skm

    precision, recall, _ = skm.precision_recall_curve(truth, score)
    return recall, precision, float(skm.average_precision_score(truth, score))


def _both_classes(truth: np.ndarray) -> bool:
    return np.unique(truth).size == 2


def _has_positives(truth: np.ndarray) -> bool:
    return truth.sum() > 0


def _label_axes(
    ax: Axes, name: str, binary: bool, note: str, undefined: list[str], why: str, legend: str
) -> None:
    """Title (with the classes whose curve is undefined, and why), square unit axes, legend."""
    title = name + ("" if binary else "s (one-vs-rest)") + note
    if undefined:
        title += f"\nundefined ({why}): {', '.join(undefined[:5])}"
    ax.set_title(title)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_aspect("equal", adjustable="box")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc=legend)


@canvas.styled
def roc_curve(y_true: Any, scores: Any, *, class_names: Sequence[str] | None = None) -> Figure:
    """ROC curve with AUC: one curve for binary scores, one-vs-rest per class for (n, C).

    Classes absent from (or making up all of) the split have no ROC and are listed as such;
    with more than 10 classes only the micro-average is drawn.
    """
    pairs, binary, note = _one_vs_rest(y_true, scores, class_names)
    fig, ax = canvas.single_axes(5.8, 5.2)
    ax.plot([0, 1], [0, 1], color=canvas.GREY, ls="--", lw=1.0, label="chance")
    _, undefined = _draw_curves(ax, pairs, binary, _roc, _both_classes, "AUC")
    ax.set(xlabel="false positive rate", ylabel="true positive rate")
    _label_axes(ax, "ROC curve", binary, note, undefined, "one class only", "lower right")
    return fig


@canvas.styled
def pr_curve(y_true: Any, scores: Any, *, class_names: Sequence[str] | None = None) -> Figure:
    """Precision-recall curve with average precision (AP); one-vs-rest per class for (n, C).

    The dashed line of each class is its prevalence (the AP of a random classifier).
    """
    pairs, binary, note = _one_vs_rest(y_true, scores, class_names)
    fig, ax = canvas.single_axes(5.8, 5.2)
    drawn, undefined = _draw_curves(
        ax, pairs, binary, _precision_recall, _has_positives, "AP", drawstyle="steps-post"
    )
    for line, truth in drawn:
        ax.axhline(truth.mean(), color=line.get_color(), ls="--", lw=0.8, alpha=0.7)
    ax.set(xlabel="recall", ylabel="precision")
    _label_axes(ax, "Precision-recall curve", binary, note, undefined, "no positives", "lower left")
    return fig


@canvas.styled
def reliability_diagram(y_true: Any, probabilities: Any, *, n_bins: int = 10) -> Figure:
    """Reliability diagram (observed frequency vs predicted probability) with a count histogram.

    1-D probabilities are P(y = 1) of a binary task; (n, C) uses the top-label confidence vs
    accuracy.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(y_true).reshape(-1)
    mask = canvas.finite_rows(p)
    p, y = p[mask], y[mask]
    multiclass = p.ndim == 2 and p.shape[1] > 2
    fig = canvas.new_figure(5.6, 6.4)
    if not mask.any():
        canvas.placeholder(
            fig.add_subplot(1, 1, 1), f"no finite probability{canvas.left_out(mask)}"
        )
        return fig
    bins = calibration_bins(y, p, n_bins=n_bins)
    edges = np.asarray(bins["edges"])
    centres, width = (edges[:-1] + edges[1:]) / 2, (edges[1] - edges[0]) * 0.92
    count = np.asarray(bins["count"])
    filled = count > 0
    observed = np.array(bins["observed"], dtype=np.float64)[filled]
    confidence = np.array(bins["confidence"], dtype=np.float64)[filled]
    top, bottom = fig.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    top.plot([0, 1], [0, 1], color=canvas.GREY, ls="--", lw=1.0, label="perfect calibration")
    outcome = "accuracy" if multiclass else "observed frequency"
    top.bar(centres[filled], observed, width=width, color=canvas.TRAIN, alpha=0.8, label=outcome)
    top.bar(
        centres[filled],
        confidence - observed,
        bottom=observed,
        width=width,
        color=canvas.BAD,
        alpha=0.25,
        edgecolor=canvas.BAD,
        hatch="//",
        label="gap to mean confidence",
    )
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy" if multiclass else "fraction of positives")
    ece = expected_calibration_error(y, p, n_bins=n_bins)
    top.set_title(f"Reliability diagram (ECE {ece:.3f}, {n_bins} bins{canvas.left_out(mask)})")
    top.legend(loc="upper left")
    bottom.bar(centres, count, width=width, color=canvas.GREY, alpha=0.8)
    bottom.set_xlabel(
        "confidence (top-label probability)" if multiclass else "predicted probability"
    )
    bottom.set_ylabel("count")
    return fig
