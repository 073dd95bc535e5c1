"""A trial that gives NaN is recorded as failed and the sweep goes on; cv_folds scores by k folds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.helpers import cli_in_one_process, run_cli
from tests.tuning.conftest import (
    read_events,
    read_json,
    read_trials,
    sweep_config,
    sweep_dir_of,
    trial_lines,
)


def _nan_trial_case(root: Path) -> dict:
    """Grid order: 0.01, then the huge rate (NaN loss), then 0.001; two folds per trial."""
    space = {"training.optimizer.learning_rate": {"choice": [0.01, 1.0e12, 0.001]}}
    return sweep_config(root, algorithm="grid", max_trials=3, cv_folds=2, search_space=space)


# Grid order: fail, complete, fail, fail, then a good rate that only a resume reaches.
_FAILING_RATES = [1.0e12, 0.01, 1.0e11, 1.0e10, 0.001]


def _failures_in_a_row_case(root: Path) -> dict:
    """Stopped by two failed trials in a row, before the last rate of _FAILING_RATES."""
    space = {"training.optimizer.learning_rate": {"choice": _FAILING_RATES}}
    config = sweep_config(
        root, algorithm="grid", max_trials=5, max_consecutive_failures=2, search_space=space
    )
    config["training"]["optimizer"] = {"name": "sgd"}
    return config


def _rare_class_case(root: Path) -> dict:
    """A class of 3 rows (2 after the validation split) with cv_folds 3."""
    rng = np.random.default_rng(0)
    n = 150
    frame = pd.DataFrame({"x0": rng.normal(size=n), "x1": rng.normal(size=n)})
    frame["label"] = np.where(frame["x0"] > 0, "up", "down")
    frame.loc[:2, "label"] = "rare"
    frame.to_csv(root / "table.csv", index=False)
    config = sweep_config(root, max_trials=1, cv_folds=3)
    config["model"]["task"] = "multiclass"
    config["data"] = {"source": str(root / "table.csv"), "target": "label", "validation": 0.2}
    return config


def _class_weight_case(root: Path, base: dict | None, space: dict) -> dict:
    """A churn table whose class weight (in the base config or searched) names 'yse'."""
    rng = pd.Series(range(120))
    pd.DataFrame({"x": rng * 0.1, "churn": ["yes" if i % 5 == 0 else "no" for i in rng]}).to_csv(
        root / "churn.csv", index=False
    )
    config = sweep_config(root, algorithm="grid", max_trials=2, search_space=space)
    config["data"] = {"source": str(root / "churn.csv"), "target": "churn"}
    config["model"]["task"] = "binary"
    config["tuner"]["objective"] = "validation.f1"
    config["training"]["class_weight"] = base
    return config


CLASS_WEIGHT_CASES = {
    "searched": (
        None,
        {"training.class_weight": {"choice": ["balanced", {"yse": 5}]}},
        "tuner.search_space.training.class_weight: ",
    ),
    "base": ({"yse": 5}, {"model.dropout": {"choice": [0.0, 0.1]}}, "training.class_weight: "),
}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> dict:
    """``toolkit tune CONFIG`` (in ROOT) of each case above, each in a folder ROOT of its own:
    the calls run in one fresh process (TensorFlow starts once for them all), each answering
    with its own exit code, stdout and stderr; by case, the answer and ROOT. The rare class
    first: toolkit.tuning.trial's filter of scikit-learn's warning is set as it is imported,
    and the runner restores the warning filters after each call, as a process of its own
    would start each with them; Keras' messages are turned off by each trial itself."""
    cases = {
        "rare-class": _rare_class_case,
        "nan-trial": _nan_trial_case,
        "failures-in-a-row": _failures_in_a_row_case,
        **{
            f"class-weight-{name}": (lambda root, case=case: _class_weight_case(root, *case[:2]))
            for name, case in CLASS_WEIGHT_CASES.items()
        },
    }
    roots, calls = {}, []
    for name, make in cases.items():
        root = roots[name] = tmp_path_factory.mktemp(name)
        config = root / "config.yaml"
        config.write_text(yaml.safe_dump(make(root), sort_keys=False))
        calls.append((["tune", config], root))
    answers = cli_in_one_process(*calls)
    return {name: (answer, roots[name]) for name, answer in zip(cases, answers, strict=True)}


