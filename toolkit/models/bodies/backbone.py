"""The backbone body: a ``keras.applications`` network without its classifier, pooled, then
``model.hidden``'s dense blocks.

Its input preprocessing (resizing to ``input_size``, the family's own scaling) is part of
the model. With pretrained weights, or when it starts frozen for fine-tuning, its batch
normalisation stays in inference mode even once the backbone is unfrozen, as the Keras
transfer-learning guides ask: its BatchNormalization layers stay frozen (``trainable=False``),
which in Keras 3 is what runs them in inference mode. Calling the backbone with
``training=False`` would not do it: a functional model passes its own ``training`` flag to
every layer it calls, overriding the one recorded at build time.
"""

from __future__ import annotations

import contextlib
import re
import sys
import warnings
from pathlib import Path

import keras

from toolkit.config import names
from toolkit.config.schema import BackboneConfig, ModelConfig
from toolkit.errors import ConfigError, DataError
from toolkit.models.bodies.dense import dense_blocks
from toolkit.models.layers.backbone_preprocessing import BackbonePreprocessing
from toolkit.models.uncertainty import Uncertainty, dropout

BACKBONE_LAYER = "backbone"


def make_application(
    backbone: BackboneConfig, input_shape: tuple[int, int, int], *, weights: str | None
) -> keras.Model:
    """The application without its top, named ``backbone``; ``weights`` imagenet or None."""
    options = {
        key: getattr(backbone, key)
        for key in names.BACKBONES[backbone.name][2]
        if getattr(backbone, key) is not None
    }
    application = getattr(keras.applications, backbone.name)
    with warnings.catch_warnings():
        # Keras warns that an input size other than 224 gets the 224 weights: without the
        # top, every size shares them, which is what a backbone at its own input_size wants.
        warnings.filterwarnings("ignore", message=r"`input_shape` is undefined or non-square")
        # Built under its own default name: EfficientNet, EfficientNetV2 and ConvNeXt make
        # their weights file's name and URL from it (ConvNeXt refuses any other name with
        # imagenet weights), and EfficientNetV2 picks its input scaling by it.
        built = application(include_top=False, weights=weights, input_shape=input_shape, **options)
    # Renamed only once its weights are in: the toolkit finds the backbone by this name
    # (fine-tuning, init_from, backbones()). A name is a plain attribute in Keras 3; the
    # variables' paths were fixed when its layers were built and do not include it.
    built.name = BACKBONE_LAYER
    return built


def _unfit_cached_file_message(backbone: BackboneConfig, error: Exception) -> str | None:
    """The line for a weights file Keras found in its cache but could not load (an error
    page saved as .h5, another network's file): Keras checks no checksum for some files
    (MobileNetV2's) and reads what it finds, so "not in the cache" would send the user
    looking for a file that is there. ``None`` when the error is not that."""
    text = " ".join(str(error).split())
    if re.search(r"https?://", text):
        return None  # a download that failed: _weights_file_message's case
    if isinstance(error, ValueError) and not re.search(r"mismatch|when loading|saved", text):
        # Refused before any file was read: an input shape ("if imagenet weights are being
        # loaded, input must have a static square shape").
        return None
    from toolkit.data.arrays import keras_home

    folder = keras_home() / "models"
    key = re.sub(r"[^a-z0-9]", "", backbone.name.lower())
    found = sorted(
        path.name
        for path in folder.glob("*.h5")
        if key in re.sub(r"[^a-z0-9]", "", path.name.lower())
    )
    if not found:
        return None
    files = f"{folder / found[0]}" if len(found) == 1 else f"one of {', '.join(found)} in {folder}"
    return (
        f"backbone {backbone.name}: Keras' cached weights file {files} could not be loaded "
        f"({text[:160]}): it is not the right file (a partial or different download); delete "
        "it and go online once, put the right file there (Keras' cache, set by KERAS_HOME), "
        "or set weights: none"
    )


