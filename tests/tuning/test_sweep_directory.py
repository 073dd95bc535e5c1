"""The sweep-directory contract: what a finished random sweep leaves, and --final-train."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import cli_in_one_process, run_cli
from tests.tuning.conftest import read_events, read_json, read_trials, sweep_dir_of, trial_lines
from toolkit.config.loading import load_config

SPACE = {
    "model.hidden.0": {"int": [4, 16], "step": 4},
    "training.optimizer.name": {"choice": ["adam", "sgd"]},
    "training.optimizer.momentum": {
        "float": [0.0, 0.9],
        "when": {"training.optimizer.name": "sgd"},
    },
    "training.optimizer.learning_rate": {"float": [1.0e-3, 3.0e-2], "sampling": "log"},
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One random sweep of 4 trials, keep_top_k 1, with --final-train."""
    from tests.tuning.conftest import sweep_config

    tmp_path = tmp_path_factory.mktemp("contract")
    config = sweep_config(tmp_path, max_trials=4, keep_top_k=1, seed=11, search_space=SPACE)
    config["runtime"] = {"deterministic": True}
    path = tmp_path / "sweep.yaml"
    import yaml

    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_cli("tune", path, "--final-train", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return result, sweep_dir_of(result)


@pytest.mark.slow
def test_sweep_json_and_output_lines(finished):
    result, sweep = finished
    record = read_json(sweep / "sweep.json")
    assert record["status"] == "completed"
    assert record["algorithm"] == "random" and record["objective"] == "val_loss"
    assert record["direction"] == "min" and record["max_trials"] == 4
    assert record["counts"] == {"finished": 4, "completed": 4, "failed": 0}
    assert record["search_space"] == list(SPACE)
    assert record["started"] and record["ended"]
    # stdout: the final run, then the sweep directory last; stderr: a line per trial and a table.
    final_run, last = result.stdout.strip().splitlines()[-2:]
    assert last == str(sweep)
    assert record["final_run"]["run_dir"] == final_run
    lines = trial_lines(result.stderr)
    assert [line.split()[2] for line in lines] == ["1/4", "2/4", "3/4", "4/4"]
    assert all("val_loss" in line and "best" in line and line.endswith(" s") for line in lines)
    assert any(line.startswith("trial  status     val_loss") for line in result.stderr.splitlines())
    assert "Epoch 1/2" not in result.stderr + result.stdout  # Keras' progress only with --verbose


@pytest.mark.slow
def test_the_final_runs_line_gives_its_metrics_as_train_does(finished):
    """--final-train ended with `final run completed: 2 epochs -> RUN`: no figure of the run a
    user tunes for, where `toolkit train` names the split and its metrics."""
    result, _ = finished
    final_run = Path(result.stdout.strip().splitlines()[-2])
    scores = read_json(final_run / "metrics.json")["validation"]  # the tiny config has no test
    epochs = len(pd.read_csv(final_run / "history.csv"))
    expected = (
        f"final run completed: {epochs} epochs; validation split (no test split: set "
        f"data.test): rmse {scores['rmse']:.4g}  mae {scores['mae']:.4g}  r2 {scores['r2']:.4g}"
        f" -> {final_run}"
    )
    assert expected in result.stderr.splitlines(), result.stderr[-2000:]


@pytest.mark.slow
def test_trials_csv_scores_each_trial_by_its_best_epoch(finished):
    _, sweep = finished
    rows = read_trials(sweep)
    assert list(rows[0])[:6] == ["trial_id", "status", *SPACE]
    assert {"objective", "best_epoch", "duration_s", "run_dir"} <= set(rows[0])
    assert [row["trial_id"] for row in rows] == ["0", "1", "2", "3"]
    for row in rows:
        history = pd.read_csv(sweep / row["run_dir"] / "history.csv")
        assert float(row["objective"]) == pytest.approx(history["val_loss"].min(), rel=1e-6)
        # Counted from 1, as history.csv's `epoch` column counts.
        assert int(row["best_epoch"]) == int(history["val_loss"].idxmin()) + 1
        assert int(row["best_epoch"]) == history.loc[history["val_loss"].idxmin(), "epoch"]
        assert float(row["duration_s"]) > 0
        # The trial's run is a normal run of the base config with the trial's values set.
        config = load_config(sweep / row["run_dir"] / "config.yaml")
        assert config.tuner is None
        assert config.model.hidden[0].units == int(row["model.hidden.0"])
        assert config.training.optimizer.name == row["training.optimizer.name"]
        if row["training.optimizer.name"] == "sgd":
            assert config.training.optimizer.arguments["momentum"] == pytest.approx(
                float(row["training.optimizer.momentum"])
            )
        else:  # an inactive conditional entry is not applied
            assert row["training.optimizer.momentum"] == ""
            assert "momentum" not in config.training.optimizer.arguments


@pytest.mark.slow
def test_best_config_and_model_and_final_run(finished):
    _, sweep = finished
    rows = read_trials(sweep)
    best = min(rows, key=lambda row: float(row["objective"]))
    record = read_json(sweep / "sweep.json")
    assert record["best_trial"]["trial_id"] == best["trial_id"]

    best_config = load_config(sweep / "best_config.yaml")
    assert best_config.tuner is None
    assert best_config == load_config(sweep / best["run_dir"] / "config.yaml")
    assert "tuner" not in (sweep / "best_config.yaml").read_text()
    assert filecmp.cmp(
        sweep / "best_model.keras", sweep / best["run_dir"] / "model.keras", shallow=False
    )

    # --final-train trained best_config.yaml as it is, and got the best trial's result back.
    final = sweep.parent.parent / "tiny-sweep"
    final_run = next(p for p in final.iterdir() if not p.name.startswith("sweep-"))
    assert load_config(final_run / "config.yaml") == best_config
    history = pd.read_csv(final_run / "history.csv")
    assert history["val_loss"].min() == pytest.approx(float(best["objective"]), rel=1e-5)


@pytest.mark.slow
def test_only_the_best_keep_top_k_trials_keep_checkpoints_and_models(finished):
    _, sweep = finished
    rows = read_trials(sweep)
    best = min(rows, key=lambda row: float(row["objective"]))
    for row in rows:
        run = sweep / row["run_dir"]
        assert (run / "history.csv").exists() and (run / "metrics.json").exists()
        kept = row["trial_id"] == best["trial_id"]
        assert (run / "model.keras").exists() == kept
        assert (run / "checkpoints").exists() == kept


@pytest.mark.slow
def test_a_trial_whose_model_the_sweep_deleted_says_so_and_how_to_retrain_it(finished):
    """predict, evaluate and export of a trial outside keep_top_k said "has no model.keras
    (run status: completed)", which read as a run gone wrong."""
    _, sweep = finished
    best = min(read_trials(sweep), key=lambda row: float(row["objective"]))
    pruned = next(row for row in read_trials(sweep) if row["trial_id"] != best["trial_id"])
    run = sweep / pruned["run_dir"]
    # Both commands in one fresh process: each answers with its own exit code and output.
    for result in cli_in_one_process(["evaluate", run], ["export", run]):
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr == (
            f"toolkit: error: {run} has no model.keras: its sweep keeps the models of its "
            f"best 1 trial only (tuner.keep_top_k); train this trial's config again with: "
            f"toolkit train {run / 'config.yaml'}\n"
        )


@pytest.mark.slow
def test_keras_tuner_state_and_tensorboard_hparams(finished):
    _, sweep = finished
    assert (sweep / "tuner" / "oracle.json").exists()
    assert len(list((sweep / "tuner").glob("trial_*/trial.json"))) == 4
    assert read_events(sweep / "tensorboard")["experiment"] == list(SPACE)
    for row in read_trials(sweep):
        events = read_events(sweep / "tensorboard" / f"trial-{row['trial_id']}")
        # The session's metric is the trial's BEST objective, not its last epoch's.
        assert events["hparams/val_loss"] == pytest.approx(float(row["objective"]), rel=1e-6)
        session = events["session"]
        assert session["model.hidden.0"] == int(row["model.hidden.0"])
        assert session["training.optimizer.name"] == row["training.optimizer.name"]
        assert ("training.optimizer.momentum" in session) == (
            row["training.optimizer.name"] == "sgd"
        )


@pytest.mark.slow
def test_a_python_callers_sweep_refusals_name_tunes_keywords_not_the_flags(finished, tmp_path):
    """``toolkit.tune(resume=...)`` of a completed sweep said "extend it with --set
    tuner.max_trials=N ... with --final-train", and its other refusals "--resume", "CONFIG"
    and "--sweep-dir": what the CLI takes. From Python they name tune()'s keywords."""
    import toolkit

    _, sweep = finished
    before = {p.name: p.read_bytes() for p in sweep.iterdir() if p.is_file()}
    config = sweep / "base_config.yaml"
    cases = [
        (
            {"resume": sweep},
            f"{sweep} already completed; nothing to resume: extend it with "
            "overrides={'tuner.max_trials': N} (N > 4), or train its best config with "
            "final_train=True",
        ),
        (
            {"config": config, "resume": sweep},
            "resume takes the config from the sweep directory; drop config (extend the sweep "
            "with overrides={'tuner.max_trials': N})",
        ),
        (
            {"resume": sweep, "sweep_dir": tmp_path / "other"},
            f"resume continues the sweep in {sweep}; drop sweep_dir='{tmp_path / 'other'}'",
        ),
        ({}, "tune needs a config with a tuner: section (or resume=SWEEP_DIR)"),
        (
            {"config": config, "sweep_dir": sweep},
            f"{sweep} already holds a sweep; continue it with resume='{sweep}'",
        ),
        (
            {"resume": sweep, "overrides": {"training.epochs": 9}},
            "training.epochs: resume keeps the sweep's config; only tuner.max_trials",
        ),
    ]
    for keywords, message in cases:
        with pytest.raises(toolkit.ToolkitError) as refused:
            toolkit.tune(**keywords)
        assert str(refused.value).startswith(message)
        assert "--" not in str(refused.value).replace(str(sweep), "")
    assert {p.name: p.read_bytes() for p in sweep.iterdir() if p.is_file()} == before
    assert not (tmp_path / "other").exists()


@pytest.mark.slow
def test_resuming_a_completed_sweep_is_refused_and_writes_nothing(finished):
    """It printed 'the sweep is complete', then rewrote sweep.json (its end time: a 32-second
    sweep reported 4 minutes), base_config.yaml and trials.csv, and exited 0."""
    _, sweep = finished
    before = {p.name: p.read_bytes() for p in sweep.iterdir() if p.is_file()}
    cases = (
        ((), f"{sweep} already completed; nothing to resume: extend it with --set "),
        (
            ("--set", "tuner.max_trials=3"),
            "tuner.max_trials 3 is below the 4 trials the sweep has finished",
        ),
    )
    # Both commands in one fresh process: each answers with its own exit code and stderr.
    results = cli_in_one_process(*[["tune", "--resume", sweep, *extra] for extra, _ in cases])
    for result, (_, message) in zip(results, cases, strict=True):
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"toolkit: error: {message}"), result.stderr
        assert len(result.stderr.splitlines()) == 1
    assert {p.name: p.read_bytes() for p in sweep.iterdir() if p.is_file()} == before


