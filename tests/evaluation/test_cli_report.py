"""`toolkit report` and `toolkit compare` in fresh processes, on runs and a sweep trained for real.

The numbers in the reports are checked against metrics.json, history.csv and trials.csv;
every embedded image against its PNG file; every link against its target.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.helpers import (
    cli_in_one_process,
    hold_lock,
    kill_mid_run,
    run_cli,
    snapshot,
    start_train,
    tiny_config,
)
from tests.tuning.conftest import sweep_config

DATA_URI = re.compile(r'<img alt="([^"]+)"[^>]*src="data:image/png;base64,([^"]+)"')


@pytest.fixture(scope="module")
def repeat_group(tmp_path_factory) -> Path:
    """``train --repeat 2`` of a tiny Gaussian regression on one input (so its plots
    include the predictive band): a group and two seed runs."""
    root = tmp_path_factory.mktemp("report-cli")
    config = tiny_config(
        "regression",
        data={"source": "synthetic:sine", "test": 0.2},
        model={"head": "gaussian"},
        evaluation={"plots": True, "baselines": True},
    )
    # Trained in this process: the reports and comparisons of it are what is checked.
    import toolkit

    group = toolkit.train_repeated(config, repeats=2, output_dir=root / "experiments")
    assert group.status == "completed"
    return group.path


def _seed_runs(group: Path) -> list[Path]:
    record = json.loads((group / "run.json").read_text())
    return [group / run for run in record["runs"]]


@pytest.fixture(scope="module")
def repeat_answers(repeat_group, tmp_path_factory) -> dict:
    """``toolkit report`` of the group's first seed run, then of the group (which links the
    seed's report), and ``toolkit compare`` of its two seed runs into ``comparison``: run in
    one fresh process (the report's imports, 2 s of CPU, start once for the three); each
    command's result by name."""
    first, second = _seed_runs(repeat_group)
    out = tmp_path_factory.mktemp("compare") / "comparison"
    calls = {
        "first": ["report", first],
        "group": ["report", repeat_group],
        "compare": ["compare", first, second, "--output", out],
    }
    return dict(zip(calls, cli_in_one_process(*calls.values()), strict=True))


def _report(directory: Path, result=None) -> tuple[str, str]:
    """The report ``toolkit report DIRECTORY`` wrote (run here unless its ``result`` is
    given): its HTML and Markdown."""
    result = run_cli("report", directory) if result is None else result
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(directory / "report.html"), str(directory / "report.md")]
    return (directory / "report.html").read_text(), (directory / "report.md").read_text()


