"""A classifier that predicts none of the scored rows as a rare class those rows hold: on 5%
positives an unweighted loss can leave P(positive) below 0.5 on every row, recall 0, while
the summary line shows accuracy 0.95. Training says it of its held-out split (run.json's
warnings), ``toolkit evaluate`` of the rows it scores, through this one function."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from toolkit.config.schema import ExperimentConfig
from toolkit.data.preprocessing import variant_key
from toolkit.text import counted

# A class below this fraction of an even share (1 / k) of the training rows is rare enough
# for training.class_weight: balanced to weigh its rows at least twice the average.
RARE_SHARE_OF_EVEN = 0.5


class ScoreWarning(UserWarning):
    """The scores of rows ``Run.evaluate`` scored say something about the model (a rare
    class it never predicts); the CLI prints each as a ``toolkit: warning:`` line."""


def unpredicted_class_warning(
    config: ExperimentConfig,
    scores: dict[str, Any],
    trained: Sequence[Sequence[int]] | None,
    rows_word: str,
) -> str | None:
    """A line when a classifier predicts none of the scored rows (``scores``, with their
    confusion matrix) as a rare class that has rows there. ``trained``: the training split's
    confusion matrix, whose row sums give each class's share of the training rows;
    ``rows_word`` names one scored row (``validation row``, ``--data row``). Nothing is said
    when training.class_weight is set (the remedy was taken), when the class has no rows
    scored, when it is not rare in training (an undertrained model on even classes, which
    class weights would not change) or when it is a variant of another label."""
    if config.model.task == "regression" or config.training.class_weight is not None:
        return None
    matrix, names = scores.get("confusion_matrix"), scores.get("class_names")
    # Lists from metrics.json, or arrays from the metrics just computed.
    if matrix is None or trained is None or len(matrix) == 0 or len(trained) == 0 or not names:
        return None
    matrix, trained = np.asarray(matrix), np.asarray(trained).sum(axis=1)
    rows, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    # The shares are of the rows the training metrics were computed on (all of them, or a
    # sample of a large split), as in the positive-class warning.
    shares = trained / max(int(trained.sum()), 1)
    rare = shares < RARE_SHARE_OF_EVEN / len(names)
    # Labels that differ only in spaces, case or Unicode form (" yes" beside "yes") are one
    # class split in two, which the label-variant warning names: weights would not mend it.
    keys = [variant_key(name) for name in names]
    variant = [keys.count(key) > 1 for key in keys]
    # A rare class with rows scored that no row is predicted as (recall 0).
    never = [
        i
        for i in range(len(names))
        if rare[i] and not variant[i] and rows[i] > 0 and predicted[i] == 0
    ]
    if not never:
        return None
    classes = ", ".join(
        f"'{names[i]}' ({counted(int(rows[i]), 'row')}; {100 * shares[i]:.2g}% of the "
        "training rows)"
        for i in never
    )
    what = "class" if len(never) == 1 else "classes"
    line = f"the model predicts no {rows_word} as {what} {classes}: recall 0"
    auc = scores.get("roc_auc")
    if config.model.task == "binary" and auc is not None:
        # The ranking of P(positive) is one ranking for both classes: its ROC AUC is the
        # never-predicted class's too, however the 0.5 threshold falls.
        line += (
            f"; the probabilities still rank its rows with ROC AUC {auc:.2f}, but never "
            "make it the more likely class"
        )
    return (
        f"{line}; to weigh each class alike in the training loss set training.class_weight: "
        "balanced"
    )
