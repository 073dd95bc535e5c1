"""Array sources: NumPy ``.npz`` files of images or signals, ``keras.datasets`` and
scikit-learn's digits as 8x8x1 images.

Each becomes a frame with one array per row in an ``image`` or ``signal`` column beside the
target, so splits, stratification and fingerprints work as they do for tables.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from toolkit.config.schema import DataConfig
from toolkit.data.preprocessing import IMAGE_INPUT, SIGNAL_INPUT, SignalFeature
from toolkit.errors import DataError
from toolkit.text import counted


def _frame(x: np.ndarray, y: np.ndarray | None, *, column: str, target: str) -> pd.DataFrame:
    """One array of ``x`` per row in ``column``, beside ``y`` in ``target`` when given."""
    frame = pd.DataFrame({column: pd.Series(list(x), dtype=object)})
    if y is not None:
        frame[target] = np.asarray(y).reshape(len(y))
    return frame


def read_npz(
    path: str | Path, config: DataConfig, *, label: str = "data file", need_target: bool = True
) -> pd.DataFrame:
    """An ``.npz`` with ``x`` (N, ...) and ``y`` (N,) as a frame: images (N, H, W) or
    (N, H, W, C) with C in 1, 3, 4; signals (N, L) or (N, L, C). ``y`` may be left out of
    new data to predict (``need_target=False``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{label} not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.keys())
            if "x" not in keys or ("y" not in keys and need_target):
                # New data to predict needs no labels: naming y there sent users looking for
                # one (an .npz of X, y: the case is what was wrong).
                needs = "arrays x (N, ...) and y (N,)" if need_target else "an array x (y optional)"
                raise DataError(
                    f"{label} {path} holds {', '.join(keys) or 'no arrays'}; it needs {needs}"
                )
            x = _array(archive, "x", path, label=label)
            y = None
            if "y" in keys:
                try:
                    y = _array(archive, "y", path, label=label)
                except DataError as error:
                    if need_target:
                        raise
                    # Predict needs no labels: an object y (labels saved from pandas) refused
                    # the whole file. Predicted from x, with y left out of the output.
                    from toolkit.data.input_audit import InputWarning

                    warnings.warn(
                        f"{error}; predicted from x alone, without y beside the predictions",
                        InputWarning,
                        stacklevel=2,
                    )
    except DataError:
        raise
    except (OSError, ValueError, EOFError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"{label} {path} cannot be read as .npz: {first}") from None
    if x.ndim == 0 or len(x) == 0:
        # As a table without rows is: evaluate raised a ValueError traceback on it, predict
        # wrote an empty file, and training named "0 classes" instead.
        raise DataError(f"{label} {path} has no rows (x has shape {x.shape})")
    if y is not None and len(x) != len(y):
        raise DataError(f"{label} {path}: x has {len(x)} rows but y has {len(y)}")
    if y is not None and y.ndim > 1 and not (y.ndim == 2 and y.shape[1] == 1):
        raise DataError(f"{label} {path}: y must have shape (N,) or (N, 1), got {y.shape}")
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{label} {path}: x must hold numbers, got dtype {x.dtype}")
    _check_finite(x, path, label=label)
    if config.input_kind == "image":
        if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3, 4)):
            raise DataError(
                f"{label} {path}: images need x of shape (N, H, W) or (N, H, W, C) with C "
                f"1, 3 or 4, got {x.shape}"
            )
        return _frame(x, y, column=IMAGE_INPUT, target=config.target)
    if x.ndim not in (2, 3):
        raise DataError(
            f"{label} {path}: signals need x of shape (N, L) or (N, L, C), got {x.shape}"
        )
    return _frame(x, y, column=SIGNAL_INPUT, target=config.target)


# What each array of an .npz holds when it is saved as Python objects, and how to save it so
# it loads: labels from pandas (``df["label"].values`` is an object array of str), signals of
# different lengths (a list of arrays becomes an object array).
_OBJECT_REMEDY = {
    "x": "x must be one numeric array (N, ...): pad or crop signals or images to one shape",
    "y": "save the labels as numbers or text, e.g. np.asarray(y, dtype=str)",
}


def _array(archive, key: str, path: Path, *, label: str) -> np.ndarray:
    """Array ``key`` of an open ``.npz``. One of Python objects is not loaded (that would
    unpickle, which can run code): named with the way to save it, where NumPy's "Object arrays
    cannot be loaded when allow_pickle=False" named neither the array nor a remedy."""
    try:
        return archive[key]
    except ValueError as error:
        if "allow_pickle" not in str(error):
            raise
        raise DataError(
            f"{label} {path}: {key} is an array of Python objects (dtype object), which is "
            f"not loaded, as loading one can run code; {_OBJECT_REMEDY[key]}"
        ) from None


