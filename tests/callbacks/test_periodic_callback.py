from __future__ import annotations

import keras
import pytest

from callbacks import PeriodicCallback


class _Recorder(PeriodicCallback):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sampled: list[int] = []

    def on_sample(self, epoch, logs):
        self.sampled.append(epoch + 1)
        self.write_scalars({"sampled": epoch + 1}, epoch)


@pytest.mark.parametrize(
    ("every", "epochs", "expected"),
    [(1, 3, [1, 2, 3]), (2, 5, [2, 4, 5]), (3, 6, [3, 6]), (10, 3, [3])],
)
def test_every_nth_epoch_counted_from_one_and_the_last(
    every, epochs, expected, tmp_path, regression_data, make_regressor, read_events
):
    x, y = regression_data
    recorder = _Recorder(log_dir=tmp_path, every_n_epochs=every)
    make_regressor().fit(x, y, epochs=epochs, batch_size=64, verbose=0, callbacks=[recorder])
    assert recorder.sampled == expected
    assert [step for step, _ in read_events(tmp_path)["sampled"]] == expected


def test_a_resumed_fit_keeps_the_rule(regression_data, make_regressor):
    x, y = regression_data
    recorder = _Recorder(every_n_epochs=4)
    make_regressor().fit(
        x, y, initial_epoch=5, epochs=9, batch_size=64, verbose=0, callbacks=[recorder]
    )
    assert recorder.sampled == [8, 9]


def test_nan_stop_is_the_last_epoch(regression_data, make_regressor):
    x, y = regression_data
    recorder = _Recorder(every_n_epochs=10)
    model = make_regressor(optimizer=keras.optimizers.SGD(1e12))
    model.fit(
        x,
        y * 1e6,
        epochs=20,
        batch_size=16,
        verbose=0,
        callbacks=[keras.callbacks.TerminateOnNaN(), recorder],
    )
    assert len(recorder.sampled) == 1 and recorder.sampled[0] < 20


def test_interval_must_be_positive():
    with pytest.raises(ValueError, match="every_n_epochs must be >= 1"):
        _Recorder(every_n_epochs=0)


def test_the_package_imports_nothing_of_the_toolkit():
    """callbacks/ is usable on its own: no module imports toolkit internals."""
    import ast
    from pathlib import Path

    import callbacks

    for path in Path(callbacks.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(name.split(".")[0] == "toolkit" for name in names), path.name