def _rows(page: str) -> dict[str, list[str]]:
    """First cell -> the other cells, over every table row of an HTML page."""
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page, flags=re.S):
        cells = [html.unescape(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
        rows.setdefault(cells[0], cells[1:])
    return rows


def _check_images_and_links(directory: Path, page: str, markdown: str) -> None:
    """Every plot embedded byte for byte, every Markdown image and in-page anchor resolvable."""
    embedded = {alt: base64.b64decode(data) for alt, data in DATA_URI.findall(page)}
    # The Markdown names each file with the same caption as the HTML's alt text.
    captions = dict(re.findall(r"!\[([^\]]*)\]\(plots/([^)]+)\)", markdown))
    files = {alt: (directory / "plots" / name).read_bytes() for alt, name in captions.items()}
    assert embedded == files and files
    targets = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert sorted(targets) == sorted(f"plots/{p.name}" for p in (directory / "plots").glob("*.png"))
    anchors = re.findall(r'href="#([^"]+)"', page)
    assert anchors and all(f'id="{anchor}"' in page for anchor in anchors)
    assert not re.search(r"(src|href)=\"(https?:|//)", page) and "<script" not in page


@pytest.mark.slow
def test_report_of_a_trained_run(repeat_group, repeat_answers):
    run = _seed_runs(repeat_group)[0]
    page, markdown = _report(run, repeat_answers["first"])
    metrics = json.loads((run / "metrics.json").read_text())
    rows = _rows(page)
    assert rows["metric"] == ["train", "validation", "test"]
    for name in ("rmse", "mae", "r2", "nll", "coverage", "interval_width", "crps"):
        assert rows[name] == [f"{metrics[s][name]:.4g}" for s in ("train", "validation", "test")]
        assert f"| {name} | " + " | ".join(rows[name]) + " |" in markdown
    baselines = page[page.index("<h2>Network vs baselines") :]
    rmse = _rows(baselines)["rmse"]
    assert rmse[1:] == [f"{metrics['baselines'][b]['rmse']:.4g}" for b in metrics["baselines"]]
    history = pd.read_csv(run / "history.csv")
    assert f"<dt>epochs</dt><dd>{len(history)}</dd>" in page
    assert f"<dt>best val_loss</dt><dd>{history['val_loss'].min():.4g} (epoch " in page
    assert {p.name for p in (run / "plots").glob("*.png")} == {
        "learning_curves.png",
        "predicted_vs_actual.png",
        "residuals.png",
        "intervals_sorted.png",
        "interval_calibration.png",
        "predictive_band.png",
    }
    _check_images_and_links(run, page, markdown)
    model = json.loads((run / "model.json").read_text())
    assert f"{model['total_params']:,} weights" in page and "Total params" not in page


@pytest.mark.slow
def test_report_of_a_repeat_group_links_its_seeds(repeat_group, repeat_answers):
    first, second = _seed_runs(repeat_group)
    _report(first, repeat_answers["first"])  # only the first seed has a report to link to
    page, markdown = _report(repeat_group, repeat_answers["group"])
    rmse = [json.loads((r / "metrics.json").read_text())["test"]["rmse"] for r in (first, second)]
    expected = f"{np.mean(rmse):.4g} ± {np.std(rmse, ddof=1):.4g}"
    assert "Metrics (mean ± std over 2 seeds)" in page
    assert _rows(page)["rmse"][2] == expected
    relative = first.relative_to(repeat_group)
    assert f'<li><a href="{relative}/report.html">{relative}</a></li>' in page
    assert f"<li>{second.relative_to(repeat_group)}</li>" in page
    assert (repeat_group / relative / "report.html").is_file()
    assert [p.name for p in (repeat_group / "plots").iterdir()] == ["seed_curves.png"]
    _check_images_and_links(repeat_group, page, markdown)


@pytest.mark.slow
def test_compare_two_runs(repeat_group, repeat_answers):
    first, second = _seed_runs(repeat_group)
    result = repeat_answers["compare"]
    assert result.returncode == 0, result.stderr
    *table, printed_out = result.stdout.strip().splitlines()
    out = Path(result.args[result.args.index("--output") + 1])
    assert Path(printed_out) == out
    lines = {line.split()[0]: line.split()[1:] for line in table}
    assert lines["key"] == [first.name, second.name]
    assert lines["seed"] == ["7", "8"]  # the only config key that differs
    metrics = [json.loads((r / "metrics.json").read_text()) for r in (first, second)]
    assert lines["test.rmse"] == [f"{m['test']['rmse']:.4g}" for m in metrics]
    csv = pd.read_csv(out / "compare.csv", index_col="run")
    assert csv["test.rmse"].tolist() == [m["test"]["rmse"] for m in metrics]
    assert list(csv.columns[:2]) == ["status", "seed"]
    markdown = (out / "compare.md").read_text()
    best = min(m["test"]["rmse"] for m in metrics)
    assert f"**{best:.4g}**" in markdown
    assert "![validation curves](compare.png)" in markdown
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_report_of_a_sweep(tmp_path):
    import toolkit

    # Tuned in this process: the report of the sweep, by the command, is what is checked.
    sweep = toolkit.tune(sweep_config(tmp_path, max_trials=2)).path
    assert json.loads((sweep / "sweep.json").read_text())["status"] == "completed"
    page, markdown = _report(sweep)
    trials = pd.read_csv(sweep / "trials.csv", dtype={"trial_id": str})
    best = json.loads((sweep / "sweep.json").read_text())["best_trial"]
    highlighted = re.findall(r'<tr class="hl"><td>([^<]+)</td>', page)
    assert highlighted == [best["trial_id"]]
    rows = _rows(page[page.index("<h2>Trials (best first") :])
    for trial in trials.itertuples():
        assert rows[trial.trial_id][list(trials.columns).index("objective") - 1] == (
            f"{trial.objective:.4g}"
        )
    assert {p.name for p in (sweep / "plots").glob("*.png")} == {
        "objective_per_trial.png",
        "best_so_far.png",
        "objective_vs_model.hidden.0.png",
        "objective_vs_training.optimizer.learning_rate.png",
    }
    _check_images_and_links(sweep, page, markdown)
    from toolkit.evaluation.report.sweep import sweep_plots

    figures = sweep_plots(sweep)  # the sampling is log, whatever span two trials happen to cover
    axis = figures["objective_vs_training.optimizer.learning_rate.png"].axes[0]
    assert axis.get_xscale() == "log"


@pytest.mark.slow
def test_report_and_compare_refuse_what_is_not_a_run(fake_run_answers):
    results, tmp_path, _ = fake_run_answers["not a run"]
    for result in results:  # report EMPTY, compare EMPTY FOLDER
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert list((tmp_path / "empty").iterdir()) == []


@pytest.mark.slow
def test_report_refuses_a_run_in_use_and_calls_a_killed_one_killed(tmp_path):
    """A report of a run another process was still writing came out as a snapshot with its
    results missing, and one of a killed run said "(running)" forever."""
    from toolkit.runs import LOCK_FILE

    config = tiny_config(training={"epochs": 500}, callbacks={"early_stopping": False})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    process = start_train(tmp_path / "config.yaml", tmp_path / "out")
    run_dir = kill_mid_run(tmp_path / "out", process, after_epochs=2)  # SIGKILL: no end recorded
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"

    holder = hold_lock(run_dir / LOCK_FILE)  # a process still writing the run
    try:
        before = snapshot(run_dir)
        in_use = run_cli("report", run_dir)
        assert in_use.returncode == 2
        assert in_use.stderr == (
            f"toolkit: error: run directory {run_dir} is in use by another toolkit process "
            f"(pid {holder.pid}); wait for it to end, or stop it and try again\n"
        )
        assert snapshot(run_dir) == before  # no report, nothing else
    finally:
        holder.kill()  # SIGKILL: the kernel drops its lock
        holder.wait(timeout=30)

    page, markdown = _report(run_dir)
    assert markdown.startswith("# tiny-regression (killed)\n")
    assert "- **status**: killed\n" in markdown
    assert f"toolkit train --resume {run_dir} continues it from its last epoch." in markdown
    assert "<h2>Why it stopped</h2>" in page
    assert not (run_dir / LOCK_FILE).exists()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"  # untouched


def test_compare_refuses_a_run_twice_and_an_output_that_is_a_file(fake_run_answers):
    """The same run twice was compared with itself; a file as --output was "File exists"."""
    (twice, into_file), tmp_path, made = fake_run_answers["twice"]  # see _twice
    runs = made["runs"]
    assert twice.returncode == 2
    assert twice.stderr == (
        f"toolkit: error: compare got the same run directory twice ({runs[0]} and {runs[0]}/); "
        "pass each run once\n"
    )
    assert into_file.returncode == 2
    assert into_file.stderr == (
        f"toolkit: error: --output {tmp_path / 'out.csv'} is a file; it names a directory for "
        "compare.md, compare.csv and compare.png\n"
    )
    assert snapshot(tmp_path) == made["before"]


def _fake_run(path: Path, **record) -> Path:
    """What compare reads of a run: its config.yaml and run.json."""
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump(tiny_config()))
    (path / "run.json").write_text(json.dumps({"status": "completed", **record}))
    return path


def _not_a_run(folder: Path) -> tuple[list, dict]:
    (folder / "empty").mkdir()
    return [["report", folder / "empty"], ["compare", folder / "empty", folder]], {}


def _twice(folder: Path) -> tuple[list, dict]:
    """The same run given twice; a file given as --output (``out.csv``)."""
    runs = []
    for name in ("a", "b"):  # what compare checks before reading anything: a run's two files
        run = folder / "runs" / name
        run.mkdir(parents=True)
        (run / "config.yaml").write_text(yaml.safe_dump(tiny_config()))
        (run / "run.json").write_text(json.dumps({"status": "completed"}))
        runs.append(run)
    (folder / "out.csv").write_text("kept\n")
    calls = [
        ["compare", runs[0], runs[1], f"{runs[0]}/"],
        ["compare", *runs, "--output", folder / "out.csv"],
    ]
    return calls, {"runs": runs, "before": snapshot(folder)}


def _nested(folder: Path, refused: bool) -> tuple[list, dict]:
    """Two seed runs of a group, and a sweep beside it: with ``refused``, compare of the
    runs into a run, a folder in a run, group or sweep; else compare with no --output."""
    group = _fake_run(folder / "exp" / "repeat-1", kind="repeat")
    runs = [_fake_run(group / "seeds" / "exp" / f"seed-{seed}-x") for seed in (7, 8)]
    sweep = folder / "exp" / "sweep-1"
    sweep.mkdir()
    (sweep / "sweep.json").write_text("{}")
    if not refused:
        return [["compare", *runs]], {"group": group}
    outputs = [
        (runs[1], "is", "run", runs[1]),
        (runs[1] / "new", "is inside", "run", runs[1]),
        (group / "seeds", "is inside", "--repeat group", group),
        (sweep / "trials", "is inside", "sweep", sweep),
    ]
    calls = [["compare", *runs, "--output", output] for output, *_ in outputs]
    return calls, {"refused": outputs, "before": snapshot(folder)}


def _other_tasks(folder: Path) -> tuple[list, dict]:
    """A binary and a multiclass run compared into ``out``; the binary run and a binary
    copy of the multiclass one into ``same``."""
    import shutil

    runs = []
    for name, task, accuracy in (("a", "binary", 0.97), ("b", "multiclass", 0.94)):
        run = folder / "runs" / name
        run.mkdir(parents=True)
        (run / "config.yaml").write_text(yaml.safe_dump(tiny_config(task)))
        (run / "run.json").write_text(json.dumps({"status": "completed"}))
        metrics = {"evaluated_on": "test", "test": {"accuracy": accuracy, "log_loss": 0.1}}
        (run / "metrics.json").write_text(json.dumps(metrics))
        (run / "history.csv").write_text("epoch,val_loss\n1,0.5\n2,0.4\n")
        runs.append(run)
    # Runs of one task: a copy of the multiclass run made binary.
    same = folder / "runs" / "b-binary"
    shutil.copytree(runs[1], same)
    (same / "config.yaml").write_text(yaml.safe_dump(tiny_config("binary")))
    calls = [
        ["compare", *runs, "--output", folder / "out"],
        ["compare", runs[0], same, "--output", folder / "same"],
    ]
    return calls, {}


def _positive_classes(folder: Path) -> tuple[list, dict]:
    """Two binary runs, one scoring 'legit' (no data.positive_class), one 'fraud'."""
    runs = []
    for name, positive, recall in (("a", None, 0.86), ("b", "fraud", 0.27)):
        run = folder / "runs" / name
        run.mkdir(parents=True)
        config = tiny_config("binary")
        if positive:
            config["data"]["positive_class"] = positive
        (run / "config.yaml").write_text(yaml.safe_dump(config))
        (run / "run.json").write_text(json.dumps({"status": "completed"}))
        classes = ["legit", "fraud"] if positive else ["fraud", "legit"]
        target = {"name": "label", "task": "binary", "classes": classes, "label_type": "str"}
        (run / "preprocessing.json").write_text(json.dumps({"target": target}))
        metrics = {"evaluated_on": "test", "test": {"accuracy": 0.8, "recall": recall}}
        (run / "metrics.json").write_text(json.dumps(metrics))
        (run / "history.csv").write_text("epoch,val_loss\n1,0.5\n2,0.4\n")
        runs.append(run)
    return [["compare", *runs, "--output", folder / "out"]], {}


# The cases of fake_run_answers: each builds its runs in a folder of its own and returns its
# commands and what the test needs of what it built.
FAKE_RUN_CASES = {
    "not a run": _not_a_run,
    "twice": _twice,
    "nested refused": lambda folder: _nested(folder, refused=True),
    "nested compared": lambda folder: _nested(folder, refused=False),
    "missing directory": lambda folder: ([["report", folder / "missing"]], {}),
    "other tasks": _other_tasks,
    "positive classes": _positive_classes,
}


@pytest.fixture(scope="module")
def fake_run_answers(tmp_path_factory) -> dict[str, tuple[list, Path, dict]]:
    """The ``report`` and ``compare`` commands of the tests below on the files compare reads
    of a run (no training), all run in one fresh process: they were seven processes, three
    of which imported the report's plotting (2 s of CPU each). By case: its commands'
    results, its folder, and what its builder returned for the test."""
    cases = {}
    for name, build in FAKE_RUN_CASES.items():
        folder = tmp_path_factory.mktemp(name.replace(" ", "-"))
        calls, made = build(folder)
        cases[name] = (calls, folder, made)
    answers = iter(cli_in_one_process(*(call for calls, _, _ in cases.values() for call in calls)))
    return {
        name: ([next(answers) for _ in calls], folder, made)
        for name, (calls, folder, made) in cases.items()
    }


def test_a_refused_report_or_compare_imports_nothing_of_the_report(tmp_path):
    """A mistyped directory, a run given twice or a refused --output took 2 s of the
    report's imports (matplotlib, scikit-learn, scipy, pandas) before its one line, 0.05 s
    now: the report is imported once the arguments are checked."""
    import subprocess
    import sys

    from tests.helpers import REPO

    first, second = (_fake_run(tmp_path / "runs" / name) for name in ("a", "b"))
    commands = [
        ["report", str(tmp_path / "missing")],
        ["report", str(tmp_path / "runs")],
        ["compare", str(first), str(first)],
        ["compare", str(first), str(second), "--output", str(second / "new")],
    ]
    code = (
        "import sys\n"
        "from toolkit.cli import main\n"
        f"for command in {commands!r}:\n"
        "    assert main(command) == 2, command\n"
        "heavy = ('matplotlib', 'sklearn', 'scipy', 'pandas', 'jinja2')\n"
        "imported = [name for name in heavy if name in sys.modules]\n"
        "assert not imported, imported\n"
    )
    before = snapshot(tmp_path)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == len(commands), result.stderr  # one line each
    assert all(line.startswith("toolkit: error: ") for line in lines), result.stderr
    assert snapshot(tmp_path) == before


def test_compare_starts_without_scikit_learn(tmp_path):
    """The plots package imported scikit-learn for its ROC and precision-recall curves, so
    ``toolkit compare`` (and ``toolkit report``) spent 1 s of CPU importing it for curves
    they never draw: 2.3 s a comparison, 1.4 s now."""
    from tests.helpers import cli_without_tensorflow

    first, second = (_fake_run(tmp_path / "runs" / name) for name in ("a", "b"))
    for run in (first, second):
        (run / "history.csv").write_text("epoch,val_loss\n1,0.5\n2,0.4\n")
    out = tmp_path / "out"
    cli_without_tensorflow(
        (["compare", first, second, "--output", out], 0),
        unimported=("sklearn", "tensorflow", "keras"),
    )
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_keeps_its_files_out_of_run_group_and_sweep_directories(fake_run_answers):
    """--output naming a run (or a folder in a run, group or sweep) wrote compare.md, .csv
    and .png among the run's own files; by default, two seed runs of a group were compared
    into a compare/ folder inside the group."""
    # The refusals and the comparison ran on two copies of the same folders; see _nested.
    refusals, tmp_path, made = fake_run_answers["nested refused"]
    for result, (output, where, kind, holder) in zip(refusals, made["refused"], strict=True):
        assert result.returncode == 2, result.stderr
        assert result.stderr == (
            f"toolkit: error: --output {output} {where} the {kind} directory {holder}: "
            "compare.md, compare.csv and compare.png would mix with its own files; name a "
            "directory outside it\n"
        )
    assert snapshot(tmp_path) == made["before"]
    (result,), tmp_path, made = fake_run_answers["nested compared"]
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(tmp_path / "exp" / "compare")
    assert sorted(p.name for p in (tmp_path / "exp" / "compare").iterdir()) == [
        "compare.csv",
        "compare.md",
        "compare.png",
    ]
    assert not list(made["group"].rglob("compare*"))


@pytest.mark.slow
def test_compare_says_the_status_of_runs_that_did_not_complete(tmp_path):
    """A failed or killed run's metrics were n/a in the comparison with nothing saying why."""
    import shutil

    import toolkit
    from toolkit.runs import LOCK_FILE

    failing = tiny_config(training={"optimizer": {"name": "sgd", "learning_rate": 1.0e8}})
    runs = {}
    # Trained in this process: the comparison, by the command, is what is checked.
    for name, config in (("completed", tiny_config()), ("failed", failing)):
        runs[name] = toolkit.train(config, output_dir=tmp_path / name, verbose=0).path
    assert json.loads((runs["failed"] / "run.json").read_text())["status"] == "failed"
    # As SIGKILL leaves a run: run.json says running; one with its lock held is still going.
    for name in ("killed", "running"):
        runs[name] = tmp_path / name
        shutil.copytree(runs["completed"], runs[name])
        record = json.loads((runs[name] / "run.json").read_text())
        (runs[name] / "run.json").write_text(json.dumps({**record, "status": "running"}))
    holder = hold_lock(runs["running"] / LOCK_FILE)
    try:
        result = run_cli("compare", *runs.values(), "--output", tmp_path / "out")
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(tmp_path / "out" / "compare.csv", index_col="run")
    assert table.columns[0] == "status"
    assert table["status"].tolist() == ["completed", "failed", "killed", "running"]
    assert pd.isna(table.loc[runs["failed"].name, "validation.rmse"])
    markdown = (tmp_path / "out" / "compare.md").read_text()
    assert "| status | completed | failed | killed | running |" in markdown


def test_report_of_a_missing_directory_says_not_found(fake_run_answers):
    """It said the missing path was "neither a run directory nor a sweep"."""
    (result,), tmp_path, _ = fake_run_answers["missing directory"]
    assert result.returncode == 2
    assert result.stderr == (
        f"toolkit: error: directory not found: {tmp_path / 'missing'} "
        "(report takes a run or a sweep)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_compare_marks_no_best_value_between_runs_of_other_tasks(fake_run_answers):
    """A binary model's accuracy (0.97) was marked best beside a 10-class model's (0.94),
    and its log loss beside theirs, with nothing said."""
    (result, of_one_task), tmp_path, _ = fake_run_answers["other tasks"]  # see _other_tasks
    assert result.returncode == 0, result.stderr
    reason = "the runs differ in model.task (binary, multiclass)"
    assert f"note: {reason}: their metrics are not comparable" in result.stdout
    markdown = (tmp_path / "out" / "compare.md").read_text()
    assert f"*Note: {reason}: their metrics are not comparable, so none is marked best.*" in (
        markdown
    )
    assert "**" not in markdown.replace("*Note:", "")
    # Runs of one task still get their best marked.
    assert of_one_task.returncode == 0, of_one_task.stderr
    assert "**0.97**" in (tmp_path / "same" / "compare.md").read_text()


def test_compare_marks_no_best_value_between_runs_scoring_other_positive_classes(
    fake_run_answers,
):
    """A run without data.positive_class (scoring 'legit', the second sorted label) showed
    n/a beside another's 'fraud', and its recall 0.86 was marked best beside 'fraud''s 0.27."""
    (result,), tmp_path, _ = fake_run_answers["positive classes"]  # see _positive_classes
    assert result.returncode == 0, result.stderr
    assert "note: the runs differ in data.positive_class (legit, fraud)" in result.stdout
    markdown = (tmp_path / "out" / "compare.md").read_text()
    assert "| data.positive_class | legit | fraud |" in markdown
    assert "**" not in markdown.replace("*Note:", "")


def test_a_binary_repeat_groups_positive_class_comes_from_its_seed_runs(tmp_path):
    """A repeat group has no preprocessing.json of its own: compare read it for the positive
    class of a binary group and failed with FileNotFoundError."""
    from toolkit.evaluation.report.compare import _config

    group = tmp_path / "repeat-x"
    seed_run = group / "seeds" / "x" / "seed-42"
    seed_run.mkdir(parents=True)
    (group / "config.yaml").write_text(yaml.safe_dump(tiny_config("binary")))
    runs = {"status": "completed", "seeds": [42], "runs": ["seeds/x/seed-42"]}
    (group / "run.json").write_text(json.dumps(runs))
    target = {"name": "label", "task": "binary", "classes": ["fraud", "legit"]}
    (seed_run / "preprocessing.json").write_text(json.dumps({"target": target}))
    assert _config(group)["data.positive_class"] == "legit"
    (seed_run / "preprocessing.json").unlink()  # nothing to read: shown as the config has it
    assert _config(group).get("data.positive_class") is None
