"""Plots, reports and comparisons built from synthetic run and sweep directories."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from toolkit.evaluation import plots
from toolkit.evaluation.report import compare_runs, write_report

PNG = b"\x89PNG\r\n\x1a\n"


def _fake_run(root: Path, name: str, dropout: float, rmse: float) -> Path:
    run = root / name
    (run / "plots").mkdir(parents=True)
    (run / "config.yaml").write_text(
        yaml.safe_dump({"name": "demo", "model": {"dropout": dropout, "hidden": [8]}})
    )
    (run / "run.json").write_text(
        json.dumps({"run_id": name, "name": "demo", "status": "completed", "task": "regression"})
    )
    (run / "metrics.json").write_text(
        json.dumps(
            {
                "train": {"rmse": rmse / 2, "r2": 0.9},
                "test": {"rmse": rmse, "r2": 0.5},
                "baselines": {"linear_regression": {"rmse": 61.5, "r2": 0.4}},
                "evaluated_on": "test",
            }
        )
    )
    history = pd.DataFrame(
        {
            "epoch": range(6),
            "loss": np.linspace(1, 0.2, 6),
            "val_loss": [1, 0.7, 0.5, 0.45, 0.5, 0.6],
        }
    )
    history.to_csv(run / "history.csv", index=False)
    (run / "data_summary.json").write_text(
        json.dumps(
            {
                "rows": {"train": 80, "test": 20},
                "features": [{"name": "x", "kind": "numeric"}],
                "target": {"name": "y"},
            }
        )
    )
    plots.learning_curves(history, run / "plots")
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    plots.predicted_vs_actual(y, y + rng.normal(scale=0.3, size=50), run / "plots")
    return run


def test_every_plot_function_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.normal(size=60)
    pred, std = y + rng.normal(scale=0.3, size=60), np.full(60, 0.3)
    labels = rng.integers(0, 3, size=60)
    probabilities = rng.dirichlet(np.ones(3), size=60)
    written = [
        plots.residuals(y, pred, tmp_path),
        plots.intervals_sorted(y, pred, std, tmp_path),
        plots.interval_calibration(y, pred, std, tmp_path),
        plots.predictive_band(y, y, np.linspace(-3, 3, 50), np.zeros(50), np.ones(50), tmp_path),
        plots.confusion_matrix([[3, 1], [0, 4]], ["a", "b"], tmp_path),
        plots.roc_curve(labels, probabilities, tmp_path, class_names=["a", "b", "c"]),
        plots.pr_curve(labels, probabilities, tmp_path, class_names=["a", "b", "c"]),
        plots.reliability_diagram(labels, probabilities, tmp_path),
    ]
    for path in written:
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 2000, path


def test_run_report_shows_metrics_baselines_and_embedded_plots(tmp_path):
    run = _fake_run(tmp_path, "run-a", 0.1, 55.25)
    html_path, md_path = write_report(run)
    page = html_path.read_text()
    assert "55.25" in page and "linear_regression" in page and "61.5" in page
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(images) == 2 and all(base64.b64decode(i)[:8] == PNG for i in images)
    markdown = md_path.read_text()
    for target in re.findall(r"\]\((plots/[^)]+)\)", markdown):
        assert (run / target).exists()


def test_sweep_report_sorts_trials_and_draws_sweep_plots(tmp_path):
    sweep = tmp_path / "sweep-1"
    sweep.mkdir()
    (sweep / "sweep.json").write_text(
        json.dumps(
            {"name": "demo", "status": "completed", "objective": "val_loss", "direction": "min"}
        )
    )
    pd.DataFrame(
        {
            "trial_id": ["00", "01", "02", "03"],
            "status": ["completed", "completed", "failed", "completed"],
            "model.dropout": [0.0, 0.3, 0.1, 0.1],
            "objective": [0.5, 0.2, None, 0.9],
        }
    ).to_csv(sweep / "trials.csv", index=False)
    (sweep / "best_config.yaml").write_text("name: demo\n")
    html_path, _ = write_report(sweep)
    page = html_path.read_text()
    assert page.index(">01<") < page.index(">00<") < page.index(">03<")  # best first
    assert (sweep / "plots" / "best_so_far.png").exists()
    assert "objective_vs_model.dropout" in " ".join(p.name for p in (sweep / "plots").iterdir())


def test_compare_lists_differing_keys_and_metrics(tmp_path):
    runs = [_fake_run(tmp_path, "run-a", 0.1, 50.0), _fake_run(tmp_path, "run-b", 0.3, 60.0)]
    table, out = compare_runs(runs, tmp_path / "cmp")
    assert "model.dropout" in table and "model.hidden" not in table
    assert "test.rmse" in table
    assert (out / "compare.png").read_bytes()[:8] == PNG
    assert (out / "compare.csv").exists() and (out / "compare.md").exists()


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="Debian's chromium is not installed (CI installs it)"
)
def test_report_renders_in_headless_chromium(tmp_path):
    run = _fake_run(tmp_path, "run-a", 0.1, 55.25)
    html_path, _ = write_report(run)
    # A checked copy: a script reports in the DOM whether every image decoded.
    probe = tmp_path / "probe.html"
    probe.write_text(
        html_path.read_text().replace(
            "</body>",
            "<script>window.addEventListener('load',()=>{const ok=[...document.images].every("
            "i=>i.complete&&i.naturalWidth>0);document.body.setAttribute('data-images',"
            "ok?'loaded':'broken');});</script></body>",
        )
    )
    result = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "55.25" in result.stdout
    assert 'data-images="loaded"' in result.stdout, result.stderr[-500:]
