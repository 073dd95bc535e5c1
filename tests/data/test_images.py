"""Image and signal sources: class folders, path columns, .npz, keras.datasets from Keras'
cache and digits as images, checked against Pillow, NumPy, scikit-learn and Keras' own
image_dataset_from_directory; every bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from tests.helpers import cli_in_one_process
from tests.image_data import (
    write_class_folder,
    write_image_npz,
    write_keras_mnist,
    write_signal_npz,
)
from toolkit.config import names
from toolkit.config.loading import validate_config
from toolkit.data.prepared import prepare_data
from toolkit.errors import DataError


def _frames(config):
    """The split frames ``prepare_data`` encodes (file paths and labels per row)."""
    from toolkit.data.sources import open_source
    from toolkit.data.splits import split_frame

    source = open_source(config)
    return split_frame(
        source.load_frame(),
        config.data,
        task=config.model.task,
        seed=config.seed,
        shipped_test=source.shipped_test(),
    )


def _features(split) -> dict:
    return split.arrays()[0]


def _config(source: str, task: str = "binary", **data) -> object:
    model = {"task": task, "flatten": True, "hidden": [4]}
    if data.pop("backbone", None):
        model = {
            "task": task,
            "body": "backbone",
            "backbone": {"name": "MobileNetV3Small", "weights": "none"},
            "hidden": [4],
        }
    return validate_config(
        {
            "name": "images",
            "seed": 3,
            "data": {"source": str(source), **data},
            "model": model,
            "training": {"batch_size": 4},
        }
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_class_folder(tmp_path_factory.mktemp("pets") / "pets", per_class=10)


def test_a_class_folder_gives_its_images_and_labels_as_pillow_reads_them(folder):
    config = _config(folder, test=0.2)
    data, splits = prepare_data(config), _frames(config)
    frame = pd.concat([splits.train, splits.validation, splits.test])
    assert sorted(frame["target"].value_counts().items()) == [("cat", 10), ("dog", 10)]
    # Stratified like tables: each class in each split.
    assert splits.test["target"].nunique() == 2
    features, target = data.train.arrays()
    images = features["image"]
    assert images.shape == (len(splits.train), 16, 16, 3) and images.dtype == np.float32
    expected = np.stack([np.asarray(Image.open(p)) for p in splits.train["file"]])
    np.testing.assert_array_equal(images, expected.astype(np.float32))
    labels = data.spec.target.classes
    assert [labels[i] for i in target[:, 0].astype(int)] == list(splits.train["target"])


def test_resizing_and_grayscale_match_keras_image_dataset_from_directory(folder):
    import keras

    config = _config(
        folder, image={"image_size": [12, 10], "color_mode": "grayscale"}, validation=0.5
    )
    data = prepare_data(config)
    assert data.spec.image.shape == [12, 10, 1]
    ours = {
        path: image
        for path, image in zip(
            _frames(config).train["file"], _features(data.train)["image"], strict=True
        )
    }
    keras_dataset = keras.utils.image_dataset_from_directory(
        folder, image_size=(12, 10), color_mode="grayscale", shuffle=False, batch_size=64
    )
    theirs = np.concatenate([batch.numpy() for batch, _ in keras_dataset])
    for path, image in zip(keras_dataset.file_paths, theirs, strict=True):
        if path in ours:
            np.testing.assert_allclose(ours[path], image, atol=1e-4)


def test_rgba_reads_jpegs_and_every_png_mode(tmp_path):
    """color_mode rgba on a folder with a JPEG failed ('JPEG does not support 4 channels').
    Each file's 4 channels against PIL: a PNG's as PIL converts it to RGBA (grey repeated,
    alpha 255 when absent, its own alpha kept), a JPEG's colours as decoded with 3 channels
    plus an opaque alpha."""
    import tensorflow as tf

    from toolkit.data.images import decode_files
    from toolkit.data.preprocessing import ImageFeature

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(6, 5, 4), dtype=np.uint8)
    files = {}
    for mode in ("L", "LA", "RGB", "RGBA"):
        image = Image.fromarray(pixels, "RGBA").convert(mode)
        image.save(tmp_path / f"{mode}.png")
        files[f"{mode}.png"] = np.asarray(image.convert("RGBA"))
    Image.fromarray(pixels[..., :3]).save(tmp_path / "photo.jpg")
    jpeg = tf.io.decode_jpeg(tf.io.read_file(str(tmp_path / "photo.jpg")), channels=3).numpy()
    files["photo.jpg"] = np.concatenate([jpeg, np.full((6, 5, 1), 255, np.uint8)], axis=-1)

    feature = ImageFeature("file", "path", [6, 5, 4], [0.0, 255.0], color_mode="rgba")
    decoded = decode_files([str(tmp_path / name) for name in files], feature, what="test")
    for (name, expected), image in zip(files.items(), decoded, strict=True):
        np.testing.assert_array_equal(image, expected.astype(np.float32), err_msg=name)


def test_grayscale_reads_bmp_and_gif(tmp_path):
    """color_mode grayscale on a folder with a BMP or GIF failed ("`channels` must be 0, 3 or
    4 for BMP"; "channels must be 0 or 3 for GIF"): TensorFlow's decoders for them have no
    grey output. Each against the ITU-R 601 luma of its colours as PIL reads them (within
    1 for rounding); a PNG's grey is still libpng's, as TensorFlow decodes it."""
    import tensorflow as tf

    from toolkit.data.images import decode_files
    from toolkit.data.preprocessing import ImageFeature

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(6, 5, 4), dtype=np.uint8)
    Image.fromarray(pixels[..., :3]).save(tmp_path / "rgb.bmp")
    Image.fromarray(pixels, "RGBA").save(tmp_path / "rgba.bmp")
    Image.fromarray(pixels[..., :3]).convert("P").save(tmp_path / "palette.gif")
    Image.fromarray(pixels[..., :3]).save(tmp_path / "rgb.png")
    names = ["rgb.bmp", "rgba.bmp", "palette.gif", "rgb.png"]

    feature = ImageFeature("file", "path", [6, 5, 1], [0.0, 255.0], color_mode="grayscale")
    decoded = decode_files([str(tmp_path / name) for name in names], feature, what="test")
    assert decoded.shape == (4, 6, 5, 1)
    for name, image in zip(names[:3], decoded[:3], strict=True):
        colours = np.asarray(Image.open(tmp_path / name).convert("RGB"), dtype=np.float64)
        luma = colours @ np.array([0.2989, 0.5870, 0.1140])
        np.testing.assert_allclose(image[..., 0], luma, atol=1.0, err_msg=name)
    png = tf.io.decode_png(tf.io.read_file(str(tmp_path / "rgb.png")), channels=1).numpy()
    np.testing.assert_array_equal(decoded[3], png.astype(np.float32))


def test_class_folders_are_listed_as_keras_lists_them(folder, tmp_path):
    """Hidden folders (Jupyter's .ipynb_checkpoints) are not classes, and images in a class
    folder's sub-folders belong to it, as in keras.utils.image_dataset_from_directory: the
    checkpoints folder was a class of its own, the nested image was left out. A flat folder
    of new images beside a checkpoints folder is still flat."""
    import shutil

    import keras

    from toolkit.config.schema import ImageConfig
    from toolkit.data.images import has_class_folders, read_class_folder

    root = shutil.copytree(folder, tmp_path / "pets")
    (root / ".ipynb_checkpoints").mkdir()
    shutil.copy(root / "cat" / "000.png", root / ".ipynb_checkpoints" / "000-checkpoint.png")
    (root / "dog" / "more").mkdir()
    shutil.copy(root / "cat" / "000.png", root / "dog" / "more" / "extra.png")
    frame = read_class_folder(root, ImageConfig(), target="target", label="data.source")
    theirs = keras.utils.image_dataset_from_directory(root, shuffle=False, image_size=(16, 16))
    assert sorted(set(frame["target"])) == theirs.class_names == ["cat", "dog"]
    assert sorted(frame["file"]) == sorted(theirs.file_paths)
    assert str(root / "dog" / "more" / "extra.png") in set(frame["file"])

    new = tmp_path / "new"
    (new / ".ipynb_checkpoints").mkdir(parents=True)
    shutil.copy(root / "cat" / "000.png", new / "photo.png")
    assert has_class_folders(root) and not has_class_folders(new)


def test_hidden_files_and_folders_inside_class_folders_are_skipped(folder, tmp_path):
    """Keras reads a class folder's sub-folders at any depth, hidden ones too: a copy of a cat
    in dog/.ipynb_checkpoints trained as a dog, and macOS's ._000.png (a resource fork, no
    image) stopped training as unreadable. Both are skipped, for training and for new images
    (a class folder, and a flat folder whose only loose file is hidden)."""
    import shutil

    from toolkit.config.schema import ImageConfig
    from toolkit.data.images import read_class_folder, read_flat_folder

    root = shutil.copytree(folder, tmp_path / "pets")
    expected = sorted(str(p) for p in root.glob("*/*.png"))
    (root / "dog" / ".ipynb_checkpoints").mkdir()
    shutil.copy(root / "cat" / "000.png", root / "dog" / ".ipynb_checkpoints" / "0-checkpoint.png")
    (root / "cat" / "._000.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")
    frame = read_class_folder(root, ImageConfig(), target="target", label="data.source")
    assert sorted(frame["file"]) == expected
    data = prepare_data(_config(root, validation=0.25))
    assert sum(data.rows.values()) == len(expected)

    shutil.copy(root / "cat" / "._000.png", root / "._loose.png")
    spec = data.spec
    from toolkit.data.sources.files import read_new_frame

    new = read_new_frame(str(root), spec, label="--input file", with_target=False)
    assert sorted(new[spec.image.column]) == expected
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copy(root / "cat" / "000.png", flat / "photo.png")
    shutil.copy(root / "cat" / "._000.png", flat / "._photo.png")
    assert list(read_flat_folder(flat, ImageConfig(), label="--input file")["file"]) == [
        str(flat / "photo.png")
    ]


def test_files_for_a_run_on_arrays_come_in_its_value_range(tmp_path):
    """A run on scikit-learn's digits (arrays 0..16) given PNG files (0..255) to predict:
    their pixels are mapped onto 0..16, which its rescaling expects (they came 255/16 times
    too bright, and predictions were confidently wrong). Runs on files are left as read."""
    import sklearn.datasets

    from toolkit.data.images import image_array
    from toolkit.data.preprocessing import ImageFeature

    digits = sklearn.datasets.load_digits().images[:3]
    pixels = np.round(digits * 255 / 16).astype(np.uint8)
    paths = []
    for index, image in enumerate(pixels):
        Image.fromarray(image).save(tmp_path / f"{index}.png")
        paths.append(str(tmp_path / f"{index}.png"))
    frame = pd.DataFrame({"image": paths})
    on_arrays = ImageFeature("image", "array", [8, 8, 1], [0.0, 16.0], color_mode="grayscale")
    got = image_array(frame, on_arrays, what="input", resize=True)[..., 0]
    np.testing.assert_allclose(got, pixels.astype(np.float64) * 16 / 255, rtol=1e-6)
    assert np.abs(got - digits).max() <= 16 / 255 / 2 + 1e-6  # the digits, to 8-bit rounding

    on_files = ImageFeature("image", "path", [8, 8, 1], [0.0, 16.0], color_mode="grayscale")
    np.testing.assert_array_equal(image_array(frame, on_files, what="input")[..., 0], pixels)


def test_the_fingerprint_follows_the_files_contents(folder, tmp_path):
    import shutil

    copy = shutil.copytree(folder, tmp_path / "copy")
    first = prepare_data(_config(copy)).fingerprint
    assert prepare_data(_config(copy)).fingerprint == first
    image = np.asarray(Image.open(copy / "cat" / "000.png")).copy()
    image[0, 0] = 255 - image[0, 0]
    Image.fromarray(image).save(copy / "cat" / "000.png")
    assert prepare_data(_config(copy)).fingerprint != first


def test_the_fingerprint_is_the_same_from_a_relative_and_an_absolute_source(
    folder, tmp_path, monkeypatch
):
    """config.yaml holds the source made absolute: a run started with a relative folder was
    refused by --resume as 'data changed' (the files' paths were hashed as written)."""
    import shutil

    shutil.copytree(folder, tmp_path / "photos")
    monkeypatch.chdir(tmp_path)
    relative = prepare_data(_config("photos")).fingerprint
    assert prepare_data(_config(str(tmp_path / "photos"))).fingerprint == relative


def test_a_csv_of_image_paths_beside_table_columns(folder, tmp_path):
    rows = [
        {
            "path": str(p.relative_to(folder)),
            "size": float(i),
            "kind": "ab"[i % 2],
            "label": p.parent.name,
        }
        for i, p in enumerate(sorted(folder.glob("*/*.png")))
    ]
    table = folder / "table.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    config = _config(table, target="label", image={"column": "path"})
    data = prepare_data(config)
    assert [f.name for f in data.spec.numeric] == ["size"]
    assert [f.name for f in data.spec.categorical] == ["kind"]
    features = _features(data.train)
    assert set(features) == {"image", "numeric", "kind"}
    # Paths relative to the table's folder.
    first = _frames(config).train["path"].iloc[0]
    np.testing.assert_array_equal(features["image"][0], np.asarray(Image.open(first)))


def test_an_empty_image_path_names_its_table(folder, tmp_path):
    """A row without an image path said "image path column 'path' is empty in row 3" for
    data.source, evaluate's --data and predict's --input alike, naming no table."""
    from toolkit.data.sources.files import read_array_input

    files = sorted(folder.glob("*/*.png"))
    paths = [str(p) for p in files]
    paths[2] = None
    table = tmp_path / "blank.csv"
    pd.DataFrame({"path": paths, "label": [p.parent.name for p in files]}).to_csv(
        table, index=False
    )
    empty = "image path column 'path' is empty in row 3; every row needs the path of its image file"
    config = _config(table, target="label", image={"column": "path"})
    assert _prepare_error(config) == f"data.source {table}: {empty}"
    good = tmp_path / "good.csv"
    pd.DataFrame({"path": [str(p) for p in files], "label": [p.parent.name for p in files]}).to_csv(
        good, index=False
    )
    spec = prepare_data(_config(good, target="label", image={"column": "path"})).spec
    for label, with_target in (("--data", True), ("--input file", False)):
        with pytest.raises(DataError) as caught:
            list(read_array_input(str(table), spec, label=label, with_target=with_target))
        assert str(caught.value) == f"{label} {table}: {empty}"


def test_new_arrays_of_another_shape_name_their_file(tmp_path):
    """Signals or images of another shape than the model's, given to predict or evaluate,
    said "--input file: signals of shape (5, 2), the model takes (8, 2)", naming no file."""
    from tests.image_data import write_signal_npz
    from toolkit.data.sources.files import read_array_input

    source = write_signal_npz(tmp_path / "train.npz", count=16, length=8)
    spec = prepare_data(_config(source, kind="signal", validation=0.25)).spec
    with np.load(source) as archive:
        x, y = archive["x"], archive["y"]
    for name, given, shape in (("short", x[:, :5], "(5, 2)"), ("mono", x[..., :1], "(8, 1)")):
        path = tmp_path / f"{name}.npz"
        np.savez(path, x=given, y=y)
        for label, with_target in (("--data", True), ("--input file", False)):
            with pytest.raises(DataError) as caught:
                list(read_array_input(str(path), spec, label=label, with_target=with_target))
            assert str(caught.value) == (
                f"{label} {path}: signals of shape {shape}, the model takes (8, 2)"
            )


def test_a_test_folder_of_another_size_names_image_size(folder, tmp_path):
    """A run without image_size (its images one size) given a data.test folder of another
    size said "the model takes 16x16 images" and not how to make them fit; the setting it
    names now prepares the data."""
    test = write_class_folder(tmp_path / "test", per_class=3, size=24)
    message = _prepare_error(_config(folder, test=str(test)))
    first = sorted(test.glob("*/*.png"))[0]
    assert message.endswith(
        f"{first} is 24x24, the model takes 16x16 images; set data.image.image_size: "
        "[16, 16] to resize every image to that size"
    ), message
    data = prepare_data(_config(folder, test=str(test), image={"image_size": [16, 16]}))
    assert data.rows["test"] == 6


def test_npz_images_and_signals(tmp_path):
    x = np.arange(8 * 5 * 4, dtype=np.uint8).reshape(8, 5, 4)
    np.savez(tmp_path / "gray.npz", x=x, y=np.array([0, 1] * 4))
    data = prepare_data(_config(tmp_path / "gray.npz", kind="image", validation=0.25))
    assert data.spec.image.shape == [5, 4, 1]
    order = [
        int(np.where((x == image[..., 0]).all(axis=(1, 2)))[0][0])
        for image in _features(data.train)["image"]
    ]
    assert len(set(order)) == len(order)

    path = write_signal_npz(tmp_path / "signals.npz", count=20, length=8)
    config = validate_config(
        {
            "name": "signals",
            "data": {"source": str(path), "kind": "signal"},
            "model": {"task": "binary", "body": "conv"},
            "training": {"batch_size": 4},
        }
    )
    data = prepare_data(config)
    train = _features(data.train)["signal"]
    assert train.shape == (data.train.rows, 8, 2)
    np.testing.assert_allclose(data.spec.signal.mean, train.mean(axis=(0, 1)), rtol=1e-5)
    np.testing.assert_allclose(data.spec.signal.std, train.std(axis=(0, 1)), rtol=1e-5)


def _nan_signals_case(root: Path) -> dict:
    """Signals at root/signals.npz with a NaN and an infinity (in rows 6 and 18); the config."""
    path = write_signal_npz(root / "signals.npz", count=40, length=8)
    with np.load(path) as archive:
        x, y = archive["x"].copy(), archive["y"]
    x[[5, 17], 3, 1] = [np.nan, np.inf]
    np.savez(path, x=x, y=y)
    return {
        "name": "signals",
        "data": {"source": str(path), "kind": "signal"},
        "model": {"task": "binary", "body": "conv", "conv": {"blocks": [4]}, "hidden": []},
        "training": {"epochs": 1, "batch_size": 8},
        "evaluation": {"plots": False},
    }


def _unfitting_weights_case(root: Path) -> dict:
    """MobileNetV3Small given root/other.weights.h5, MobileNetV2's weights; the config."""
    import keras

    other = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(32, 32, 3))
    other.save_weights(root / "other.weights.h5")
    folder = write_class_folder(root / "pets", per_class=4, size=32)
    return {
        "name": "transfer",
        "data": {"source": str(folder), "validation": 0.25},
        "model": {
            "task": "binary",
            "body": "backbone",
            "backbone": {"name": "MobileNetV3Small", "weights": str(root / "other.weights.h5")},
            "hidden": [],
        },
        "training": {"epochs": 1, "batch_size": 2},
    }


def _junk_weights_case(root: Path) -> dict:
    """The unfitting-weights config given root/junk.weights.h5, an error page saved as it."""
    config = _unfitting_weights_case(root)
    junk = root / "junk.weights.h5"
    junk.write_text("<html>404 Not Found</html>")
    config["model"]["backbone"]["weights"] = str(junk)
    return config


def _corrupt_image_case(root: Path, folder: Path) -> dict:
    """A copy of ``folder`` at root/broken whose dog/001.png is a PNG header and no image."""
    import shutil

    broken = shutil.copytree(folder, root / "broken")
    (broken / "dog" / "001.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return {
        "name": "broken",
        "data": {"source": str(broken)},
        "model": {"task": "binary", "flatten": True},
    }


def _cut_short_case(root: Path, folder: Path, cache: bool) -> dict:
    """A copy of ``folder`` at root/cut whose dog/001.png has lost the second half of its
    bytes (a copy interrupted: the header reads, the data does not)."""
    import shutil

    cut = shutil.copytree(folder, root / "cut")
    whole = (cut / "dog" / "001.png").read_bytes()
    (cut / "dog" / "001.png").write_bytes(whole[: len(whole) // 2])
    return {
        "name": "cut",
        "data": {"source": str(cut), "cache": cache},
        "model": {"task": "binary", "flatten": True},
        "training": {"epochs": 1, "batch_size": 4},
    }


# Trainings refused before any run directory (each case: ROOT and the class folder -> its
# config), run by the ``trainings`` fixture below with the offline cases.
REFUSED_CASES = {
    "nan-signals": lambda root, folder: _nan_signals_case(root),
    "unfitting-weights": lambda root, folder: _unfitting_weights_case(root),
    "junk-weights": lambda root, folder: _junk_weights_case(root),
    "corrupt-image": _corrupt_image_case,
    "cut-short-cached": lambda root, folder: _cut_short_case(root, folder, cache=True),
    "cut-short-streamed": lambda root, folder: _cut_short_case(root, folder, cache=False),
}


@pytest.fixture(scope="module")
def refused_trainings(trainings) -> dict:
    """By case above, the answer of its ``toolkit train`` and its ROOT (see ``trainings``)."""
    return {name: trainings["answers"][name] for name in REFUSED_CASES}


def test_a_nan_in_an_npz_is_one_line_before_any_run_directory(refused_trainings):
    """Arrays have no imputation: a NaN in a signal reached the baselines' scoring after
    training (a traceback, exit 1, a failed run directory). Now: exit 2, one line naming the
    row, nothing written; the same for new signals given to predict."""
    result, root = refused_trainings["nan-signals"]
    path = root / "signals.npz"
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line == (
        f"toolkit: error: data.source {path}: x holds NaN or infinite values in 2 rows, "
        "the first row 6 (x[5]); images and signals must be finite numbers"
    )
    assert not (root / "out").exists()


def test_digits_as_8x8x1_images_are_scikit_learns():
    import sklearn.datasets

    config = validate_config(
        {
            "name": "digits",
            "data": {"source": "sklearn:digits", "kind": "image"},
            "model": {"task": "multiclass", "body": "conv"},
        }
    )
    data = prepare_data(config)
    assert data.spec.image.shape == [8, 8, 1] and data.spec.image.value_range == [0.0, 16.0]
    digits = sklearn.datasets.load_digits()
    image = _features(data.train)["image"][0, ..., 0]
    label = _frames(config).train["target"].iloc[0]
    matches = np.flatnonzero((digits.images == image).all(axis=(1, 2)))
    assert str(digits.target[matches[0]]) == label


def test_keras_mnist_is_read_from_keras_cache_with_its_own_test_split(tmp_path, monkeypatch):
    write_keras_mnist(tmp_path, train=100, test=30)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    config = validate_config(
        {
            "name": "mnist",
            "data": {"source": "keras:mnist"},
            "model": {"task": "multiclass", "flatten": True, "hidden": [8]},
        }
    )
    data = prepare_data(config)
    assert data.train.rows + data.validation.rows == 100
    assert data.test.rows == 30
    assert data.spec.image.shape == [28, 28, 1]
    with np.load(tmp_path / "datasets" / "mnist.npz") as archive:
        np.testing.assert_array_equal(_features(data.test)["image"][..., 0], archive["x_test"])
        labels = data.spec.target.classes
        codes = data.test.arrays()[1][:, 0].astype(int)
        assert [labels[c] for c in codes] == [str(v) for v in archive["y_test"]]


def test_keras_dataset_offline_without_cache_is_one_line_naming_file_and_folder(
    offline_trainings,
):
    result, root, home = offline_trainings["keras-mnist"]
    assert result.returncode == 2, result.stderr
    # One line and nothing on stdout (Keras prints "Downloading data from ..." there).
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[-1].startswith("toolkit: error: keras:mnist is not in Keras' cache")
    assert f"put mnist.npz in {home / 'datasets'}" in lines[-1]
    assert "Traceback" not in result.stderr
    assert not (root / "out").exists()


def _cifar_archive(path: Path, name: str) -> np.ndarray:
    """A tiny ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz`` laid out as the real
    one (pickled channels-first batches under cifar-10-batches-py/ or cifar-100-python/);
    returns its training images, channels last."""
    import io
    import pickle
    import tarfile

    rng = np.random.default_rng(0)
    if name == "cifar10":
        inner, key = "cifar-10-batches-py", "labels"
        parts = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    else:
        inner, key = "cifar-100-python", "fine_labels"
        parts = ["train", "test"]
    train = []
    with tarfile.open(path, "w:gz") as archive:
        for part in parts:
            data = rng.integers(0, 256, (2, 3 * 32 * 32), dtype=np.uint8)
            if "test" not in part:
                train.append(data.reshape(2, 3, 32, 32).transpose(0, 2, 3, 1))
            body = pickle.dumps({b"data": data, key.encode(): [0, 1]})
            info = tarfile.TarInfo(f"{inner}/{part}")
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return np.concatenate(train)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10", "cifar100"])
def test_each_keras_dataset_offline_names_what_to_download_and_where(name, tmp_path, monkeypatch):
    """cifar10 listed six files Keras extracts (cifar-10-batches-py-target/...) in one
    sentence; now each dataset names what Keras downloads and where it goes, and following
    the line (the CIFAR archive extracted where it says) gives a dataset the toolkit reads."""
    import gzip
    import re
    import tarfile

    from toolkit.data.arrays import load_keras_dataset

    home = tmp_path / "keras-home"
    for key, value in _offline(home).items():
        monkeypatch.setenv(key, value)
    with pytest.raises(DataError) as caught:
        load_keras_dataset(name, "target")
    message = str(caught.value)
    assert message.startswith(f"keras:{name} is not in Keras' cache and cannot be downloaded (")
    assert message.endswith("(Keras' cache, set by KERAS_HOME) or go online once")
    datasets = home / "datasets"
    if name == "mnist":
        assert "; put mnist.npz in " + str(datasets) + " (" in message
        return
    if name == "fashion_mnist":
        files = [
            "train-labels-idx1-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
        ]
        assert (
            f"; download {', '.join(files)} from "
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/ into "
            f"{datasets / 'fashion-mnist'} ("
        ) in message
        # The idx format: a header (8 bytes for labels, 16 for images), then the bytes.
        images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
        (datasets / "fashion-mnist").mkdir(parents=True)
        for file in files:
            header, body = (16, images) if "images" in file else (8, np.array([3, 7], np.uint8))
            with gzip.open(datasets / "fashion-mnist" / file, "wb") as handle:
                handle.write(bytes(header) + body.tobytes())
        train, _ = load_keras_dataset(name, "target")
        np.testing.assert_array_equal(np.stack(train["image"]), images)
        return
    archive = {"cifar10": "cifar-10-python.tar.gz", "cifar100": "cifar-100-python.tar.gz"}[name]
    found = re.search(r"; download (\S+) \((\S+)\) and extract it into (\S+) \(", message)
    assert found, message
    assert found.group(1) == archive
    assert found.group(2) == f"https://www.cs.toronto.edu/~kriz/{archive}"
    images = _cifar_archive(tmp_path / archive, name)
    with tarfile.open(tmp_path / archive) as handle:
        handle.extractall(found.group(3), filter="data")
    train, _ = load_keras_dataset(name, "target")
    np.testing.assert_array_equal(np.stack(train["image"]), images)


def test_a_cut_short_keras_dataset_in_the_cache_says_what_to_do(tmp_path, monkeypatch):
    """Bytes that are no .npz under mnist.npz (a download cut short) gave numpy's advice to
    load the file "unsafely" with allow_pickle; now what it is and what to do."""
    from toolkit.data.arrays import load_keras_dataset
    from toolkit.errors import DataError

    home = tmp_path / "keras-home"
    (home / "datasets").mkdir(parents=True)
    (home / "datasets" / "mnist.npz").write_bytes(bytes(range(256)) * 4)
    monkeypatch.setenv("KERAS_HOME", str(home))
    with pytest.raises(DataError) as caught:
        load_keras_dataset("mnist", "target")
    assert str(caught.value) == (
        f"keras:mnist: the cached files in {home / 'datasets'} cannot be read (not a NumPy "
        "archive): a partial or different download; delete mnist.npz there and go online "
        "once, or put Keras' own files there"
    )


def _imagenet_transfer_config(root: Path, backbone: str = "MobileNetV3Small", **data) -> dict:
    """A one-epoch run of ``backbone`` on ImageNet weights over a tiny class folder in root."""
    folder = write_class_folder(root / "pets", per_class=4, size=32)
    return {
        "name": "transfer",
        "data": {"source": str(folder), "validation": 0.25, **data},
        "model": {
            "task": "binary",
            "body": "backbone",
            "backbone": {"name": backbone, "weights": "imagenet"},
            "hidden": [],
        },
        "training": {"epochs": 1, "batch_size": 2},
    }


def _offline(home: Path) -> dict[str, str]:
    """Keras' cache at ``home`` and every download refused at once (a closed local port)."""
    return {
        "KERAS_HOME": str(home),
        "https_proxy": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
    }


# The weights file put in Keras' cache (an error page saved under the right name) by the
# wrong-weights case: MobileNetV3Large's, which Keras checks by its hash as it does
# MobileNetV3Small's (one module; MobileNetV2's file has no hash, and is loaded as it is),
# so that the first case, MobileNetV3Small's in the same cache (Keras reads KERAS_HOME once,
# at import), finds none of its own.
_WRONG_BACKBONE = "MobileNetV3Large"
# A backbone whose weights file Keras loads without checking a hash.
_UNCHECKED_BACKBONE = "MobileNetV2"


@pytest.fixture(scope="module")
def trainings(tmp_path_factory, folder) -> dict:
    """``toolkit train CONFIG --output-dir ROOT/out`` of each case, each in a folder ROOT of
    its own, offline with Keras' cache at HOME: ImageNet weights not in the cache (with
    augmentation on, as in configs/transfer_mobilenet.yaml), a wrong file in the cache under
    the weights' name, keras:mnist not in the cache, then the REFUSED_CASES. The calls run
    in one fresh process (TensorFlow starts once for the eight), the first case first, so
    that its process starts as a lone ``toolkit train`` does; HOME, and by case the answer
    and ROOT."""
    home = tmp_path_factory.mktemp("keras-home")
    wrong = home / "models" / _WEIGHTS_FILES[_WRONG_BACKBONE]
    wrong.parent.mkdir(parents=True)
    wrong.write_text("<html>404</html>")
    # MobileNetV2's weights file has no hash in Keras: a wrong one is read as it is.
    (home / "models" / _WEIGHTS_FILES[_UNCHECKED_BACKBONE]).write_text("<html>404</html>")
    cases = {
        "imagenet-offline": lambda root: _imagenet_transfer_config(
            root, augmentation={"random_flip": "horizontal"}
        ),
        "wrong-weights": lambda root: _imagenet_transfer_config(root, _WRONG_BACKBONE),
        "unchecked-wrong-weights": lambda root: _imagenet_transfer_config(
            root, _UNCHECKED_BACKBONE
        ),
        "keras-mnist": lambda root: {
            "name": "mnist",
            "data": {"source": "keras:mnist"},
            "model": {"task": "multiclass", "flatten": True},
        },
        **{
            name: (lambda root, make=make: make(root, folder))
            for name, make in REFUSED_CASES.items()
        },
    }
    roots, calls = {}, []
    for name, make in cases.items():
        root = roots[name] = tmp_path_factory.mktemp(name)
        config = root / "config.yaml"
        config.write_text(yaml.safe_dump(make(root), sort_keys=False))
        calls.append(["train", config, "--output-dir", root / "out"])
    with pytest.MonkeyPatch.context() as patch:  # the process's environment, set by ours
        for key, value in _offline(home).items():
            patch.setenv(key, value)
        answers = cli_in_one_process(*calls)
    return {
        "home": home,
        "answers": {
            name: (answer, roots[name]) for name, answer in zip(cases, answers, strict=True)
        },
    }


@pytest.fixture(scope="module")
def offline_trainings(trainings) -> dict:
    """By offline case, the answer of its ``toolkit train``, its ROOT and Keras' cache HOME."""
    return {
        name: (*trainings["answers"][name], trainings["home"])
        for name in ("imagenet-offline", "wrong-weights", "unchecked-wrong-weights", "keras-mnist")
    }


def test_imagenet_weights_offline_without_cache_fail_before_any_run_directory(
    offline_trainings,
):
    """One line on stderr, with augmentation on as in configs/transfer_mobilenet.yaml (its
    module imported TensorFlow before the quiet start-up, whose log lines came first)."""
    result, root, home = offline_trainings["imagenet-offline"]
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("toolkit: error: backbone MobileNetV3Small: its ImageNet weights")
    assert f"in {home / 'models'}" in line and ".h5" in line
    assert "Traceback" not in result.stderr
    assert not (root / "out").exists()  # nothing half-written


def test_a_wrong_imagenet_weights_file_in_the_cache_is_named_not_called_missing(
    offline_trainings,
):
    """A file put in Keras' cache under the weights' name but not the right one (an error
    page saved as .h5): Keras deletes it when its checksum fails and the download it retries
    fails offline, and the error said the weights were "not in Keras' cache", blaming the
    user who had just put them there."""
    result, root, home = offline_trainings["wrong-weights"]
    wrong = home / "models" / _WEIGHTS_FILES[_WRONG_BACKBONE]
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line == (
        f"toolkit: error: backbone {_WRONG_BACKBONE}: {wrong} was not the file Keras expects "
        "(its checksum differs: a partial or different download), and Keras deleted it when it "
        f"could not download the right one; put the right {wrong.name} there (Keras' cache, "
        "set by KERAS_HOME), go online once, or set weights: none"
    )
    assert not wrong.exists()  # as the line says: Keras' doing, not the toolkit's
    assert not (root / "out").exists()


def test_a_wrong_weights_file_keras_reads_unchecked_is_named_not_called_missing(
    offline_trainings,
):
    """MobileNetV2's weights file has no checksum in Keras: an error page saved under its
    name was read as HDF5, and the error said the weights were "not in Keras' cache and
    cannot be downloaded" while the file was there."""
    result, root, home = offline_trainings["unchecked-wrong-weights"]
    wrong = home / "models" / _WEIGHTS_FILES[_UNCHECKED_BACKBONE]
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        f"toolkit: error: backbone {_UNCHECKED_BACKBONE}: Keras' cached weights file {wrong} "
        "could not be loaded ("
    ), line
    assert line.endswith(
        "): it is not the right file (a partial or different download); delete it and go "
        "online once, put the right file there (Keras' cache, set by KERAS_HOME), or set "
        "weights: none"
    ), line
    assert wrong.exists()  # Keras read it and left it: the user deletes it
    assert not (root / "out").exists()


# The no-top weights file each family's module in keras/src/applications fetches, from its
# own constants; EfficientNet, EfficientNetV2 and ConvNeXt make it from the model's name
# (``file_name = name + "_notop.h5"``), so theirs is their default name's, read below.
_NAMED_BY_MODEL = {"EfficientNet", "ConvNeXt"}
_WEIGHTS_FILES = {
    "MobileNetV3Small": "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
    "MobileNetV3Large": "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
    "MobileNetV2": "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
    "ResNet50": "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "ResNet101": "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "ResNet50V2": "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "DenseNet121": "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "InceptionV3": "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "Xception": "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "VGG16": "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
}


@pytest.mark.parametrize("backbone", sorted(names.BACKBONES))
def test_the_offline_message_names_the_weights_file_keras_fetches(backbone, tmp_path, monkeypatch):
    """Every backbone's missing-weights line names the file Keras would download. The
    application was built under the name "backbone", which EfficientNet(V2) made their file
    name from (backbone_notop.h5, or none named) and ConvNeXt refused outright."""
    import inspect

    import keras

    from toolkit.config.schema import BackboneConfig
    from toolkit.models.bodies.backbone import load_application

    for key, value in _offline(tmp_path).items():
        monkeypatch.setenv(key, value)
    if backbone.startswith(tuple(_NAMED_BY_MODEL)):
        default = inspect.signature(getattr(keras.applications, backbone)).parameters["name"]
        expected = default.default + "_notop.h5"
    else:
        expected = _WEIGHTS_FILES[backbone]
    size = max(32, names.BACKBONES[backbone][1])
    with pytest.raises(DataError) as caught:
        load_application(BackboneConfig(name=backbone, weights="imagenet"), (size, size, 3))
    assert str(caught.value) == (
        f"backbone {backbone}: its ImageNet weights are not in Keras' cache and cannot be "
        f"downloaded; put {expected} in {tmp_path / 'models'} (Keras' cache, set by "
        "KERAS_HOME), go online once, or set weights: none"
    )


def test_a_weights_file_that_does_not_fit_fails_before_any_run_directory(refused_trainings):
    """A .weights.h5 of another network: one line (Keras also warned once per layer it
    skipped, hundreds of lines), exit 2, and no run directory (it was left with run.json,
    config.yaml and a lock: the file was loaded only once the run had started)."""
    result, root = refused_trainings["unfitting-weights"]
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        f"toolkit: error: backbone weights {root / 'other.weights.h5'} do not fit "
        "MobileNetV3Small with input (32, 32, 3): "
    )
    assert not (root / "out").exists()


def test_a_weights_file_that_is_not_hdf5_is_named_so(refused_trainings):
    """An error page saved as the weights file was said to "not fit" the network (with
    h5py's "file signature not found"), sending the user after another network's file."""
    result, root = refused_trainings["junk-weights"]
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line == (
        f"toolkit: error: backbone weights {root / 'junk.weights.h5'} is not an HDF5 file; "
        "give a .weights.h5 file written by Keras' save_weights for MobileNetV3Small, or set "
        "weights: imagenet or none"
    )
    assert not (root / "out").exists()


def _prepare_error(config) -> str:
    with pytest.raises(DataError) as raised:
        prepare_data(config)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_bad_image_data_is_one_line_each(folder, tmp_path):
    import shutil

    broken = shutil.copytree(folder, tmp_path / "broken")
    (broken / "cat" / "003.png").write_text("not an image")
    assert "cat/003.png is not a readable image" in _prepare_error(_config(broken))

    mixed = shutil.copytree(folder, tmp_path / "mixed")
    Image.fromarray(np.zeros((20, 16, 3), np.uint8)).save(mixed / "dog" / "999.png")
    message = _prepare_error(_config(mixed, validation=0.5))
    assert "images have different sizes" in message and "data.image.image_size" in message

    empty = shutil.copytree(folder, tmp_path / "empty")
    (empty / "bird").mkdir()
    assert "class folder" in _prepare_error(_config(empty)) and "bird" in _prepare_error(
        _config(empty)
    )

    single = tmp_path / "single"
    shutil.copytree(folder / "cat", single / "cat")
    assert "a single class sub-folder (cat)" in _prepare_error(_config(single))

    gray = write_class_folder(tmp_path / "gray", per_class=4, size=32, channels=1)
    message = _prepare_error(_config(gray, image={"color_mode": "grayscale"}, backbone=True))
    assert "takes RGB images (3 channels), the data's have 1" in message
    assert "color_mode: rgb" in message

    small = _prepare_error(_config(folder, backbone=True))
    assert "at least 32x32, the data's are 16x16" in small and "input_size" in small


def test_bad_npz_files_are_one_line_each(tmp_path):
    np.savez(tmp_path / "no_y.npz", x=np.zeros((4, 8, 8)), labels=np.zeros(4))
    assert "holds x, labels; it needs arrays x (N, ...) and y (N,)" in _prepare_error(
        _config(tmp_path / "no_y.npz", kind="image")
    )
    np.savez(tmp_path / "lengths.npz", x=np.zeros((4, 8, 8)), y=np.zeros(5))
    assert "x has 4 rows but y has 5" in _prepare_error(
        _config(tmp_path / "lengths.npz", kind="image")
    )
    np.savez(tmp_path / "rank.npz", x=np.zeros((4, 8)), y=np.zeros(4))
    assert "images need x of shape (N, H, W)" in _prepare_error(
        _config(tmp_path / "rank.npz", kind="image")
    )


def test_an_npz_of_python_objects_names_the_array_and_how_to_save_it(tmp_path):
    """Labels saved from pandas (``df["label"].values``, an object array of str) and signals
    of different lengths (a list of arrays) make object arrays, which NumPy loads only with
    allow_pickle: both said "cannot be read as .npz: Object arrays cannot be loaded when
    allow_pickle=False", naming neither the array nor a way to save it. The remedy named
    for labels trains."""
    x = np.random.default_rng(0).normal(size=(8, 6, 2)).astype(np.float32)
    labels = pd.Series(["calm", "burst"] * 4, dtype=object).to_numpy()
    np.savez(tmp_path / "labels.npz", x=x, y=labels)
    path = tmp_path / "labels.npz"
    assert _prepare_error(_config(path, kind="signal")) == (
        f"data.source {path}: y is an array of Python objects (dtype object), which is not "
        "loaded, as loading one can run code; save the labels as numbers or text, e.g. "
        "np.asarray(y, dtype=str)"
    )
    ragged = np.empty(8, dtype=object)
    ragged[:] = [x[i, : 3 + i % 3] for i in range(8)]
    np.savez(tmp_path / "ragged.npz", x=ragged, y=np.arange(8) % 2)
    path = tmp_path / "ragged.npz"
    assert _prepare_error(_config(path, kind="signal")) == (
        f"data.source {path}: x is an array of Python objects (dtype object), which is not "
        "loaded, as loading one can run code; x must be one numeric array (N, ...): pad or "
        "crop signals or images to one shape"
    )
    np.savez(tmp_path / "text.npz", x=x, y=np.asarray(labels, dtype=str))
    data = prepare_data(_config(tmp_path / "text.npz", kind="signal", validation=0.25))
    assert sorted(data.spec.target.classes) == ["burst", "calm"]


def test_signals_with_more_channels_than_steps_are_trained_with_a_warning(tmp_path):
    """Signals saved channels first, (N, C, L), were read as (N, L, C) without a word: a
    Conv1D over 2 steps of 16 channels. The same signals channels last train silently."""
    from tests.image_data import write_signal_npz

    path = write_signal_npz(tmp_path / "last.npz", count=24, length=16)
    with np.load(path) as archive:
        x, y = archive["x"], archive["y"]
    np.savez(tmp_path / "first.npz", x=np.moveaxis(x, -1, 1), y=y)
    first = prepare_data(_config(tmp_path / "first.npz", kind="signal", validation=0.25))
    assert first.spec.signal.shape == [2, 16]
    assert first.warnings == [
        "signals of shape (2, 16) are read as 2 steps of 16 channels (x is (N, L, C), "
        "channels last); if x's channels come first, save np.moveaxis(x, 1, -1)"
    ]
    last = prepare_data(_config(path, kind="signal", validation=0.25))
    assert last.spec.signal.shape == [16, 2] and last.warnings == []


def test_new_images_from_an_npz_without_x_say_y_is_optional(tmp_path):
    """An .npz of ``X, y`` (wrong case) given to predict said it needs ``x`` and ``y``, but
    new data to predict needs no labels."""
    from toolkit.data.sources.files import read_new_frame

    source = write_image_npz(tmp_path / "train.npz", count=8, size=4)
    spec = prepare_data(_config(source, kind="image", validation=0.25)).spec
    np.savez(tmp_path / "upper.npz", X=np.zeros((2, 4, 4, 3)), y=np.array(["a", "b"]))
    with pytest.raises(DataError) as caught:
        read_new_frame(str(tmp_path / "upper.npz"), spec, label="--input", with_target=False)
    assert str(caught.value) == (
        f"--input {tmp_path / 'upper.npz'} holds X, y; it needs an array x (y optional)"
    )


def test_a_corrupt_image_through_the_cli_exits_2_and_writes_nothing(refused_trainings):
    result, root = refused_trainings["corrupt-image"]
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"toolkit: error: data.source: {root / 'broken' / 'dog' / '001.png'} is not a readable "
        "image (cannot identify image file)"
    ]
    assert not (root / "out").exists()


