"""Images: class folders and path columns, read as ``keras.utils.image_dataset_from_directory``
reads them (file types, ``color_mode``, ``image_size``, ``interpolation``,
``crop_to_aspect_ratio``), and image arrays.

Files are checked before anything is decoded: Pillow reads each header (size, whether it is
an image at all), so a corrupt file or mixed sizes without ``image_size`` is one line naming
the file. Decoding then runs in a tf.data map, in parallel.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from toolkit.config.schema import DataConfig, ImageConfig
from toolkit.data.preprocessing import ImageFeature, array_column
from toolkit.data.table_files import is_table_path
from toolkit.errors import DataError
from toolkit.text import counted

CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
# The range of raw pixel values when the config does not say: decoded files and
# keras.datasets hold 0..255, scikit-learn's digits 0..16.
DEFAULT_VALUE_RANGE = [0.0, 255.0]
DIGITS_VALUE_RANGE = [0.0, 16.0]
# Float arrays (an .npz) whose every pixel lies in [0, 1]: already scaled, as many pipelines
# save them; taken as 0..255 they trained on near-black images, at chance.
UNIT_VALUE_RANGE = [0.0, 1.0]


def _image_files(folder: Path, extensions: list[str], *, nested: bool = False) -> list[Path]:
    """The image files in ``folder``, and with ``nested`` in its sub-folders at any depth (a
    class folder's, as Keras reads them). Hidden files and sub-folders are skipped, unlike
    Keras: a class folder's ``.ipynb_checkpoints`` copies trained as more examples of the
    class (a copy of an image in another class's checkpoints, mislabelled; one in the test
    split beside its original in training), and macOS's ``._photo.png`` (resource forks, no
    image) stopped training as unreadable."""
    suffixes = {f".{e.lower()}" for e in extensions}
    files = folder.rglob("*") if nested else folder.iterdir()
    return sorted(
        p
        for p in files
        if p.is_file()
        and p.suffix.lower() in suffixes
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _class_folders(root: Path) -> list[Path]:
    """The class sub-folders of ``root``. Hidden ones (Jupyter's ``.ipynb_checkpoints``) are
    skipped, as Keras skips them: they became a class of their own."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def has_class_folders(path: str | Path) -> bool:
    """Whether ``path`` is a folder with class sub-folders."""
    root = Path(path)
    return root.is_dir() and bool(_class_folders(root))


def read_class_folder(
    path: str | Path, image: ImageConfig, *, target: str, label: str, min_classes: int = 2
) -> pd.DataFrame:
    """One row per image of ``path/<class>/[...]/<file>``: its path in ``file``, its class
    (the sub-folder's name) in ``target``. Files of other types and hidden sub-folders are
    skipped, as Keras does. Training needs ``min_classes`` 2; new images to score may all be
    of one class."""
    root = Path(path)
    if not root.exists():
        raise DataError(f"{label} not found: {root}")
    if not root.is_dir():
        raise DataError(f"{label} is not a folder of class sub-folders: {root}")
    classes = _class_folders(root)
    if not classes:
        tables = [p for p in root.iterdir() if is_table_path(p.name)]
        if tables:
            raise DataError(
                f"{label} {root} holds CSV/Parquet files, not class sub-folders of images; set "
                "data.kind: table to read them as table shards"
            )
        loose = _image_files(root, image.extensions)
        hint = f" (it holds {counted(len(loose), 'image')} directly)" if loose else ""
        raise DataError(
            f"{label} {root} has no class sub-folders{hint}; put each class's images in "
            "a sub-folder named after the class"
        )
    rows = []
    for folder in classes:
        files = _image_files(folder, image.extensions, nested=True)
        if not files:
            raise DataError(
                f"{label}: class folder {folder} holds no images of type "
                f"{', '.join(image.extensions)}"
            )
        rows.extend((str(file), folder.name) for file in files)
    if len(classes) < min_classes:
        raise DataError(
            f"{label} {root} has a single class sub-folder ({classes[0].name}); a classifier "
            "needs at least 2"
        )
    return pd.DataFrame(rows, columns=["file", target])


def read_flat_folder(path: str | Path, image: ImageConfig, *, label: str) -> pd.DataFrame:
    """One row per image directly inside ``path`` (new images to predict), in ``file``."""
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{label} not found or not a folder: {root}")
    files = _image_files(root, image.extensions)
    if not files:
        raise DataError(f"{label} {root} holds no images of type {', '.join(image.extensions)}")
    return pd.DataFrame({"file": [str(f) for f in files]})


def resolve_path_column(
    frame: pd.DataFrame, column: str, base: Path, *, where: str = "data"
) -> pd.DataFrame:
    """Paths in a table's image column, relative ones taken from the table's folder.
    ``where`` names the table in an error (``data.source table.csv``)."""
    if column not in frame.columns:
        return frame  # reported by check_table with the list of columns
    values = frame[column]
    if values.isna().any():
        row = values.index[values.isna()][0]
        from toolkit.data.preprocessing import row_number

        # The table is named: the line named a column and row of no file in particular.
        raise DataError(
            f"{where}: image path column '{column}' is empty in row {row_number(row)}; "
            "every row needs the path of its image file"
        )
    frame = frame.copy()
    frame[column] = [str(p if Path(p).is_absolute() else base / p) for p in values.astype(str)]
    return frame


def _sizes(paths: list[str], *, what: str) -> list[tuple[int, int]]:
    """(height, width) of each file from its header; a file that is not an image is an error."""
    from PIL import Image, UnidentifiedImageError

    sizes = []
    for path in paths:
        try:
            with Image.open(path) as handle:
                width, height = handle.size
        except FileNotFoundError:
            raise DataError(f"{what}: image file not found: {path}") from None
        except (UnidentifiedImageError, OSError, ValueError) as error:
            reason = str(error).split(" '")[0] or type(error).__name__
            raise DataError(f"{what}: {path} is not a readable image ({reason})") from None
        sizes.append((height, width))
    return sizes


def _value_range(config: DataConfig, images: pd.Series | None = None) -> list[float]:
    """The raw pixels' range: the config's, else digits' 0..16, [0, 1] for float arrays
    (``images``, the training split's) that all lie in it, else 0..255."""
    if config.image.value_range is not None:
        return [float(v) for v in config.image.value_range]
    if config.source == "sklearn:digits":
        return DIGITS_VALUE_RANGE
    if images is not None and _unit_floats(images):
        return UNIT_VALUE_RANGE
    return DEFAULT_VALUE_RANGE


def _unit_floats(images: pd.Series) -> bool:
    """Every image a float array with its pixels in [0, 1]. Integer arrays never: a uint8
    image dark enough to hold only 0s and 1s is still 0..255."""
    arrays = [np.asarray(x) for x in images]
    if not arrays or not all(np.issubdtype(x.dtype, np.floating) for x in arrays):
        return False
    return all(x.size == 0 or (np.nanmin(x) >= 0 and np.nanmax(x) <= 1) for x in arrays)


def check_image_sizes(frame: pd.DataFrame, config: DataConfig, *, what: str) -> None:
    """Without ``image_size``, every image file of the source must have one size."""
    if config.image.image_size is not None or config.form not in ("folder", "table"):
        return
    column = array_column(config)
    paths = list(frame[column])
    sizes = _sizes(paths, what=what)
    if len(set(sizes)) > 1:
        other = next(i for i, s in enumerate(sizes) if s != sizes[0])
        raise DataError(
            f"images have different sizes ({paths[0]} is {sizes[0][0]}x{sizes[0][1]}, "
            f"{paths[other]} is {sizes[other][0]}x{sizes[other][1]}); set "
            "data.image.image_size: [height, width] to resize them"
        )


def fit_image_feature(train: pd.DataFrame, config: DataConfig) -> ImageFeature:
    """The image spec of the training split: shape, channels and the pixel value range."""
    column = array_column(config)
    image = config.image
    if config.form in ("folder", "table"):
        channels = CHANNELS[image.color_mode]
        if image.image_size is not None:
            height, width = image.image_size
        else:
            check_image_sizes(train, config, what="training data")
            height, width = _sizes([train[column].iloc[0]], what="training data")[0]
        return ImageFeature(
            column=column,
            stored="path",
            shape=[int(height), int(width), channels],
            value_range=_value_range(config),
            color_mode=image.color_mode,
            interpolation=image.interpolation,
            crop_to_aspect_ratio=image.crop_to_aspect_ratio,
            resize=image.image_size is not None,
        )
    first = np.asarray(train[column].iloc[0])
    shape = list(first.shape) if first.ndim == 3 else [*first.shape, 1]
    return ImageFeature(
        column=column,
        stored="array",
        shape=[int(s) for s in shape],
        value_range=_value_range(config, train[column]),
    )


def image_array(
    frame: pd.DataFrame, feature: ImageFeature, *, what: str, resize: bool | None = None
) -> np.ndarray:
    """The images of ``frame`` as a float32 array (N, H, W, C) of raw pixel values."""
    if feature.column not in frame.columns:
        raise DataError(f"{what}: no '{feature.column}' column of images")
    values = list(frame[feature.column])
    if not values:
        return np.zeros((0, *feature.shape), dtype=np.float32)
    # Arrays (.npz, keras.datasets) or file paths, whichever the run was trained on.
    if isinstance(values[0], np.ndarray):
        return stack_images(values, feature, what=what)
    pixels = decode_files([str(p) for p in values], feature, what=what, resize=resize)
    low, high = feature.value_range
    if feature.stored == "array" and [low, high] != DEFAULT_VALUE_RANGE:
        # Files decode to 0..255 whatever the run trained on: a run on arrays of another
        # range (scikit-learn's digits, 0..16; a float .npz in [0, 1]) takes them in its own, or
        # its rescaling made them 16 or 255 times too bright.
        pixels = low + pixels * np.float32((high - low) / 255.0)
    return pixels


def stack_images(images: list[np.ndarray], feature: ImageFeature, *, what: str) -> np.ndarray:
    """Arrays of shape (H, W) or (H, W, C) as one (N, H, W, C) float32 array, checked
    against the shape the model takes."""
    if not images:
        return np.zeros((0, *feature.shape), dtype=np.float32)
    try:
        stacked = np.stack([np.asarray(x) for x in images])
    except ValueError:
        shapes = sorted({np.asarray(x).shape for x in images})
        raise DataError(f"{what}: images of different shapes {shapes[:3]}") from None
    if stacked.ndim == 3:
        stacked = stacked[..., None]
    if list(stacked.shape[1:]) != list(feature.shape):
        raise DataError(
            f"{what}: images of shape {tuple(stacked.shape[1:])}, the model takes "
            f"{tuple(feature.shape)}"
        )
    if not np.issubdtype(stacked.dtype, np.number):
        raise DataError(f"{what}: images must hold numbers, got {stacked.dtype}")
    return stacked.astype(np.float32, copy=False)


def check_files(paths: pd.Series | list[str], feature: ImageFeature, *, what: str) -> np.ndarray:
    """Image file paths checked as ``decode_files`` checks them (readable images; the
    model's size unless they are resized), as an array of strings, not yet decoded."""
    paths = [str(p) for p in paths]
    sizes = _sizes(paths, what=what)
    if not feature.resize:
        expected = tuple(feature.shape[:2])
        for path, size in zip(paths, sizes, strict=True):
            if size != expected:
                # Only a run without image_size gets here (new images to predict are
                # resized): the setting that makes the sizes one is named.
                raise DataError(
                    f"{what}: {path} is {size[0]}x{size[1]}, the model takes "
                    f"{expected[0]}x{expected[1]} images; set data.image.image_size: "
                    f"[{expected[0]}, {expected[1]}] to resize every image to that size"
                )
    return np.asarray(paths, dtype=str)


def _rgba(image):
    """4 channels from a decoded file of any channel count, an opaque alpha where it has none:
    a JPEG cannot hold one, and decoding it with ``channels=4`` fails ('JPEG does not support
    4 channels'), which stopped ``color_mode: rgba`` on a folder with JPEGs in it. PNGs come
    out as ``channels=4`` gives them (grey repeated, alpha 255 when absent)."""
    import tensorflow as tf

    count = tf.shape(image)[-1]
    colour = tf.cond(
        count < 3, lambda: tf.repeat(image[..., :1], 3, axis=-1), lambda: image[..., :3]
    )
    alpha = tf.cond(
        tf.equal(count % 2, 0),  # grey + alpha, or RGBA
        lambda: image[..., -1:],
        lambda: tf.fill(tf.shape(image[..., :1]), tf.constant(255, image.dtype)),
    )
    return tf.concat([colour, alpha], axis=-1)


def _grey(data):
    """1 channel from a file's bytes. PNG and JPEG decode to grey themselves (libpng's and
    libjpeg's conversions, as Keras' ``color_mode: grayscale`` gets them); TensorFlow's BMP
    and GIF decoders refuse ``channels=1`` ("`channels` must be 0, 3 or 4 for BMP"), which
    stopped a grayscale run on a folder holding one: those are decoded in their own channels
    and converted with ``tf.image.rgb_to_grayscale``'s luma weights."""
    import tensorflow as tf

    magic = tf.strings.substr(data, 0, 2)
    own = tf.logical_or(tf.equal(magic, b"BM"), tf.equal(magic, b"GI"))

    def converted():
        image = tf.io.decode_image(data, channels=0, expand_animations=False)
        return tf.cond(
            tf.shape(image)[-1] >= 3,
            lambda: tf.image.rgb_to_grayscale(image[..., :3]),
            lambda: image[..., :1],
        )

    return tf.cond(
        own, converted, lambda: tf.io.decode_image(data, channels=1, expand_animations=False)
    )


def decode_fn(feature: ImageFeature):
    """A TensorFlow function: an image file's path -> float32 (H, W, C) pixels, decoded and
    resized as ``keras.utils.image_dataset_from_directory`` does."""
    from toolkit.startup import import_tensorflow

    import_tensorflow()  # quietly, when the command line asked for it
    import keras
    import tensorflow as tf

    height, width, channels = feature.shape

    def decode(path):
        data = tf.io.read_file(path)
        if channels == 4:
            image = _rgba(tf.io.decode_image(data, channels=0, expand_animations=False))
        elif channels == 1:
            image = _grey(data)
        else:
            image = tf.io.decode_image(data, channels=channels, expand_animations=False)
        if feature.crop_to_aspect_ratio:
            image = keras.preprocessing.image.smart_resize(
                image, (height, width), interpolation=feature.interpolation
            )
        else:
            image = tf.image.resize(image, (height, width), method=feature.interpolation)
        image = tf.cast(image, tf.float32)
        image.set_shape((height, width, channels))
        return image

    return decode


def decode_files(
    paths: list[str], feature: ImageFeature, *, what: str, resize: bool | None = None
) -> np.ndarray:
    """Decode image files in parallel into (N, H, W, C) float32. Files are resized to the
    model's size when the run set ``image_size`` (or ``resize`` says so, as for new images
    to predict); otherwise each must have the training images' size."""
    import dataclasses

    if resize is not None:
        feature = dataclasses.replace(feature, resize=resize)
    check_files(paths, feature, what=what)
    return _decode_all(paths, feature, what=what, keep=True)


def check_decodable(paths: list[str] | np.ndarray, feature: ImageFeature, *, what: str) -> None:
    """Decode every file once, in parallel, keeping nothing: for ``data.cache: false``, whose
    batches decode during training. A file whose header reads but whose data does not (a
    copy cut short) otherwise stopped training in its first epoch with TensorFlow's
    traceback and a run directory marked failed; now it is one line before any is made."""
    _decode_all([str(p) for p in paths], feature, what=what, keep=False)


def _decode_all(
    paths: list[str], feature: ImageFeature, *, what: str, keep: bool
) -> np.ndarray | None:
    """The files decoded (``keep``) or only checked; the first that fails is named."""
    from toolkit.startup import import_tensorflow

    import_tensorflow()  # quietly, when the command line asked for it
    import tensorflow as tf

    decode = decode_fn(feature)
    dataset = (
        tf.data.Dataset.from_tensor_slices(paths)
        .map(decode, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(256)
    )
    try:
        if keep:
            return np.concatenate([batch.numpy() for batch in dataset], axis=0)
        for _ in dataset:
            pass
        return None
    except tf.errors.OpError:
        pass
    for path in paths:  # find the file that failed, one at a time (only on this error path)
        try:
            decode(tf.constant(path))
        except tf.errors.OpError as error:
            raise DataError(f"{what}: {path} cannot be decoded ({_reason(error)})") from None
    raise DataError(f"{what}: the images cannot be decoded")


def _reason(error) -> str:
    """A TensorFlow op error's own words: '{{function_node __wrapped__DecodeImage_device_...}}
    Invalid PNG data, size 632 [Op:DecodeImage] name: ' -> 'Invalid PNG data, size 632'."""
    text = error.message.splitlines()[0]
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    text = re.sub(r"\s*\[Op:[^\]]*\].*$", "", text)
    return text.strip()[:200] or type(error).__name__
