"""A folder of images with one sub-folder per class (``keras.utils.image_dataset_from_directory``'s
layout): the files are listed into a table of paths and labels, split like any table, and
decoded in parallel into the arrays the model reads (``toolkit.data.images``)."""

from __future__ import annotations

import pandas as pd

from toolkit.data.sources.table import TableSource


class ImageFolderSource(TableSource):
    """``data.source`` a folder of class sub-folders."""

    kind = "images"

    def load_frame(self) -> pd.DataFrame:
        from toolkit.data.images import read_class_folder

        return read_class_folder(
            self.config.source, self.config.image, target=self.config.target, label="data.source"
        )