@pytest.mark.parametrize("cache", [True, False])
def test_an_image_cut_short_exits_2_before_any_run_directory(refused_trainings, folder, cache):
    """A PNG whose header reads but whose data is cut short (a copy interrupted): with
    data.cache false, whose batches decode during training, it stopped the first epoch
    with TensorFlow's traceback (exit 1) and left a run directory marked failed. Both ways
    now: one line naming the file in TensorFlow's own words, without its op-name noise."""
    result, root = refused_trainings["cut-short-cached" if cache else "cut-short-streamed"]
    whole = (folder / "dog" / "001.png").read_bytes()
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"toolkit: error: training data: {root / 'cut' / 'dog' / '001.png'} cannot be decoded "
        f"(Invalid PNG data, size {len(whole) // 2})"
    ]
    assert not (root / "out").exists()


def test_the_data_summary_describes_images(folder, tmp_path):
    from toolkit.data.preprocessing import describe

    data = prepare_data(_config(folder))
    summary = describe(data.spec, data.rows)
    assert summary["features"] == [{"name": "file", "kind": "image", "shape": [16, 16, 3]}]
    json.dumps(summary)


def test_npz_image_helper_round_trips(tmp_path):
    path = write_image_npz(tmp_path / "images.npz", count=8)
    with np.load(path) as archive:
        assert archive["x"].shape == (8, 16, 16, 3)