@pytest.mark.slow
def test_nan_trial_fails_alone_and_trials_are_cross_validated(tuned):
    result, _ = tuned["nan-trial"]
    assert result.returncode == 0, result.stderr
    sweep = sweep_dir_of(result)

    rows = {row["trial_id"]: row for row in read_trials(sweep)}
    assert [rows[t]["status"] for t in ("0", "1", "2")] == ["completed", "failed", "completed"]
    failed = rows["1"]
    assert float(failed["training.optimizer.learning_rate"]) == 1.0e12
    assert "nan" in failed["reason"].lower() and failed["objective"] == ""
    assert "failed: loss became nan" in trial_lines(result.stderr)[1]
    record = read_json(sweep / "sweep.json")
    assert record["status"] == "completed"
    assert record["counts"] == {"finished": 3, "completed": 2, "failed": 1}
    assert record["best_trial"]["trial_id"] != "1"
    assert not (sweep / "tensorboard" / "trial-1").exists()
    assert "Traceback" not in result.stderr
    # Keras' own "Batch 3: Invalid loss, terminating training" stays off, as in toolkit train
    # without --verbose (each trial's clear_session had turned Keras' messages back on).
    assert "Invalid loss" not in result.stderr

    # Each completed trial: one run per fold; objective = mean of the folds' best val_loss.
    runs = sorted(p.name for p in (sweep / "trials" / "tiny-sweep").iterdir())
    for trial_id in ("0", "2"):
        folds = [run for run in runs if run.startswith(f"trial-{trial_id}-f")]
        assert [run[: len(f"trial-{trial_id}-f0")] for run in folds] == [
            f"trial-{trial_id}-f0",
            f"trial-{trial_id}-f1",
        ]
        bests = [
            pd.read_csv(sweep / "trials" / "tiny-sweep" / run / "history.csv")["val_loss"].min()
            for run in folds
        ]
        row = rows[trial_id]
        assert float(row["objective"]) == pytest.approx(sum(bests) / 2, rel=1e-6)
        assert float(row["objective_std"]) == pytest.approx(abs(bests[0] - bests[1]) / 2, rel=1e-5)
        events = read_events(sweep / "tensorboard" / f"trial-{trial_id}")
        assert events["hparams/val_loss"] == pytest.approx(float(row["objective"]), rel=1e-6)
    # The folds split the training split (120 of 160 rows) in two halves.
    fold_summary = read_json(sweep / "trials" / "tiny-sweep" / runs[0] / "data_summary.json")
    assert fold_summary["rows"] == {"train": 60, "validation": 60}


