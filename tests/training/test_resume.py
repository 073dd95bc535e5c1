"""Killed runs resume exactly; Ctrl-C marks a run interrupted; NaN losses fail cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import (
    hold_lock,
    kill_mid_run,
    snapshot,
    start_train,
    tiny_config,
    wait_for_resume_point,
)


def _config(write_config, epochs: int = 30, **overrides):
    """A run whose epochs (1125 training rows, 71 steps) are long enough for a kill or a
    signal to land between two of them; 3000 rows made each test train twice as long."""
    config = tiny_config(
        model={"task": "regression", "hidden": [32, 16], "dropout": 0.1},
        runtime={"deterministic": True},
        data={"source": "synthetic:regression", "synthetic": {"samples": 1500, "features": 6}},
        **overrides,
    )
    config["training"] = {
        "epochs": epochs,
        "batch_size": 16,
        "optimizer": {"name": "adam", "learning_rate": 0.003},
    }
    config["callbacks"]["early_stopping"] = {"patience": 5}
    return write_config(config)


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(cli, write_config, tmp_path):
    from toolkit.models.saving import load_model

    config = _config(write_config)
    reference = cli("train", config, "--output-dir", tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr
    reference_dir = Path(reference.stdout.strip().splitlines()[-1])

    process = start_train(config, tmp_path / "killed")
    run_dir = kill_mid_run(tmp_path / "killed", process, after_epochs=3)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    # A report of the killed run says so; it stayed, saying "killed", after the resume.
    report = cli("report", run_dir)
    assert report.returncode == 0, report.stderr
    assert "(killed)" in (run_dir / "report.md").read_text()

    resumed = cli("train", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip().splitlines()[-1] == str(run_dir)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "completed" and record["resumed_at_epoch"] >= 4  # 3 done
    assert len(record["resumed"]) == 1 and record["resumed"][0] >= record["started"]
    assert not (run_dir / "report.md").exists() and not (run_dir / "report.html").exists()

    expected = pd.read_csv(reference_dir / "history.csv")
    actual = pd.read_csv(run_dir / "history.csv")
    assert list(actual["epoch"]) == list(expected["epoch"])  # no duplicated or missing epochs
    assert list(actual["epoch"]) == list(range(1, len(actual) + 1))  # counted from 1
    np.testing.assert_array_equal(actual["loss"], expected["loss"])
    np.testing.assert_array_equal(actual["val_loss"], expected["val_loss"])
    assert (
        record["best_epoch"] == json.loads((reference_dir / "run.json").read_text())["best_epoch"]
    )
    for a, b in zip(
        load_model(reference_dir / "model.keras").get_weights(),
        load_model(run_dir / "model.keras").get_weights(),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_a_run_in_use_is_not_resumed_twice_and_a_killed_holder_releases_it(
    cli, write_config, tmp_path
):
    """Two --resume of one run wrote into it at once; the second now stops with one line
    naming the run and the holder's PID, and writes nothing."""
    from toolkit.runs import LOCK_FILE

    config = _config(write_config, epochs=4)
    process = start_train(config, tmp_path / "killed")
    run_dir = kill_mid_run(tmp_path / "killed", process, after_epochs=1)  # SIGKILL: no unlock

    holder = hold_lock(run_dir / LOCK_FILE)
    try:
        before = snapshot(run_dir)
        second = cli("train", "--resume", run_dir)
        assert second.returncode == 2
        assert second.stderr == (
            f"toolkit: error: run directory {run_dir} is in use by another toolkit process "
            f"(pid {holder.pid}); wait for it to end, or stop it and try again\n"
        )
        assert snapshot(run_dir) == before  # nothing written
    finally:
        holder.kill()  # SIGKILL: the kernel drops its lock
        holder.wait(timeout=30)

    # What a kill during an atomic write leaves: its temporary file. They stayed for good,
    # beside the file the resumed run wrote; a predict output's locked one is not the run's.
    stale = [run_dir / ".tmp-0123456789ab-metrics.json", run_dir / "plots/.tmp-a1b2c3d4e5f6-x.png"]
    predicting = run_dir / ".tmp-locked-0123456789ab-predictions.csv"
    for path in [*stale, predicting]:
        path.parent.mkdir(exist_ok=True)
        path.write_text("half")

    resumed = cli("train", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
    assert not (run_dir / LOCK_FILE).exists()  # the killed holders' file, taken over, deleted
    assert not any(path.exists() for path in stale) and predicting.exists()


@pytest.fixture(scope="module")
def completed_run(tmp_path_factory):
    """A tiny run trained to its end in this process (what is checked is what it left and
    what the command says of it)."""
    import toolkit

    run = toolkit.train(tiny_config(), output_dir=tmp_path_factory.mktemp("done"), verbose=0)
    assert run.status == "completed"
    return run


def test_a_finished_run_leaves_no_lock_file(completed_run):
    """The lock file stayed in every run directory after the run ended."""
    from toolkit.runs import LOCK_FILE

    run = completed_run
    assert (run.path / "run.json").exists()
    assert not (run.path / LOCK_FILE).exists()


def test_a_killed_holders_lock_file_is_taken_over_and_deleted(tmp_path):
    """SIGKILL leaves the file (with the dead PID) but not its lock: the next holder takes
    it, writes its own PID, and deletes it when done."""
    import os

    from toolkit.runs import LOCK_FILE, DirectoryLock

    lock_file = tmp_path / LOCK_FILE
    holder = hold_lock(lock_file)
    holder.kill()
    holder.wait(timeout=30)
    assert lock_file.read_text().strip() == str(holder.pid)  # stale, as a killed run leaves it

    with DirectoryLock.acquire(tmp_path):
        assert lock_file.read_text().strip() == str(os.getpid())
    assert not lock_file.exists()


def test_a_lock_file_deleted_by_its_holder_is_not_mistaken_for_the_lock(tmp_path):
    """A process that opened the file just before its holder deleted it and let go locks a
    file no longer named: ``acquire`` opens the name again, which a third process may hold."""
    import os

    from toolkit.runs import LOCK_FILE, _still_named

    lock_file = tmp_path / LOCK_FILE
    opened_before = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        assert _still_named(opened_before, lock_file)
        lock_file.unlink()
        assert not _still_named(opened_before, lock_file)
        lock_file.write_text("")  # the third process's new file
        assert not _still_named(opened_before, lock_file)
    finally:
        os.close(opened_before)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_an_interrupt_marks_the_run_interrupted_and_keeps_checkpoints(
    write_config, tmp_path, signum
):
    """Ctrl-C, and ``kill PID`` or a scheduler's time limit alike (SIGTERM left run.json
    'running' and the process ended without a word)."""
    config = _config(write_config, epochs=500)
    process = start_train(config, tmp_path / "out")
    run_dir = wait_for_resume_point(tmp_path / "out", process, epochs=2)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert f"toolkit train --resume {run_dir}" in stderr
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "interrupted"
    assert record["reason"] == "interrupted (Ctrl-C or SIGTERM)"
    assert (run_dir / "checkpoints" / "best.weights.h5").exists()
    assert (run_dir / "checkpoints" / "resume" / "LATEST").exists()


def test_resume_of_a_completed_run_is_refused(cli, completed_run):
    from toolkit.runs import LOCK_FILE

    before = snapshot(completed_run.path)
    again = cli("train", "--resume", completed_run.path)
    assert again.returncode == 2
    assert "already completed" in again.stderr
    # Nothing written, and no lock file left for test_a_finished_run_leaves_no_lock_file.
    assert snapshot(completed_run.path) == before
    assert not (completed_run.path / LOCK_FILE).exists()


def test_a_refused_resume_imports_no_tensorflow(tmp_path):
    """A resume refused for what its run.json, config or data say (completed, a NaN loss,
    the data changed since) started TensorFlow (about 3 s of CPU) before its one line; the
    refusals come first now, as train's data checks do."""
    import yaml

    from tests.helpers import cli_without_tensorflow

    def fake_run(name: str, **record) -> str:
        run = tmp_path / name
        run.mkdir()
        (run / "config.yaml").write_text(yaml.safe_dump(tiny_config()))
        (run / "run.json").write_text(json.dumps(record))
        return str(run)

    refusals = {
        fake_run("done", status="completed"): "already completed; nothing to resume",
        fake_run(
            "nan", status="failed", reason="loss became nan at epoch 2; the model is ..."
        ): "failed: its loss became nan at epoch 2; a resume keeps the config",
        fake_run(
            "changed", status="interrupted", data_fingerprint="0123456789abcdef"
        ): "the data of synthetic:regression changed since the run started",
    }

    def files(root: Path) -> dict[Path, bytes]:
        return {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}

    before = files(tmp_path)
    result = cli_without_tensorflow(*[(["train", "--resume", run], 2) for run in refusals])
    lines = result.stderr.splitlines()
    assert len(lines) == len(refusals), result.stderr  # one line each
    for line, (run, expected) in zip(lines, refusals.items(), strict=True):
        assert line.startswith(f"toolkit: error: {run}") or expected.startswith("the data"), line
        assert expected in line, line
    assert files(tmp_path) == before  # nothing written (the lock file is gone again)


def test_nan_loss_fails_the_run_and_keeps_the_best_checkpoint(cli, write_config, tmp_path):
    # Sensible steps first, then a learning rate that blows the weights up.
    config = tiny_config(
        training={
            "epochs": 30,
            "batch_size": 16,
            "optimizer": {"name": "sgd", "learning_rate": 0.01},
            "lr_schedule": {"name": "piecewise", "boundaries": [24], "values": [0.01, 1.0e12]},
        }
    )
    config["callbacks"]["early_stopping"] = False
    result = cli("train", write_config(config), "--output-dir", tmp_path)
    assert result.returncode == 1, result.stderr
    run_dir = Path(result.stdout.strip())
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "failed"
    history = pd.read_csv(run_dir / "history.csv")
    assert len(history) < 30 and np.isfinite(history["loss"].iloc[0])
    # The epoch in the message is history.csv's row where the loss stopped being finite.
    blown = history.loc[~np.isfinite(history["loss"]), "epoch"].iloc[0]
    assert re.match(rf"loss became (nan|inf) at epoch {blown};", record["reason"])
    assert (run_dir / "checkpoints" / "best.weights.h5").exists()
    val_loss = history["val_loss"].where(np.isfinite(history["val_loss"]))
    assert record["best_epoch"] == history.loc[val_loss.idxmin(), "epoch"]
    assert f"the model is the best epoch's ({record['best_epoch']})" in record["reason"]
    assert (run_dir / "model.keras").exists() and (run_dir / "metrics.json").exists()


@pytest.mark.slow
def test_nan_in_the_first_epoch_fails_in_one_line_and_saves_no_results(cli, write_config, tmp_path):
    """issue 15: sgd at learning rate 1000 crashed in the residuals plot with a traceback."""
    config = tiny_config(
        training={"epochs": 10, "optimizer": {"name": "sgd", "learning_rate": 1000}},
        evaluation={"plots": True, "baselines": True},
        callbacks={"tensorboard": {}, "learning_curve": True},
    )
    result = cli("train", write_config(config), "--output-dir", tmp_path)
    assert result.returncode == 1, result.stderr
    run_dir = Path(result.stdout.strip())  # stdout holds the run directory only
    assert run_dir.is_dir()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("failed: 1 epoch; loss became nan at epoch 1;")
    assert "lower training.optimizer.learning_rate (now 1000)" in lines[0]
    assert "clip gradients (training.optimizer.clipnorm" in lines[0]

    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "failed" and record["best_epoch"] is None
    assert lines[0].endswith(record["reason"])
    assert list(pd.read_csv(run_dir / "history.csv")["epoch"]) == [1]
    # Nothing that pretends to be a result.
    for name in ("model.keras", "metrics.json", "checkpoints/best.weights.h5"):
        assert not (run_dir / name).exists(), name

    # A resume keeps the config: it went on from NaN weights, failed again and added a row.
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    again = cli("train", "--resume", run_dir)
    assert again.returncode == 2, again.stderr
    assert again.stderr.startswith(
        f"toolkit: error: {run_dir} failed: its loss became nan at epoch 1; a resume keeps"
    )
    assert len(again.stderr.splitlines()) == 1
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before
    assert {p.name for p in (run_dir / "plots").iterdir()} <= {"learning_curves.png"}


def test_a_nan_loss_from_a_huge_l2_names_model_l2_not_the_learning_rate(
    cli, write_config, tmp_path
):
    """model.l2: 1e30 made the loss NaN at Adam's default rate, and the message said to
    lower the learning rate, which would not have helped."""
    config = tiny_config(model={"task": "regression", "hidden": [8], "l2": 1e30})
    result = cli("train", write_config(config), "--output-dir", tmp_path)
    assert result.returncode == 1, result.stderr
    line = result.stderr.strip()
    assert "loss became nan at epoch 1" in line and len(line.splitlines()) == 1
    assert "likely cause is model.l2 (1e+30)" in line and "lower training" not in line
    again = cli("train", "--resume", Path(result.stdout.strip()))
    assert again.returncode == 2 and "likely cause is model.l2 (1e+30)" in again.stderr


@pytest.mark.parametrize(
    ("training", "model", "named"),
    [
        # The usual causes: a rate far too high, with a usual penalty or none.
        ({"optimizer": {"name": "sgd", "learning_rate": 1000}}, {"l2": 1e-4}, "learning_rate"),
        ({"optimizer": {"name": "adam", "learning_rate": 10}}, {"l2": 0.01}, "learning_rate"),
        # A penalty whose step alone overshoots: w * (1 - 2 lr l2) grows once lr l2 > 1.
        ({"optimizer": {"name": "sgd", "learning_rate": 0.1}}, {"l2": 50.0}, "model.l2"),
        (
            {"optimizer": {"name": "adamw", "learning_rate": 0.01, "weight_decay": 500.0}},
            {},
            "training.optimizer.weight_decay",
        ),
        (
            {"optimizer": {"name": "adam", "learning_rate": 0.001}},
            {"hidden": [8, {"units": 4, "l2": 1e6}]},
            "model.hidden.1.l2",
        ),
    ],
)
def test_the_divergence_remedy_names_the_setting_that_blows_up(training, model, named):
    from toolkit.config.loading import validate_config
    from toolkit.training.train import divergence_remedy

    config = validate_config(tiny_config(training=training, model=model))
    remedy = divergence_remedy(config)
    if named == "learning_rate":
        assert remedy.startswith("Try a lower training.optimizer.learning_rate"), remedy
    else:
        assert remedy.startswith(f"The likely cause is {named} ("), remedy


@pytest.mark.slow
def test_resume_is_exact_with_an_execution_size_that_does_not_divide_the_epoch(
    write_config, tmp_path
):
    """1500 training rows at batch 16 are 94 steps; executions of 3 end every epoch early, so
    the input pipeline restarts per epoch and must still shuffle by the epoch it serves. The
    run is killed mid-run, resumed, and must match a run that was never stopped."""
    raw = tiny_config(
        model={"task": "regression", "hidden": [8], "dropout": 0.1},
        runtime={"deterministic": True},
        data={"source": "synthetic:regression", "synthetic": {"samples": 2000, "features": 4}},
    )
    # 8 epochs: the kill after 2 leaves 6 to resume (20 trained 12 more in each run, and
    # the check is the same at any length: every epoch after the resume matches).
    raw["training"].update(epochs=8, steps_per_execution=3)
    raw["callbacks"]["early_stopping"] = False
    config = write_config(raw)
    full, killed = start_train(config, tmp_path / "a"), start_train(config, tmp_path / "b")
    stopped_dir = kill_mid_run(tmp_path / "b", killed, after_epochs=2)
    assert json.loads((stopped_dir / "run.json").read_text())["status"] == "running"
    resumed = cli_resume(stopped_dir)
    stdout, stderr = full.communicate(timeout=300)
    assert full.returncode == 0, stderr[-2000:]
    full_dir = Path(stdout.strip().splitlines()[-1])
    assert json.loads((full_dir / "run.json").read_text())["execution"]["steps_per_execution"] == 3
    assert resumed["resumed_at_epoch"] >= 2

    expected = pd.read_csv(full_dir / "history.csv")
    actual = pd.read_csv(stopped_dir / "history.csv")
    assert list(actual["epoch"]) == list(expected["epoch"])
    np.testing.assert_array_equal(actual["loss"], expected["loss"])
    np.testing.assert_array_equal(actual["val_loss"], expected["val_loss"])


def cli_resume(run_dir: Path) -> dict:
    """``toolkit train --resume RUN_DIR`` to completion; the run's run.json afterwards."""
    from tests.helpers import run_cli

    result = run_cli("train", "--resume", run_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "completed"
    return record


@pytest.mark.parametrize(
    ("status", "held", "shown"),
    [
        ("running", False, "its training was killed before the end; toolkit train --resume"),
        ("interrupted", False, "its training was interrupted before the end; toolkit train"),
        ("running", True, "has no model.keras yet: it is still training"),
        ("failed", False, "has no model.keras (run status: failed)"),
    ],
)
def test_a_run_without_a_model_says_why_and_how_to_continue(tmp_path, status, held, shown):
    """evaluate, predict and export of a killed run said "(run status: running)"."""
    from toolkit.errors import ToolkitError, command_line_wording
    from toolkit.runs import LOCK_FILE, open_run_directory

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("name: x\n")
    (run / "run.json").write_text(json.dumps({"status": status}))
    holder = hold_lock(run / LOCK_FILE) if held else None  # as a training process does
    try:
        # As the commands say it (a Python caller is told toolkit.resume('RUN')).
        with command_line_wording(), pytest.raises(ToolkitError, match=re.escape(shown)):
            open_run_directory(run)
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()


def _steps_by_tag(log_dir: Path) -> dict[str, list[int]]:
    """``directory/tag -> steps`` over every event file under ``log_dir``, read raw (as
    TensorBoard's server reads them: every event counts, duplicates included)."""
    import tensorflow as tf

    steps: dict[str, list[int]] = {}
    for path in sorted(log_dir.rglob("*tfevents*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                key = f"{path.parent.relative_to(log_dir).as_posix()}/{value.tag}"
                steps.setdefault(key, []).append(event.step)
    return steps


@pytest.mark.slow
def test_a_resumed_run_has_each_epoch_once_in_tensorboard(cli, write_config, tmp_path):
    """A kill after TensorBoard wrote epoch N but before epoch N's resume point was published
    (it is saved in the background) left epoch N twice in the event files once resumed:
    history.csv was trimmed to the resume point, the event files were not."""
    import tensorflow as tf

    config = _config(write_config, epochs=6, callbacks={"tensorboard": {"histogram_freq": 1}})
    process = start_train(config, tmp_path / "killed")
    run_dir = kill_mid_run(tmp_path / "killed", process, after_epochs=2)
    completed = int((run_dir / "checkpoints/resume/LATEST").read_text().split("-")[1])
    # The state such a kill leaves: the next epoch in train/ and validation/, no resume point.
    for split in ("train", "validation"):
        writer = tf.summary.create_file_writer(str(run_dir / "tensorboard" / split))
        with writer.as_default():
            tf.summary.scalar("epoch_loss", 99.0, step=completed + 1)
        writer.close()

    resumed = cli("train", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    epochs = list(pd.read_csv(run_dir / "history.csv")["epoch"])
    steps = _steps_by_tag(run_dir / "tensorboard")
    for split in ("train", "validation"):
        assert steps[f"{split}/epoch_loss"] == epochs, split  # each epoch once, in order
    assert steps["train/epoch_time"] == epochs
    for tag, found in steps.items():
        assert len(found) == len(set(found)), f"{tag} has a step twice: {found}"


def test_a_sweep_trials_abandoned_attempt_points_at_the_sweep_not_at_train_resume(tmp_path):
    """Its message said 'toolkit train --resume <attempt> continues it', which then trained the
    trial again from epoch 1, in silence, into the sweep's folder where nothing reads it."""
    from toolkit.errors import ToolkitError, command_line_wording
    from toolkit.runs import open_run_directory
    from toolkit.training.train import resume

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("name: x\n")
    reason = "the sweep stopped during this trial; it was run again from the start"
    (run / "run.json").write_text(json.dumps({"status": "interrupted", "reason": reason}))
    expected = f"{reason} (its new attempt is beside it; toolkit tune --resume on the sweep"
    # As the commands say it (a Python caller is told toolkit.tune(resume=...)).
    with command_line_wording():
        with pytest.raises(ToolkitError, match=re.escape(f"has no model.keras: {expected}")):
            open_run_directory(run)
        with pytest.raises(ToolkitError, match=re.escape(f"cannot be resumed: {expected}")):
            resume(run)
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "run.json"]


# Runs ``toolkit train`` in this process with a garbage-collector callback that, once the run
# has a resume point, sends the signal to the process and lets its handler run inside the
# callback: there Python drops the KeyboardInterrupt ("Exception ignored in"), as it does in
# the ``__del__`` methods TensorFlow frees its graphs and variables with.
_SIGNAL_IN_A_FINALIZER = """
import gc, signal, sys, time
from pathlib import Path
from toolkit.cli import run

signum, config, out = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
state = {"sent": False, "looked": 0.0}

def signal_inside_the_collector(phase, info):
    if state["sent"] or phase != "start" or time.monotonic() - state["looked"] < 0.05:
        return
    state["looked"] = time.monotonic()
    if not any(out.glob("*/*/checkpoints/resume/LATEST")):
        return
    state["sent"] = True
    print("signal sent", file=sys.stderr, flush=True)
    signal.raise_signal(signum)
    for _ in range(10000):  # the handler runs here, in the callback
        pass

gc.callbacks.append(signal_inside_the_collector)
run(["train", config, "--output-dir", str(out)])
"""


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_an_interrupt_that_lands_in_a_finalizer_still_stops_the_run(write_config, tmp_path, signum):
    """A Ctrl-C or SIGTERM whose handler ran inside a finalizer or garbage-collector callback
    was dropped by Python: the run trained every epoch and exited 0 (seen once in CI, a
    SIGINT to ``tune --final-train``). It is raised again once the finalizer has returned."""
    import subprocess
    import sys

    from tests.helpers import REPO

    config = _config(write_config, epochs=60)
    out = tmp_path / "out"
    finished = subprocess.run(
        [sys.executable, "-c", _SIGNAL_IN_A_FINALIZER, str(int(signum)), str(config), str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    stderr = finished.stderr
    assert "signal sent" in stderr
    assert finished.returncode == 130, stderr[-2000:]
    assert "Exception ignored" not in stderr and "Traceback" not in stderr, stderr[-2000:]
    (run_dir,) = out.glob("*/*")
    assert stderr.strip().splitlines()[-1].endswith(f"toolkit train --resume {run_dir}")
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "interrupted"
    assert len(pd.read_csv(run_dir / "history.csv")) < 60


@pytest.mark.slow
def test_a_run_killed_once_its_model_is_saved_predicts_with_its_calibration(
    cli, write_config, tmp_path
):
    """model.keras was written before conformal.json and std_scaling.json (the learning
    curves were waited for between them): a run killed there had a model that predict,
    evaluate and export took as usable, and its intervals came out uncalibrated without a
    word. Killed the moment model.keras appears, the run predicts as it does once resumed."""
    from tests.helpers import sigkill_when, start_train

    config = tiny_config(
        model={"task": "regression", "hidden": [8], "head": "gaussian"},
        training={"epochs": 3, "batch_size": 16},
        prediction={"conformal": {"method": "split", "alpha": 0.2}, "std_scaling": True},
        callbacks={"tensorboard": False, "learning_curve": True},
    )
    rows = tmp_path / "rows.csv"
    pd.DataFrame(
        np.random.default_rng(0).normal(size=(5, 4)), columns=["x0", "x1", "x2", "x3"]
    ).to_csv(rows, index=False)
    out = tmp_path / "killed"
    process = start_train(write_config(config), out)
    sigkill_when(process, lambda: any(out.glob("*/*/model.keras")), timeout=240, poll=0.002)
    assert process.returncode == -signal.SIGKILL, process.stderr.read()[-2000:]
    (run_dir,) = out.glob("*/*")
    assert (run_dir / "conformal.json").exists() and (run_dir / "std_scaling.json").exists()

    killed = cli("predict", run_dir, "--input", rows, "--output", tmp_path / "killed.csv")
    assert killed.returncode == 0, killed.stderr
    resumed = cli("train", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    whole = cli("predict", run_dir, "--input", rows, "--output", tmp_path / "whole.csv")
    assert whole.returncode == 0, whole.stderr
    # The same model and calibration: the intervals of the killed run are the finished run's.
    expected = pd.read_csv(tmp_path / "whole.csv")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "killed.csv"), expected)
    conformal = json.loads((run_dir / "conformal.json").read_text())
    assert conformal  # fitted, so the intervals above are the conformal ones


def test_a_run_killed_before_its_preprocessing_was_written_says_how_to_continue(
    write_config, tmp_path
):
    """A run killed in its first moments (config.yaml and run.json written, preprocessing.json
    not yet) made evaluate and predict say only "RUN has no preprocessing.json", where every
    other killed run names why and the command that continues it."""
    from tests.helpers import run_cli

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(write_config(tiny_config()).read_text())
    (run / "run.json").write_text(json.dumps({"status": "running", "started": "x"}))
    rows = tmp_path / "rows.csv"
    rows.write_text("x0,x1,x2,x3\n1,2,3,4\n")
    expected = (
        f"toolkit: error: {run} has no model.keras: its training was killed before the end; "
        f"toolkit train --resume {run} continues it\n"
    )
    for args in (
        ["evaluate", run],
        ["predict", run, "--input", rows, "--output", tmp_path / "p.csv"],
    ):
        result = run_cli(*args)
        assert (result.returncode, result.stderr) == (2, expected), args
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "run.json"]
