"""Image and signal models: backbone input preprocessing equals keras.applications', the conv
body computes what the same hand-built Keras layers compute (Conv1D or Conv2D by the input's
rank, residual projections), and images join table columns in one model."""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest

from toolkit.config import names
from toolkit.config.loading import validate_config
from toolkit.data.preprocessing import FeatureSpec, ImageFeature, SignalFeature, TargetSpec
from toolkit.models.builder import build_model
from toolkit.models.layers.backbone_preprocessing import BackbonePreprocessing


def _preprocess_input(backbone: str):
    return inspect.getmodule(getattr(keras.applications, backbone)).preprocess_input


@pytest.mark.parametrize("backbone", sorted(names.BACKBONES))
def test_backbone_preprocessing_is_the_applications_own(backbone):
    """The layer, on pixels in [0, 1], gives what the family's preprocess_input gives on the
    same pixels in [0, 255]; and every option the table allows is the application's."""
    mode, minimum, options = names.BACKBONES[backbone]
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype(np.float32)
    expected = np.asarray(_preprocess_input(backbone)(pixels.copy()))
    ours = keras.ops.convert_to_numpy(BackbonePreprocessing(mode)(pixels / 255.0))
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-4)
    parameters = inspect.signature(getattr(keras.applications, backbone)).parameters
    assert set(options) <= set(parameters) and minimum >= 32


def _spec(image=None, signal=None, numeric=(), task="binary") -> FeatureSpec:
    from toolkit.data.preprocessing import NumericFeature

    return FeatureSpec(
        numeric=[NumericFeature(n, 0.0, 1.0) for n in numeric],
        categorical=[],
        target=TargetSpec("target", task, classes=["a", "b"]),
        image=image,
        signal=signal,
    )


def _config(model: dict, kind: str = "image"):
    source = {"image": "images.npz", "signal": "signals.npz"}[kind]
    return validate_config(
        {
            "name": "m",
            "data": {"source": source, "kind": kind},
            "model": {"task": "binary", **model},
        }
    )


