"""Image plots: the held-out images a classifier got most confidently wrong."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from toolkit.evaluation.plots import canvas


def most_confidently_wrong(labels: Any, probabilities: Any, count: int) -> np.ndarray:
    """Row indices of up to ``count`` misclassified rows, most confident first (the predicted
    class's probability; ties by row)."""
    labels = np.asarray(labels, dtype=int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    finite = np.isfinite(probabilities).all(axis=1)
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(finite & (predicted != labels))
    confidence = probabilities[wrong, predicted[wrong]]
    order = np.lexsort((wrong, -confidence))
    return wrong[order][:count]


@canvas.styled
def confidently_wrong(
    images: Any,
    labels: Any,
    probabilities: Any,
    class_names: Sequence[str],
    *,
    value_range: Sequence[float] = (0.0, 255.0),
    count: int = 16,
) -> Figure:
    """A grid of the misclassified images with the most confident predictions, each titled
    ``true → predicted (probability)``. ``probabilities``: (n, C), rows matching ``images``."""
    rows = most_confidently_wrong(labels, probabilities, count)
    names = [str(c) for c in class_names]
    columns = max(1, min(4, len(rows)))
    lines = max(1, math.ceil(len(rows) / columns))
    fig = canvas.new_figure(2.2 * columns, 2.4 * lines + 0.4)
    if not len(rows):
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, "no misclassified images", ha="center", va="center")
        return fig
    low, high = float(value_range[0]), float(value_range[1])
    labels = np.asarray(labels, dtype=int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    for position, row in enumerate(rows):
        ax = fig.add_subplot(lines, columns, position + 1)
        pixels = np.clip((np.asarray(images[row], dtype=np.float64) - low) / (high - low), 0, 1)
        if pixels.shape[-1] == 1:
            ax.imshow(pixels[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
        else:
            ax.imshow(pixels[..., :3])
        predicted = int(probabilities[row].argmax())
        ax.set_title(
            f"{names[labels[row]]} → {names[predicted]} ({probabilities[row, predicted]:.2f})",
            fontsize=8,
        )
        ax.axis("off")
    fig.suptitle(f"Most confidently wrong ({len(rows)} shown)")
    return fig