def _mistake_in_the_data(tmp_path: Path) -> Path:
    """A sweep config whose data file has no column of its target (``yy``, not ``y``)."""
    import numpy as np
    import yaml

    from tests.tuning.conftest import sweep_config

    rows = np.random.default_rng(0).normal(size=(40, 3))
    pd.DataFrame(rows, columns=["a", "b", "y"]).to_csv(tmp_path / "rows.csv", index=False)
    config = sweep_config(tmp_path, max_trials=2)
    config["data"] = {"source": str(tmp_path / "rows.csv"), "target": "yy", "validation": 0.25}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


BACKBONE_CASES = [
    ("imagenet", {}),
    ("none", {"model.backbone.weights": {"choice": ["none", "imagenet"]}}),
]


def _backbone_offline(tmp_path: Path, weights: str, space: dict) -> Path:
    """A sweep config of a MobileNetV3Small backbone with ``weights`` (and ``space``)."""
    import yaml

    from tests.image_data import write_class_folder
    from tests.tuning.conftest import sweep_config

    folder = write_class_folder(tmp_path / "pets", per_class=4, size=32)
    config = sweep_config(
        tmp_path, max_trials=2, search_space={"model.hidden.0": {"choice": [4, 8]}, **space}
    )
    config["data"] = {"source": str(folder), "validation": 0.25}
    config["training"]["batch_size"] = 2
    config["model"] = {
        "task": "binary",
        "body": "backbone",
        "backbone": {"name": "MobileNetV3Small", "weights": weights},
        "hidden": [4],
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def refused_sweeps(tmp_path_factory) -> dict[str, tuple[object, Path]]:
    """``toolkit tune`` of the mistaken data and of the two offline backbone configs, in one
    fresh process (each in its own folder, with its own exit code and output; all refused
    once TensorFlow has started, so a process each only repeated the start-up), offline:
    an empty Keras cache and an HTTPS proxy nobody serves. Keyed by case; each with its
    folder."""
    calls = {}
    folder = tmp_path_factory.mktemp("mistake")
    calls["mistake"] = (["tune", _mistake_in_the_data(folder)], folder)
    for weights, space in BACKBONE_CASES:
        folder = tmp_path_factory.mktemp(f"backbone-{weights}")
        calls[weights] = (["tune", _backbone_offline(folder, weights, space)], folder)
    home = tmp_path_factory.mktemp("keras-home")
    with pytest.MonkeyPatch.context() as environment:  # the process inherits os.environ
        environment.setenv("KERAS_HOME", str(home))
        environment.setenv("https_proxy", "http://127.0.0.1:9")
        environment.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
        results = cli_in_one_process(*calls.values())
    answers = {
        case: (result, folder)
        for (case, (_, folder)), result in zip(calls.items(), results, strict=True)
    }
    answers["keras-home"] = (None, home)
    return answers


def test_a_mistake_in_the_data_leaves_no_sweep_directory(refused_sweeps):
    """The data is first read after the sweep's directory exists (TensorFlow has started by
    then); a target missing from the file left a sweep at status 'created', which report
    and --resume took for one. Now nothing is left, as train leaves no run directory."""
    result, tmp_path = refused_sweeps["mistake"]
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"toolkit: error: {tmp_path / 'rows.csv'}: target column 'yy' is not in the data "
        "(did you mean 'y'?); columns: a, b, y\n"
    )
    assert not (tmp_path / "out").exists()  # nor the output_dir made for it


