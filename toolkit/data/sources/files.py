"""Reading image and signal data that is not a plain table: a split given as a file of the
source's kind, and new inputs for ``predict``/``evaluate --data`` of image and signal runs.

New inputs come in whatever form the run's kind of data takes: a table with the image paths
in the run's image column (relative paths from the table's folder), an ``.npz`` (``y``
optional for predictions), a class folder, or, for predictions, a flat folder of new images
(one output row per file) or one image file. Files of another size are resized to the
model's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from toolkit.config.schema import DataConfig, ImageConfig, source_form
from toolkit.errors import DataError, did_you_mean_column
from toolkit.text import counted

if TYPE_CHECKING:
    from toolkit.data.preprocessing import FeatureSpec
    from toolkit.data.sources.base import InputChunk

# Images decoded per chunk of new inputs.
INPUT_CHUNK_ROWS = 4096


def read_data_file(path: str, config: DataConfig, *, label: str = "data file") -> pd.DataFrame:
    """A table (file, directory or glob), an ``.npz`` or a class folder, read as ``config``
    says its data are."""
    from toolkit.data.sources.table import read_tables

    form = source_form(path)
    if form == "npz":
        from toolkit.data.arrays import read_npz

        return read_npz(path, config, label=label)
    if form == "folder" and config.input_kind == "image":
        from toolkit.data.images import read_class_folder

        return read_class_folder(path, config.image, target=config.target, label=label)
    frame = read_tables(path, label=label, as_text=config.categorical or ())
    if config.image.column is not None:
        from toolkit.data.images import resolve_path_column

        frame = resolve_path_column(
            frame, config.image.column, Path(path).parent, where=f"{label} {path}"
        )
    return frame


def read_new_frame(path: str, spec: FeatureSpec, *, label: str, with_target: bool) -> pd.DataFrame:
    """New images or signals for a run with ``spec``, as a frame whose array column is the
    one the spec reads. A table's image paths are as it wrote them (``resolve_path_column``
    finds the files)."""

    form = source_form(path)
    column = (spec.image or spec.signal).column
    kind = "image" if spec.image is not None else "signal"
    if not _GLOB.search(path) and not Path(path).exists():
        # Said first: a missing image file was told "this run takes ... one image file" and a
        # missing folder given to evaluate "has no class sub-folders", neither naming the typo.
        raise DataError(f"{label} not found: {path}")
    config = DataConfig(
        source=path if form == "npz" else "x.npz", kind=kind, target=spec.target.name
    )
    if form == "npz":
        from toolkit.data.arrays import read_npz

        frame = read_npz(path, config, label=label, need_target=with_target)
        return frame.rename(columns={kind: column})
    if form == "folder" and spec.image is not None:
        from toolkit.data.images import has_class_folders, read_class_folder, read_flat_folder

        images = ImageConfig()
        if has_class_folders(path):
            loose = read_flat_folder(path, images, label=label) if _loose_images(path) else None
            if loose is not None:
                raise DataError(
                    f"{label} {path} holds {counted(len(loose), 'image')} directly beside class "
                    "sub-folders; give a flat folder of new images or a folder of class "
                    "sub-folders, not both"
                )
            frame = read_class_folder(
                path, images, target=spec.target.name, label=label, min_classes=1
            )
        elif with_target:
            raise DataError(
                f"{label} {path} has no class sub-folders, so its images have no labels; "
                "evaluation needs one sub-folder per class"
            )
        else:
            frame = read_flat_folder(path, images, label=label)
        return frame.rename(columns={"file": column})
    if form == "table" and spec.image is not None and _GLOB.search(path):
        images = _globbed_images(path, label=label)
        if images is not None:
            if with_target:
                raise DataError(
                    f"{label} {path} names image files, with no labels; evaluation needs a "
                    "class folder, a .csv/.parquet file of image paths with the target "
                    "column, or an .npz with y"
                )
            return pd.DataFrame({column: images})  # one row per file, as a flat folder's
    if form == "table" and spec.image is not None:
        from toolkit.data.sources.table import read_tables

        return read_tables(path, label=label)
    if spec.image is not None and _image_file(path):
        if with_target:
            raise DataError(
                f"{label} {path} is one image, with no label; evaluation needs a class folder, "
                "a .csv/.parquet file of image paths with the target column, or an .npz with y"
            )
        return pd.DataFrame({column: [path]})  # one new image: one row, as a flat folder's
    allowed = (
        "an .npz"
        if spec.signal is not None
        else ("a .csv/.parquet file of image paths, an .npz, a folder of images, or one image file")
    )
    raise DataError(f"{label} {path}: this run takes {allowed}")


_GLOB = re.compile(r"[*?\[]")


def _globbed_images(pattern: str, *, label: str) -> list[str] | None:
    """The image files a glob names (``photos/*.jpg``), in name order, or None when it names
    tables (read as a set of shards). The glob was read as tables only: "not found"."""
    import glob

    matches = sorted(glob.glob(pattern, recursive=True))
    if not matches:
        raise DataError(f"{label} {pattern} matches no files")
    images = [match for match in matches if _image_file(match)]
    if not images:
        return None
    others = [match for match in matches if match not in set(images) and Path(match).is_file()]
    if others:
        raise DataError(
            f"{label} {pattern} matches image files and {counted(len(others), 'other file')} "
            f"({others[0]}); give a glob of images only"
        )
    return images


def _image_glob(path: str) -> bool:
    """Whether ``path`` is a glob of image files, whose paths are as matched from the current
    directory, not a table's to resolve from its folder."""
    import glob

    return bool(_GLOB.search(path)) and any(_image_file(m) for m in glob.glob(path, recursive=True))


def _loose_images(path: str) -> bool:
    """Whether the folder ``path`` holds image files directly (hidden ones are skipped, as a
    folder's images are read)."""
    return any(
        _image_file(str(child)) and not child.name.startswith(".") for child in Path(path).iterdir()
    )


def _image_file(path: str) -> bool:
    """Whether ``path`` is a file of one of the image types a folder is read for."""
    suffixes = {f".{extension}" for extension in ImageConfig().extensions}
    return Path(path).is_file() and Path(path).suffix.lower() in suffixes


def read_array_input(
    path: str,
    spec: FeatureSpec,
    *,
    label: str,
    with_target: bool,
    chunk_rows: int | None = None,
) -> Iterator[InputChunk]:
    """New inputs of an image or signal run, a chunk at a time; the files are listed and
    checked now, decoded chunk by chunk. Image file paths are carried to the output first."""
    from toolkit.data.preprocessing import encode_target, feature_arrays
    from toolkit.data.sources.base import InputChunk

    frame = read_new_frame(path, spec, label=label, with_target=with_target)
    column = (spec.image or spec.signal).column
    if column not in frame.columns:
        # A table of image paths whose column is named otherwise than the run's (a run trained
        # on a folder reads 'file'): said here, before the paths are looked up by that name.
        raise DataError(
            f"{label} {path} has no column '{column}' of image paths, the column this run "
            f"reads{did_you_mean_column(column, frame.columns)}; columns: "
            f"{', '.join(map(str, frame.columns))}"
        )
    if with_target:
        target = spec.target.name
        if target not in frame.columns:
            # Named by the file, as a table run's --data is: encode_target's own words left
            # out which input lacked it ("target column 'target' is not in the data").
            raise DataError(
                f"{label} {path} target column '{target}' is not in the data"
                f"{did_you_mean_column(target, frame.columns)}; columns: "
                f"{', '.join(map(str, frame.columns))}"
            )
        encode_target(
            frame, spec, what=label, scoring=True
        )  # unknown classes fail before TensorFlow starts
    # The output carries a table's image paths as the user wrote them, not as resolved from
    # the table's folder to find the files (the absolute paths the output held before).
    files = frame
    if spec.image is not None and source_form(path) == "table" and not _image_glob(path):
        from toolkit.data.images import resolve_path_column

        files = resolve_path_column(frame, column, Path(path).parent, where=f"{label} {path}")
    paths = len(frame) and not isinstance(frame[column].iloc[0], np.ndarray)
    keep = ([column] if paths else []) + [c for c in frame.columns if c not in spec.columns]
    step = chunk_rows or INPUT_CHUNK_ROWS

    def chunks() -> Iterator[InputChunk]:
        for start in range(0, len(frame), step):
            part = frame.iloc[start : start + step]
            yield InputChunk(
                feature_arrays(
                    files.iloc[start : start + step],
                    spec,
                    # The file named: "--input file: images of shape (16, 16, 1), the model
                    # takes (16, 16, 3)" named no file, where a wrong rank named it.
                    what=f"{label} {path}",
                    new_images=True,
                    finite=True,  # as a table's rows: the model cannot score an inf
                ),
                encode_target(part, spec, what=label, scoring=True) if with_target else None,
                part[keep].reset_index(drop=True),
            )

    return chunks()
