"""Reports and comparisons built from synthetic run, repeat-group and sweep directories."""

from __future__ import annotations

import base64
import functools
import html
import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from callbacks._files import TEMPORARY_PREFIX
from tests.evaluation._support import assert_png, write_run, write_sweep
from toolkit.errors import ToolkitError
from toolkit.evaluation import plots
from toolkit.evaluation.report import compare_runs, write_report
from toolkit.evaluation.report.sweep import sweep_plots

ROOT = Path(__file__).resolve().parents[2]

DATA_URI = re.compile(r'src="data:image/png;base64,([^"]+)"')


def _markdown_images(markdown: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)


def _fake_history() -> pd.DataFrame:
    """Six epochs whose best val_loss is the fourth."""
    return pd.DataFrame(
        {
            "epoch": range(1, 7),
            "loss": np.linspace(1, 0.2, 6),
            "val_loss": [1, 0.7, 0.5, 0.45, 0.5, 0.6],
        }
    )


def _fake_run(root: Path, name: str, dropout: float, rmse: float) -> Path:
    """A minimal run: two plots, train/test metrics and one baseline."""
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
    _fake_history().to_csv(run / "history.csv", index=False)
    (run / "data_summary.json").write_text(
        json.dumps(
            {
                "rows": {"train": 80, "test": 20},
                "features": [{"name": "x", "kind": "numeric"}],
                "target": {"name": "y"},
            }
        )
    )
    for name, png in _fake_plots().items():
        (run / "plots" / name).write_bytes(png)
    return run


@functools.cache
def _fake_plots() -> dict[str, bytes]:
    """The two PNGs every fake run holds, drawn once (the same history and points each time:
    the same bytes), so that each test pays for the report it builds, not for its plots."""
    import tempfile

    history = _fake_history()
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    figures = {
        "learning_curves.png": plots.learning_curves(history),
        "predicted_vs_actual.png": plots.predicted_vs_actual(y, y + rng.normal(scale=0.3, size=50)),
    }
    with tempfile.TemporaryDirectory() as folder:
        pngs = {}
        for name, figure in figures.items():
            plots.save(figure, Path(folder) / name)
            pngs[name] = (Path(folder) / name).read_bytes()
    return pngs


# --------------------------------------------------------------------------------------------
# run reports
# --------------------------------------------------------------------------------------------


def test_run_report_shows_metrics_baselines_and_embedded_plots(tmp_path):
    run = _fake_run(tmp_path, "run-a", 0.1, 55.25)
    html_path, md_path = write_report(run)
    page = html_path.read_text()
    assert "55.25" in page and "linear_regression" in page and "61.5" in page
    images = DATA_URI.findall(page)
    assert len(images) == 2 and all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    markdown = md_path.read_text()
    for target in re.findall(r"\]\((plots/[^)]+)\)", markdown):
        assert (run / target).exists()


def test_a_resumed_runs_and_sweeps_duration_says_it_spans_the_stop(tmp_path):
    """A run stopped at night and resumed in the morning lasted 10 hours from start to end:
    shown bare as its duration, that read as 10 hours of training."""
    run = _fake_run(tmp_path, "resumed", 0.1, 55.25)
    epoch_time = [1.5, 2.0, 2.5, 3.0, 60.0, 1.0]  # 70 s
    history = pd.read_csv(run / "history.csv").assign(epoch_time=epoch_time)
    history.to_csv(run / "history.csv", index=False)
    record = json.loads((run / "run.json").read_text())
    times = {"started": "2026-11-22T20:00:00+00:00", "ended": "2026-11-23T06:00:05+00:00"}
    (run / "run.json").write_text(json.dumps({**record, **times}))
    markdown = write_report(run)[1].read_text()
    assert "- **duration**: 10h 00m 05s" in markdown  # not resumed: as before
    resumed = {**record, **times, "resumed": ["2026-11-23T06:00:00+00:00"]}
    (run / "run.json").write_text(json.dumps(resumed))
    markdown = write_report(run)[1].read_text()
    assert "- **duration (start to end, across 1 resume)**: 10h 00m 05s" in markdown
    assert f"- **training time (epochs)**: 1m {sum(epoch_time) - 60:02.0f}s" in markdown

    sweep = write_sweep(tmp_path / "sweeps")
    trials = pd.read_csv(sweep / "trials.csv", dtype={"trial_id": str})
    trials["duration_s"] = [10.0, 20.0, None, 30.0, 40.5]  # the failed one has none
    trials.to_csv(sweep / "trials.csv", index=False)
    record = json.loads((sweep / "sweep.json").read_text())
    record["resumed"] = ["2026-11-22T04:54:00+00:00", "2026-11-22T04:55:00+00:00"]
    (sweep / "sweep.json").write_text(json.dumps(record))
    markdown = write_report(sweep)[1].read_text()
    assert "- **duration (start to end, across 2 resumes)**: 2m 08s" in markdown
    assert "- **trials' time**: 1m 40s" in markdown  # 100.5 s, rounded


