"""Array sources: an ``.npz`` of images or signals, and ``keras:<dataset>`` through Keras'
cache (``toolkit.data.arrays``). Each is a table with one array per row, split like any
table; ``keras.datasets`` come with their own test part."""

from __future__ import annotations

import pandas as pd

from toolkit.data.sources.table import TableSource


class NpzSource(TableSource):
    """``data.source`` an ``.npz`` with ``x`` (images or signals, as ``data.kind`` says) and ``y``."""

    kind = "npz"

    def load_frame(self) -> pd.DataFrame:
        from toolkit.data.arrays import read_npz

        return read_npz(self.config.source, self.config, label="data.source")


class KerasSource(TableSource):
    """``keras:mnist|fashion_mnist|cifar10|cifar100``: Keras' training part is split into
    train and validation; its test part is the test split unless ``data.test`` says otherwise."""

    kind = "keras"

    def _parts(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        from toolkit.data.arrays import load_keras_dataset

        if not hasattr(self, "_loaded"):
            name = self.config.source.removeprefix("keras:")
            self._loaded = load_keras_dataset(name, self.config.target)
        return self._loaded

    def load_frame(self) -> pd.DataFrame:
        return self._parts()[0]

    def shipped_test(self) -> pd.DataFrame | None:
        return self._parts()[1]
