"""A short sweep of each Keras Tuner algorithm through the CLI, in a fresh process.

Random search is the sweep of test_sweep_directory.py, which checks the whole contract.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import cli_in_one_process
from tests.tuning.conftest import read_json, read_trials, sweep_config, sweep_dir_of, trial_lines

GRID = {
    "model.dropout": {"choice": [0.0, 0.1]},
    "training.optimizer.name": {"choice": ["adam", "sgd"]},
}


# By id: the tuner settings of each short sweep below.
SWEEPS = {
    "bayesian": {"algorithm": "bayesian", "max_trials": 3},
    # max_epochs 2, factor 2: a bracket of 2 one-epoch trials and their best at 2 epochs,
    # then a bracket of 2 two-epoch trials.
    "hyperband": {"algorithm": "hyperband", "max_epochs": 2, "factor": 2},
    "grid": {"algorithm": "grid", "max_trials": 10, "search_space": GRID},
}


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """``toolkit tune`` of a tiny sweep with each tuner of SWEEPS, each run in its own folder,
    all in one fresh process (TensorFlow started once for the three; the grid sweep serves
    two tests): by id, the folder and the command's answer (exit code, stdout, stderr)."""
    folders, calls = {}, []
    for key, tuner in SWEEPS.items():
        folder = folders[key] = tmp_path_factory.mktemp(key)
        path = folder / "config.yaml"
        path.write_text(yaml.safe_dump(sweep_config(folder, **tuner), sort_keys=False))
        calls.append((["tune", path], folder))
    answers = cli_in_one_process(*calls)
    return {key: (folders[key], answer) for key, answer in zip(SWEEPS, answers, strict=True)}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("key", "expected_trials"),
    [("bayesian", 3), ("hyperband", 5), ("grid", 4)],
    ids=["bayesian", "hyperband", "grid"],
)
def test_algorithm_runs_to_completion(sweeps, key, expected_trials):
    tuner = SWEEPS[key]
    folder, result = sweeps[key]
    assert result.returncode == 0, result.stderr
    sweep = sweep_dir_of(result)
    assert sweep.parent == folder / "out" / "tiny-sweep" and sweep.name.startswith("sweep-")

    record = read_json(sweep / "sweep.json")
    assert record["status"] == "completed"
    assert record["algorithm"] == tuner["algorithm"]
    assert record["counts"] == {
        "finished": expected_trials,
        "completed": expected_trials,
        "failed": 0,
    }
    rows = read_trials(sweep)
    assert len(rows) == expected_trials
    assert {row["status"] for row in rows} == {"completed"}
    assert len(trial_lines(result.stderr)) == expected_trials
    best = min(rows, key=lambda row: float(row["objective"]))
    assert record["best_trial"]["trial_id"] == best["trial_id"]
    # Each trial is one run directory named after it.
    runs = sorted(p.name for p in (sweep / "trials" / "tiny-sweep").iterdir())
    assert len(runs) == expected_trials
    assert all(any(run.startswith(f"trial-{row['trial_id']}-") for run in runs) for row in rows)

    if tuner["algorithm"] == "grid":
        combos = {(row["model.dropout"], row["training.optimizer.name"]) for row in rows}
        assert combos == {(str(d), o) for d, o in itertools.product([0.0, 0.1], ["adam", "sgd"])}
        assert "4/4" in trial_lines(result.stderr)[-1]
    if tuner["algorithm"] == "hyperband":
        epochs = sorted(int(row["training.epochs"]) for row in rows)
        assert epochs == [1, 1, 2, 2, 2]
        for row in rows:  # the trial trained for the epochs Hyperband gave it
            history = (sweep / row["run_dir"] / "history.csv").read_text().strip().splitlines()
            assert len(history) - 1 == int(row["training.epochs"])