def _weights_file_message(backbone: BackboneConfig, error: Exception, cached: set[str]) -> str:
    """Which weights file is missing and where it goes. ``cached``: the files the cache held
    before Keras tried: one of them named in the error failed Keras' checksum, and Keras
    deleted it when the download it retried failed, so "not in the cache" would blame a user
    who had just put a file there (a partial download, an error page saved as .h5)."""
    text = " ".join(str(error).split())
    url = re.search(r"https?://\S+?\.h5", text)
    file = url.group(0).rsplit("/", 1)[-1] if url else "its weights file"
    from toolkit.data.arrays import keras_home

    folder = keras_home() / "models"
    if file in cached:
        return (
            f"backbone {backbone.name}: {folder / file} was not the file Keras expects (its "
            "checksum differs: a partial or different download), and Keras deleted it when "
            f"it could not download the right one; put the right {file} there (Keras' cache, "
            "set by KERAS_HOME), go online once, or set weights: none"
        )
    return (
        f"backbone {backbone.name}: its ImageNet weights are not in Keras' cache and cannot be "
        f"downloaded; put {file} in {folder} (Keras' cache, set by "
        "KERAS_HOME), go online once, or set weights: none"
    )


def _cached_weights() -> set[str]:
    """The files now in Keras' cache of application weights."""
    from toolkit.data.arrays import keras_home

    folder = keras_home() / "models"
    return {path.name for path in folder.iterdir()} if folder.is_dir() else set()


def load_application(backbone: BackboneConfig, input_shape: tuple[int, int, int]) -> keras.Model:
    """The application with the weights the config names; any failure is a one-line
    ``DataError`` (weights that cannot be downloaded, a file that does not fit)."""
    if backbone.weights == "imagenet":
        cached = _cached_weights()
        try:
            # Keras prints its download progress on stdout, which holds only paths for the CLI.
            with contextlib.redirect_stdout(sys.stderr):
                return make_application(backbone, input_shape, weights="imagenet")
        except Exception as error:  # Keras wraps urllib's errors in a bare Exception
            unfit = _unfit_cached_file_message(backbone, error)
            if unfit is not None:
                raise DataError(unfit) from None
            if isinstance(error, ValueError):  # an input shape the weights do not take
                raise DataError(
                    f"backbone {backbone.name} with weights imagenet: {error}"
                ) from None
            raise DataError(_weights_file_message(backbone, error, cached)) from None
    application = make_application(backbone, input_shape, weights=None)
    if backbone.weights != "none":
        path = Path(backbone.weights)
        if not path.is_file():
            raise DataError(f"backbone weights file not found: {path}")
        import h5py  # Keras' own reader of .weights.h5 files

        if not h5py.is_hdf5(path):
            # An error page or a .keras archive saved under this name was said to "not fit"
            # the network, with h5py's "file signature not found": the file is no weights.
            raise DataError(
                f"backbone weights {path} is not an HDF5 file; give a .weights.h5 file "
                f"written by Keras' save_weights for {backbone.name}, or set weights: imagenet "
                "or none"
            )
        try:
            # A file that does not fit also warns once per nested layer it skips (hundreds of
            # lines before the error); one that fits loads without a warning.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                application.load_weights(path)
            skipped = [w for w in caught if issubclass(w.category, UserWarning)]
            if skipped:
                raise ValueError(f"{len(skipped)} warnings, the first: {skipped[0].message}")
        except Exception as error:  # h5py and Keras raise many types for a file that does not fit
            first = " ".join(str(error).split())[:200]
            raise DataError(
                f"backbone weights {path} do not fit {backbone.name} with input "
                f"{input_shape}: {first}"
            ) from None
    return application


def ensure_weights(model: ModelConfig, image_shape: list[int]) -> keras.Model | None:
    """Fetch (or find in Keras' cache) the ImageNet weights the config asks for, or load its
    weights file, before a run directory exists: offline without them, or a file that does not
    fit, is a one-line ``DataError`` and nothing written. Returns the application loaded, or
    None when there were no weights to load."""
    backbone = model.backbone
    if backbone is None or backbone.weights == "none":
        return None
    height, width = backbone.input_size or image_shape[:2]
    return load_application(backbone, (height, width, 3))