def test_a_baseline_skipped_by_its_time_budget_says_so(tmp_path):
    """A baseline over its time budget showed as a column of n/a; "skipped" was nowhere."""
    run = _fake_run(tmp_path, "run-a", 0.1, 55.25)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["baselines"]["hist_gradient_boosting"] = {"skipped": "time budget"}
    (run / "metrics.json").write_text(json.dumps(metrics))
    html_path, md_path = write_report(run)
    markdown = md_path.read_text()
    assert "Skipped: hist_gradient_boosting (time budget)." in markdown
    assert "Skipped: hist_gradient_boosting (time budget)." in html_path.read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| metric | network"))
    assert "linear_regression" in header and "hist_gradient_boosting" not in header


def test_an_ensembles_members_best_epochs_are_listed_beside_the_best_val_loss(tmp_path):
    """Each member kept its own best epoch: the shared best val_loss epoch alone would
    say the model is that epoch's."""
    run = _fake_run(tmp_path, "ensemble", 0.1, 55.25)
    record = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**record, "member_best_epochs": [3, 4, 6]}))
    html_path, md_path = write_report(run)
    assert "- **members' best epochs**: 3, 4, 6" in md_path.read_text()
    assert "3, 4, 6" in html_path.read_text()
    assert (
        "members' best epochs"
        not in write_report(_fake_run(tmp_path, "one", 0.1, 55.25))[1].read_text()
    )


def test_the_best_val_loss_names_the_weight_penalty_it_holds(tmp_path):
    """Keras adds the weights' penalty to val_loss (30 of diabetes-mlp's 31.6 with its prior):
    shown bare beside another run's, it ranked them the wrong way."""
    plain = _fake_run(tmp_path, "plain", 0.1, 55.25)
    penalised = _fake_run(tmp_path, "penalised", 0.1, 55.25)
    config = {"name": "demo", "model": {"hidden": [8, {"units": 4, "l2": 1e-3}]}}
    (penalised / "config.yaml").write_text(yaml.safe_dump(config))
    assert "- **best val_loss**: 0.45 (epoch 4)" in write_report(plain)[1].read_text()
    markdown = write_report(penalised)[1].read_text()
    assert "- **best val_loss (with model.hidden.1.l2)**: 0.45 (epoch 4)" in markdown