@pytest.mark.slow
def test_failures_in_a_row_stop_the_sweep_and_a_resume_must_raise_the_limit(tuned):
    """A resume within the same limit ran one more trial (the reloaded oracle had forgotten
    why it stopped), which failed, and stopped again: now it is refused with the reason and
    nothing is written; a resume that raises the limit goes on."""
    result, tmp_path = tuned["failures-in-a-row"]
    assert result.returncode == 1, result.stderr
    sweep = sweep_dir_of(result)
    reason = "2 trials in a row failed (tuner.max_consecutive_failures is 2); stopping the search"
    assert result.stderr.strip().splitlines()[-1] == f"sweep failed: {reason}"
    assert "Traceback" not in result.stderr

    # Two failures in all after trial 0 did not stop it; two in a row (trials 2, 3) did.
    rows = {row["trial_id"]: row for row in read_trials(sweep)}
    assert [rows[t]["status"] for t in sorted(rows)] == ["failed", "completed", "failed", "failed"]
    record = read_json(sweep / "sweep.json")
    assert record["status"] == "failed" and record["reason"] == reason
    assert record["settings"]["max_consecutive_failures"] == 2

    # Every file of the sweep, to check that a refused resume changes none.
    before = {p: p.read_bytes() for p in sweep.rglob("*") if p.is_file()}
    # Both refusals in one fresh process, each answering with its own exit code and stderr.
    limits = ([], ["--set", "tuner.max_consecutive_failures=2"])
    refusals = cli_in_one_process(
        *((["tune", "--resume", sweep, *limit], tmp_path) for limit in limits)
    )
    for limit, refused in zip(limits, refusals, strict=True):
        assert refused.returncode == 2, (limit, refused.stderr)
        assert refused.stderr.splitlines() == [
            f"toolkit: error: {sweep} stopped: 2 trials in a row failed "
            "(tuner.max_consecutive_failures is 2); nothing to resume: see why in trials.csv's "
            "reason column, and to run more trials raise the limit with "
            "--set tuner.max_consecutive_failures=N (N > 2)"
        ], limit
    assert {p: p.read_bytes() for p in sweep.rglob("*") if p.is_file()} == before

    resumed = run_cli(
        "tune", "--resume", sweep, "--set", "tuner.max_consecutive_failures=3", cwd=tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr
    rows = {row["trial_id"]: row for row in read_trials(sweep)}
    assert rows["4"]["status"] == "completed"
    assert float(rows["4"]["training.optimizer.learning_rate"]) == 0.001
    assert read_json(sweep / "sweep.json")["status"] == "completed"


@pytest.mark.slow
def test_a_class_with_fewer_rows_than_folds_is_one_warning_line(tuned):
    """A class of 3 rows (2 after the validation split) with cv_folds 3: scikit-learn's
    two-line UserWarning with its source path came out mid-sweep. Now one toolkit line names
    the class and its rows, and the sweep runs."""
    result, _ = tuned["rare-class"]
    assert result.returncode == 0, result.stderr
    assert "UserWarning" not in result.stderr and "least populated" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("toolkit: warning")]
    summary = read_json(next(sweep_dir_of(result).rglob("data_summary.json")))
    assert summary["target"]["classes"] == ["down", "rare", "up"]
    assert lines == [
        "toolkit: warning: tuner.cv_folds 3: class 'rare' (2 rows) of target column 'label' "
        "in the training split cannot be in every fold's validation rows; fewer folds, or more "
        "rows of them, fix it"
    ]


def test_the_classes_below_the_folds_warning_names_the_target_column(capsys):
    """The warning named the classes but not the column they are labels of."""
    import numpy as np

    from toolkit.tuning.trial import _warn_of_classes_below_the_folds

    labels = np.array([0, 0, 0, 1, 2, 2, 2, 2])  # 'fish' 1 row, 'cat' 3: below 4 folds
    _warn_of_classes_below_the_folds(labels, ["cat", "fish", "dog"], 4, "species")
    assert capsys.readouterr().err == (
        "toolkit: warning: tuner.cv_folds 4: classes 'cat' (3 rows), 'fish' (1 row) of target "
        "column 'species' in the training split cannot be in every fold's validation rows; "
        "fewer folds, or more rows of them, fix it\n"
    )


@pytest.mark.parametrize("case", list(CLASS_WEIGHT_CASES))
def test_a_class_weight_label_that_is_not_a_class_is_refused_before_the_sweep(tuned, case):
    """A searched choice {yse: 5} failed each trial that drew it after the others trained; in
    the base config every trial failed ('sweep failed: no trial completed')."""
    result, tmp_path = tuned[f"class-weight-{case}"]
    prefix = CLASS_WEIGHT_CASES[case][2]
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].endswith(
        f"{prefix}'yse' is not a class of target 'churn' (did you mean 'yes'?); classes: no, yes"
    )
    # No sweep directory, nor the output_dir it made for it (an empty folder was left).
    assert not (tmp_path / "out").exists()