def test_the_conv_body_is_the_same_as_hand_built_keras_layers():
    image = ImageFeature("image", "array", [8, 8, 1], [0.0, 16.0])
    config = _config({"body": "conv", "conv": {"blocks": [4, 6]}, "hidden": [5]})
    model = build_model(config, _spec(image=image), train_size=10)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Rescaling(1 / 16)(inputs)
    for filters in (4, 6):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D(2, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(5, activation="relu")(x)
    hand_built = keras.Model(inputs, keras.layers.Dense(1)(x))
    hand_built.set_weights(model.get_weights())
    pixels = np.random.default_rng(0).uniform(0, 16, (3, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(
        model.predict({"image": pixels}, verbose=0),
        hand_built.predict(pixels, verbose=0),
        rtol=1e-5,
    )


def test_signals_get_conv1d_blocks_and_residual_projections():
    signal = SignalFeature("signal", [16, 2], mean=[1.0, -1.0], std=[2.0, 0.5])
    config = _config(
        {
            "body": "conv",
            "conv": {
                "blocks": [
                    4,
                    {"filters": 4, "residual": True},
                    {"filters": 8, "residual": True, "convs": 2},
                ]
            },
            "hidden": [],
        },
        kind="signal",
    )
    model = build_model(config, _spec(signal=signal), train_size=10)
    layers = {layer.name: layer for layer in model.layers}
    assert all(
        isinstance(layer, keras.layers.Conv1D) for name, layer in layers.items() if "_conv" in name
    )
    assert "conv1_residual" in layers and "conv1_projection" not in layers  # 4 -> 4 filters
    assert isinstance(layers["conv2_projection"], keras.layers.Conv1D)  # 4 -> 8 filters
    # Standardisation inside the model: the training statistics per channel.
    standardize = keras.Model(model.input, layers["standardize"].output)
    raw = np.random.default_rng(0).normal(size=(2, 16, 2)).astype(np.float32)
    np.testing.assert_allclose(
        standardize.predict({"signal": raw}, verbose=0),
        (raw - np.array([1.0, -1.0])) / np.array([2.0, 0.5]),
        rtol=1e-4,
        atol=1e-5,
    )


def test_images_and_table_columns_make_one_model():
    image = ImageFeature("path", "path", [8, 8, 3], [0.0, 255.0])
    config = validate_config(
        {
            "name": "m",
            "data": {"source": "rows.csv", "image": {"column": "path"}},
            "model": {"task": "binary", "body": "conv", "conv": {"blocks": [4]}, "hidden": [6]},
        }
    )
    model = build_model(config, _spec(image=image, numeric=["size", "age"]), train_size=10)
    assert set(model.input) == {"image", "numeric"}
    joined = model.get_layer("joined")
    assert joined.output.shape[-1] == 4 + 2  # pooled conv features + the numeric columns


def test_an_ensemble_of_image_and_table_models_gives_each_member_both_inputs():
    """Each member is a model of its own: the table columns that join the conv features must
    be a member input too, and the members' outputs depend on the table columns."""
    image = ImageFeature("path", "path", [8, 8, 3], [0.0, 255.0])
    config = validate_config(
        {
            "name": "m",
            "data": {"source": "rows.csv", "image": {"column": "path"}},
            "model": {
                "task": "binary",
                "body": "conv",
                "conv": {"blocks": [4]},
                "hidden": [6],
                "ensemble": {"members": 2},
            },
        }
    )
    model = build_model(config, _spec(image=image, numeric=["size", "age"]), train_size=10)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (3, 8, 8, 3)).astype("float32")
    numeric = rng.normal(size=(3, 2)).astype("float32")
    outputs = np.asarray(model({"image": images, "numeric": numeric}))
    assert outputs.shape == (3, 2, 1)  # (batch, members, logits)
    assert not np.allclose(outputs[:, 0], outputs[:, 1])  # members start apart
    moved = np.asarray(model({"image": images, "numeric": numeric + 5.0}))
    assert not np.allclose(moved, outputs)  # every member reads the table columns
    for index in range(2):
        member = model.get_layer(f"member{index}")
        assert len(member.inputs) == 2


def test_conv_blocks_that_shrink_inputs_to_nothing_are_a_data_error(tmp_path):
    from toolkit.data.prepared import prepare_data
    from toolkit.errors import DataError

    np.savez(tmp_path / "x.npz", x=np.zeros((20, 6, 6)), y=np.arange(20) % 2)
    config = validate_config(
        {
            "name": "m",
            "data": {"source": str(tmp_path / "x.npz"), "kind": "image"},
            "model": {
                "task": "binary",
                "body": "conv",
                "conv": {"blocks": [4, 4], "padding": "valid", "kernel_size": 5},
            },
            "training": {"batch_size": 4},
        }
    )
    with pytest.raises(
        DataError, match=r"model\.conv block 1 would shrink the 6x6 inputs to nothing"
    ):
        prepare_data(config)


def test_init_from_freezes_conv_blocks_first_then_dense_blocks():
    from toolkit.models.builder import block_prefixes, transfer_weights

    image = ImageFeature("image", "array", [8, 8, 1], [0.0, 16.0])
    config = _config({"body": "conv", "conv": {"blocks": [4, 6]}, "hidden": [5]})
    source = build_model(config, _spec(image=image), train_size=10)
    model = build_model(config, _spec(image=image), train_size=10)
    prefixes = block_prefixes(config.model)
    assert prefixes == ["conv0_", "conv1_", "block0_"]
    copied = transfer_weights(model, source, freeze=2, prefixes=prefixes)
    assert {"conv0_conv0", "conv1_conv0", "block0_dense", "logits"} <= set(copied)
    for a, b in zip(model.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    trainable = {layer.name for layer in model.layers if layer.trainable and layer.weights}
    assert trainable == {"block0_dense", "logits"}
