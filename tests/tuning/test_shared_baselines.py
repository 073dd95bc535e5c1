"""A sweep fits its baselines once (per cross-validation fold) and every trial refers to them."""

from __future__ import annotations

import json
import re
import threading

import numpy as np
import pytest

import toolkit
from tests.tuning.conftest import sweep_config, sweep_dir_of
from toolkit.training import train as train_module


@pytest.mark.slow
@pytest.mark.parametrize("folds", [None, 2])
def test_every_trial_refers_to_the_baselines_fitted_once(
    cli, write_config, make_sweep_config, folds
):
    config = make_sweep_config(max_trials=2, cv_folds=folds)
    config["evaluation"] = {"plots": False, "baselines": True}
    result = cli("tune", write_config(config))
    assert result.returncode == 0, result.stderr
    runs = sorted((sweep_dir_of(result) / "trials").glob("*/*/metrics.json"))
    assert len(runs) >= 2
    by_fold: dict[str, list[dict]] = {}
    for path in runs:
        # trial-<id>-f<fold>-<run id>; the run id's random hex part may itself hold "-f".
        fold = re.match(r"trial-\d+-f(\d+)-", path.parent.name).group(1) if folds else "all"
        metrics = json.loads(path.read_text())
        by_fold.setdefault(fold, []).append(
            {"baselines": metrics["baselines"], "info": metrics["baselines_info"]}
        )
    assert len(by_fold) == (folds or 1)
    assert any(len(results) > 1 for results in by_fold.values())
    for results in by_fold.values():
        # The same fit, to the microsecond it took: referred to, not fitted again.
        assert all(r == results[0] for r in results)
        assert "linear_regression" in results[0]["baselines"]
    if folds:
        first, second = (results[0] for results in by_fold.values())
        assert first["info"]["sample_rows"] + second["info"]["sample_rows"] == 2 * 120 - 120


def test_a_sweeps_baselines_start_when_its_first_trial_trains(tmp_path, monkeypatch):
    """The sweep made its baselines before its first trial and their thread started at once:
    its import of scikit-learn (0.7 s, holding the interpreter) ran beside the trial's model
    building, which took 0.3-0.4 s longer than the next trials'. They now start when the
    trial starts training, as a run's own baselines do, and every trial still has them."""
    before = set(threading.enumerate())
    fitting = []
    build = train_module._build_and_compile

    def noting(*args, **kwargs):
        fitting.append(
            [t.name for t in threading.enumerate() if t.name == "baselines" and t not in before]
        )
        return build(*args, **kwargs)

    monkeypatch.setattr(train_module, "_build_and_compile", noting)
    config = sweep_config(tmp_path, max_trials=2)
    config["training"]["epochs"] = 1
    config["evaluation"] = {"plots": False, "baselines": True}
    sweep = toolkit.tune(config)
    assert sweep.status == "completed"
    assert fitting[0] == []  # the first trial builds its model before they start
    runs = sorted(sweep.path.glob("trials/*/*/metrics.json"))
    assert len(runs) == 2
    results = [json.loads(path.read_text())["baselines"] for path in runs]
    assert "linear_regression" in results[0] and results[0] == results[1]


def test_a_sweeps_trials_share_their_datasets_and_train_as_runs_of_their_own(tmp_path, monkeypatch):
    """The trials of a sweep train on datasets built once (tf.data traced their functions
    again for every trial, 0.1-0.2 s of CPU each), and each trial trains as the same config
    trained alone, on data of its own, does: the same losses, epoch by epoch."""
    import pandas as pd

    from toolkit.data import pipeline

    built = {"training": 0, "one pass": 0}
    for name, kind in (("make_training_dataset", "training"), ("make_dataset", "one pass")):
        original = getattr(pipeline, name)

        def counting(*args, _original=original, _kind=kind, **kwargs):
            built[_kind] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(pipeline, name, counting)
    config = sweep_config(tmp_path, max_trials=3)
    config["tuner"]["search_space"] = {"model.hidden.0": {"choice": [4, 8, 12]}}
    sweep = toolkit.tune(config)
    assert sweep.status == "completed"
    runs = sorted(sweep.path.glob("trials/*/*/history.csv"))
    assert len(runs) == 3
    assert built == {"training": 1, "one pass": 1}
    monkeypatch.undo()
    for history in runs:
        alone = toolkit.train(history.parent / "config.yaml", output_dir=tmp_path / "alone")
        expected = pd.read_csv(alone.path / "history.csv")
        got = pd.read_csv(history)
        for column in ("loss", "val_loss"):
            np.testing.assert_array_equal(got[column].to_numpy(), expected[column].to_numpy())
