"""Keras Tuner's state files are never seen half-written: a sweep killed while the oracle
saved must still resume (the CI run of stop 34 hit an empty oracle.json)."""

import json
import threading
from pathlib import Path

import keras_tuner
from keras_tuner.engine.trial import TrialStatus

from toolkit import compat


def _oracle_with_trials(directory, count: int):
    hp = keras_tuner.HyperParameters()
    hp.Float("rate", 0.0, 1.0)
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective="loss", max_trials=count, seed=0, hyperparameters=hp
    )
    oracle.verbose = 0
    oracle._set_project_dir(str(directory), "sweep")
    for _ in range(count):
        trial = oracle.create_trial("main")
        oracle.update_trial(trial.trial_id, {"loss": 1.0})
        trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
    return oracle


def _unreadable_reads_while_saving(oracle, saves: int) -> int:
    """Save the oracle ``saves`` times while another thread reads its file: how many reads
    found it empty or cut short."""
    path = oracle._get_oracle_fname()
    oracle.save()
    done = threading.Event()
    unreadable = 0

    def read() -> None:
        nonlocal unreadable
        while not done.is_set():
            with open(path, encoding="utf-8") as file:
                text = file.read()
            try:
                json.loads(text)
            except ValueError:
                unreadable += 1

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(saves):
            oracle.save()
    finally:
        done.set()
        reader.join()
    return unreadable


def test_the_oracle_file_is_always_whole_while_it_is_saved(tmp_path):
    compat.atomic_tuner_state()
    oracle = _oracle_with_trials(tmp_path, 300)
    assert _unreadable_reads_while_saving(oracle, saves=300) == 0
    # No temporary file is left beside the state files.
    assert not list(tmp_path.rglob("*.tmp"))
    assert json.loads(Path(oracle._get_oracle_fname()).read_text())["end_order"]