def _check_finite(x: np.ndarray, path: Path, *, label: str) -> None:
    """Images and signals have no imputation: a NaN or infinity would reach the model and the
    baselines (a traceback after training), so it is a one-line error naming the row."""
    if not np.issubdtype(x.dtype, np.floating) or len(x) == 0:
        return
    finite = np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if not finite.all():
        rows = np.flatnonzero(~finite)
        raise DataError(
            f"{label} {path}: x holds NaN or infinite values in {counted(len(rows), 'row')}, "
            "the first "
            f"row {rows[0] + 1} (x[{rows[0]}]); images and signals must be finite numbers"
        )


def digits_images(target: str) -> pd.DataFrame:
    """scikit-learn's digits as 8x8x1 images (pixel values 0..16), labels '0'..'9'."""
    import sklearn.datasets

    bunch = sklearn.datasets.load_digits()
    labels = np.asarray([str(i) for i in bunch.target])
    return _frame(
        bunch.images[..., None].astype(np.float32), labels, column=IMAGE_INPUT, target=target
    )


# ------------------------------------------------------------------ keras.datasets

# Readable labels where Keras gives class indices only.
_CLASS_NAMES = {
    "fashion_mnist": [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
    "cifar10": [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ],
}


def keras_home() -> Path:
    """Where ``keras.utils.get_file`` keeps its downloads: ``$KERAS_HOME`` (default
    ``~/.keras``), or ``/tmp/.keras`` when that is not writable, as Keras decides."""
    home = Path(os.environ.get("KERAS_HOME") or Path("~/.keras").expanduser())
    if home.exists() and not os.access(home, os.W_OK):
        home = Path("/tmp/.keras")
    return home


def keras_cache_dir() -> Path:
    """Where Keras keeps ``keras.datasets`` files."""
    return keras_home() / "datasets"


# The files each loader of keras.datasets leaves in the cache, relative to keras_cache_dir().
CACHED_FILES = {
    "mnist": ["mnist.npz"],
    "fashion_mnist": [
        "fashion-mnist/train-labels-idx1-ubyte.gz",
        "fashion-mnist/train-images-idx3-ubyte.gz",
        "fashion-mnist/t10k-labels-idx1-ubyte.gz",
        "fashion-mnist/t10k-images-idx3-ubyte.gz",
    ],
    "cifar10": [
        *(f"cifar-10-batches-py-target/cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)),
        "cifar-10-batches-py-target/cifar-10-batches-py/test_batch",
    ],
    "cifar100": [
        "cifar-100-python-target/cifar-100-python/train",
        "cifar-100-python-target/cifar-100-python/test",
    ],
}


def _read_cached(name: str, folder: Path):
    """``(x_train, y_train), (x_test, y_test)`` from the files Keras cached.

    Read directly rather than through ``keras.datasets.<name>.load_data``: those loaders
    check the file's hash against the full dataset and download again on a mismatch, so a
    cache holding a cut-down copy (as the tests write) could not be read offline.
    """
    files = [folder / f for f in CACHED_FILES[name]]
    if name == "mnist":
        with np.load(files[0], allow_pickle=False) as archive:
            return (archive["x_train"], archive["y_train"]), (archive["x_test"], archive["y_test"])
    if name == "fashion_mnist":

        def idx(path: Path, offset: int) -> np.ndarray:
            with gzip.open(path, "rb") as handle:
                return np.frombuffer(handle.read(), np.uint8, offset=offset)

        y_train, y_test = idx(files[0], 8), idx(files[2], 8)
        x_train = idx(files[1], 16).reshape(len(y_train), 28, 28)
        x_test = idx(files[3], 16).reshape(len(y_test), 28, 28)
        return (x_train, y_train), (x_test, y_test)
    if name == "cifar10":
        parts = [load_batch(f) for f in files]
        x = np.concatenate([p[0] for p in parts[:-1]])
        y = np.concatenate([np.asarray(p[1]) for p in parts[:-1]])
        x_test, y_test = parts[-1]
    else:
        x, y = load_batch(files[0], label_key="fine_labels")
        x_test, y_test = load_batch(files[1], label_key="fine_labels")
    # Stored channels first.
    return (x.transpose(0, 2, 3, 1), np.asarray(y)), (
        np.asarray(x_test).transpose(0, 2, 3, 1),
        np.asarray(y_test),
    )


def load_batch(path: Path, label_key: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR batch file as Keras' ``keras.src.datasets.cifar.load_batch`` reads it (not
    public API): a pickled dict of channels-first ``data`` and labels. Only files Keras itself
    downloaded into its cache are read this way."""
    import pickle

    with open(path, "rb") as handle:
        batch = pickle.load(handle, encoding="bytes")
    batch = {(k.decode("utf8") if isinstance(k, bytes) else k): v for k, v in batch.items()}
    data = np.asarray(batch["data"], dtype=np.uint8)
    return data.reshape(data.shape[0], 3, 32, 32), np.asarray(batch[label_key])


# What keras.datasets' loaders download, for a user offline to fetch by hand: the CIFAR
# archives Keras extracts into its cache under these folders (the files read from there are
# in CACHED_FILES), Fashion-MNIST's four files into their own folder.
_ARCHIVES = {
    "cifar10": (
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "cifar-10-batches-py-target",
    ),
    "cifar100": (
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "cifar-100-python-target",
    ),
}
_KERAS_DATASETS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def _what_to_put(name: str, folder: Path) -> str:
    """The files a user offline puts in Keras' cache ``folder`` for ``name``, and where: the
    one archive to download, not the files Keras extracts from it."""
    if name in _ARCHIVES:
        url, target = _ARCHIVES[name]
        return f"download {url.rsplit('/', 1)[-1]} ({url}) and extract it into {folder / target}"
    missing = [Path(f) for f in CACHED_FILES[name] if not (folder / f).exists()]
    files = ", ".join(f.name for f in missing)
    if name == "mnist":
        return f"put {files} in {folder}"
    return f"download {files} from {_KERAS_DATASETS_URL} into {folder / missing[0].parent}"


def _download(name: str) -> None:
    """Let Keras download ``name`` into its cache; offline, one line naming the files."""
    from toolkit.startup import import_tensorflow

    import_tensorflow()
    import keras

    folder = keras_cache_dir()
    loader = getattr(keras.datasets, name).load_data
    try:
        # Keras prints its download progress on stdout, which holds only paths for the CLI.
        with contextlib.redirect_stdout(sys.stderr):
            loader()
    except Exception as error:  # urllib's errors arrive wrapped in a bare Exception
        reason = " ".join(str(error).split())[:160]
        raise DataError(
            f"keras:{name} is not in Keras' cache and cannot be downloaded ({reason}); "
            f"{_what_to_put(name, folder)} (Keras' cache, set by KERAS_HOME) or go online once"
        ) from None


def load_keras_dataset(name: str, target: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training and test parts of ``keras.datasets.<name>`` as frames of images."""
    folder = keras_cache_dir()
    if not all((folder / f).exists() for f in CACHED_FILES[name]):
        _download(name)
    try:
        (x_train, y_train), (x_test, y_test) = _read_cached(name, folder)
    except (OSError, ValueError, KeyError, EOFError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        if "pickled (object) data" in first:
            # numpy's words for bytes that are no .npz at all, which advised loading the file
            # "unsafely" with allow_pickle: not advice to give about a cut-short download.
            first = "not a NumPy archive"
        raise DataError(
            f"keras:{name}: the cached files in {folder} cannot be read ({first}): a partial "
            f"or different download; delete {', '.join(CACHED_FILES[name])} there and go "
            "online once, or put Keras' own files there"
        ) from None
    names = _CLASS_NAMES.get(name)

    def labels(y: np.ndarray) -> np.ndarray:
        y = np.asarray(y).reshape(-1).astype(int)
        return np.asarray(names, dtype=object)[y] if names else y.astype(str)

    return (
        _frame(x_train, labels(y_train), column=IMAGE_INPUT, target=target),
        _frame(x_test, labels(y_test), column=IMAGE_INPUT, target=target),
    )


# ------------------------------------------------------------------ signals


def fit_signal_feature(train: pd.DataFrame, config: DataConfig) -> SignalFeature:
    """Shape (L, C) and per-channel mean and standard deviation of the training signals."""
    stacked = _stack_signals(list(train[SIGNAL_INPUT]), what="training data")
    mean = stacked.mean(axis=(0, 1))
    std = stacked.std(axis=(0, 1))
    return SignalFeature(
        column=SIGNAL_INPUT,
        shape=[int(s) for s in stacked.shape[1:]],
        mean=[float(m) for m in mean],
        std=[float(s) if s > 0 else 1.0 for s in std],
    )


def _stack_signals(signals: list[np.ndarray], *, what: str) -> np.ndarray:
    try:
        stacked = np.stack([np.asarray(s) for s in signals]).astype(np.float32)
    except ValueError:
        raise DataError(f"{what}: signals of different lengths") from None
    return stacked[..., None] if stacked.ndim == 2 else stacked


def signal_array(frame: pd.DataFrame, feature: SignalFeature, *, what: str) -> np.ndarray:
    """The signals of ``frame`` as float32 (N, L, C), checked against the model's shape."""
    if feature.column not in frame.columns:
        raise DataError(f"{what}: no '{feature.column}' column of signals")
    signals = list(frame[feature.column])
    if not signals:
        return np.zeros((0, *feature.shape), dtype=np.float32)
    stacked = _stack_signals(signals, what=what)
    if list(stacked.shape[1:]) != list(feature.shape):
        raise DataError(
            f"{what}: signals of shape {tuple(stacked.shape[1:])}, the model takes "
            f"{tuple(feature.shape)}"
        )
    return stacked