def test_the_best_val_loss_names_a_variational_models_kl_term(tmp_path):
    """A variational model's layers add kl_weight * KL(q || p) to val_loss: bnn.yaml's report
    named model.weight_prior_scale alone, and a fully variational network's said nothing.
    The penalties are named in the order of the run's config.yaml."""
    run = _fake_run(tmp_path, "bnn", 0.1, 55.25)
    config = {
        "name": "demo",
        "model": {"weight_prior_scale": 0.15, "bayesian": {"layers": "output"}},
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    markdown = write_report(run)[1].read_text()
    assert (
        "- **best val_loss (with model.weight_prior_scale, model.bayesian)**: 0.45 (epoch 4)"
        in markdown
    )
    config["model"] = {"bayesian": {"layers": "all"}}
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert "- **best val_loss (with model.bayesian)**: 0.45" in write_report(run)[1].read_text()
    config["model"] = {"bayesian": None}
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert "- **best val_loss**: 0.45" in write_report(run)[1].read_text()


def test_full_run_report_contents(run_dir):
    html_path, md_path = write_report(run_dir)
    assert (html_path, md_path) == (run_dir / "report.html", run_dir / "report.md")
    page, markdown = html_path.read_text(), md_path.read_text()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for text in (page, markdown):
        # every split's metrics, formatted to 4 significant digits
        for split in ("train", "validation", "test"):
            for name in ("rmse", "crps", "coverage", "nll"):
                assert f"{metrics[split][name]:.4g}" in text, (split, name)
        assert "random_forest" in text and "52.75" in text  # baseline next to the network
        assert "4,929 weights, 4,865 trainable, 64 non-trainable" in text
        assert "sklearn:diabetes" in text  # config
        assert "a2246e36948bda6d" in text  # data fingerprint
        assert "1m 25s" in text  # duration from started/ended
        assert "317" in text and "region" in text  # data rows and features
    assert '<td class="best">52.75</td>' in page  # best baseline rmse in bold
    assert "┏━━━━━━━━┓" in page  # the model summary verbatim
    # every PNG embedded, decodable, in reading order; nothing loaded from outside
    images = [base64.b64decode(data) for data in DATA_URI.findall(page)]
    assert len(images) == len(list((run_dir / "plots").glob("*.png"))) == 3
    for image in images:
        assert_png(image)
    assert page.index('alt="learning curves"') < page.index('alt="predicted vs actual"')
    assert not re.search(r"(src|href)=['\"]?(https?:|//)", page)
    assert "<script" not in page
    # Markdown: relative image paths that exist
    targets = _markdown_images(markdown)
    assert len(targets) == 3
    assert all(not Path(t).is_absolute() and (run_dir / t).is_file() for t in targets)
    assert not [p for p in run_dir.iterdir() if p.name.startswith(TEMPORARY_PREFIX)]


def test_text_is_escaped(tmp_path):
    run = write_run(
        tmp_path, "run-x", run_name="<script>alert('x')</script> & co", with_plots=False
    )
    (run / "model_summary.txt").write_text("<b>not bold</b>\n")
    page = write_report(run)[0].read_text()
    assert "<script>" not in page and "<b>not bold</b>" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co" in page
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page


def test_missing_optional_files_are_tolerated(tmp_path):
    run = tmp_path / "bare"
    run.mkdir()
    (run / "run.json").write_text(
        json.dumps({"run_id": "bare", "status": "failed", "reason": "out of memory"})
    )
    html_path, md_path = write_report(run)
    page = html_path.read_text()
    assert "out of memory" in page and "No metrics were recorded" in page
    assert "failed" in md_path.read_text()
    (run / "metrics.json").write_text("{not json")
    (run / "model.json").write_text(json.dumps({"trainable_params": 10}))
    (run / "plots").mkdir()
    (run / "plots" / "broken.png").write_bytes(b"not a png")
    page = write_report(run)[0].read_text()
    assert "10 trainable" in page and "broken" not in page


def test_classification_run_with_undefined_metrics(tmp_path):
    run = write_run(tmp_path, "cls", with_plots=False)
    (run / "metrics.json").write_text(
        json.dumps(
            {
                "test": {
                    "accuracy": 0.8125,
                    "roc_auc": None,
                    "confusion_matrix": [[13, 3], [0, 0]],
                    "class_names": ["no", "yes"],
                },
                "evaluated_on": "test",
            }
        )
    )
    page = write_report(run)[0].read_text()
    assert "0.8125" in page and "roc_auc" in page and "n/a" in page
    assert "confusion_matrix" not in page  # lists are drawn as plots, not table cells


def test_a_precision_of_no_predicted_positive_says_why_it_is_n_a(tmp_path):
    """A binary model that predicts no row as the positive class: precision is 0 / 0, null
    in metrics.json and n/a in the report, which said nothing of why. scikit-learn's default
    gives 0.0 (with a warning), as if every predicted positive were wrong; there were none."""
    import warnings

    from sklearn.metrics import precision_score

    from toolkit.evaluation.metrics import binary_metrics

    y = np.array([0] * 14 + [1] * 6)
    probability = np.linspace(0.05, 0.45, 20)  # below 0.5 on every row
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UndefinedMetricWarning: the 0.0 of the default
        assert precision_score(y, probability >= 0.5) == 0.0
    assert np.isnan(precision_score(y, probability >= 0.5, zero_division=np.nan))
    scores = binary_metrics(y, probability)
    assert scores["precision"] is None and scores["recall"] == 0.0 and scores["f1"] == 0.0
    run = write_run(tmp_path, "cls", with_plots=False)
    scores |= {"confusion_matrix": [[14, 0], [6, 0]], "class_names": ["no", "yes"]}
    (run / "metrics.json").write_text(json.dumps({"test": scores, "evaluated_on": "test"}))
    markdown = write_report(run)[1].read_text()
    assert "| precision | n/a |" in markdown
    assert (
        "n/a on the test split (0 / 0, null in metrics.json): precision: the model predicts "
        "no row as the positive class 'yes'." in markdown
    )
    # A split of one class: recall, pr_auc and roc_auc have no rows to be computed on.
    one_class = binary_metrics(np.zeros(20, dtype=int), probability)
    one_class |= {"confusion_matrix": [[20, 0], [0, 0]], "class_names": ["no", "yes"]}
    (run / "metrics.json").write_text(json.dumps({"test": one_class, "evaluated_on": "test"}))
    assert (
        "n/a on the test split (0 / 0, null in metrics.json): precision: the model predicts "
        "no row as the positive class 'yes'; recall, pr_auc: the split holds no row of 'yes'; "
        "f1: neither a row of it nor a prediction of it; roc_auc: the split holds one class "
        "only." in write_report(run)[1].read_text()
    )


def test_repeat_group_report_shows_mean_and_std(repeat_dir):
    html_path, md_path = write_report(repeat_dir)
    page, markdown = html_path.read_text(), md_path.read_text()
    metrics = json.loads((repeat_dir / "metrics.json").read_text())["repeats"]
    rmse = metrics["test"]["rmse"]
    expected = f"{rmse['mean']:.4g} ± {rmse['std']:.4g}"
    assert expected in page and expected in markdown
    assert "mean ± std over 2 seeds" in page
    assert "42, 43" in page  # seeds
    assert_png(repeat_dir / "plots" / "seed_curves.png")
    assert len(DATA_URI.findall(page)) == 1


def test_repeat_group_report_shows_what_each_seeds_calibration_fitted(repeat_dir):
    """The group's metrics.json averages the calibrated scores; its report showed neither the
    temperature nor the std factor any seed had fitted, though each seed's report does."""
    runs = json.loads((repeat_dir / "run.json").read_text())["runs"]
    for run, factor in zip(runs, (0.81, 0.93), strict=True):
        path = repeat_dir / run / "metrics.json"
        metrics = json.loads(path.read_text())
        metrics["std_scaling"] = {"factor": factor, "fitted_on": "validation"}
        path.write_text(json.dumps(metrics))
    markdown = write_report(repeat_dir)[1].read_text()
    assert "| run | std factor s |" in markdown
    assert "| seed-42 | 0.81 |" in markdown and "| seed-43 | 0.93 |" in markdown
    assert "temperature T" not in markdown  # nothing of a calibration no seed ran


def test_neither_run_nor_sweep_is_an_error(tmp_path):
    with pytest.raises(ToolkitError):
        write_report(tmp_path)


KERAS_SUMMARY = """Model: "demo"
┏━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━┓
┃ Layer (type)        ┃ Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━┩
│ dense (Dense)       │   4,865 │
└─────────────────────┴─────────┘
 Total params: 14,929 (58.32 KB)
 Trainable params: 4,865 (19.00 KB)
 Non-trainable params: 64 (256.00 B)
 Optimizer params: 10,000 (39.06 KB)
"""


def test_the_model_section_counts_weights_once(run_dir):
    # Keras' "Total params" adds the optimizer's slots; model.json counts the weights only
    (run_dir / "model_summary.txt").write_text(KERAS_SUMMARY)
    html_path, md_path = write_report(run_dir)
    for text in (html_path.read_text(), md_path.read_text()):
        model = text[text.index("Model</h2>" if "<h2>" in text else "## Model") :]
        assert "4,929 weights, 4,865 trainable, 64 non-trainable" in model
        assert "state holds 10,000 more values" in model
        assert "Total params" not in text and "Optimizer params" not in text
        assert "│ dense (Dense)       │   4,865 │" in model  # the layer table stays verbatim


@pytest.mark.parametrize("epoch_column", [True, False])
def test_the_best_epoch_counts_from_one(tmp_path, epoch_column):
    run = write_run(tmp_path, "run", with_plots=False)
    val_loss = [0.9, 0.7, 0.5, 0.45, 0.5]
    history = pd.DataFrame({"loss": np.linspace(1, 0.5, 5), "val_loss": val_loss})
    if epoch_column:  # history.csv as training writes it: epochs from 1
        history.insert(0, "epoch", range(1, 6))
    history.to_csv(run / "history.csv", index=False)
    markdown = write_report(run)[1].read_text()
    assert f"- **best val_loss**: 0.45 (epoch {int(np.argmin(val_loss)) + 1})" in markdown


def _html_tables(page: str) -> list[list[list[str]]]:
    tables = re.findall(r"<table>(.*?)</table>", page, flags=re.S)
    return [
        [
            [html.unescape(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table)
        ]
        for table in tables
    ]


def _markdown_tables(markdown: str) -> list[list[list[str]]]:
    tables, current = [], []
    for text in [*markdown.splitlines(), ""]:
        if text.startswith("|") and not text.startswith("|---"):
            cells = re.split(r"(?<!\\)\|", text.strip())[1:-1]
            current.append([c.strip().strip("*").replace("\\|", "|") for c in cells])
        elif not text.startswith("|---") and current:
            tables.append(current)
            current = []
    return tables


@pytest.mark.parametrize("kind", ["run", "sweep"])
def test_html_and_markdown_hold_the_same_tables(tmp_path, kind):
    directory = (
        write_run(tmp_path, "run", with_plots=False) if kind == "run" else write_sweep(tmp_path)
    )
    html_path, md_path = write_report(directory)
    html_tables = _html_tables(html_path.read_text())
    assert len(html_tables) >= 3
    assert html_tables == _markdown_tables(md_path.read_text())


# --------------------------------------------------------------------------------------------
# sweep reports
# --------------------------------------------------------------------------------------------


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


@pytest.mark.parametrize("direction", ["min", "max"])
def test_sweep_report_contents(tmp_path, direction):
    sweep = write_sweep(tmp_path, direction=direction)
    html_path, md_path = write_report(sweep)
    page, markdown = html_path.read_text(), md_path.read_text()
    order = ["01", "04", "00", "03"] if direction == "min" else ["03", "00", "04", "01"]
    positions = [page.index(f"<td>{trial}</td>") for trial in [*order, "02"]]
    assert positions == sorted(positions)  # best first, the failed trial last
    best = order[0]
    assert re.search(rf'<tr class="hl"><td>{best}</td>', page)  # the best trial highlighted
    assert "loss became NaN &lt;inf&gt;" in page  # a failure reason, escaped
    assert "dropout: 0.3" in page and "dropout: 0.3" in markdown  # best config
    written = sorted(p.name for p in (sweep / "plots").glob("*.png"))
    assert written == [
        "best_so_far.png",
        "objective_per_trial.png",
        "objective_vs_model.dropout.png",
        "objective_vs_training.optimizer.learning_rate.png",
        "objective_vs_training.optimizer.name.png",
    ]
    images = DATA_URI.findall(page)
    assert len(images) == len(written)
    for image in images:
        assert_png(base64.b64decode(image))
    assert page.index('alt="objective per trial"') < page.index('alt="best so far"')
    assert all((sweep / t).is_file() for t in _markdown_images(markdown))
    assert "4 completed" in page and "random" in page


def test_sweep_plot_axes_follow_the_sampling_of_the_search_space(tmp_path):
    # trials.csv whose log-sampled learning rates happen to span less than a decade
    sweep = write_sweep(tmp_path)
    trials = pd.read_csv(sweep / "trials.csv", dtype={"trial_id": str})
    trials["training.optimizer.learning_rate"] = [1e-3, 2e-3, 3e-3, 5e-3, 8e-3]
    trials.to_csv(sweep / "trials.csv", index=False)
    figures = sweep_plots(sweep)
    assert (
        figures["objective_vs_training.optimizer.learning_rate.png"].axes[0].get_xscale() == "log"
    )
    assert figures["objective_vs_model.dropout.png"].axes[0].get_xscale() == "linear"
    drawn = figures["objective_per_trial.png"].axes[0].collections[0].get_offsets()
    assert drawn[:, 1].tolist() == [0.5, 0.2, 0.9, 0.35]  # the completed trials, in run order


def test_sweep_without_trials(tmp_path):
    sweep = tmp_path / "empty-sweep"
    sweep.mkdir()
    (sweep / "sweep.json").write_text(json.dumps({"status": "running"}))
    page = write_report(sweep)[0].read_text()
    assert "No trials were recorded" in page and "running" in page


# --------------------------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------------------------


def test_compare_lists_differing_keys_and_metrics(tmp_path):
    runs = [_fake_run(tmp_path, "run-a", 0.1, 50.0), _fake_run(tmp_path, "run-b", 0.3, 60.0)]
    table, out = compare_runs(runs, tmp_path / "cmp")
    assert "model.dropout" in table and "model.hidden" not in table
    assert "test.rmse" in table
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "compare.csv").exists() and (out / "compare.md").exists()


def test_compare_details(tmp_path):
    a = write_run(tmp_path, "run-a", dropout=0.1, rmse=50.0, with_plots=False)
    b = write_run(
        tmp_path,
        "run-b",
        dropout=0.3,
        rmse=60.0,
        with_plots=False,
        extra_config={"callbacks": {"early_stopping": {"patience": 5}}},
    )
    table, out = compare_runs([a, b], tmp_path / "cmp")
    lines = {line.split()[0]: line.split()[1:] for line in table.splitlines() if line.strip()}
    assert lines["model.dropout"] == ["0.1", "0.3"]
    assert lines["callbacks.early_stopping.patience"] == ["n/a", "5"]  # missing in one run
    assert "model.hidden" not in lines and "training.epochs" not in lines  # equal everywhere
    assert lines["test.rmse"] == ["50", "60"] and "validation.rmse" in lines
    csv = pd.read_csv(out / "compare.csv", index_col="run")
    assert csv.index.tolist() == ["run-a", "run-b"]
    assert csv["status"].tolist() == ["completed", "completed"]
    assert csv["test.rmse"].dtype == float and csv["test.rmse"].tolist() == [50.0, 60.0]
    assert "test.rmse.std" not in csv.columns  # no repeat group: one value per run
    lines_csv = (out / "compare.csv").read_text().splitlines()
    patience = lines_csv[0].split(",").index("callbacks.early_stopping.patience")
    assert [line.split(",")[patience] for line in lines_csv[1:]] == ["", "5"]  # ints stay ints
    markdown = (out / "compare.md").read_text()
    assert "**50**" in markdown  # the best rmse in bold
    assert all((out / t).is_file() for t in _markdown_images(markdown))
    assert_png(out / "compare.png")


def test_compare_repeat_groups_and_runs_without_config(tmp_path, repeat_dir):
    bare = write_run(tmp_path, "bare", with_plots=False)
    (bare / "config.yaml").unlink()
    table, _ = compare_runs([repeat_dir, bare], tmp_path / "cmp")
    assert "±" in table and "test.rmse" in table


def test_compare_csv_gives_a_repeat_groups_numbers_their_own_columns(tmp_path, repeat_dir):
    """compare.csv held a group's metric as the text "51.5 ± 0.7": pandas could not sort it."""
    bare = write_run(tmp_path, "bare", rmse=40.0, with_plots=False)
    compare_runs([repeat_dir, bare], tmp_path / "cmp")
    csv = pd.read_csv(tmp_path / "cmp" / "compare.csv", index_col="run")
    # Expected from the seed runs' own metrics.json, not from the group's.
    seeds = sorted((repeat_dir / "seeds" / "demo").iterdir())
    rmse = pd.Series([json.loads((s / "metrics.json").read_text())["test"]["rmse"] for s in seeds])
    for column in ("test.rmse", "test.rmse.std", "test.rmse.count"):
        assert pd.api.types.is_numeric_dtype(csv[column]), column
    assert csv.loc["repeat-1", "test.rmse"] == pytest.approx(rmse.mean())
    assert csv.loc["repeat-1", "test.rmse.std"] == pytest.approx(rmse.std())
    assert csv.loc["repeat-1", "test.rmse.count"] == len(seeds)
    assert csv.loc["bare", "test.rmse"] == 40.0 and csv.loc["bare", "test.rmse.count"] == 1
    # The group's seed is every seed its runs used (here named by their folders, seed-42-...).
    used = [int(s.name.split("-")[1]) for s in seeds]
    assert json.loads(csv.loc["repeat-1", "seed"]) == used
    assert pd.isna(csv.loc["bare", "test.rmse.std"])
    assert csv.sort_values("test.rmse").index.tolist() == ["bare", "repeat-1"]
    assert "±" not in (tmp_path / "cmp" / "compare.csv").read_text()
    assert "±" in (tmp_path / "cmp" / "compare.md").read_text()  # the reading keeps it


# --------------------------------------------------------------------------------------------
# packaging
# --------------------------------------------------------------------------------------------


def test_the_templates_ship_with_the_package():
    """`pip install .` copies the templates: pyproject's package data matches every one."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert any(d.startswith("jinja2") for d in project["project"]["dependencies"])
    patterns = project["tool"]["setuptools"]["package-data"]["toolkit.evaluation.report"]
    package = ROOT / "toolkit" / "evaluation" / "report"
    templates = [p.relative_to(package) for p in (package / "templates").iterdir()]
    assert {"report.html.j2", "report.md.j2", "compare.md.j2"} <= {t.name for t in templates}
    for template in templates:
        assert any(template.match(pattern) for pattern in patterns), template


def test_sweep_plot_captions_keep_the_hyperparameter_names(tmp_path):
    """Captions turned every underscore into a space: "training.optimizer.learning rate"."""
    sweep = write_sweep(tmp_path)
    html_path, markdown_path = write_report(sweep)
    markdown = markdown_path.read_text()
    name = "training.optimizer.learning_rate"
    assert f"![objective vs {name}](plots/objective_vs_{name}.png)" in markdown
    assert f'alt="objective vs {name}"' in html_path.read_text()
    assert "![best so far](plots/best_so_far.png)" in markdown  # the toolkit's own names


def test_compare_curves_name_a_run_without_a_history(tmp_path, repeat_dir):
    """A --repeat group (no history.csv of its own) was left out of compare.png unsaid."""
    from toolkit.evaluation.report.compare import curves_figure

    run = write_run(tmp_path, "single", with_plots=False)
    figure = curves_figure([repeat_dir, run], [repeat_dir.name, run.name])
    axes = figure.axes[0]
    (legend,) = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend.startswith(f"{run.name}: ")  # with what sets it apart from the group
    assert axes.get_title().endswith(f"not recorded by: {repeat_dir.name}")
    _, out = compare_runs([repeat_dir, run], tmp_path / "cmp")
    assert_png(out / "compare.png")


def test_run_report_shows_the_runs_warnings_and_what_calibration_fitted(tmp_path):
    # The summary line printed the warnings once; the report, read later, showed neither them
    # nor the temperature, std factor or conformal quantile the run had fitted.
    run = _fake_run(tmp_path, "run-c", 0.1, 50.0)
    record = json.loads((run / "run.json").read_text())
    warning = "prediction.conformal.alpha 0.01 needs about 99 calibration rows, this run has 23"
    (run / "run.json").write_text(json.dumps({**record, "warnings": [warning]}))
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["temperature_scaling"] = {
        "temperature": 0.7041,
        "fitted_on": "validation",
        "validation": {"log_loss_before": 0.1368, "log_loss_after": 0.1231, "ece_before": 0.0738},
        "test": {"log_loss_before": 0.0998, "log_loss_after": 0.0909},
    }
    metrics["conformal"] = {
        "method": "split",
        "alpha": 0.01,
        "calibrated_on": "validation",
        "rows": 23,
        "quantile": None,
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    html_path, md_path = write_report(run)
    for text in (html_path.read_text(), md_path.read_text()):
        assert "Warnings" in text and "needs about 99 calibration rows" in text
        assert "Calibration" in text and "0.7041" in text
        assert "0.1368" in text and "0.1231" in text
        assert "infinite (too few rows for alpha)" in text and "23" in text
    markdown = md_path.read_text()
    assert "| validation log_loss | 0.1368 | 0.1231 |" in markdown
    assert "| test log_loss | 0.0998 | 0.0909 |" in markdown
    # A run that fitted nothing and warned of nothing has neither section.
    _, plain = write_report(_fake_run(tmp_path, "run-d", 0.1, 50.0))
    assert "Calibration" not in plain.read_text() and "Warnings" not in plain.read_text()


def test_each_coverage_row_names_the_level_of_its_interval(tmp_path):
    """A conformal run's metrics showed `coverage` (at prediction.interval) beside
    `conformal_coverage` (at 1 - alpha) with neither level: at 0.9 and 0.95 a reader took
    0.91 against 0.95 for the model's intervals falling short."""
    run = _fake_run(tmp_path, "run-e", 0.1, 50.0)
    config = {"name": "demo", "prediction": {"interval": 0.9, "conformal": {"alpha": 0.05}}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    metrics = json.loads((run / "metrics.json").read_text())
    for split in ("train", "test"):
        metrics[split].update(coverage=0.91, conformal_coverage=0.95)
    metrics["conformal"] = {"method": "split", "alpha": 0.05, "rows": 80, "quantile": 1.9}
    (run / "metrics.json").write_text(json.dumps(metrics))
    html_path, md_path = write_report(run)
    for text in (html_path.read_text(), md_path.read_text()):
        assert "own central 90% interval (prediction.interval)" in text
        assert "the conformal interval, for 1 - alpha = 95% (prediction.conformal.alpha)" in text
    # A classifier's conformal sets, and a run with neither, say what they have.
    metrics = {"test": {"accuracy": 0.9, "set_coverage": 0.96}, "evaluated_on": "test"}
    metrics["conformal"] = {"alpha": 0.1}
    (run / "metrics.json").write_text(json.dumps(metrics))
    markdown = write_report(run)[1].read_text()
    assert "set_coverage, mean_set_size: the conformal prediction sets, for 1 - alpha = 90%" in (
        markdown
    )
    assert "prediction.interval)" not in markdown
    plain = write_report(_fake_run(tmp_path, "run-f", 0.1, 50.0))[1].read_text()
    assert "prediction.interval)" not in plain and "conformal" not in plain


def test_empty_prediction_sets_are_explained(tmp_path):
    """Wine's ensemble classifier, right on every row, reported set_coverage and
    mean_set_size 0.83 on test beside accuracy 1 with no word on the empty sets behind it."""
    run = _fake_run(tmp_path, "wine", 0.1, 50.0)
    metrics = {
        "validation": {"accuracy": 1.0, "set_coverage": 0.9375, "mean_set_size": 0.9375},
        "test": {"accuracy": 1.0, "set_coverage": 0.8333, "mean_set_size": 0.8333},
        "evaluated_on": "test",
        "conformal": {"method": "split", "alpha": 0.1, "rows": 32, "quantile": 0.0299},
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    note = (
        "mean_set_size below 1 (validation, test): some rows' sets are empty. A model right "
        "more often than 1 - alpha covers exactly 1 - alpha by leaving its least typical rows "
        "without a class: read an empty set as a row unlike the calibration rows."
    )
    html_path, md_path = write_report(run)
    assert note in md_path.read_text()
    assert note in html.unescape(html_path.read_text())
    for split in ("validation", "test"):
        metrics[split]["mean_set_size"] = 1.2
    (run / "metrics.json").write_text(json.dumps(metrics))
    assert "mean_set_size below 1" not in write_report(run)[1].read_text()


def test_top_k_is_the_name_of_its_accuracy_not_a_metric_row(tmp_path):
    run = write_run(tmp_path, "cls", with_plots=False)
    scores = {"accuracy": 0.75, "top_k_accuracy": 0.9375, "top_k": 2, "log_loss": 0.61}
    baseline = {"accuracy": 0.7, "top_k_accuracy": 0.875, "top_k": 2}
    (run / "metrics.json").write_text(
        json.dumps(
            {
                "validation": scores,
                "test": scores,
                "evaluated_on": "test",
                "baselines": {"logistic_regression": baseline},
            }
        )
    )
    page = write_report(run)[1].read_text()  # report.md
    assert "| top_k |" not in page
    rows = [line for line in page.splitlines() if line.startswith("| top_2_accuracy |")]
    assert len(rows) == 2  # the metrics table and the baselines table
    assert "0.9375" in rows[0] and "0.875" in rows[1]


@pytest.mark.parametrize(("max_epochs", "shown"), [(6, 6), (None, 4)])
def test_a_hyperband_sweep_report_shows_its_epochs_and_factor_not_max_trials(
    tmp_path, max_epochs, shown
):
    # Hyperband ignores max_trials: its overview said "max trials: 20" for a sweep of 10
    # trials sized by max_epochs (default: the base config's training.epochs) and factor.
    sweep = write_sweep(tmp_path)
    record = json.loads((sweep / "sweep.json").read_text())
    record["algorithm"] = "hyperband"
    record["max_trials"] = 20
    record["settings"] = {"algorithm": "hyperband", "max_trials": 20, "max_epochs": max_epochs}
    record["settings"]["factor"] = 3
    (sweep / "sweep.json").write_text(json.dumps(record))
    (sweep / "base_config.yaml").write_text("name: demo\ntraining: {epochs: 4}\n")
    _, md_path = write_report(sweep)
    markdown = md_path.read_text()
    assert "max trials" not in markdown
    assert f"- **max epochs**: {shown}\n" in markdown and "- **factor**: 3\n" in markdown


def test_compare_curves_leave_out_a_weight_penalty(tmp_path):
    # Keras adds l2's penalty to val_loss: compare.png drew an l2 run (the best validation
    # RMSE of six) as the highest curve. With a penalty in any run the plot shows the first
    # validation metric all runs logged, and says why.
    from toolkit.evaluation.report.compare import curves_figure

    plain = write_run(tmp_path, "plain", with_plots=False)
    decayed = write_run(
        tmp_path,
        "decayed",
        with_plots=False,
        extra_config={"model": {"task": "regression", "hidden": [8], "l2": 0.01}},
    )
    title = curves_figure([plain, decayed], ["plain", "decayed"]).axes[0].get_title()
    assert title.startswith("val_mae per epoch")
    assert "not val_loss, which holds the weight penalty of model.l2" in title
    unpenalised = curves_figure([plain], ["plain"]).axes[0]
    assert unpenalised.get_title() == "val_loss per epoch (dot = best epoch)"


def test_compare_curves_are_named_by_what_sets_their_runs_apart(tmp_path):
    """Six optimizer runs drew six curves named by run id only, to be matched with the
    table's columns by hand."""
    from toolkit.evaluation.report.compare import curves_figure

    runs = [
        write_run(
            tmp_path,
            name,
            with_plots=False,
            extra_config={"name": name, "training": {"optimizer": {"name": optimizer}}},
        )
        for name, optimizer in (("a", "sgd"), ("b", "adam"))
    ]
    legend = curves_figure(runs, ["run-a", "run-b"]).axes[0].get_legend()
    texts = [text.get_text() for text in legend.get_texts()]
    assert texts == ["run-a: optimizer.name=sgd", "run-b: optimizer.name=adam"]