@pytest.mark.parametrize("weights, space", BACKBONE_CASES)
def test_backbone_weights_offline_refuse_the_sweep_before_any_trial(refused_sweeps, weights, space):
    """ImageNet weights not in Keras' cache, offline: every trial failed (each printing
    "Downloading data from ..."), exit 1, the sweep's directory left. Now one line, exit 2,
    nothing written, for the base config's backbone and for one the search can switch to."""
    result, tmp_path = refused_sweeps[weights]  # the case of ``space`` too
    _, home = refused_sweeps["keras-home"]
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr == (
        "toolkit: error: backbone MobileNetV3Small: its ImageNet weights are not in Keras' "
        "cache and cannot be downloaded; put weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5 "
        f"in {home / 'models'} (Keras' cache, set by KERAS_HOME), go online once, or set "
        "weights: none\n"
    )
    assert not (tmp_path / "out").exists()


def test_image_sizes_in_the_search_space_read_images_of_mixed_sizes(tmp_path):
    """Images of mixed sizes with ``image_size: null`` and sizes in the search space: every
    trial resizes, but the sweep loaded the base config's data first and stopped before any
    trial with 'images have different sizes ...; set data.image.image_size', which the search
    space sets. Each trial's model now takes the size its trial drew."""
    import yaml
    from PIL import Image

    from tests.image_data import write_class_folder
    from tests.tuning.conftest import read_trials, sweep_config, sweep_dir_of

    folder = write_class_folder(tmp_path / "pets", per_class=6, size=16)
    Image.new("RGB", (20, 12)).save(folder / "cat" / "wide.png")
    sizes = [[8, 8], [12, 12]]
    config = sweep_config(
        tmp_path,
        algorithm="grid",
        max_trials=2,
        search_space={"data.image.image_size": {"choice": sizes}},
    )
    config["data"] = {"source": str(folder), "validation": 0.25}
    config["model"] = {"task": "binary", "body": "conv", "conv": {"blocks": [4]}, "hidden": [4]}
    config["training"]["batch_size"] = 4
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_cli("tune", path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    sweep = sweep_dir_of(result)
    rows = read_trials(sweep)
    assert [row["status"] for row in rows] == ["completed", "completed"]
    for row in rows:
        spec = json.loads((sweep / row["run_dir"] / "preprocessing.json").read_text())
        assert spec["image"]["shape"][:2] == json.loads(row["data.image.image_size"])
    assert sorted(json.loads(row["data.image.image_size"]) for row in rows) == sizes
