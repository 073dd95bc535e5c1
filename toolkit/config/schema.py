"""The experiment schema: strict pydantic models, frozen once loaded.

Every rule about what a config may say lives here, in one validation layer. Names of Keras
objects are checked against ``toolkit.config.names`` so validating never imports TensorFlow.
"""

from __future__ import annotations

import builtins
import functools
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from toolkit.config import names
from toolkit.data.table_files import TABLE_WORDS, is_table_path, is_unread_compressed
from toolkit.errors import did_you_mean, unknown_name
from toolkit.text import counted

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
DropoutRate = Annotated[float, Field(ge=0, lt=1)]
Fraction = Annotated[float, Field(gt=0, lt=1)]
# Seeds feed NumPy (below 2**32); the largest is kept for Keras Tuner's seed 0 (oracles.py).
SEED_LIMIT = 2**32 - 1
Seed = Annotated[int, Field(ge=0, lt=SEED_LIMIT)]


def _home(value: Any) -> Any:
    """A path that starts with ``~`` with the home directory in its place, as a shell would:
    unexpanded, one part of a run went to a folder named ``~`` and another to the home."""
    if isinstance(value, str) and value.startswith("~"):
        return os.path.expanduser(value)
    return value


# A file or directory path; ``~`` is the home directory.
PathText = Annotated[str, BeforeValidator(_home)]


def _takes(annotation: Any, kinds: tuple[type, ...]) -> bool:
    """Whether a field's type accepts a value of one of ``kinds`` as it is: the type itself,
    a union or Literal holding one, ``Any``, or a section (sections take true and false)."""
    if annotation is Any or annotation in kinds:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return bool in kinds
    if get_origin(annotation) is Literal:
        return any(isinstance(value, kinds) for value in get_args(annotation))
    if get_origin(annotation) in (list, dict, tuple, set):
        return False
    return any(_takes(arg, kinds) for arg in get_args(annotation))


FLOAT32_MAX = float.fromhex("0x1.fffffep+127")  # 3.4028235e38


