"""Keras callback that logs a classifier's validation confusion matrix to TensorBoard."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from ._plotting import RENDER_LOCK, figure_to_png, new_figure
from .periodic_callback import PeriodicCallback


class ConfusionMatrixImage(PeriodicCallback):
    """Renders the confusion matrix on validation data and logs it as a TensorBoard image.

    At the end of every `every_n_epochs`-th epoch and of the last one (see
    `PeriodicCallback`) it predicts `validation_x` and counts (true class, predicted
    class) pairs; rows are true classes, columns predicted. A model with one output
    column is read as binary (predicted class 1 when the output is above 0 with
    `from_logits`, above 0.5 otherwise); a model with k columns as multiclass (argmax,
    for logits and probabilities alike). The image is logged with `tf.summary.image`
    under the tag `confusion_matrix` at step = the epoch counted from 1; the counts are
    kept in `last_matrix`.

    Args:
        validation_x: Model inputs: an array or a dict of arrays.
        validation_y: Integer class labels, shape `(n,)` or `(n, 1)`, or one-hot
            labels of shape `(n, k)`.
        class_names: One name per class, in class-index order (2 for binary).
        log_dir: Directory of the TensorBoard writer of this callback.
        from_logits: Whether a binary model outputs a logit rather than a probability.
        every_n_epochs: Log on epochs `n, 2n, ...` (counted from 1) and the last.

    Attributes:
        last_matrix: `(k, k)` integer counts of the most recent check, or None.
    """

    def __init__(
        self,
        validation_x: Any,
        validation_y: Any,
        class_names: Sequence[str],
        log_dir: str | os.PathLike[str],
        from_logits: bool = True,
        every_n_epochs: int = 1,
    ) -> None:
        super().__init__(log_dir=log_dir, every_n_epochs=every_n_epochs)
        if len(class_names) < 2:
            raise ValueError(f"Need at least 2 class names, got {list(class_names)}")
        self.validation_x = validation_x
        self.validation_y = validation_y
        self.class_names = class_names
        self.from_logits = from_logits
        self.last_matrix: np.ndarray | None = None

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "validation_x": self.validation_x,
            "validation_y": self.validation_y,
            "class_names": self.class_names,
            "from_logits": self.from_logits,
        }

    def on_sample(self, epoch: int, logs: dict[str, Any]) -> None:
        matrix = self.compute_matrix()
        self.last_matrix = matrix
        self.write_png("confusion_matrix", self.render(matrix, epoch), epoch)

    def compute_matrix(self) -> np.ndarray:
        """Confusion matrix counts of the model on the validation data, rows = true class."""
        num_classes = len(self.class_names)
        output = self.model.predict(self.validation_x, verbose=0)
        output = np.asarray(keras.tree.flatten(output)[0])
        output = output.reshape(output.shape[0], -1)
        if output.shape[1] == 1:
            if num_classes != 2:
                raise ValueError(
                    f"The model has one output column (binary) but {num_classes} class names"
                )
            threshold = 0.0 if self.from_logits else 0.5
            predicted = (output[:, 0] > threshold).astype(np.int64)
        else:
            if output.shape[1] != num_classes:
                raise ValueError(
                    f"The model has {output.shape[1]} output columns but {num_classes} class names"
                )
            predicted = np.argmax(output, axis=1)

        labels = np.asarray(self.validation_y)
        if labels.ndim == 2 and labels.shape[1] > 1:
            labels = np.argmax(labels, axis=1)
        labels = labels.reshape(-1).astype(np.int64)
        if labels.shape[0] != predicted.shape[0]:
            raise ValueError(
                f"validation_y has {labels.shape[0]} labels but the model made "
                f"{predicted.shape[0]} predictions"
            )
        if labels.min(initial=0) < 0 or labels.max(initial=0) >= num_classes:
            raise ValueError(f"validation_y has labels outside [0, {num_classes})")
        counts = np.bincount(labels * num_classes + predicted, minlength=num_classes**2)
        return counts.reshape(num_classes, num_classes)

    def render(self, matrix: np.ndarray, epoch: int) -> bytes:
        """PNG bytes of `matrix` as an annotated heat map."""
        with RENDER_LOCK:
            return self._render(matrix, epoch)

    def _render(self, matrix: np.ndarray, epoch: int) -> bytes:
        num_classes = len(self.class_names)
        size = max(4.0, 0.6 * num_classes + 2.0)
        figure = new_figure(size, size)
        axes = figure.add_subplot(1, 1, 1)
        image = axes.imshow(matrix, cmap="Blues", vmin=0)
        figure.colorbar(image, ax=axes, shrink=0.8)
        ticks = np.arange(num_classes)
        names = [str(name) for name in self.class_names]
        axes.set_xticks(ticks, names, rotation=45, ha="right")
        axes.set_yticks(ticks, names)
        axes.set_xlabel("predicted")
        axes.set_ylabel("true")
        accuracy = np.trace(matrix) / max(int(matrix.sum()), 1)
        axes.set_title(f"epoch {epoch + 1}: accuracy {accuracy:.3f}")
        # Dark cells get white text so the count stays readable.
        midpoint = matrix.max() / 2 if matrix.size else 0
        for row in range(num_classes):
            for col in range(num_classes):
                axes.text(
                    col,
                    row,
                    str(int(matrix[row, col])),
                    ha="center",
                    va="center",
                    color="white" if matrix[row, col] > midpoint else "black",
                )
        return figure_to_png(figure)
