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