class NoBooleanNumbers(BaseModel):
    """A number field refuses true and false: pydantic reads them as 1 and 0, and YAML reads
    yes, no, on and off as them too (``epochs: yes`` trained one epoch)."""

    @model_validator(mode="before")
    @classmethod
    def _no_boolean_numbers(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for key, value in data.items():
            if not isinstance(value, bool) or key not in cls.model_fields:
                continue
            annotation = cls.model_fields[key].annotation
            # A field that also takes a string (a fraction or a path) says so itself.
            if _takes(annotation, (builtins.int, builtins.float)) and not _takes(
                annotation, (bool, str)
            ):
                raise ValueError(
                    f"{key}: expected a number, got {str(value).lower()} (YAML reads true, "
                    "false, yes, no, on and off as booleans)"
                )
        return data

    @model_validator(mode="after")
    def _float32_numbers(self) -> Any:
        """Keras holds these numbers as float32s: min_delta 1e300 was a ValueError traceback
        mid-training, and a learning rate of 1e300 trained to an infinite loss."""
        for key, field in type(self).model_fields.items():
            value = getattr(self, key)
            if (
                isinstance(value, builtins.float)
                and abs(value) > FLOAT32_MAX
                and _takes(field.annotation, (builtins.float,))
            ):
                raise ValueError(
                    f"{key}: {value:g} is beyond float32's range (+-3.4e38), the precision "
                    "Keras computes in"
                )
        return self


class Strict(NoBooleanNumbers):
    """Base of every section: unknown keys are errors and loaded configs are immutable."""

    # allow_inf_nan: .inf and .nan are YAML floats; no field means either (a learning rate of
    # .inf passed and trained to a NaN loss).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _disable_or_default(value: Any, section: type[BaseModel]) -> Any:
    """``false``/``null`` turn an optional section off; ``true`` means its defaults. Anything
    else but a mapping is refused naming the section's settings: ``model.ensemble: 5`` read
    "Input should be a valid dictionary or instance of EnsembleConfig", a class no config
    names."""
    if value is False:
        return None
    if value is True:
        return {}
    if value is None or isinstance(value, dict | section):
        return value
    try:
        shown = json.dumps(value)  # YAML's spelling: 5, "split", [1, 2]
    except TypeError:
        shown = repr(value)
    first = next(iter(section.model_fields))
    # A scalar most likely meant the first setting: 5 members, method split, layers output.
    scalar = isinstance(value, str | int | float)
    example = f"{{{first}: {value if scalar else '...'}}}"
    raise ValueError(
        f"a section of settings ({', '.join(section.model_fields)}): give a mapping such as "
        f"{example}, true for its defaults or false to leave it out; got {shown}"
    )


def _check_name(kind: str, value: str, choices: tuple[str, ...] | list[str]) -> str:
    if value not in choices:
        raise ValueError(unknown_name(kind, value, choices))
    return value


def _one_of(kind: str, choices: tuple[str, ...]) -> Callable[[str], str]:
    """A validator accepting only ``choices``; anything else gets the did-you-mean message."""
    return lambda value: _check_name(kind, value, choices)


# Field types that carry their own check, so every field of a kind is validated the same way.
Activation = Annotated[str, AfterValidator(_one_of("activation", names.ACTIVATIONS))]
Initializer = Annotated[
    str,
    AfterValidator(
        _one_of("initializer", names.INITIALIZERS + tuple(names.INITIALIZER_ALIASES) + ("auto",))
    ),
]
LossName = Annotated[str, AfterValidator(_one_of("loss", names.ALL_LOSSES))]


class Switchable:
    """An optional section, ``Switchable[EnsembleConfig]``: ``false``/``null`` turn it off,
    ``true`` means its defaults (a class, not a generic alias, so the check knows the
    section it names)."""

    def __class_getitem__(cls, section: type[BaseModel]) -> Any:
        check = functools.partial(_disable_or_default, section=section)
        return Annotated[section | None, BeforeValidator(check)]


# --------------------------------------------------------------------------- data


class SyntheticConfig(Strict):
    """Generated data for tests and demos (``source: synthetic:<kind>``)."""

    samples: PositiveInt = 512
    features: PositiveInt = 8
    classes: Annotated[int, Field(ge=2)] = 3
    noise: NonNegativeFloat = 0.1
    categorical_features: Annotated[int, Field(ge=0)] = 0


def _table_location(value: str) -> bool:
    """A CSV/Parquet file or glob (by suffix), or a directory of shards (a path without one)."""
    last = value.rstrip("/").rsplit("/", 1)[-1]
    return is_table_path(value) or value.endswith("/") or "." not in last or Path(value).is_dir()


def source_prefix(value: str) -> str | None:
    """``sklearn`` of ``sklearn:diabetes``; None for a path (``C:/data`` included)."""
    prefix, colon, _ = value.partition(":")
    if colon and len(prefix) > 1 and prefix.replace("_", "").isalnum():
        return prefix
    return None


def holds_table_shards(folder: str) -> bool:
    """True when the directory ``folder`` holds CSV/Parquet files, and its sub-folders (if
    any) nothing else: table shards, such as a daily export in dated folders
    (``2026-12-01/part-0.parquet``), which were taken for images by class. A folder with a
    sub-folder holding any other file (an image) is one of images by class, even beside a
    CSV file. Hidden files and markers (``_SUCCESS``, ``.part-0.crc``) are not looked at."""
    shards = False
    try:
        for directory, subfolders, files in os.walk(folder, onerror=_raise):
            # Skipped as the shard listing skips them (Spark's _temporary/ among them).
            subfolders[:] = [name for name in subfolders if not name.startswith((".", "_"))]
            nested = directory != folder
            for name in files:
                table = is_table_path(name) or is_unread_compressed(name)
                if name.startswith((".", "_")):
                    continue  # hidden or a marker (_SUCCESS), as list_shards skips them
                if nested and not table:
                    return False  # stops at an image folder's first image
                shards = shards or table
    except OSError:  # not there (yet): validation of a config must not need its data
        return False
    return shards


def _raise(error: OSError) -> None:
    raise error


def source_form(source: str) -> str:
    """What a ``data.source`` string names: a prefix kind (sklearn, synthetic, keras, or an
    unknown prefix), ``npz``, ``table`` (a CSV/Parquet file or a glob of them), ``folder``
    (a directory: of CSV/Parquet shards, or of images in class sub-folders), or
    ``unknown``."""
    prefix = source_prefix(source)
    if prefix is not None:
        return prefix
    lowered = source.lower()
    if lowered.endswith(".npz"):
        return "npz"
    if is_table_path(source) or any(c in source for c in "*?["):
        return "table"
    if _table_location(source):
        return "folder"
    return "unknown"


def _value_range(value: list[float] | None) -> list[float] | None:
    if value is not None and not value[0] < value[1]:
        raise ValueError(f"value_range [{value[0]}, {value[1]}] must go from low to high")
    return value


def _column_text(value: Any) -> Any:
    """A column name YAML read as a whole number (``target: 2021``, ``--set data.target=2021``)
    as the text pandas reads from the header, "2021": it was refused as 'Input should be a
    valid string', and the column could be named only as '"2021"'."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


ColumnName = Annotated[str, BeforeValidator(_column_text)]


def _image_size_pair(value: Any) -> Any:
    """A single whole number for ``image_size`` (``--set data.image.image_size=16``) refused
    with the pair meant: pydantic's "Input should be a valid list, got 16" left the form of
    the list to guess. Not read as a square on purpose: Keras takes (height, width)."""
    if isinstance(value, int) and not isinstance(value, bool):
        square = f"; for square images write [{value}, {value}]" if value > 0 else ""
        raise ValueError(
            f"Input should be a list of two positive sizes, [height, width], got {value}{square}"
        )
    return value


class ImageConfig(Strict):
    """How images are read, following ``keras.utils.image_dataset_from_directory``."""

    column: ColumnName | None = None  # a CSV/Parquet column of image paths
    image_size: (
        Annotated[
            list[PositiveInt], Field(min_length=2, max_length=2), BeforeValidator(_image_size_pair)
        ]
        | None
    ) = None
    color_mode: Literal["rgb", "grayscale", "rgba"] = "rgb"
    interpolation: Literal[
        "bilinear",
        "nearest",
        "bicubic",
        "area",
        "lanczos3",
        "lanczos5",
        "gaussian",
        "mitchellcubic",
    ] = "bilinear"
    crop_to_aspect_ratio: bool = False
    extensions: Annotated[
        list[Annotated[str, AfterValidator(_one_of("image file type", names.IMAGE_EXTENSIONS))]],
        Field(min_length=1),
    ] = list(names.IMAGE_EXTENSIONS)
    # The range raw pixel values come in; the model rescales from it. Default [0, 255]
    # (files and keras.datasets), [0, 16] for sklearn's digits.
    value_range: Annotated[
        list[float] | None, Field(min_length=2, max_length=2), AfterValidator(_value_range)
    ] = None


class AugmentationConfig(Strict):
    """Random image transforms applied to training batches only, with Keras' factor meanings:
    rotation as a fraction of a full turn, zoom and translation as fractions of the size,
    contrast as the spread around 1."""

    random_flip: Literal["horizontal", "vertical", "horizontal_and_vertical"] | None = None
    random_rotation: Annotated[float, Field(gt=0, le=0.5)] | None = None
    random_zoom: Annotated[float, Field(gt=0, lt=1)] | None = None
    random_translation: Annotated[float, Field(gt=0, lt=1)] | None = None
    random_contrast: Annotated[float, Field(gt=0, le=1)] | None = None
    fill_mode: Literal["reflect", "wrap", "constant", "nearest"] = "reflect"

    @field_validator(
        "random_rotation", "random_zoom", "random_translation", "random_contrast", mode="before"
    )
    @classmethod
    def _zero_is_off(cls, value: Any) -> Any:
        """0 turns a transform off, as null does (Keras' layers with factor 0 change nothing):
        a sweep over ``{choice: [0.0, 0.1]}`` was refused ("should be greater than 0"). A
        negative factor is refused here, saying 0 is allowed (the bound's own message said
        "greater than 0")."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value == 0:
                return None
            if value < 0:
                raise ValueError(f"Input should be 0 (off) or greater, got {value}")
        return value

    @property
    def active(self) -> bool:
        return any(
            getattr(self, key) is not None
            for key in (
                "random_flip",
                "random_rotation",
                "random_zoom",
                "random_translation",
                "random_contrast",
            )
        )


_HELD_OUT_FORMS = ("table", "npz", "folder")


def _label_text(value: Any) -> Any:
    """A class label as preprocessing.json writes classes: ``1`` (or ``1.0``) as "1", ``true``
    as "True", text as it is. YAML reads an unquoted ``yes`` as true: it stays "True", and
    the data names it beside the classes when the target holds no booleans."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool | int | str):
        return str(value)
    return value


ClassLabel = Annotated[str, BeforeValidator(_label_text)]


class DataConfig(Strict):
    """Where the data comes from, what kind it is, how it is split, and whether it is
    streamed from disk."""

    source: PathText
    kind: Literal["table", "image", "signal"] | None = None  # default: what the source implies
    target: ColumnName = "target"
    features: list[ColumnName] | None = None
    categorical: list[ColumnName] | None = None
    validation: Fraction | str = 0.2
    test: Fraction | str | None = None
    stratify: bool | None = None
    # Binary targets: the class whose precision, recall, F1 and PR AUC metrics.json reports
    # and whose probability predict writes (default: the second of the sorted labels).
    positive_class: ClassLabel | None = None
    # Split by a hash of this column's value instead of at random (streamed sources: without
    # it, by a hash of each row's shard and position). The column is not a feature.
    split_key: ColumnName | None = None
    # auto: stream from disk when the table would not fit comfortably in memory.
    streaming: bool | Literal["auto"] = "auto"
    # Rows mixed together when a streamed epoch is shuffled (the bounded shuffle buffer).
    shuffle_buffer: Annotated[int, Field(ge=1024)] = 262_144
    # Most frequent values kept per categorical column; the rest share the OOV bucket.
    max_tokens: PositiveInt | None = 10_000
    synthetic: SyntheticConfig = SyntheticConfig()
    image: ImageConfig = ImageConfig()
    augmentation: Switchable[AugmentationConfig] = None
    cache: bool = True  # decode image files once and keep them in memory

    @field_validator("features")
    @classmethod
    def _some_features(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError(
                "an empty list reads no column; list the feature columns, or leave it null "
                "for every column but the target"
            )
        return value

    @field_validator("features", "categorical")
    @classmethod
    def _each_column_once(cls, value: list[str] | None) -> list[str] | None:
        """A column listed twice was a second input of the same values (features)."""
        if value is not None:
            twice = sorted({column for column in value if value.count(column) > 1})
            if twice:
                raise ValueError(f"lists {', '.join(map(repr, twice))} more than once")
        return value

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        form = source_form(value)
        if form == "sklearn":
            _check_name("dataset", value.removeprefix("sklearn:"), list(names.DATASETS))
        elif form == "synthetic":
            _check_name(
                "synthetic kind", value.removeprefix("synthetic:"), list(names.SYNTHETIC_KINDS)
            )
        elif form == "keras":
            _check_name("keras dataset", value.removeprefix("keras:"), list(names.KERAS_DATASETS))
        elif source_prefix(value) is not None:
            raise ValueError(unknown_name("data source kind", form, names.SOURCE_PREFIXES))
        elif form == "unknown":
            raise ValueError(
                f"unknown data source '{value}'; allowed: sklearn:<"
                + "|".join(names.DATASETS)
                + ">, synthetic:<"
                + "|".join(names.SYNTHETIC_KINDS)
                + ">, keras:<"
                + "|".join(names.KERAS_DATASETS)
                + f">, a {TABLE_WORDS} file or a glob of them, an .npz file, or a folder (of "
                "CSV/Parquet shards, or of images in class sub-folders)"
            )
        return value

    @field_validator("validation", "test", mode="before")
    @classmethod
    def _fraction_or_path(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float, str, type(None))):
            raise ValueError(f"expected a fraction in (0, 1) or a path to a file, got {value!r}")
        if isinstance(value, (int, float)) and value == 0:
            # 0 was met with pydantic's "greater than 0", though a user writing it means
            # "hold out none". Refused with the spelling that says so, not read as null, so
            # test and validation (which has no null) answer 0 alike.
            if info.field_name == "test":
                raise ValueError(
                    "0 holds out no test rows; for no test split use null (the default), "
                    "or give a fraction in (0, 1) or a file"
                )
            raise ValueError(
                "0 holds out no validation rows, and every run validates (val_loss, early "
                "stopping); give a fraction in (0, 1) or a file"
            )
        value = _home(value)
        if isinstance(value, str) and source_form(value) not in _HELD_OUT_FORMS:
            raise ValueError(
                f"expected a fraction in (0, 1), a {TABLE_WORDS} or .npz path, a glob, or a "
                f"folder, got '{value}'"
            )
        return value

    @model_validator(mode="after")
    def _fractions_leave_training_rows(self) -> DataConfig:
        if isinstance(self.validation, float) and isinstance(self.test, float):
            total = self.validation + self.test
            if total >= 1:
                raise ValueError(
                    f"data.validation ({self.validation}) and data.test ({self.test}) add up "
                    f"to {total:g}; together they must be below 1, to leave rows to train on"
                )
        return self

    @model_validator(mode="after")
    def _streamable(self) -> DataConfig:
        if self.streaming is True and (
            source_prefix(self.source) is not None or self.input_kind != "table"
        ):
            raise ValueError(
                f"streaming: true needs CSV/Parquet files (a file, directory or glob); "
                f"'{self.source}' is held in memory"
            )
        if self.split_key is not None:
            if self.split_key == self.target:
                raise ValueError(f"split_key '{self.split_key}' is the target column")
            if self.features and self.split_key in self.features:
                raise ValueError(
                    f"split_key '{self.split_key}' is listed in features; a split key is "
                    "an identifier, not a feature"
                )
        return self

    @model_validator(mode="after")
    def _target_is_not_a_feature(self) -> DataConfig:
        """data.features lists what the model predicts from: the target among them was
        passed by ``toolkit validate`` and refused only once training had read the data."""
        if self.features is not None and self.target in self.features:
            raise ValueError(
                f"features lists the target column '{self.target}'; the model predicts the "
                "target from the features, so it cannot be one of them: remove it from "
                "data.features"
            )
        return self

    @model_validator(mode="after")
    def _categorical_are_features(self) -> DataConfig:
        """data.categorical says which features are categories: a column outside
        data.features was silently not read at all, and the target (never a feature) was
        checked as one, failing on another column."""
        for column in self.categorical or ():
            if column == self.target:
                raise ValueError(
                    f"categorical lists the target column '{column}'; the target cannot be a "
                    "categorical feature (a classifier's labels need no listing: set "
                    "model.task)"
                )
            if column == self.split_key:
                raise ValueError(
                    f"categorical lists the split_key column '{column}'; a split key is an "
                    "identifier, not a feature"
                )
            if self.features is not None and column not in self.features:
                raise ValueError(
                    f"categorical lists '{column}', which is not among data.features "
                    f"({', '.join(self.features)}); add it to data.features or remove it "
                    "from data.categorical"
                )
        return self

    @model_validator(mode="after")
    def _kind_fits_source(self) -> DataConfig:
        form = self.form
        if self.image.column is not None and form != "table":
            raise ValueError("data.image.column applies to .csv/.parquet sources only")
        implied = {"keras": "image"}.get(form)
        if form == "table" and self.image.column is not None:
            implied = "image"
        if self.kind is not None and implied is not None and self.kind != implied:
            raise ValueError(f"data.kind '{self.kind}' does not fit source '{self.source}'")
        if form == "folder" and self.kind == "signal":
            raise ValueError(
                f"data.source '{self.source}' is a folder: of images (data.kind: image, the "
                "default) or of CSV/Parquet shards (data.kind: table)"
            )
        kind = self.input_kind
        if form == "npz" and self.kind not in ("image", "signal"):
            raise ValueError(
                f"data.source '{self.source}' is an .npz file: say what its x holds with "
                "data.kind: image (N, H, W[, C]) or data.kind: signal (N, L[, C])"
            )
        if kind == "image" and form == "sklearn" and self.source != "sklearn:digits":
            raise ValueError("data.kind 'image' fits sklearn:digits (8x8 images) only")
        if kind == "image" and form == "synthetic":
            raise ValueError("data.kind 'image' does not fit synthetic sources")
        if kind == "image" and form == "table" and self.image.column is None:
            raise ValueError(
                "data.kind 'image' with a .csv/.parquet source needs data.image.column, the "
                "column that holds the image paths"
            )
        if kind == "signal" and form != "npz":
            raise ValueError("data.kind 'signal' needs an .npz source with x of shape (N, L[, C])")
        if self.augmentation is not None and kind != "image":
            raise ValueError("data.augmentation applies to images only")
        for key in ("validation", "test"):
            setting = getattr(self, key)
            same = {"sklearn": "table", "synthetic": "table"}.get(form, form)
            if form in ("table", "folder") and self.input_kind == "table":
                same = ("table", "folder")  # files, globs and directories of table shards
            if isinstance(setting, str) and source_form(setting) not in (
                same if isinstance(same, tuple) else (same,)
            ):
                raise ValueError(
                    f"data.{key} '{setting}' is not the same kind of file as data.source "
                    f"'{self.source}'"
                )
        return self

    @property
    def form(self) -> str:
        """sklearn | synthetic | keras | table | npz | folder (see ``source_form``)."""
        return source_form(self.source)

    @property
    def input_kind(self) -> str:
        """table | image | signal: the configured kind, or the one the source implies (a
        folder of CSV/Parquet files without sub-folders holds table shards, any other folder
        images by class)."""
        if self.kind is not None:
            return self.kind
        if self.form == "folder" and holds_table_shards(self.source):
            return "table"
        if self.form in ("keras", "folder") or self.image.column is not None:
            return "image"
        return "table"

    @property
    def builtin_task(self) -> str | None:
        """The task a built-in or synthetic source implies, if any."""
        kind, _, name = self.source.partition(":")
        if kind == "sklearn":
            return names.DATASETS.get(name)
        if kind == "synthetic":
            return names.SYNTHETIC_KINDS.get(name)
        if kind == "keras":
            return names.KERAS_DATASETS.get(name)
        return None

    @property
    def array_column(self) -> str | None:
        """The column that holds the images (or their paths) or the signals, if any: the
        path column of a table, ``file`` for a folder, else ``image`` or ``signal``."""
        kind = self.input_kind
        if kind == "table":
            return None
        if kind == "signal":
            return "signal"
        if self.image.column is not None:
            return self.image.column
        return "file" if self.form == "folder" else "image"

    def feature_columns(self, columns: Any) -> list[str]:
        """``features``, or by default every column but the target, the split key and the
        image or signal column (the table columns the model reads)."""
        if self.features:
            return list(self.features)
        return [c for c in columns if c not in (self.target, self.split_key, self.array_column)]


# --------------------------------------------------------------------------- model


class BlockConfig(Strict):
    """One dense block; unset fields inherit the model-level defaults."""

    units: PositiveInt
    activation: Activation | None = None
    dropout: DropoutRate | None = None
    batchnorm: bool | Literal["before", "after"] | None = None
    l1: NonNegativeFloat | None = None
    l2: NonNegativeFloat | None = None
    initializer: Initializer | None = None
    residual: bool | None = None


def _compact(key: str, what: str) -> Callable[[Any], Any]:
    """``[32, 64]`` is shorthand for blocks that set only ``key`` and inherit the rest."""

    def expand(value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError(f"expected a list of {what} or blocks, got {value!r}")
        blocks = []
        for index, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, (int, dict, BaseModel)):
                raise ValueError(
                    f"entry {index} must be a positive integer or a mapping with '{key}', "
                    f"got {item!r}"
                )
            blocks.append({key: item} if isinstance(item, int) else item)
        return blocks

    return expand


def _compacted(blocks: list[BaseModel], key: str) -> list[Any]:
    dumped = [block.model_dump(exclude_none=True) for block in blocks]
    return [item[key] if len(item) == 1 else item for item in dumped]


class ConvBlockConfig(Strict):
    """One convolutional block: ``convs`` convolutions, then pooling; unset fields inherit
    the ``conv:`` section's defaults."""

    filters: PositiveInt
    kernel_size: PositiveInt | None = None
    strides: PositiveInt | None = None
    convs: PositiveInt | None = None
    padding: Literal["same", "valid"] | None = None
    pooling: Literal["max", "avg", "none"] | None = None
    pool_size: PositiveInt | None = None
    batchnorm: bool | None = None
    dropout: DropoutRate | None = None
    activation: Activation | None = None
    l2: NonNegativeFloat | None = None
    residual: bool | None = None


class ConvConfig(Strict):
    """The ``conv`` body: Conv2D blocks for images, Conv1D blocks for signals."""

    blocks: Annotated[
        list[ConvBlockConfig],
        BeforeValidator(_compact("filters", "filter counts")),
        Field(min_length=1),
    ] = [ConvBlockConfig(filters=32), ConvBlockConfig(filters=64)]
    kernel_size: PositiveInt = 3
    strides: PositiveInt = 1
    convs: PositiveInt = 1
    padding: Literal["same", "valid"] = "same"
    pooling: Literal["max", "avg", "none"] = "max"
    pool_size: PositiveInt = 2
    batchnorm: bool = False
    dropout: DropoutRate = 0.0
    activation: Activation | None = None  # default: model.activation
    l2: NonNegativeFloat | None = None  # default: model.l2
    residual: bool = False  # skip connections, projected by a 1x1 convolution when shapes differ
    global_pooling: Literal["avg", "max", "flatten"] = "avg"

    @field_serializer("blocks")
    def _compact_blocks(self, blocks: list[ConvBlockConfig]) -> list[Any]:
        return _compacted(blocks, "filters")

    @model_validator(mode="after")
    def _residual_needs_same_padding(self) -> ConvConfig:
        for index, block in enumerate(self.blocks):
            residual = self.residual if block.residual is None else block.residual
            padding = block.padding or self.padding
            if residual and padding != "same":
                raise ValueError(
                    f"conv block {index}: a residual block needs padding 'same' (the skip "
                    "connection adds inputs and outputs of one size)"
                )
        return self


class BackboneConfig(Strict):
    """A ``keras.applications`` network without its classifier, under a dense top."""

    name: Annotated[str, AfterValidator(_one_of("backbone", tuple(names.BACKBONES)))]
    # imagenet (downloaded once into Keras' cache) | none | a path to a .weights.h5 file
    weights: str = "imagenet"
    trainable: bool = False
    pooling: Literal["avg", "max"] = "avg"
    input_size: Annotated[list[PositiveInt], Field(min_length=2, max_length=2)] | None = None
    dropout: DropoutRate = 0.0  # after pooling, before the top blocks
    alpha: PositiveFloat | None = None
    minimalistic: bool | None = None

    @field_validator("weights", mode="before")
    @classmethod
    def _weights_named(cls, value: Any) -> Any:
        """``weights: null`` (Keras' ``weights=None``) or ``false`` is not a string: say what
        is, rather than pydantic's 'Input should be a valid string'."""
        if not isinstance(value, str):
            shown = "null" if value is None else repr(value).lower()
            raise ValueError(
                f"backbone weights must be imagenet, none (random initial weights) or a path "
                f"to a .weights.h5 file, got {shown}"
            )
        value = _home(value)
        # Checked here, not in the model validator, so the error names model.backbone.weights.
        if value not in ("imagenet", "none") and not value.endswith(".weights.h5"):
            # 'ImageNet' or 'None' (YAML's text, not null) named no spelling to use.
            raise ValueError(
                f"backbone weights must be imagenet, none or a path to a .weights.h5 file, "
                f"got '{value}'{did_you_mean(value, ['imagenet', 'none'])}"
            )
        return value

    @model_validator(mode="after")
    def _arguments_and_input_size(self) -> BackboneConfig:
        allowed = names.BACKBONES[self.name][2]
        for key in ("alpha", "minimalistic"):
            if getattr(self, key) is not None and key not in allowed:
                raise ValueError(
                    f"backbone '{self.name}' takes no argument '{key}'"
                    + (f"; allowed: {', '.join(allowed)}" if allowed else "")
                )
        minimum = names.BACKBONES[self.name][1]
        if self.input_size is not None and min(self.input_size) < minimum:
            raise ValueError(
                f"backbone '{self.name}' takes images of at least {minimum}x{minimum}, "
                f"input_size is {self.input_size[0]}x{self.input_size[1]}"
            )
        return self


class BayesianConfig(Strict):
    """Variational (DenseVariational) layers: which ones, their prior, posterior start and
    how the ELBO is estimated and weighted during training."""

    layers: Literal["all", "output"] = "all"
    prior: Literal["normal", "scale_mixture"] = "normal"
    prior_scale: PositiveFloat = 1.0
    # The standard deviation every weight's posterior starts at; small values start close to
    # a point network and let the data, then the KL, widen it.
    posterior_scale_init: Annotated[float, Field(gt=1e-5)] = 0.05
    kl_weight: Literal["auto"] | PositiveFloat = "auto"
    # KL annealing: the KL term's weight grows linearly from 0 at the first epoch to
    # kl_weight at epoch kl_warmup_epochs + 1 (0: full weight from the start).
    kl_warmup_epochs: Annotated[int, Field(ge=0)] = 0
    # Forward passes per training step; the ELBO's likelihood term is their average.
    train_samples: PositiveInt = 1
    estimator: Literal["reparameterization", "flipout"] = "reparameterization"

    @field_validator("layers", mode="before")
    @classmethod
    def _some_layers(cls, value: Any) -> Any:
        """``layers: none`` was accepted and trained a plain network under a Bayesian
        section (its other settings silently unused): a model.bayesian section means
        variational layers."""
        if isinstance(value, str) and value.strip().lower() == "none":
            raise ValueError(
                "'none' would make a Bayesian model with no Bayesian layers; for a plain "
                "network drop model.bayesian (or set it to false); allowed: all, output"
            )
        return value

    @model_validator(mode="after")
    def _prior_scale_is_the_normal_priors(self) -> BayesianConfig:
        # The scale mixture's components are fixed (DenseVariational's defaults): prior_scale
        # 0.01 trained exactly as 1.0 did, and a sweep over it compared identical runs.
        if self.prior == "scale_mixture" and self.prior_scale != 1.0:
            raise ValueError(
                f"prior_scale {self.prior_scale:g} applies to prior 'normal'; the "
                "'scale_mixture' prior is fixed at 0.5 N(0, 1) + 0.5 N(0, 0.0025^2) "
                "(Blundell et al., 2015)"
            )
        return self


class EnsembleConfig(Strict):
    """A deep ensemble: ``members`` copies of the network from different initial weights,
    trained together in one model and predicting as their equally weighted mixture."""

    members: Annotated[int, Field(ge=2, le=64)] = 5
    # With early stopping restoring the best weights: per_member sets each member to the
    # epoch of its own best validation loss, as if trained alone; shared sets all of them
    # to the epoch where their average loss was best.
    best_epoch: Literal["per_member", "shared"] = "per_member"


# The smallest model.weight_prior_scale: 1 / (2 * 1e-19**2) = 5e37, below float32's 3.4e38.
_SMALLEST_PRIOR_SCALE = 1e-19


class ModelConfig(Strict):
    """The network: inputs -> body -> dense blocks -> task head, with regularisation and
    uncertainty options."""

    task: Literal["regression", "binary", "multiclass"]
    # gaussian: a mean and a scale per row (heteroscedastic); homoscedastic: a mean per row
    # and one learned noise scale for all rows. Both train on the Gaussian NLL.
    head: Literal["default", "gaussian", "homoscedastic"] = "default"
    body: Literal["dense", "conv", "backbone"] = "dense"
    flatten: bool = False  # dense body on images or signals: flatten them first
    conv: ConvConfig = ConvConfig()
    backbone: BackboneConfig | None = None
    # Dense blocks: the whole body for ``dense``, the top of ``conv`` and ``backbone``.
    hidden: list[BlockConfig] = [
        BlockConfig(units=64),
        BlockConfig(units=64),
    ]
    activation: Activation = "relu"
    initializer: Initializer = "auto"
    dropout: DropoutRate = 0.0
    batchnorm: bool | Literal["before", "after"] = False
    # Keras' momentum (the old statistics' weight per step) for the dense and conv bodies'
    # batch normalisation. 0.9, not Keras' 0.99: a table or image folder of a few hundred rows
    # trains for a few hundred steps, which left 0.99's moving statistics near their start:
    # signal_cnn.yaml on 300 signals scored 0.50 at 0.99 on 3 of 3 seeds (the validation
    # loss, computed with those statistics, stopped training at epoch 1-2), 0.80-0.90 at 0.9.
    batchnorm_momentum: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.9
    l1: NonNegativeFloat = 0.0
    l2: NonNegativeFloat = 0.0
    # A Gaussian prior N(0, scale^2) on the kernels of the point-estimated layers (all of a
    # plain network's; the hidden ones under ``bayesian.layers: output``): their weight decay
    # becomes 1 / (2 scale^2 n) for n training rows, the MAP counterpart of a variational
    # layer's KL / n, so it fades as the data grows where a fixed ``l2`` pulls the same at
    # any size (scikit-learn's MLP divides its alpha by n the same way).
    weight_prior_scale: PositiveFloat | None = None
    # A Laplace prior with scale b on the first dense block's kernels (the weights from the
    # input columns): an L1 penalty 1 / (b n) per |w| for n training rows, the MAP counterpart
    # of -log p(w) / n, so it fades with the rows as weight_prior_scale's decay does. Unlike
    # a Gaussian prior it sets the weights of columns that carry nothing to zero, which is
    # what a table of more columns than rows, few of them informative, needs (issue 16).
    first_layer_l1_prior_scale: PositiveFloat | None = None
    # Divide that scale by the first layer's input width d (penalty d / (b n) per |w|): b then
    # bounds the summed |w| a unit draws from all its inputs, so a table of 300 columns is
    # pulled 30 times harder than one of 10, and a narrow table is hardly touched.
    first_layer_l1_prior_per_input: bool = False
    residual: bool = False
    bayesian: Switchable[BayesianConfig] = None
    mc_dropout: bool = False
    ensemble: Switchable[EnsembleConfig] = None
    loss: LossName | None = None
    metrics: list[str] | None = None
    init_from: PathText | None = None
    freeze: Annotated[int, Field(ge=0)] = 0

    @field_validator("metrics")
    @classmethod
    def _each_metric_once(cls, value: list[str] | None) -> list[str] | None:
        """``[mae, mae]`` compiled the metric twice, as ``mae`` and ``mae_1`` in history.csv
        and TensorBoard: a typo for another metric, most likely."""
        for index, metric in enumerate(value or ()):
            if metric in value[:index]:
                raise ValueError(f"'{metric}' is listed twice; list each metric once")
        return value

    @field_validator("hidden", mode="before")
    @classmethod
    def _expand_compact_blocks(cls, value: Any) -> Any:
        """``hidden: [128, 64]`` is shorthand for blocks that inherit every other setting."""
        return _compact("units", "layer widths")(value)

    @field_serializer("hidden")
    def _compact_blocks(self, blocks: list[BlockConfig]) -> list[Any]:
        """Write blocks back in the compact form where they only set ``units``."""
        return _compacted(blocks, "units")

    def _first_layer_prior_applies(self) -> None:
        """first_layer_l1_prior_scale's checks: a dense body with a point-estimated first
        block that sets no l1 of its own (two l1 penalties on one kernel would be one, unsaid)."""
        scale = self.first_layer_l1_prior_scale
        if scale is None:
            if self.first_layer_l1_prior_per_input:
                raise ValueError(
                    "first_layer_l1_prior_per_input needs first_layer_l1_prior_scale, "
                    "e.g. 50 (an L1 penalty of inputs / (50 x training rows))"
                )
            return
        if scale < _SMALLEST_PRIOR_SCALE:
            # 1 / (b n) <= 1 / b must be a float32 (Keras' l1), as for weight_prior_scale.
            raise ValueError(
                f"first_layer_l1_prior_scale {scale:g} is below {_SMALLEST_PRIOR_SCALE:g}, "
                "where its penalty 1 / (scale x training rows) is too large for a float32"
            )
        if self.body != "dense" or not self.hidden:
            raise ValueError(
                "first_layer_l1_prior_scale applies to the first hidden block of a dense body "
                f"on the input columns; this model has body '{self.body}' and "
                f"{counted(len(self.hidden), 'hidden block')}; set first_layer_l1_prior_scale: "
                "null"
            )
        if self.bayesian and self.bayesian.layers == "all":
            raise ValueError(
                "first_layer_l1_prior_scale applies to a point-estimated first layer, and with "
                "bayesian.layers 'all' it is variational; set layers: output or drop it"
            )
        for path, value in (("model.l1", self.l1), ("model.hidden.0.l1", self.hidden[0].l1)):
            if value:
                raise ValueError(
                    f"{path} and first_layer_l1_prior_scale both set the first layer's l1; "
                    f"keep one ({path}: 0, or first_layer_l1_prior_scale: null)"
                )

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        task = self.task
        if self.gaussian_output and task != "regression":
            raise ValueError(
                f"head '{self.head}' needs task 'regression', got task '{task}': set "
                "model.head: default; classifiers already give probabilities (use bayesian, "
                "mc_dropout or ensemble for uncertainty)"
            )
        if self.loss is not None:
            allowed = names.LOSSES[task]
            if self.loss not in allowed:
                raise ValueError(
                    f"loss '{self.loss}' does not fit task '{task}'; allowed: {', '.join(allowed)}"
                )
            if self.loss == "gaussian_nll" and not self.gaussian_output:
                raise ValueError("loss 'gaussian_nll' needs head 'gaussian' or 'homoscedastic'")
            if self.gaussian_output and self.loss != "gaussian_nll":
                raise ValueError(
                    f"head '{self.head}' trains on loss 'gaussian_nll', got '{self.loss}'"
                )
        for metric in self.metrics or ():
            if metric not in names.METRICS[task]:
                allowed = names.METRICS[task]
                raise ValueError(
                    f"metric '{metric}' does not fit task '{task}'"
                    f"{did_you_mean(metric, allowed)}; allowed: {', '.join(sorted(allowed))}"
                )
        if self.body == "backbone" and self.backbone is None:
            raise ValueError(
                "body 'backbone' needs a backbone section, e.g. {name: MobileNetV3Small}"
            )
        if self.backbone is not None and self.body != "backbone":
            # The line named the conflict but not the two ways out of it.
            raise ValueError(
                f"model.backbone is set but model.body is '{self.body}'; set model.body: "
                f"backbone to use it, or remove model.backbone for the {self.body} body"
            )
        if self.flatten and self.body != "dense":
            raise ValueError(f"flatten applies to body 'dense', not '{self.body}'")
        if self.mc_dropout and not self._has_dropout():
            raise ValueError(
                "mc_dropout needs dropout > 0 in at least one hidden block"
                + ("" if self.body == "dense" else f" or in the {self.body} body")
            )
        blocks = len(self.hidden) + (len(self.conv.blocks) if self.body == "conv" else 0)
        if self.freeze > blocks:
            raise ValueError(f"freeze {self.freeze} is more than the {counted(blocks, 'block')}")
        if self.freeze and not self.init_from:
            raise ValueError("freeze needs init_from: freezing untrained blocks has no use")
        if self.freeze and self.ensemble is not None:
            raise ValueError("freeze does not apply to an ensemble: its blocks live in members")
        if self.weight_prior_scale is not None and self.weight_prior_scale < _SMALLEST_PRIOR_SCALE:
            # Its decay, 1 / (2 scale^2 n) <= 1 / (2 scale^2), must be a float32 (Keras' l2):
            # 1e-200 squared was 0, a ZeroDivisionError traceback when the model was built.
            raise ValueError(
                f"weight_prior_scale {self.weight_prior_scale:g} is below "
                f"{_SMALLEST_PRIOR_SCALE:g}, where its weight decay 1 / (2 scale^2 x training "
                "rows) is too large for a float32"
            )
        self._first_layer_prior_applies()
        if self.weight_prior_scale is not None and self.l2:
            raise ValueError(
                "l2 and weight_prior_scale both set the weight decay; keep one "
                "(weight_prior_scale: null for a fixed l2, or l2: 0 for the prior's "
                "1 / (2 scale^2 x training rows))"
            )
        if (
            self.weight_prior_scale is not None
            and self.bayesian
            and self.bayesian.layers == "all"
            and self.body == "dense"
        ):
            raise ValueError(
                "weight_prior_scale applies to point-estimated layers, and with "
                "bayesian.layers 'all' a dense body has none; set layers: output or drop it"
            )
        if self.bayesian and self.bayesian.layers == "all" and self.body == "dense":
            # DenseVariational layers take no regularizer: l2 0.5 trained exactly as 0 did.
            penalties = [(f"model.{key}", getattr(self, key)) for key in ("l1", "l2")]
            for index, block in enumerate(self.hidden):
                penalties += [(f"model.hidden.{index}.l1", block.l1)]
                penalties += [(f"model.hidden.{index}.l2", block.l2)]
            for path, value in penalties:
                if value:
                    raise ValueError(
                        f"{path} applies to point-estimated layers, and with bayesian.layers "
                        "'all' a dense body has none (their prior, bayesian.prior_scale, "
                        "regularises them); set it to 0 or set layers: output"
                    )
        return self

    def _has_dropout(self) -> bool:
        if any(
            (block.dropout if block.dropout is not None else self.dropout) > 0
            for block in self.hidden
        ):
            return True
        if self.body == "conv":
            return any(
                (block.dropout if block.dropout is not None else self.conv.dropout) > 0
                for block in self.conv.blocks
            )
        return self.body == "backbone" and self.backbone.dropout > 0

    @property
    def gaussian_output(self) -> bool:
        """True when the network outputs a Gaussian's mean and scale per row."""
        return self.head in ("gaussian", "homoscedastic")

    @property
    def variational(self) -> bool:
        """True when some layers are DenseVariational (a bayesian section always has some)."""
        return self.bayesian is not None

    @property
    def resolved_loss(self) -> str:
        """The loss name training uses: the configured one or the task's default."""
        if self.loss:
            return self.loss
        if self.gaussian_output:
            return "gaussian_nll"
        return {
            "regression": "mse",
            "binary": "binary_crossentropy",
            "multiclass": "sparse_categorical_crossentropy",
        }[self.task]

    @property
    def resolved_metrics(self) -> tuple[str, ...]:
        return tuple(self.metrics) if self.metrics is not None else names.DEFAULT_METRICS[self.task]

    @property
    def is_stochastic(self) -> bool:
        """True when predictions vary between passes (Bayesian layers or MC dropout)."""
        return self.mc_dropout or self.variational

    @property
    def has_spread(self) -> bool:
        """True when predictions come with a predictive spread (any uncertainty method)."""
        return self.gaussian_output or self.is_stochastic or self.ensemble is not None


# --------------------------------------------------------------------------- training


# Keras 2's names, as course material writes them (`RMSprop(lr=0.001, decay=0.0)`).
_KERAS_2_ARGUMENTS = {
    "lr": " (Keras 3 calls it 'learning_rate')",
    "decay": (
        " (Keras 2's decay, lr / (1 + decay * step), is training.lr_schedule: "
        "{{name: inverse_time, decay_steps: 1, decay_rate: {value}}})"
    ),
}
# Keras checks few of its optimizers' arguments when it builds them: `momentum: 1.5` was a
# traceback after the run directory was written, `beta_1: abc` one at the first step, and
# `nesterov: maybe` trained as true. Every argument but these switches is a number.
_BOOLEAN_OPTIMIZER_ARGS = frozenset({"nesterov", "amsgrad", "centered", "use_ema", "relative_step"})
_WHOLE_OPTIMIZER_ARGS = frozenset({"ema_overwrite_frequency", "gradient_accumulation_steps"})
_UNIT_OPTIMIZER_ARGS = frozenset({"momentum", "rho", "beta_1", "beta_2", "ema_momentum"})
_NON_NEGATIVE_OPTIMIZER_ARGS = frozenset(
    {
        "weight_decay",
        "epsilon",
        "epsilon_1",
        "epsilon_2",
        "initial_accumulator_value",
        "l1_regularization_strength",
        "l2_regularization_strength",
        "l2_shrinkage_regularization_strength",
        "beta",
        "clip_threshold",
        "loss_scale_factor",
    }
)


class OptimizerConfig(NoBooleanNumbers):
    """Any Keras optimizer by name; other keys are that optimizer's own arguments."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)

    name: str = "adam"
    learning_rate: PositiveFloat = 1e-3

    @model_validator(mode="after")
    def _known_optimizer_and_arguments(self) -> OptimizerConfig:
        _check_name("optimizer", self.name, list(names.OPTIMIZERS))
        allowed = names.optimizer_arguments(self.name)
        extra = self.model_extra or {}
        for key, value in extra.items():
            if key not in allowed:
                hint = _KERAS_2_ARGUMENTS.get(key, "").format(value=value)
                raise ValueError(
                    f"optimizer '{self.name}' takes no argument '{key}'"
                    f"{hint or did_you_mean(key, allowed)}; allowed: {', '.join(sorted(allowed))}"
                )
            if value is None:  # Keras' default, as `epsilon=None` meant in Keras 2
                continue
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{key} must be a finite number, got {value}")
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if key in ("clipnorm", "clipvalue", "global_clipnorm") and not (number and value > 0):
                raise ValueError(f"{key} must be a positive number, got {value!r}")
            if key in _BOOLEAN_OPTIMIZER_ARGS:
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false, got {value!r}")
                continue
            if not number:
                raise ValueError(f"{key} must be a number, got {value!r}")
            if key in _WHOLE_OPTIMIZER_ARGS and not (value == int(value) and value >= 1):
                raise ValueError(f"{key} must be a whole number >= 1, got {value!r}")
            if key in _UNIT_OPTIMIZER_ARGS and not 0 <= value <= 1:
                raise ValueError(f"{key} must be a number in [0, 1], got {value!r}")
            if key in _NON_NEGATIVE_OPTIMIZER_ARGS and not value >= 0:
                raise ValueError(f"{key} must be a number >= 0, got {value!r}")
        clipping = [
            key
            for key in ("clipnorm", "clipvalue", "global_clipnorm")
            if extra.get(key) is not None
        ]
        if len(clipping) > 1:
            raise ValueError(
                f"set one of clipnorm, clipvalue and global_clipnorm, got {' and '.join(clipping)}"
            )
        return self

    @property
    def arguments(self) -> dict[str, Any]:
        """Keyword arguments for the Keras optimizer class (learning rate excluded); a null
        one is left to Keras' default."""
        return {k: v for k, v in (self.model_extra or {}).items() if v is not None}


class _Schedule(Strict):
    warmup_steps: Annotated[int, Field(ge=0)] = 0


class ConstantSchedule(_Schedule):
    name: Literal["constant"]


class ExponentialSchedule(_Schedule):
    name: Literal["exponential"]
    decay_steps: PositiveInt
    decay_rate: PositiveFloat = 0.9
    staircase: bool = False


class InverseTimeSchedule(_Schedule):
    name: Literal["inverse_time"]
    decay_steps: PositiveInt
    decay_rate: PositiveFloat = 0.5
    staircase: bool = False


class PiecewiseSchedule(_Schedule):
    name: Literal["piecewise"]
    boundaries: Annotated[list[PositiveInt], Field(min_length=1)]
    values: Annotated[list[PositiveFloat], Field(min_length=2)]

    @model_validator(mode="after")
    def _lengths(self) -> PiecewiseSchedule:
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(
                f"piecewise needs one more value than boundaries, got "
                f"{counted(len(self.boundaries), 'boundary', 'boundaries')} and "
                f"{counted(len(self.values), 'value')}"
            )
        if sorted(self.boundaries) != self.boundaries:
            raise ValueError("piecewise boundaries must increase")
        return self


class PolynomialSchedule(_Schedule):
    name: Literal["polynomial"]
    decay_steps: PositiveInt | Literal["auto"] = "auto"
    end_learning_rate: NonNegativeFloat = 1e-5
    power: PositiveFloat = 1.0
    cycle: bool = False


class CosineSchedule(_Schedule):
    name: Literal["cosine"]
    decay_steps: PositiveInt | Literal["auto"] = "auto"
    alpha: Annotated[float, Field(ge=0, le=1)] = 0.0


class CosineRestartsSchedule(_Schedule):
    name: Literal["cosine_restarts"]
    first_decay_steps: PositiveInt
    t_mul: PositiveFloat = 2.0
    m_mul: PositiveFloat = 1.0
    alpha: Annotated[float, Field(ge=0, le=1)] = 0.0


Schedule = Annotated[
    ConstantSchedule
    | ExponentialSchedule
    | InverseTimeSchedule
    | PiecewiseSchedule
    | PolynomialSchedule
    | CosineSchedule
    | CosineRestartsSchedule,
    Field(discriminator="name"),
]


class FineTuneConfig(Strict):
    """Phase 2 of transfer learning: after ``training.epochs`` on a frozen backbone, unfreeze
    it (``all``, or its last ``unfreeze`` layers), recompile with ``learning_rate`` and train
    ``epochs`` more. Batch normalisation stays in inference mode."""

    epochs: PositiveInt = 10
    learning_rate: PositiveFloat = 1e-5
    unfreeze: Literal["all"] | PositiveInt = "all"


def _class_weight(value: Any) -> Any:
    """``training.class_weight`` as the schema keeps it: "balanced", or each label as text (as
    preprocessing.json writes classes: ``1`` and ``True`` as "1" and "True") to a positive
    weight. A YAML key ``yes`` arrives as True and stays "True": training names it then,
    beside the classes, as it cannot tell here whether the target holds booleans."""
    if value is None or value == "balanced":
        return value
    if not isinstance(value, dict):
        hint = did_you_mean(str(value).lower(), ["balanced"]) if isinstance(value, str) else ""
        raise ValueError(
            f"expected 'balanced' or a mapping {{label: weight, ...}}, got {value!r}{hint}"
        )
    if not value:
        raise ValueError("give each class its weight ({label: weight, ...}), or 'balanced'")
    weights: dict[str, float] = {}
    for key, weight in value.items():
        if isinstance(key, float) and key.is_integer():
            key = int(key)
        label = str(key)
        if label in weights:
            raise ValueError(f"the class '{label}' is given twice")
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise ValueError(f"'{label}': expected a positive number, got {weight!r}")
        if not math.isfinite(weight) or weight <= 0:
            raise ValueError(f"'{label}': expected a positive number, got {weight!r}")
        weights[label] = float(weight)
    return weights


ClassWeight = Annotated[
    Literal["balanced"] | dict[str, float] | None, BeforeValidator(_class_weight)
]


def class_weight_setting(value: Any) -> str | dict[str, float] | None:
    """``training.class_weight`` as the schema keeps it, from a raw value (a search-space
    choice: labels as text, YAML's true as "True")."""
    return _class_weight(value)


class TrainingConfig(Strict):
    """How long and how fast to train."""

    epochs: PositiveInt = 100
    batch_size: PositiveInt = 32
    optimizer: OptimizerConfig = OptimizerConfig()
    lr_schedule: Schedule | None = None
    steps_per_execution: PositiveInt | Literal["auto"] = "auto"
    jit_compile: bool | Literal["auto"] = "auto"
    shuffle: bool = True
    verbose: Literal[0, 1, 2] = 2
    fine_tune: Switchable[FineTuneConfig] = None
    # Classifiers: each training row's loss weighted by its class, so a rare class counts as
    # much as a common one ("balanced": n / (k * n_c)); validation and metrics stay unweighted.
    class_weight: ClassWeight = None

    @field_validator("lr_schedule", mode="before")
    @classmethod
    def _schedule_name(cls, value: Any) -> Any:
        allowed = ", ".join(sorted(names.SCHEDULES))
        if isinstance(value, str):  # `lr_schedule: cosine`: "a valid dictionary" said pydantic
            known = value in names.SCHEDULES
            raise ValueError(
                f"a schedule is a mapping such as {{name: {value if known else 'cosine'}}}, got "
                f"'{value}'{'' if known else did_you_mean(value, names.SCHEDULES)}; names: {allowed}"
            )
        if isinstance(value, dict) and "name" not in value:
            # pydantic said "Unable to extract tag using discriminator 'name'".
            given = f"the keys {', '.join(map(str, value))}" if value else "no keys"
            hint = next(filter(None, (did_you_mean(str(key), ["name"]) for key in value)), "")
            raise ValueError(f"a schedule needs its name, one of {allowed}; got {given}{hint}")
        if isinstance(value, dict) and "name" in value and value["name"] not in names.SCHEDULES:
            raise ValueError(unknown_name("learning-rate schedule", value["name"], names.SCHEDULES))
        return value


# --------------------------------------------------------------------------- callbacks


class EarlyStoppingConfig(Strict):
    monitor: str = "val_loss"
    patience: Annotated[int, Field(ge=0)] = 10
    min_delta: NonNegativeFloat = 0.0
    mode: Literal["auto", "min", "max"] = "auto"
    restore_best_weights: bool = True
    start_from_epoch: Annotated[int, Field(ge=0)] = 0


class CheckpointConfig(Strict):
    """Best and last checkpoints inside the run directory."""

    monitor: str = "val_loss"
    mode: Literal["auto", "min", "max"] = "auto"
    save_last: bool = True


class TensorBoardConfig(Strict):
    # Every 5th epoch (and the first): Keras writes each weight's histogram eagerly, which
    # took 58 ms an epoch for bnn.yaml, longer than its epoch of training.
    histogram_freq: Annotated[int, Field(ge=0)] = 5
    write_graph: bool = True
    update_freq: Literal["epoch", "batch"] = "epoch"
    profile_batch: Annotated[int, Field(ge=0)] = 0
    hparams: bool = True


class ReduceLROnPlateauConfig(Strict):
    monitor: str = "val_loss"
    factor: Fraction = 0.5
    patience: Annotated[int, Field(ge=0)] = 5
    min_lr: NonNegativeFloat = 1e-6
    cooldown: Annotated[int, Field(ge=0)] = 0
    mode: Literal["auto", "min", "max"] = "auto"


class GradientMonitorConfig(Strict):
    every_n_epochs: PositiveInt = 1
    vanishing_threshold: PositiveFloat = 1e-7
    exploding_threshold: PositiveFloat = 1e3

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> GradientMonitorConfig:
        # The callback refuses them in the wrong order: a ValueError traceback after the
        # run directory was written.
        if not self.vanishing_threshold < self.exploding_threshold:
            raise ValueError(
                f"vanishing_threshold {self.vanishing_threshold:g} must be below "
                f"exploding_threshold {self.exploding_threshold:g}"
            )
        return self


class SampledMonitorConfig(Strict):
    """A monitor that measures every n-th epoch (counted from 1) and the last epoch.

    ``true``, ``false`` or ``auto`` alone set ``enabled`` and keep the interval.
    """

    enabled: bool | Literal["auto"] = "auto"
    every_n_epochs: PositiveInt = 10


class CallbacksConfig(Strict):
    """Keras' own callbacks and the toolkit's; ``false`` turns any of them off."""

    early_stopping: Switchable[EarlyStoppingConfig] = EarlyStoppingConfig()
    checkpoint: Switchable[CheckpointConfig] = CheckpointConfig()
    tensorboard: Switchable[TensorBoardConfig] = TensorBoardConfig()
    reduce_lr_on_plateau: Switchable[ReduceLROnPlateauConfig] = None
    gradient_monitor: Switchable[GradientMonitorConfig] = None
    csv_logger: bool = True
    backup_and_restore: bool = True
    terminate_on_nan: bool = True
    learning_curve: bool = True
    lr_logger: bool = True
    throughput: bool = True
    # auto: on for Bayesian and MC-dropout models
    uncertainty_monitor: SampledMonitorConfig = SampledMonitorConfig()
    # auto: on for classifiers (needs tensorboard)
    confusion_matrix: SampledMonitorConfig = SampledMonitorConfig()
    input_images: bool = True  # a grid of training images in TensorBoard (image data only)

    @field_validator("uncertainty_monitor", "confusion_matrix", mode="before")
    @classmethod
    def _monitor_switch(cls, value: Any) -> Any:
        if value is None:  # null turns it off, as it does every optional section
            return {"enabled": False}
        if isinstance(value, bool) or value == "auto":
            return {"enabled": value}
        if isinstance(value, str):
            raise ValueError(
                f"expected true, false, auto or a mapping {{enabled: auto, every_n_epochs: 10}}, "
                f"got {value!r}"
            )
        return value


# --------------------------------------------------------------------------- the rest


class RuntimeConfig(Strict):
    """Where and how numerics run; the same config runs on CPU, one GPU or several."""

    deterministic: bool = False
    distribute: Literal["none", "mirrored", "multi_worker"] = "none"
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = "float32"
    device: Literal["auto", "cpu", "gpu"] = "auto"


class ConformalConfig(Strict):
    """Split conformal prediction: intervals (regression) or prediction sets (classifiers)
    with finite-sample coverage on exchangeable data.

    ``split`` scores regressors by |y - mean| / std (|y - mean| without a std) and
    classifiers by 1 - p(true class); ``cqr`` (regression, Romano et al. 2019) conformalises
    the model's own alpha/2 and 1 - alpha/2 quantiles. ``calibration`` is the validation
    split, or a fraction of the training rows held out of training for it. ``randomized``:
    the randomised (smoothed) quantile, expected coverage exactly 1 - alpha for any number of
    calibration rows; false: the conservative quantile, at least 1 - alpha (29/30 = 0.967
    expected with 29 rows at alpha 0.05).
    """

    method: Literal["split", "cqr"] = "split"
    alpha: Fraction = 0.05
    calibration: Literal["validation"] | Fraction = "validation"
    randomized: bool = True

    @field_validator("alpha")
    @classmethod
    def _a_miscoverage(cls, value: float) -> float:
        """alpha is the share of rows left out; a coverage level written here (0.95, as
        prediction.interval takes it) made intervals and sets covering 5% of the rows
        (conformal_coverage 0.06 on a test split) without a word."""
        if value > 0.5:
            raise ValueError(
                f"{value:g} is the share of rows the intervals or sets may miss, so they would "
                f"cover {(1 - value) * 100:.4g}%; alpha is at most 0.5 (for "
                f"{value * 100:.4g}% coverage write {1 - value:.4g})"
            )
        return value


class PredictionConfig(Strict):
    mc_samples: Annotated[int, Field(ge=2)] = 50
    interval: Fraction = 0.95
    conformal: Switchable[ConformalConfig] = None
    # Classifiers: divide the logits by one temperature fitted on the validation split
    # (minimising its negative log-likelihood); metrics.json reports ECE before and after.
    temperature_scaling: bool = False
    # Regressors: scale the predictive distribution about its mean by one factor s fitted on
    # the validation split (minimising its negative log-likelihood): std, epistemic_std and
    # aleatoric_std times s, the interval with them. metrics.json reports NLL and coverage
    # before and after.
    std_scaling: bool = False
    # Regressors: the range the target cannot leave, [low, high] (null: unbounded on that
    # side), e.g. [0, null] for counts or prices. The mean and every interval are clipped to
    # it; when the range is true this keeps coverage (y inside [l, u] and the range is inside
    # their clipped band) and only moves the mean towards every possible y. Stated, never
    # inferred from the data: training refuses a training target outside it.
    target_range: Annotated[list[float | None], Field(min_length=2, max_length=2)] | None = None

    @field_validator("interval")
    @classmethod
    def _a_coverage(cls, value: float) -> float:
        """interval is the central interval's coverage; a miscoverage written here (0.05, as
        prediction.conformal.alpha takes it) made 5% intervals (coverage 0.053 on a test
        split) without a word."""
        if value < 0.5:
            raise ValueError(
                f"{value:g} is the central interval's coverage, so it would cover "
                f"{value * 100:.4g}% of the rows; interval is at least 0.5 (for a miss rate "
                f"of {value:g} write {1 - value:.4g})"
            )
        return value

    @field_validator("target_range")
    @classmethod
    def _ordered_range(cls, value: list[float | None] | None) -> list[float | None] | None:
        if value is None:
            return None
        low, high = value
        if low is None and high is None:
            raise ValueError("[null, null] bounds nothing: give low, high or both")
        if low is not None and high is not None and low >= high:
            raise ValueError(f"[{low}, {high}]: low must be below high")
        return value


class BaselinesConfig(Strict):
    """scikit-learn baselines, bounded so they never cost more than training."""

    max_rows: PositiveInt = 100_000  # training rows they are fitted on (a seeded sample)
    # Seconds for all of them (what does not fit is skipped); auto: while the network
    # trains (they are fitted in a thread beside it), then a quarter of its training time
    # more, 5 to 60 s.
    time_budget: PositiveFloat | Literal["auto"] = "auto"


class EvaluationConfig(Strict):
    plots: bool = True
    baselines: Switchable[BaselinesConfig] = BaselinesConfig()


class MLflowConfig(Strict):
    """Log runs with MLflow's client (the ``tracking`` extra): parameters, metrics, artifacts."""

    # null: MLFLOW_TRACKING_URI, else ./mlruns (a local file store); or http://host:5000
    uri: str | None = None
    experiment: str | None = None  # null: the config's name
    # A server that does not answer within this many seconds, after this many retries, is
    # down: the run goes on without tracking and run.json records a warning.
    timeout: Annotated[int, Field(ge=1)] = 10
    retries: Annotated[int, Field(ge=0, le=10)] = 2


class TrackingConfig(Strict):
    """Experiment trackers that runs, sweep trials and repeats are logged to."""

    mlflow: Switchable[MLflowConfig] = None


class SearchDimension(Strict):
    """One tunable config path: exactly one of int, float, choice or boolean."""

    # builtins.*: inside this class body, ``int`` and ``float`` name the fields themselves.
    int: Annotated[list[builtins.int], Field(min_length=2, max_length=2)] | None = None
    float: Annotated[list[builtins.float], Field(min_length=2, max_length=2)] | None = None
    choice: Annotated[list[Any], Field(min_length=1)] | None = None
    boolean: bool | None = None
    step: PositiveFloat | None = None
    sampling: Literal["linear", "log", "reverse_log"] = "linear"
    when: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _a_mapping(cls, data: Any) -> Any:
        """``model.dropout: [0.1, 0.3]`` read "Input should be a valid dictionary or instance
        of SearchDimension": say what an entry looks like."""
        if isinstance(data, dict | SearchDimension):
            return data
        try:
            shown = json.dumps(data)  # YAML's spelling: [0.1, 0.3], null, true
        except TypeError:
            shown = repr(data)
        hint = f"{{choice: {shown}}}" if isinstance(data, list) else "{choice: [a, b]}"
        raise ValueError(
            f"expected a mapping such as {hint}, {{int: [low, high]}}, {{float: [low, high]}} "
            f"or {{boolean: true}}; got {shown}"
        )

    @model_validator(mode="after")
    def _one_kind(self) -> SearchDimension:
        kinds = [k for k in ("int", "float", "choice", "boolean") if getattr(self, k) is not None]
        if len(kinds) != 1:
            # An entry of an extends: base and one of the file that extends it are merged
            # key by key: a kind changed in the second keeps the first's.
            merged = (
                "; an entry from an extends: base is merged key by key, so set the kind "
                "you replace to null (and its step to null, sampling to linear)"
                if len(kinds) > 1
                else ""
            )
            raise ValueError(
                "give exactly one of int, float, choice, boolean; got "
                f"{', '.join(kinds) or 'none'}{merged}"
            )
        bounds = self.int or self.float
        if bounds is not None:
            low, high = bounds
            if low >= high:
                raise ValueError(f"range [{low}, {high}] is empty: the lower bound must be smaller")
            if self.sampling != "linear" and low <= 0:
                raise ValueError(f"{self.sampling} sampling needs a lower bound > 0, got {low}")
        elif self.step is not None or self.sampling != "linear":
            raise ValueError("step and sampling apply only to int and float ranges")
        if self.choice is not None and len({repr(c) for c in self.choice}) != len(self.choice):
            raise ValueError(f"choice has repeated values: {self.choice}")
        return self

    @property
    def kind(self) -> str:
        return next(
            k for k in ("int", "float", "choice", "boolean") if getattr(self, k) is not None
        )

    def fractional_value(self) -> builtins.float | None:
        """A value the float range can draw that is not a whole number, or None if it draws
        only whole ones. Its ends alone passed a field of whole numbers
        (``training.batch_size: {float: [16, 64]}``), and every trial then failed on 38.22."""
        if self.float is None:
            return None
        low, high = self.float
        if self.step is None:  # any value in the range: the middle, or beside it if whole
            middle = (low + high) / 2
            return middle if not middle.is_integer() else middle + min(0.5, (high - middle) / 2)
        # Keras Tuner's grid with a step: low + k * step, or (log) low * step^k, or
        # (reverse_log) high + low - low * step^k; the first 1,000 values are plenty.
        for k in range(1000):
            if self.sampling == "linear":
                value = low + k * self.step
            elif self.sampling == "log":
                value = low * self.step**k
            else:
                value = high + low - low * self.step**k
            if not low <= value <= high:
                return None
            if not value.is_integer():
                return value
        return None

    def probe_values(self) -> list[Any]:
        """Values that must all give a valid config: the range ends and every choice, and a
        float range's first fractional value (see ``fractional_value``)."""
        if self.int is not None:
            return list(self.int)
        if self.float is not None:
            inner = self.fractional_value()
            return list(self.float) + ([] if inner is None else [inner])
        if self.choice is not None:
            return list(self.choice)
        return [True, False]


class TunerConfig(Strict):
    """A Keras Tuner search over config paths."""

    algorithm: Literal["random", "bayesian", "hyperband", "grid"] = "random"
    objective: str = "val_loss"
    direction: Literal["min", "max"] | None = None
    max_trials: PositiveInt = 20
    max_epochs: PositiveInt | None = None
    factor: Annotated[int, Field(ge=2)] = 3
    executions_per_trial: PositiveInt = 1
    keep_top_k: PositiveInt = 3
    cv_folds: Annotated[int, Field(ge=2)] | None = None
    seed: Seed | None = None
    worker_timeout: PositiveFloat = 120.0
    max_consecutive_failures: PositiveInt = 5
    search_space: Annotated[dict[str, SearchDimension], Field(min_length=1)]

    @field_validator("search_space", mode="before")
    @classmethod
    def _null_entries_removed(cls, value: Any) -> Any:
        # A config that extends a sweep takes an entry out with `model.dropout: null`; the
        # merge of the two files leaves the null behind.
        if isinstance(value, dict):
            return {key: entry for key, entry in value.items() if entry is not None}
        return value

    @model_validator(mode="after")
    def _max_epochs_is_hyperbands(self) -> TunerConfig:
        # Only Hyperband reads it: a random search with max_epochs 4 trained every trial for
        # training.epochs (100), saying nothing.
        if self.max_epochs is not None and self.algorithm != "hyperband":
            raise ValueError(
                f"max_epochs applies to the hyperband algorithm, not '{self.algorithm}', whose "
                "trials train for training.epochs; set that (or max_epochs: null)"
            )
        return self

    @model_validator(mode="after")
    def _grid_floats_have_a_step(self) -> TunerConfig:
        # Keras Tuner's grid over a float range without a step tries the lower end (the
        # default) and then ten values of its own inside the range, unsorted: neither the
        # grid nor the upper end the user wrote, and documented nowhere.
        if self.algorithm != "grid":
            return self
        for path, entry in self.search_space.items():
            if entry.float is not None and entry.step is None:
                low, high = entry.float
                raise ValueError(
                    f"search_space.{path}: a grid tries every value, and the float range "
                    f"[{low:g}, {high:g}] has no step (Keras Tuner would pick its own: the lower "
                    "end, then ten values inside the range, unsorted); add a step, or list the "
                    "values as {choice: [...]}"
                )
        return self

    @property
    def resolved_direction(self) -> str:
        if self.direction:
            return self.direction
        lowered = self.objective.lower()
        better_high = ("acc", "auc", "precision", "recall", "f1", "r2")
        return "max" if any(token in lowered for token in better_high) else "min"


class ExperimentConfig(Strict):
    """One experiment: what to train on, what to build, how to train it, where to write."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=100)]
    description: str = ""
    seed: Seed = 42
    data: DataConfig
    model: ModelConfig
    training: TrainingConfig = TrainingConfig()
    callbacks: CallbacksConfig = CallbacksConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    prediction: PredictionConfig = PredictionConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    tuner: TunerConfig | None = None
    tracking: Switchable[TrackingConfig] = None
    output_dir: PathText = "experiments"

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:
        implied = self.data.builtin_task
        if implied and implied != self.model.task:
            raise ValueError(
                f"model.task '{self.model.task}' does not fit data.source '{self.data.source}', "
                f"which is a {implied} dataset"
            )
        self._body_fits_data()
        self._consistent_prediction()
        monitors = self.logged_names()
        cb = self.callbacks
        for key, section in (
            ("early_stopping", cb.early_stopping),
            ("checkpoint", cb.checkpoint),
            ("reduce_lr_on_plateau", cb.reduce_lr_on_plateau),
        ):
            if section is not None and section.monitor not in monitors:
                raise ValueError(
                    f"callbacks.{key}.monitor: "
                    + unknown_name("logged quantity", section.monitor, monitors)
                )
        # Keras' ReduceLROnPlateau cannot set a schedule's rate: the first plateau was a
        # TypeError traceback mid-training.
        schedule = self.training.lr_schedule
        if (
            cb.reduce_lr_on_plateau is not None
            and schedule is not None
            and (schedule.name != "constant" or schedule.warmup_steps > 0)
        ):
            raise ValueError(
                "callbacks.reduce_lr_on_plateau cannot lower the rate of "
                f"training.lr_schedule '{schedule.name}', which sets it every step; "
                "use one of the two (set the other to null)"
            )
        if self.tuner is not None and self.tuner.objective not in monitors:
            evaluated = [f"validation.{name}" for name in names.EVALUATED_METRICS[self.model.task]]
            spread = [f"validation.{name}" for name in names.SPREAD_METRICS]
            if self.tuner.objective not in evaluated:
                raise ValueError(
                    "tuner.objective: " + self._unknown_objective(monitors + evaluated)
                )
            if self.tuner.objective in spread and not self.model.has_spread:
                raise ValueError(
                    f"tuner.objective {self.tuner.objective} needs a predictive distribution: "
                    "use head gaussian or homoscedastic, bayesian, mc_dropout or ensemble"
                )
        return self

    def _unknown_objective(self, choices: list[str]) -> str:
        """The message for an objective no run logs. The log loss of metrics.json is named
        nll for a regressor and log_loss for a classifier: sweep.yaml's validation.nll on a
        classifier was met with "did you mean 'validation.f1'?", the nearest spelling."""
        objective = self.tuner.objective
        same = {"validation.nll": "validation.log_loss", "validation.log_loss": "validation.nll"}
        if same.get(objective) in choices:
            return (
                f"unknown logged quantity '{objective}' (a {self.model.task} model's negative "
                f"log-likelihood is '{same[objective]}'); allowed: {', '.join(sorted(choices))}"
            )
        return unknown_name("logged quantity", objective, choices)

    def _body_fits_data(self) -> None:
        kind, model = self.data.input_kind, self.model
        if model.body == "dense" and kind != "table" and not model.flatten:
            raise ValueError(
                f"model.body 'dense' takes vectors; {kind}s need model.flatten: true, "
                "or model.body: conv" + (" or backbone" if kind == "image" else "")
            )
        if model.flatten and kind == "table":
            raise ValueError("model.flatten applies to images and signals, not tables")
        if model.body == "conv" and kind == "table":
            raise ValueError(
                "model.body 'conv' needs images or signals (data.kind image or signal); "
                "tables take body 'dense'"
            )
        if model.body == "backbone" and kind != "image":
            raise ValueError(f"model.body 'backbone' needs images, data.kind is '{kind}'")
        fine_tune = self.training.fine_tune
        if fine_tune is not None and (model.backbone is None or model.backbone.trainable):
            raise ValueError(
                "training.fine_tune needs model.body 'backbone' with backbone.trainable: false "
                "(phase 1 trains the top on the frozen backbone)"
            )

    def _consistent_prediction(self) -> None:
        task = self.model.task
        prediction = self.prediction
        if self.data.positive_class is not None and task != "binary":
            raise ValueError(
                f"data.positive_class applies to binary classifiers; model.task is '{task}'"
            )
        if self.training.class_weight is not None and task == "regression":
            raise ValueError(
                "training.class_weight weighs the classes of a classifier (model.task binary "
                "or multiclass); a regression target has none"
            )
        if prediction.temperature_scaling and task == "regression":
            raise ValueError(
                "prediction.temperature_scaling applies to classifiers; "
                "for regression intervals use prediction.conformal"
            )
        if prediction.std_scaling and task != "regression":
            raise ValueError(
                "prediction.std_scaling applies to regressors; "
                "for classifiers use prediction.temperature_scaling"
            )
        if prediction.std_scaling and not self.model.has_spread:
            raise ValueError(
                "prediction.std_scaling needs a predictive std: use head gaussian or "
                "homoscedastic, bayesian, mc_dropout or ensemble"
            )
        if prediction.target_range is not None and task != "regression":
            raise ValueError(
                "prediction.target_range applies to regressors (it clips their predictions "
                "and intervals); classifiers predict classes"
            )
        conformal = prediction.conformal
        if (
            conformal is not None
            and conformal.calibration != "validation"
            and self.data.streaming is True
        ):
            # Also checked where streaming: auto decides to stream (the shards' prepare).
            raise ValueError(
                "prediction.conformal.calibration as a fraction needs the data in memory; "
                "with data.streaming: true it calibrates on the validation split "
                "(calibration: validation)"
            )
        if conformal is not None and conformal.method == "cqr":
            if task != "regression":
                raise ValueError(
                    "prediction.conformal.method 'cqr' needs task 'regression'; "
                    "classifiers use method 'split' (prediction sets)"
                )
            if not self.model.has_spread:
                raise ValueError(
                    "prediction.conformal.method 'cqr' needs predictive quantiles: use head "
                    "gaussian or homoscedastic, bayesian, mc_dropout or ensemble, or method 'split'"
                )

    def logged_names(self) -> list[str]:
        """Quantities Keras logs each epoch, which callbacks may monitor."""
        base = ["loss", *self.model.resolved_metrics]
        return base + [f"val_{name}" for name in base]
