from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from callbacks import EpochCSVLogger


class _LogsOnEvenEpochs(keras.callbacks.Callback):
    """Adds `extra` to the logs of even epochs (counted from 1) only, like a sampling monitor."""

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % 2 == 0:
            logs["extra"] = float(epoch + 1)


def test_epochs_count_from_one(tmp_path, regression_data, make_regressor):
    x, y = regression_data
    path = tmp_path / "history.csv"
    history = make_regressor().fit(
        x, y, epochs=3, batch_size=16, verbose=0, callbacks=[EpochCSVLogger(path)]
    )
    written = pd.read_csv(path)
    assert list(written["epoch"]) == [1, 2, 3]
    np.testing.assert_allclose(written["loss"], history.history["loss"], rtol=1e-6)


def test_a_resumed_fit_keeps_the_columns_of_the_file(tmp_path, regression_data, make_regressor):
    x, y = regression_data
    path = tmp_path / "history.csv"
    model = make_regressor()
    # The first fit's first epoch logs no `extra`, so Keras fixes the columns without it...
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[EpochCSVLogger(path)])
    # ... and a file that has the column (written by a fit whose first epoch logged it).
    frame = pd.read_csv(path)
    frame.insert(1, "extra", [np.nan, 2.0])
    frame.to_csv(path, index=False)

    model.fit(
        x,
        y,
        initial_epoch=2,
        epochs=4,
        batch_size=16,
        verbose=0,
        callbacks=[_LogsOnEvenEpochs(), EpochCSVLogger(path, append=True)],
    )
    written = pd.read_csv(path)
    assert list(written.columns) == list(frame.columns)
    assert list(written["epoch"]) == [1, 2, 3, 4]
    # Epoch 3 logged no `extra`: its row says NA there instead of shifting the columns.
    assert np.isnan(written["extra"].iloc[2]) and written["extra"].iloc[3] == 4.0
    assert np.isfinite(written["loss"]).all()