def test_a_grid_smaller_than_max_trials_announces_its_own_size(sweeps):
    """Four grid points under max_trials 10 (the grid sweep above): the start line said
    "up to 10 trials"."""
    assert SWEEPS["grid"]["max_trials"] == 10 and SWEEPS["grid"]["search_space"] == GRID
    _, result = sweeps["grid"]
    assert result.returncode == 0, result.stderr
    start = next(line for line in result.stderr.splitlines() if line.startswith("sweep "))
    assert start.endswith("starting a grid search over 2 paths, up to 4 trials"), start
    assert len(read_trials(sweep_dir_of(result))) == 2 * 2


def test_every_algorithm_the_schema_allows_has_an_oracle():
    import typing

    from toolkit.config.schema import TunerConfig
    from toolkit.tuning import oracles

    allowed = typing.get_args(TunerConfig.model_fields["algorithm"].annotation)
    assert set(oracles.ORACLES) == set(allowed)
    for name in allowed:
        assert issubclass(oracles.get(name), oracles.RecordingOracle)
    with pytest.raises(ValueError, match="unknown tuner algorithm 'tpe'; allowed: random"):
        oracles.get("tpe")


@pytest.mark.parametrize("algorithm", ["random", "bayesian", "hyperband"])
@pytest.mark.parametrize("seed", [0, 7])
def test_a_seed_draws_the_same_trials_every_time(algorithm, seed):
    """Seed 0 included: Keras Tuner reads a falsy seed as none and drew a new one per run."""
    import keras_tuner

    from toolkit.config.schema import TunerConfig
    from toolkit.tuning.oracles import make_oracle

    tuner = TunerConfig(
        algorithm=algorithm, max_trials=6, search_space={"model.hidden.0": {"choice": [1, 2]}}
    )
    proposals = []
    for _ in range(2):
        oracle = make_oracle(tuner, seed=seed, max_epochs=9)
        space = keras_tuner.HyperParameters()
        space.Int("a", 0, 10_000)
        space.Float("b", 0.0, 1.0)
        oracle.update_space(space)
        proposals.append([oracle.populate_space(str(i))["values"] for i in range(6)])
    assert proposals[0] == proposals[1]
    assert len({tuple(sorted(v.items())) for v in proposals[0]}) > 1


# A random sweep on the command line (what it had imported when its trials were about to
# start), then a Bayesian oracle of the same process suggesting values from its Gaussian
# process (the fourth trial: after 3 random initial points).
_WITHOUT_SCIKIT_LEARN = """
import sys, tempfile
from toolkit.cli import main
from toolkit.tuning.trial import TrialRunner
loaded = []
preflight = TrialRunner.preflight
def noting(self, config):  # the sweep is set up: its trials start next
    loaded.extend(m for m in ("sklearn", "scipy.optimize") if m in sys.modules)
    return preflight(self, config)
TrialRunner.preflight = noting
assert main(["tune", sys.argv[1]]) == 0
print(loaded)
import keras_tuner
from keras_tuner.engine.trial import TrialStatus
from toolkit.config.schema import TunerConfig
from toolkit.tuning.oracles import make_oracle
tuner = TunerConfig(
    algorithm="bayesian", max_trials=5, search_space={"model.hidden.0": {"int": [1, 9]}}
)
oracle = make_oracle(tuner, seed=1, max_epochs=1)
space = keras_tuner.HyperParameters()
space.Float("a", 0.0, 1.0)
oracle.update_space(space)
oracle._set_project_dir(tempfile.mkdtemp(), "bayesian")
for _ in range(4):
    trial = oracle.create_trial("main")
    value = trial.hyperparameters.values["a"]
    oracle.update_trial(trial.trial_id, {"val_loss": (value - 0.3) ** 2})
    trial.status = TrialStatus.COMPLETED
    oracle.end_trial(trial)
print(0.0 <= value <= 1.0, "sklearn.gaussian_process" in sys.modules)
"""


