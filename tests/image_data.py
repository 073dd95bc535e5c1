"""Generated image and signal data for the tests: PNG class folders, .npz files and a small
MNIST in Keras' cache layout (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = ("cat", "dog")


def patterned_images(
    count: int, size: int = 16, channels: int = 3, classes: int = 2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images whose class is where a bright band lies (top, bottom, left, right, ...),
    over noise: easy for a small network, impossible for a constant."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % classes
    images = rng.integers(0, 90, size=(count, size, size, channels)).astype(np.uint8)
    half = size // 2
    for index, label in enumerate(labels):
        band = [
            np.s_[:half, :],
            np.s_[half:, :],
            np.s_[:, :half],
            np.s_[:, half:],
        ][label % 4]
        images[index][band] += 140
    return images, labels


def write_class_folder(
    root: Path,
    per_class: int = 12,
    size: int = 16,
    channels: int = 3,
    classes: tuple[str, ...] = CLASSES,
    seed: int = 0,
) -> Path:
    """``root/<class>/<i>.png`` for each class; returns ``root``."""
    from PIL import Image

    images, labels = patterned_images(
        per_class * len(classes), size, channels, classes=len(classes), seed=seed
    )
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        pixels = image[..., 0] if channels == 1 else image
        Image.fromarray(pixels).save(folder / f"{index:03d}.png")
    return root


def write_image_npz(path: Path, count: int = 48, size: int = 16, channels: int = 3) -> Path:
    images, labels = patterned_images(count, size, channels)
    np.savez(path, x=images, y=np.asarray(CLASSES)[labels])
    return path


def write_signal_npz(path: Path, count: int = 96, length: int = 32, seed: int = 0) -> Path:
    """Two channels of noise; class 1 carries a sine burst in channel 0."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, size=(count, length, 2)).astype(np.float32)
    y = np.arange(count) % 2
    steps = np.arange(length)
    x[y == 1, :, 0] += 2.0 * np.sin(steps / 2.0)
    np.savez(path, x=x, y=y)
    return path


def write_keras_mnist(keras_home: Path, train: int = 240, test: int = 60) -> Path:
    """``$KERAS_HOME/datasets/mnist.npz`` as ``keras.datasets.mnist`` caches it, holding
    scikit-learn's digits scaled up to 28x28 uint8 pixels (0..255)."""
    import sklearn.datasets

    digits = sklearn.datasets.load_digits()
    # 8x8 -> 24x24 by repeating pixels, padded to 28x28 as MNIST's digits are.
    images = np.kron(digits.images, np.ones((3, 3))) * (255.0 / 16.0)
    images = np.pad(images, ((0, 0), (2, 2), (2, 2))).astype(np.uint8)
    labels = digits.target.astype(np.uint8)
    folder = keras_home / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mnist.npz"
    np.savez(
        path,
        x_train=images[:train],
        y_train=labels[:train],
        x_test=images[train : train + test],
        y_test=labels[train : train + test],
    )
    return path
