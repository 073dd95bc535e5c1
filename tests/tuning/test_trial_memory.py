"""A sweep keeps nothing of a finished trial's model: what the trial leaves to finish while
the next one trains (plots, learning curves) must not hold it, or memory grows per trial."""

from __future__ import annotations

import gc
import threading
import time
import types
import weakref

import keras

from tests.helpers import tiny_config
from toolkit.config.loading import validate_config
from toolkit.training.train import train
from toolkit.tuning.memory import collect_garbage, released_afterwards


def _holders(model: object) -> list[str]:
    """What refers to ``model`` (frames by file and line), so a failure says what kept it."""
    described = []
    for referrer in gc.get_referrers(model):
        if isinstance(referrer, types.FrameType):
            code = referrer.f_code
            described.append(f"frame {code.co_filename}:{referrer.f_lineno} {code.co_name}")
        elif isinstance(referrer, dict):
            described.append(f"dict with keys {sorted(map(str, referrer))[:6]}")
        elif not isinstance(referrer, list):  # the list this test built
            described.append(type(referrer).__qualname__)
    return described


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

    def trained_models() -> list:
        return [
            o for o in gc.get_objects() if isinstance(o, keras.Model) and id(o) not in models_before
        ]

    alive = trained_models()
    holders = [_holders(model) for model in alive]
    del alive
    for work in deferred:
        work.join()
    assert holders == [], f"{len(holders)} trained model(s) alive after the trial: {holders}"
    assert (result.run_dir / "plots" / "learning_curves.png").exists()


class _SlowFinalizer:
    """Garbage whose finalizer sleeps, so a collection that finds it lasts a while (and lets
    other threads run meanwhile), as when a deferred plot thread's collection runs."""

    def __del__(self) -> None:
        time.sleep(0.4)


class _Node:
    pass


def _collect_slowly(started: threading.Event) -> None:
    slow = _SlowFinalizer()
    slow.cycle = slow
    del slow
    started.set()
    gc.collect()


def _cycle_during_another_threads_collection(collect) -> bool:
    """Whether a reference cycle dropped while another thread collects survives ``collect``."""
    started = threading.Event()
    other = threading.Thread(target=_collect_slowly, args=(started,))
    other.start()
    started.wait()
    time.sleep(0.1)  # the other thread is inside its collection, in the finalizer
    node = _Node()
    node.cycle = node
    alive = weakref.ref(node)
    del node
    collect()
    survived = alive() is not None
    other.join()
    return survived


def test_garbage_is_collected_while_another_thread_collects():
    # CPython skips gc.collect() while another thread collects: the situation is real here.
    assert _cycle_during_another_threads_collection(gc.collect)
    assert not _cycle_during_another_threads_collection(collect_garbage)
