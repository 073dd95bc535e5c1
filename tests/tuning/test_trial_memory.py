"""A sweep keeps nothing of a finished trial's model: what the trial leaves to finish while
the next one trains (plots, learning curves) must not hold it, or memory grows per trial."""

from __future__ import annotations

import gc

import keras

from tests.helpers import tiny_config
from toolkit.config.loading import validate_config
from toolkit.training.train import train
from toolkit.tuning.memory import released_afterwards


def test_what_a_trial_leaves_to_finish_does_not_keep_its_model_alive(tmp_path):
    config = validate_config(
        tiny_config(
            "regression",
            callbacks={"tensorboard": False, "learning_curve": True},
            evaluation={"plots": True, "baselines": False},
        ),
        {},
        "test",
    )
    models_before = {id(o) for o in gc.get_objects() if isinstance(o, keras.Model)}
    deferred: list = []
    with released_afterwards():  # what a sweep does around each trial's run
        result = train(config, output_dir=tmp_path, deferred_plots=deferred)
    assert result.status == "completed"
    assert deferred, "the run left its plots to finish later, as a sweep's trial does"
    alive = [
        o for o in gc.get_objects() if isinstance(o, keras.Model) and id(o) not in models_before
    ]
    for work in deferred:
        work.join()
    assert alive == [], f"{len(alive)} trained model(s) still alive after the trial"
    assert (result.run_dir / "plots" / "learning_curves.png").exists()
