"""Every head x body option from the config builds, trains and lowers its loss; saving keeps it."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.helpers import tiny_config
from toolkit.config.loading import validate_config
from toolkit.data.pipeline import make_dataset, steps_for
from toolkit.data.prepared import prepare_data
from toolkit.evaluation.predict import predict
from toolkit.models.bodies.dense import resolve_blocks
from toolkit.models.builder import build_model, transfer_weights
from toolkit.training.compile import compile_model

BODIES = {
    "compact": {"hidden": [16, 8], "activation": "relu"},
    "blocks": {
        "hidden": [
            {"units": 16, "activation": "gelu", "dropout": 0.1, "batchnorm": True, "l2": 1e-4},
            {
                "units": 8,
                "activation": "selu",
                "batchnorm": "after",
                "l1": 1e-5,
                "initializer": "lecun",
            },
        ]
    },
    "residual": {"hidden": [16, 16, 8], "residual": True, "activation": "swish"},
    "bayesian": {"hidden": [16], "bayesian": {"layers": "all", "estimator": "flipout"}},
    "bayesian_output": {"hidden": [16], "bayesian": {"layers": "output", "prior": "scale_mixture"}},
    "mc_dropout": {"hidden": [16, 16], "dropout": 0.2, "mc_dropout": True},
}
HEADS = [
    ("regression", "default"),
    ("regression", "gaussian"),
    ("binary", "default"),
    ("multiclass", "default"),
]


def _setup(task: str, head: str, body: dict, **extra):
    raw = tiny_config(task, model={"task": task, "head": head, **body}, **extra)
    raw["training"] = {
        "epochs": 1,
        "batch_size": 32,
        "optimizer": {"name": "adam", "learning_rate": 0.01},
    }
    config = validate_config(raw)
    data = prepare_data(config)
    # The weights' draws from the config's seed, as training seeds them: unseeded, they
    # came from whatever the tests run before had left of the global generator, and a
    # 'compact' Gaussian network's loss rose over 10 epochs after some orders.
    keras.utils.set_random_seed(config.seed)
    model = build_model(config, data.spec, train_size=data.train.rows)
    steps = steps_for(data.train.rows, 32)
    compile_model(model, config, data.spec, steps_per_epoch=steps)
    return config, data, model, steps


@pytest.mark.slow
@pytest.mark.parametrize(("task", "head"), HEADS, ids=lambda v: v)
@pytest.mark.parametrize("body", sorted(BODIES))
def test_every_head_and_body_trains_and_lowers_the_loss(task, head, body):
    config, data, model, _ = _setup(task, head, BODIES[body])
    dataset = make_dataset(*data.train.arrays(), batch_size=32)
    evaluation = make_dataset(*data.train.arrays(), batch_size=256)
    before = model.evaluate(evaluation, verbose=0, return_dict=True)["loss"]
    model.fit(dataset, epochs=10, verbose=0)
    after = model.evaluate(evaluation, verbose=0, return_dict=True)["loss"]
    assert np.isfinite(after) and after < before
    predictions = predict(
        model,
        data.validation.arrays()[0],
        config.model_copy(
            update={"prediction": config.prediction.model_copy(update={"mc_samples": 5})}
        ),
    )
    if task == "multiclass":
        np.testing.assert_allclose(predictions.mean.sum(axis=1), 1.0, atol=1e-5)
    if task == "regression" and (head == "gaussian" or config.model.is_stochastic):
        assert predictions.std is not None and (predictions.std > 0).all()


def test_mc_dropout_passes_differ_but_plain_dropout_predicts_deterministically():
    from toolkit.models.layers.stochastic import set_stochastic

    _, data, mc_model, _ = _setup("regression", "default", BODIES["mc_dropout"])
    x = make_dataset(data.validation.arrays()[0], None, batch_size=64)
    set_stochastic(mc_model, True)
    assert not np.array_equal(mc_model.predict(x, verbose=0), mc_model.predict(x, verbose=0))
    _, _, plain, _ = _setup("regression", "default", {"hidden": [16, 16], "dropout": 0.2})
    np.testing.assert_array_equal(plain.predict(x, verbose=0), plain.predict(x, verbose=0))


@pytest.mark.parametrize("body", ["dense", "conv"])
def test_batch_norm_predicts_with_the_datas_statistics_after_a_few_dozen_steps(body, tmp_path):
    """A table of a hundred rows trains for a few dozen steps. By then the moving statistics
    the model predicts with must be those of the activations they normalise, recomputed here
    over the training rows with the trained weights. Keras' default momentum, 0.99, left
    them about two thirds of the way back to their start (mean 0, variance 1)."""
    layers = (
        {"hidden": [16], "batchnorm": "after"}
        if body == "dense"
        else {"body": "conv", "conv": {"blocks": [8], "batchnorm": True}, "hidden": [8]}
    )
    extra = {}
    if body == "conv":
        rng = np.random.default_rng(0)
        x = rng.normal(1.0, 2.0, size=(160, 16, 1)).astype("float32")
        np.savez(tmp_path / "signals.npz", x=x, y=x.mean(axis=(1, 2)))
        extra = {"data": {"source": str(tmp_path / "signals.npz"), "kind": "signal"}}
    _, data, model, steps = _setup("regression", "default", layers, **extra)
    features, _ = data.train.arrays()
    model.fit(make_dataset(*data.train.arrays(), batch_size=32), epochs=40 // steps + 1, verbose=0)
    norm = next(layer for layer in model.layers if "batchnorm" in layer.name)
    normalised = keras.Model(model.inputs, norm.input).predict(
        make_dataset(features, None, batch_size=256), verbose=0
    )
    axes = tuple(range(normalised.ndim - 1))
    np.testing.assert_allclose(
        np.asarray(norm.moving_mean), normalised.mean(axis=axes), rtol=0.15, atol=0.05
    )
    np.testing.assert_allclose(
        np.asarray(norm.moving_variance), normalised.var(axis=axes), rtol=0.25, atol=0.05
    )


def test_default_initializers_follow_the_activation():
    config = validate_config(
        tiny_config(
            model={
                "task": "regression",
                "hidden": [
                    4,
                    {"units": 4, "activation": "selu"},
                    {"units": 4, "activation": "tanh"},
                ],
            }
        )
    )
    assert [b.initializer for b in resolve_blocks(config.model)] == [
        "he_normal",
        "lecun_normal",
        "glorot_uniform",
    ]


def test_transfer_copies_matching_weights_and_freezes_blocks():
    _, _, source, _ = _setup("regression", "default", {"hidden": [16, 8]})
    _, _, target, _ = _setup("regression", "default", {"hidden": [16, 8, 4]})
    copied = transfer_weights(target, source, freeze=1)
    assert "block0_dense" in copied and "block1_dense" in copied
    assert "block2_dense" not in copied  # new block keeps its fresh weights
    np.testing.assert_array_equal(
        target.get_layer("block0_dense").get_weights()[0],
        source.get_layer("block0_dense").get_weights()[0],
    )
    assert (
        not target.get_layer("block0_dense").trainable
        and target.get_layer("block1_dense").trainable
    )


def test_no_hidden_block_is_a_linear_model_fitted_as_least_squares_would(tmp_path):
    """``hidden: []`` on a dense body (the course's perceptron, linear and logistic
    regression) was refused ("needs at least 1 item"). The head then sits on the standardised
    inputs: trained to convergence on a linear table, its predictions are least squares'."""
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    import toolkit
    from tests.helpers import tiny_config

    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 3)) * [1.0, 5.0, 0.2] + [0.0, 10.0, -1.0]
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["target"] = x @ [2.0, -0.5, 4.0] + 1.0 + rng.normal(scale=0.1, size=400)
    frame.to_csv(tmp_path / "linear.csv", index=False)
    config = tiny_config(
        data={"source": str(tmp_path / "linear.csv"), "validation": 0.25},
        model={"task": "regression", "hidden": []},
        training={
            "epochs": 400,
            "batch_size": 300,
            "optimizer": {"name": "adam", "learning_rate": 0.1},
        },
        # No checkpoint or resume point written after each of the 400 one-step epochs (most
        # of the run's time): the model checked is the last epoch's, converged.
        callbacks={
            "tensorboard": False,
            "learning_curve": False,
            "early_stopping": False,
            "checkpoint": False,
            "backup_and_restore": False,
        },
    )
    run = toolkit.train(config, output_dir=tmp_path / "runs", verbose=0)
    assert run.status == "completed", run.reason
    dense = [layer for layer in run.model.layers if layer.__class__.__name__ == "Dense"]
    assert len(dense) == 1  # the output layer alone
    # Least squares on all 400 rows: its coefficients differ from those of the 300 the run
    # trained on by about the noise over sqrt(rows), a hundredth of the target's scale here.
    features = frame[["a", "b", "c"]]
    expected = LinearRegression().fit(features, frame["target"]).predict(features)
    got = run.predict(features)["prediction"].to_numpy()
    np.testing.assert_allclose(got, expected, atol=0.05)