def test_a_sweep_without_a_completed_trial_says_so_for_its_best_model(make_sweep_config):
    """Every trial failed: ``Sweep.best_config`` said 'no trial completed yet', and
    ``Sweep.best_model`` 'model file not found: .../best_model.keras', as if a file had been
    lost. Both now say why there is none."""
    import toolkit

    space = {"training.optimizer.learning_rate": {"choice": [1.0e12, 1.0e11]}}
    config = make_sweep_config(
        algorithm="grid", max_trials=2, max_consecutive_failures=2, search_space=space
    )
    config["training"]["optimizer"] = {"name": "sgd"}
    sweep = toolkit.tune(config, verbose=0)
    assert sweep.status == "failed" and sweep.best_trial is None
    assert set(sweep.trials["status"]) == {"failed"}
    for attribute in ("best_config", "best_model"):
        with pytest.raises(toolkit.ToolkitError) as caught:
            getattr(sweep, attribute)
        file = "best_config.yaml" if attribute == "best_config" else "best_model.keras"
        assert str(caught.value) == f"{sweep.path} has no {file}: no trial completed yet"
    assert sweep.best_run is None


def test_cross_validated_trials_on_signals_and_images_train_each_fold(make_sweep_config, tmp_path):
    """With ``cv_folds`` every trial on signals or images failed: a fold's refitted spec
    dropped the signal and image inputs ('NoneType' object has no attribute 'shape'). Each
    fold's signal statistics are its own training rows': with 2 folds, their row-weighted
    means add up to the whole training split's, as a plain run of the config fits them."""
    import json

    import numpy as np

    import toolkit
    from tests.image_data import write_class_folder

    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 16, 2)).astype("float32") + np.array([3.0, -1.0], "float32")
    y = np.arange(80) % 2
    x[y == 1, :, 0] += 2.0
    np.savez(tmp_path / "signals.npz", x=x, y=y)
    folder = write_class_folder(tmp_path / "pets", per_class=16, size=8)
    body = {"body": "conv", "conv": {"blocks": [4]}, "hidden": [4]}
    for source in (tmp_path / "signals.npz", folder):
        config = make_sweep_config(
            max_trials=1, cv_folds=2, search_space={"model.dropout": {"choice": [0.0, 0.1]}}
        )
        kind = "signal" if source.suffix == ".npz" else None
        config["data"] = {"source": str(source), "kind": kind, "validation": 0.25}
        config["model"] = {"task": "binary", **body}
        config["training"].update(epochs=1, batch_size=4)
        config["output_dir"] = str(tmp_path / f"out-{source.name}")
        sweep = toolkit.tune(config, verbose=0)
        assert sweep.status == "completed", sweep.trials["reason"].tolist()
        folds = sorted((sweep.path / "trials").glob("*/trial-0-f*"))
        assert len(folds) == 2
        if kind is None:
            continue
        specs = [json.loads((f / "preprocessing.json").read_text())["signal"] for f in folds]
        rows = [json.loads((f / "data_summary.json").read_text())["rows"]["train"] for f in folds]
        assert specs[0]["mean"] != specs[1]["mean"]
        config.pop("tuner")
        whole = toolkit.train(config, output_dir=tmp_path / "plain", verbose=0)
        fitted = whole.spec.signal
        plain_rows = json.loads((whole.path / "data_summary.json").read_text())["rows"]["train"]
        assert sum(rows) == plain_rows  # 2 folds: each training row in exactly one fold's
        combined = sum(n * np.array(s["mean"]) for n, s in zip(rows, specs, strict=True))
        np.testing.assert_allclose(combined / sum(rows), fitted.mean, rtol=1e-5, atol=1e-5)