def check_unfreeze(
    model: ModelConfig,
    unfreeze: int | str,
    image_shape: list[int],
    application: keras.Model | None = None,
) -> None:
    """``training.fine_tune.unfreeze`` N must be at most the backbone's layer count: more
    unfroze every layer without a word, as ``all`` does, while the config said otherwise.
    Refused (as an unfreeze of 0 is) rather than warned of, before any run exists: the number
    is a slip, and the fix, ``all`` or the count, is one the user should choose. Counted on
    ``application`` when given (the one ``ensure_weights`` loaded), else on one built here
    with random weights (the count does not depend on them)."""
    if unfreeze == "all" or model.backbone is None:
        return
    backbone = model.backbone
    if application is None:
        height, width = backbone.input_size or image_shape[:2]
        application = make_application(backbone, (height, width, 3), weights=None)
    count = len(application.layers)
    if int(unfreeze) > count:
        raise ConfigError(
            f"training.fine_tune.unfreeze: {unfreeze} is more layers than backbone "
            f"{backbone.name} has ({count}); give at most {count}, or all"
        )


def inference_mode(model: ModelConfig) -> bool:
    """Batch normalisation in inference mode: pretrained weights, or a backbone that starts
    frozen (to be fine-tuned later)."""
    return model.backbone.weights != "none" or not model.backbone.trainable


def _freeze_batch_norm(application: keras.Model) -> None:
    for layer in application.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def build_backbone_body(
    features: keras.KerasTensor,
    model: ModelConfig,
    *,
    uncertainty: Uncertainty,
    seed: int,
    join: keras.KerasTensor | None = None,
) -> keras.KerasTensor:
    """The backbone on RGB ``features`` in [0, 1], pooled, then ``model.hidden``'s blocks."""
    backbone = model.backbone
    x = features
    height, width = x.shape[1], x.shape[2]
    if backbone.input_size is not None and list(backbone.input_size) != [height, width]:
        height, width = backbone.input_size
        x = keras.layers.Resizing(height, width, name="backbone_resize")(x)
    mode = names.BACKBONES[backbone.name][0]
    x = BackbonePreprocessing(mode, name="backbone_preprocessing")(x)
    application = load_application(backbone, (height, width, 3))
    application.trainable = backbone.trainable
    if inference_mode(model):
        _freeze_batch_norm(application)
    x = application(x)
    pooling = (
        keras.layers.GlobalAveragePooling2D
        if backbone.pooling == "avg"
        else (keras.layers.GlobalMaxPooling2D)
    )
    x = pooling(name="backbone_pool")(x)
    if backbone.dropout > 0:
        x = dropout(
            backbone.dropout,
            seed=seed + 2000,
            name="backbone_dropout",
            mc_dropout=uncertainty.mc_dropout,
        )(x)
    return dense_blocks(x, model, uncertainty=uncertainty, seed=seed, join=join)


def backbones(model: keras.Model) -> list[keras.Model]:
    """The backbone of ``model``, or of each of an ensemble's members (nested models)."""
    found = []
    for layer in model.layers:
        if layer.name == BACKBONE_LAYER:
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(backbones(layer))
    return found


def unfreeze(model: keras.Model, layers: int | str) -> list[str]:
    """Make the backbone trainable (every member's, in an ensemble): all of it, or its last
    ``layers`` layers, batch normalisation excepted (it stays in inference mode). Returns
    the names of the backbone's layers now trainable."""
    applications = backbones(model)
    for application in applications:
        application.trainable = True
        if layers != "all":
            for layer in application.layers[: -int(layers)]:
                layer.trainable = False
        _freeze_batch_norm(application)
    return [layer.name for layer in applications[0].layers if layer.trainable and layer.weights]