def test_a_random_sweep_leaves_scikit_learn_unimported(make_sweep_config, write_config, tmp_path):
    """Keras Tuner imported scikit-learn and SciPy's optimizers for its Bayesian oracle at
    its own import: 0.7 s on the main thread before every sweep's first trial. A random
    search on the command line no longer has them before its trials start (the baselines'
    thread imports scikit-learn while the network trains), and a Bayesian oracle of the
    same process still gets them."""
    config = make_sweep_config(max_trials=1)
    config["evaluation"] = {"baselines": False, "plots": False}
    path = write_config(config)
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_SCIKIT_LEARN, str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == ["[]", "True True"], result.stdout


@pytest.mark.parametrize("seed", [1, 3])
def test_a_bayesian_search_does_not_propose_a_failed_trials_values_again(tmp_path, seed):
    """Keras Tuner's Gaussian process left failed trials out of its fit, so the point of a
    trial that failed (a NaN loss) stayed the most promising and was proposed again: a sweep
    ran the same failing learning rate until tuner.max_consecutive_failures stopped it."""
    import keras_tuner
    from keras_tuner.engine.trial import TrialStatus

    from toolkit.config.schema import TunerConfig
    from toolkit.tuning.oracles import make_oracle

    tuner = TunerConfig(
        algorithm="bayesian", max_trials=12, search_space={"model.hidden.0": {"int": [1, 9]}}
    )
    oracle = make_oracle(tuner, seed=seed, max_epochs=1)
    space = keras_tuner.HyperParameters()
    space.Float("a", -3.0, 4.0)
    oracle.update_space(space)
    oracle._set_project_dir(str(tmp_path), "bayesian")
    failed = []
    for _ in range(10):
        trial = oracle.create_trial("main")
        value = trial.hyperparameters.values["a"]
        if value > 0.5:  # the loss falls as a grows, and training fails beyond 0.5
            trial.status = TrialStatus.FAILED
            failed.append(value)
        else:
            oracle.update_trial(trial.trial_id, {"val_loss": 1.0 - value})
            trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
    # The same point again, to L-BFGS's last digits (1.90182793, 1.90182796, ...).
    assert failed and len({round(float(value), 3) for value in failed}) == len(failed), failed


def test_a_bayesian_proposal_runs_on_one_blas_thread(tmp_path):
    """The Gaussian process's fit and its acquisition's L-BFGS runs are tiny matrix products:
    on OpenBLAS's threads (one per core) a proposal took 4-5 times the CPU of one thread.
    The proposals are the same either way (checked by the seed tests above)."""
    import keras_tuner
    from keras_tuner.engine.trial import TrialStatus
    from threadpoolctl import threadpool_info

    from toolkit.config.schema import TunerConfig
    from toolkit.tuning.oracles import BayesianOracle, make_oracle

    threads = []

    class Noting(BayesianOracle):  # the real oracle, noting its BLAS threads as it fits
        def _vectorize_trials(self):
            threads.extend(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
            return super()._vectorize_trials()

    tuner = TunerConfig(
        algorithm="bayesian", max_trials=5, search_space={"model.hidden.0": {"int": [1, 9]}}
    )
    oracle = make_oracle(tuner, seed=1, max_epochs=1)
    oracle.__class__ = Noting  # make_oracle's oracle, as a sweep builds it
    before = [p["num_threads"] for p in threadpool_info()]
    space = keras_tuner.HyperParameters()
    space.Float("a", 0.0, 1.0)
    oracle.update_space(space)
    oracle._set_project_dir(str(tmp_path), "bayesian")
    for _ in range(4):  # 3 random initial points, then the Gaussian process's proposal
        trial = oracle.create_trial("main")
        oracle.update_trial(trial.trial_id, {"val_loss": trial.hyperparameters.values["a"]})
        trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
    assert threads and set(threads) == {1}, threads
    assert [p["num_threads"] for p in threadpool_info()] == before  # only while proposing
