"""Shared fixtures for the callback tests: tiny data, tiny models, TensorBoard event reading."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The repository root holds the `callbacks` package; it is not installed.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

EventReader = Callable[[Path], dict[str, list[tuple[int, np.ndarray]]]]


@pytest.fixture(autouse=True)
def _seed() -> None:
    keras.utils.set_random_seed(0)


@pytest.fixture
def regression_data() -> tuple[np.ndarray, np.ndarray]:
    """64 rows, 4 features, a noisy linear target."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [0.0]]) + 0.1 * rng.normal(size=(64, 1))).astype(
        "float32"
    )
    return x, y


@pytest.fixture
def make_regressor() -> Callable[..., keras.Model]:
    """Builds a compiled 2-layer Dense regressor with layers named `hidden` and `out`.

    With `dict_input` the model takes `{"features": x}`.
    """

    def build(
        optimizer: keras.optimizers.Optimizer | None = None,
        kernel_initializer: str | keras.initializers.Initializer = "glorot_uniform",
        metrics: list[str] | None = None,
        dict_input: bool = False,
    ) -> keras.Model:
        inputs = keras.Input((4,), name="features")
        hidden = keras.layers.Dense(
            8, activation="relu", kernel_initializer=kernel_initializer, name="hidden"
        )(inputs)
        outputs = keras.layers.Dense(1, kernel_initializer=kernel_initializer, name="out")(hidden)
        model = keras.Model({"features": inputs} if dict_input else inputs, outputs)
        model.compile(
            optimizer=optimizer or keras.optimizers.Adam(0.01), loss="mse", metrics=metrics
        )
        return model

    return build


def _read_events(log_dir: Path) -> dict[str, list[tuple[int, np.ndarray]]]:
    """Every summary under `log_dir`, read with TensorBoard's own event-file loader."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    events: dict[str, list[tuple[int, np.ndarray]]] = {}
    for path in sorted(Path(log_dir).rglob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                events.setdefault(value.tag, []).append(
                    (int(event.step), tensor_util.make_ndarray(value.tensor))
                )
    for values in events.values():
        values.sort(key=lambda item: item[0])
    return events


@pytest.fixture
def read_events() -> EventReader:
    """Reads every TensorBoard event file under a directory into `{tag: [(step, value)]}`."""
    return _read_events
