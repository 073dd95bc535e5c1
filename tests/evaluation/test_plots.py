"""Saving figures: atomic PNG writes, headless, and no TensorFlow or pyplot on import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.evaluation._support import assert_png
from toolkit.evaluation import plots

ROOT = Path(__file__).resolve().parents[2]


def test_save_writes_a_png_atomically_and_leaves_no_temporary_files(tmp_path):
    figure = plots.residuals(np.arange(50.0), np.arange(50.0) + 0.5)
    for _ in range(2):
        assert (
            plots.save(figure, tmp_path / "sub" / "residuals.png")
            == tmp_path / "sub" / "residuals.png"
        )
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["residuals.png"]
    assert_png(tmp_path / "sub" / "residuals.png")


def test_evaluation_modules_import_neither_tensorflow_nor_pyplot():
    code = (
        "import sys, toolkit.evaluation.metrics, toolkit.evaluation.plots, "
        "toolkit.evaluation.report\n"
        "bad = [m for m in ('tensorflow', 'keras', 'matplotlib.pyplot') if m in sys.modules]\n"
        "print(bad)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == "[]"


def _counted(draw, calls: list, renderer) -> None:
    calls.append(renderer)
    draw(renderer)


def test_save_draws_a_figure_once_into_the_picture_its_layout_engine_draws(tmp_path):
    """Matplotlib's own savefig, constrained layout on, is the reference: the same pixels
    from one drawing instead of two."""
    import functools
    import io

    import matplotlib
    import matplotlib.image

    from toolkit.evaluation.plots import canvas

    rng = np.random.default_rng(0)
    actual = rng.normal(size=400)
    predicted = actual + rng.normal(scale=0.2, size=400)

    def figures():
        return {
            "residuals": plots.residuals(actual, predicted),
            "confusion": plots.confusion_matrix(
                np.array([[50, 3], [4, 40]]), ["a rather long class name", "b"]
            ),
        }

    for name, reference in figures().items():
        buffer = io.BytesIO()
        with matplotlib.rc_context(canvas.STYLE):
            reference.savefig(buffer, format="png", dpi=canvas.DPI)
        buffer.seek(0)
        expected = matplotlib.image.imread(buffer, format="png")
        figure = figures()[name]
        draws = []
        figure.draw = functools.partial(_counted, figure.draw, draws)
        plots.save(figure, tmp_path / f"{name}.png")
        assert len(draws) == 1, name
        np.testing.assert_array_equal(matplotlib.image.imread(tmp_path / f"{name}.png"), expected)