def test_without_cache_files_are_decoded_per_batch_to_the_same_batches(folder):
    """data.cache: false keeps paths and decodes in the pipeline: every batch (augmented
    training epochs, one-pass data, samples) equals the one decoded up front."""
    augmentation = {"random_flip": "horizontal", "random_rotation": 0.1}
    cached = prepare_data(_config(folder, augmentation=augmentation))
    streamed = prepare_data(_config(folder, augmentation=augmentation, cache=False))
    assert streamed.train.features["image"].dtype.kind == "U"  # paths, not pixels

    def batches(dataset, count):
        return [(b[0]["image"].numpy(), b[1].numpy()) for b in dataset.take(count)]

    steps = -(-cached.train.rows // 4)
    for a, b in zip(
        batches(cached.train.training_dataset(batch_size=4, shuffle_seed=1), 2 * steps),
        batches(streamed.train.training_dataset(batch_size=4, shuffle_seed=1), 2 * steps),
        strict=True,
    ):
        np.testing.assert_allclose(a[0], b[0], atol=1e-4)
        np.testing.assert_array_equal(a[1], b[1])
    for a, b in zip(
        batches(cached.validation.dataset(batch_size=3), 10),
        batches(streamed.validation.dataset(batch_size=3), 10),
        strict=True,
    ):
        np.testing.assert_array_equal(a[0], b[0])
    for rows in (3, None):  # a sample, and the whole split
        np.testing.assert_array_equal(
            cached.validation.sample(rows, seed=2)[0]["image"],
            streamed.validation.sample(rows, seed=2)[0]["image"],
        )
