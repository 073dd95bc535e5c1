"""The toolkit's Bayesian regressor (configs/bnn.yaml) against tensorflow-probability.

Same data (scikit-learn's diabetes), the same train/validation/test split per seed (the
toolkit's own ``prepare_data``), the same budget (epochs, batch size, Adam and its learning
rate, early stopping on val_loss with the config's patience and best-weight restore), the
same standardisation of inputs and target, and the same scoring (``regression_metrics`` on
50 Monte-Carlo samples, Gaussian-mixture moments, original units).

Contenders (the references follow the config's architecture: ``model.hidden``, variational
hidden layers only with ``model.bayesian.layers: all``, else ``Dense`` with He init):

* ``toolkit``: ``load_config("configs/bnn.yaml")`` + ``train``; test metrics from
  metrics.json, ``fit`` wall time measured around ``keras.Model.fit``;
* ``tfp tutorial``: ``tfp.layers.DenseVariational`` on ``tf_keras`` as in TFP's
  "Probabilistic Layers Regression" tutorial: ``posterior_mean_field`` (mean-field normal,
  loc 0 and scale softplus(log(expm1(1))) = 1 at the start), a fixed normal prior of the
  config's ``prior_scale``, ``kl_weight = 1 / n_train``, and the tutorial's Gaussian head
  ``Normal(t[..., :1], 1e-3 + softplus(0.01 * t[..., 1:]))``;
* ``tfp small-init``: the same with the toolkit's posterior start (Glorot-uniform means,
  scale 0.05).

``--investigate`` first times every callback method of one bnn.yaml run, then adds toolkit
variants run with the heavy per-epoch callbacks off (config settings, the fully variational
``layers: all`` and benchmark-only patches of the Gaussian head's scale) and ``tfp`` rows
with the toolkit's head form ``softplus(t)`` and with ``layers: all``.

    .venv/bin/python benchmarks/bayesian.py                  # 3 seeds, about 2.5 minutes
    .venv/bin/python benchmarks/bayesian.py --quick          # 1 seed, under a minute
    .venv/bin/python benchmarks/bayesian.py --investigate    # 2 seeds, about 9 minutes
    .venv/bin/python benchmarks/bayesian.py --investigate --seeds 42 43 44   # 13 minutes
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "bnn.yaml"
MC_SAMPLES = 50
LIGHT_CALLBACKS = [
    "callbacks.tensorboard=false",
    "callbacks.checkpoint=false",
    "callbacks.backup_and_restore=false",
    "callbacks.learning_curve=false",
    "callbacks.uncertainty_monitor=false",
]
METRICS = ("nll", "rmse", "coverage", "interval_width", "r2", "fit_s", "epochs")


class FitClock:
    """Wall time of the last ``keras.Model.fit`` (Keras 3, so the toolkit's)."""

    def __init__(self) -> None:
        import keras

        self.seconds = float("nan")
        original = keras.Model.fit

        def timed(model, *args, **kwargs):
            start = time.perf_counter()
            try:
                return original(model, *args, **kwargs)
            finally:
                self.seconds = time.perf_counter() - start

        keras.Model.fit = timed


# ----------------------------------------------------------------------------- toolkit


@contextlib.contextmanager
def head_patch(kind: str | None):
    """Benchmark-only changes of ``GaussianHead`` (proposed fixes, measured before made).

    ``dense-scale``: the scale projection is an ordinary ``Dense`` (the mean stays
    variational); ``damped-scale``: ``softplus(0.01 * raw)`` as in TFP's tutorial head.
    """
    if kind is None:
        yield
        return
    import keras
    from keras import ops

    from toolkit.models.layers.gaussian_head import GaussianHead

    original_init, original_call = GaussianHead.__init__, GaussianHead.call

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if kind == "dense-scale" and self.variational is not None:
            start = math.log(
                math.expm1(max(getattr(self, "initial_scale", 1.0) - self.min_scale, 1e-6))
            )
            self.scale_layer = keras.layers.Dense(
                self.units,
                kernel_initializer="zeros",
                bias_initializer=keras.initializers.Constant(start),
                name="scale",
                dtype=self.dtype_policy,
            )

    def call(self, inputs):
        mean = self.mean_layer(inputs)
        raw = 0.01 * self.scale_layer(inputs)
        scale = ops.softplus(raw) + ops.cast(self.min_scale, mean.dtype)
        return ops.concatenate([mean, scale], axis=-1)

    GaussianHead.__init__ = init
    if kind == "damped-scale":
        GaussianHead.call = call
    try:
        yield
    finally:
        GaussianHead.__init__, GaussianHead.call = original_init, original_call


def run_toolkit(seed: int, overrides: list[str], clock: FitClock, patch: str | None = None):
    import json

    from toolkit.config.loading import load_config
    from toolkit.training.train import train

    config = load_config(CONFIG, [f"seed={seed}", *overrides])
    with tempfile.TemporaryDirectory() as tmp, head_patch(patch):
        start = time.perf_counter()
        result = train(config, output_dir=tmp, verbose=0)
        total = time.perf_counter() - start
        test = json.loads((Path(result.run_dir) / "metrics.json").read_text())["test"]
    return {
        **{k: test[k] for k in ("nll", "rmse", "coverage", "interval_width", "r2")},
        "fit_s": clock.seconds,
        "train_s": total,
        "epochs": result.epochs,
    }


# ----------------------------------------------------------------------------- reference


def prepared(seed: int, overrides: tuple[str, ...] = ()):
    """The toolkit's split for ``seed``, standardised with the training statistics."""
    from toolkit.config.loading import load_config
    from toolkit.data.prepared import prepare_data

    config = load_config(CONFIG, [f"seed={seed}", *overrides])
    data = prepare_data(config)
    spec = data.spec

    def inputs(part):
        mean = np.array([f.mean for f in spec.numeric])
        std = np.array([f.std for f in spec.numeric])
        return ((part.arrays()[0]["numeric"] - mean) / std).astype(np.float32)

    mean, std = spec.target.mean, spec.target.std
    return config, {
        "x_train": inputs(data.train),
        "y_train": (data.train.arrays()[1] - mean) / std,
        "x_val": inputs(data.validation),
        "y_val": (data.validation.arrays()[1] - mean) / std,
        "x_test": inputs(data.test),
        "y_test": data.test.arrays()[1][:, 0],
        "mean": mean,
        "std": std,
    }


def run_reference(
    seed: int, *, init: str, head_factor: float = 0.01, overrides: tuple[str, ...] = ()
) -> dict:
    """``tfp.layers.DenseVariational`` on tf_keras, trained and scored like the toolkit.

    The architecture follows the config: ``model.hidden`` widths, and variational hidden
    layers only with ``model.bayesian.layers: all``."""
    import tensorflow as tf
    import tensorflow_probability as tfp
    import tf_keras

    from toolkit.evaluation.metrics import regression_metrics

    tfd, tfpl = tfp.distributions, tfp.layers
    config, d = prepared(seed, overrides)
    bayesian, training = config.model.bayesian, config.training
    n_train = len(d["x_train"])
    prior_scale = bayesian.prior_scale

    def prior(kernel_size, bias_size=0, dtype=None):
        n = kernel_size + bias_size
        return tf_keras.Sequential(
            [
                tfpl.DistributionLambda(
                    lambda _: tfd.Independent(
                        tfd.Normal(loc=tf.zeros(n), scale=prior_scale),
                        reinterpreted_batch_ndims=1,
                    )
                )
            ]
        )

    def posterior(kernel_size, bias_size=0, dtype=None):
        n = kernel_size + bias_size
        if init == "tutorial":  # TFP's posterior_mean_field: loc 0, scale 1
            offset = math.log(math.expm1(1.0))
            initializer = "zeros"
        else:  # the toolkit's DenseVariational start: Glorot-uniform loc, scale 0.05
            offset = math.log(math.expm1(0.05 - 1e-5))
            fan_out = bias_size
            fan_in = kernel_size // fan_out
            limit = math.sqrt(6.0 / (fan_in + fan_out))

            def initializer(shape, dtype=None):
                kernel = tf.random.uniform([kernel_size], -limit, limit)
                return tf.concat([kernel, tf.zeros([bias_size + n])], axis=0)

        return tf_keras.Sequential(
            [
                tfpl.VariableLayer(2 * n, dtype=dtype, initializer=initializer),
                tfpl.DistributionLambda(
                    lambda t: tfd.Independent(
                        tfd.Normal(
                            loc=t[..., :n], scale=1e-5 + tf.nn.softplus(offset + t[..., n:])
                        ),
                        reinterpreted_batch_ndims=1,
                    )
                ),
            ]
        )

    tf_keras.utils.set_random_seed(seed)
    layers = [tf_keras.Input(shape=(d["x_train"].shape[1],))]
    for block in config.model.hidden:
        if bayesian.layers == "all":
            layers.append(
                tfpl.DenseVariational(
                    block.units,
                    posterior,
                    prior,
                    kl_weight=1.0 / n_train,
                    activation=config.model.activation,
                )
            )
        else:  # layers: output, a Bayesian last layer on a deterministic body
            layers.append(
                tf_keras.layers.Dense(
                    block.units, activation=config.model.activation, kernel_initializer="he_normal"
                )
            )
    layers += [
        tfpl.DenseVariational(2, posterior, prior, kl_weight=1.0 / n_train),
        tfpl.DistributionLambda(
            lambda t: tfd.Normal(
                loc=t[..., :1], scale=1e-3 + tf.math.softplus(head_factor * t[..., 1:])
            )
        ),
    ]
    model = tf_keras.Sequential(layers)
    model.compile(
        optimizer=tf_keras.optimizers.Adam(training.optimizer.learning_rate),
        loss=lambda y, distribution: -distribution.log_prob(y),
    )
    es = config.callbacks.early_stopping
    callbacks = []
    if es is not None:
        callbacks.append(
            tf_keras.callbacks.EarlyStopping(
                monitor=es.monitor, patience=es.patience, restore_best_weights=True
            )
        )
    start = time.perf_counter()
    history = model.fit(
        d["x_train"],
        d["y_train"],
        epochs=training.epochs,
        batch_size=training.batch_size,
        validation_data=(d["x_val"], d["y_val"]),
        callbacks=callbacks,
        verbose=0,
    )
    fit_seconds = time.perf_counter() - start
    locations, scales = [], []
    for _ in range(MC_SAMPLES):
        distribution = model(d["x_test"])
        locations.append(distribution.mean().numpy()[:, 0] * d["std"] + d["mean"])
        scales.append(distribution.stddev().numpy()[:, 0] * d["std"])
    locations, scales = np.asarray(locations, np.float64), np.asarray(scales, np.float64)
    # The predictive Gaussian mixture's moments, as toolkit.evaluation.predict computes them.
    std = np.sqrt((scales**2).mean(axis=0) + locations.var(axis=0))
    scores = regression_metrics(
        d["y_test"], locations.mean(axis=0), std=std, interval=config.prediction.interval
    )
    return {
        **{k: scores[k] for k in ("nll", "rmse", "coverage", "interval_width", "r2")},
        "fit_s": fit_seconds,
        "epochs": len(history.history["loss"]),
    }


# ----------------------------------------------------------------------------- report


def contenders(investigate: bool, n_train: int) -> dict:
    """Name -> function(seed, clock) -> scores."""
    table = {
        "toolkit (bnn.yaml)": lambda s, c: run_toolkit(s, [], c),
        # The references' callbacks: early stopping only (no TensorBoard, checkpoints, resume
        # points, plots or monitors), so the time compares training with training.
        "toolkit, reference's callbacks": lambda s, c: run_toolkit(s, LIGHT_CALLBACKS, c),
        "tfp tutorial": lambda s, c: run_reference(s, init="tutorial"),
        "tfp small-init": lambda s, c: run_reference(s, init="small"),
    }
    if not investigate:
        return table
    light = LIGHT_CALLBACKS
    # A fully variational dense body has no point layers for bnn.yaml's prior on them.
    every = ["model.bayesian.layers=all", "model.weight_prior_scale=null"]
    table.update(
        {
            "toolkit, estimator=reparameterization": lambda s, c: run_toolkit(
                s, [*light, "model.bayesian.estimator=reparameterization"], c
            ),
            "tfp small-init, head softplus(t)": lambda s, c: run_reference(
                s, init="small", head_factor=1.0
            ),
            # The fully variational network (bnn.yaml's earlier setting) and fixes for it.
            "tfp small-init, layers=all": lambda s, c: run_reference(
                s, init="small", overrides=tuple(every)
            ),
            "toolkit, layers=all": lambda s, c: run_toolkit(s, [*light, *every], c),
            "toolkit, layers=all, kl_weight=0.1/n": lambda s, c: run_toolkit(
                s, [*light, *every, f"model.bayesian.kl_weight={0.1 / n_train}"], c
            ),
            "toolkit, layers=all, prior_scale=0.3": lambda s, c: run_toolkit(
                s, [*light, *every, "model.bayesian.prior_scale=0.3"], c
            ),
            "toolkit, layers=all, epochs=300": lambda s, c: run_toolkit(
                s, [*light, *every, "training.epochs=300"], c
            ),
            "toolkit, layers=all, patch: Dense scale": lambda s, c: run_toolkit(
                s, [*light, *every], c, patch="dense-scale"
            ),
            "toolkit, layers=all, patch: softplus(0.01 raw)": lambda s, c: run_toolkit(
                s, [*light, *every], c, patch="damped-scale"
            ),
        }
    )
    return table


def callback_breakdown(seed: int, clock: FitClock) -> None:
    """Seconds spent in each callback method during one bnn.yaml run."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from throughput_ablation import CallbackClock

    timer = CallbackClock()
    with timer.installed():
        scores = run_toolkit(seed, [], clock)
    print(
        f"callback time in one bnn.yaml run (seed {seed}, {scores['epochs']} epochs, "
        f"fit {scores['fit_s']:.1f} s, train() {scores['train_s']:.1f} s):"
    )
    for key, seconds in sorted(timer.seconds.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {key:45s} {seconds:6.2f} s")


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--investigate", action="store_true", help="add toolkit variants")
    args = parser.parse_args(argv)
    seeds = args.seeds or ([42] if args.quick else [42, 43] if args.investigate else [42, 43, 44])

    import keras
    import tensorflow_probability as tfp

    clock = FitClock()
    _, first = prepared(seeds[0])
    n_train = len(first["x_train"])
    table = contenders(args.investigate, n_train)
    print(
        f"Keras {keras.__version__}, TFP {tfp.__version__}; diabetes, {n_train} training rows; "
        f"seeds {seeds}; load average {os.getloadavg()[0]:.1f}"
    )
    if args.investigate:
        callback_breakdown(seeds[0], clock)
    results: dict[str, list[dict]] = {name: [] for name in table}
    for index, seed in enumerate(seeds):
        names = list(table)
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:  # interleaved, rotated per seed
            scores = table[name](seed, clock)
            results[name].append(scores)
            print(
                f"  seed {seed} {name:42s} nll {scores['nll']:.3f} rmse {scores['rmse']:.2f} "
                f"coverage {scores['coverage']:.3f} width {scores['interval_width']:.0f} "
                f"fit {scores['fit_s']:.1f} s ({scores['epochs']} epochs)",
                flush=True,
            )
    print(f"\nmean ± std over {len(seeds)} seeds (test split, original units; 95% intervals)")
    header = ["contender", *METRICS, "|cov-0.95|", "s/epoch"]
    print(f"{header[0]:42s} " + " ".join(f"{h:>17s}" for h in header[1:]))
    for name, runs in results.items():
        cells = [mean_std([r[m] for r in runs]) for m in METRICS]
        cells.append(mean_std([abs(r["coverage"] - 0.95) for r in runs]))
        cells.append(mean_std([r["fit_s"] / r["epochs"] for r in runs]))
        print(f"{name:42s} " + " ".join(f"{c:>17s}" for c in cells))

    def avg(rows, key):
        return statistics.mean(r[key] for r in rows)

    for mine in ("toolkit (bnn.yaml)", "toolkit, reference's callbacks"):
        toolkit = results[mine]
        for reference in ("tfp tutorial", "tfp small-init"):
            runs = results[reference]
            per_epoch = statistics.mean(r["fit_s"] / r["epochs"] for r in toolkit) / (
                statistics.mean(r["fit_s"] / r["epochs"] for r in runs)
            )
            print(
                f"\n{mine} vs {reference}: NLL difference "
                f"{avg(toolkit, 'nll') - avg(runs, 'nll'):+.3f} nats (negative = toolkit "
                f"better); RMSE ratio {avg(toolkit, 'rmse') / avg(runs, 'rmse'):.2f}; "
                f"|coverage-0.95| {statistics.mean(abs(r['coverage'] - 0.95) for r in toolkit):.3f}"
                f" vs {statistics.mean(abs(r['coverage'] - 0.95) for r in runs):.3f}; fit time "
                f"ratio {avg(toolkit, 'fit_s') / avg(runs, 'fit_s'):.2f}; time per epoch ratio "
                f"{per_epoch:.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
