"""Where the toolkit's training time goes: ``train`` with one change at a time.

Each variant is a full ``toolkit.training.train.train`` run on the workloads of
``throughput.py``; variants run interleaved and repeated in one process, and the script
prints steady samples/s (history.csv, first epoch excluded), ``fit`` wall time and the
ratio to the unchanged toolkit. Changes that would need code edits in the toolkit are
applied here as monkeypatches, so the gain of a proposed fix is measured before it is made:

* ``stacked pipeline``: ``make_dataset`` gathers one stacked float matrix per batch and
  splits it into the per-column dict (the model is unchanged);
* ``matrix input``: the model takes one ``numeric`` (n, k) input instead of k (n, 1)
  inputs and a ``Concatenate``.

It also times every callback method of one default run. ``throughput_components.py``
measures the model and pipeline changes without ``train`` around them, more precisely.

    .venv/bin/python benchmarks/throughput_ablation.py --only small   # about 4 minutes
    .venv/bin/python benchmarks/throughput_ablation.py --only large   # about 8 minutes
    .venv/bin/python benchmarks/throughput_ablation.py --quick
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import throughput

CALLBACKS_OFF = {
    "early_stopping": False,
    "checkpoint": False,
    "tensorboard": False,
    "backup_and_restore": False,
    "terminate_on_nan": False,
    "learning_curve": False,
    "lr_logger": False,
    "uncertainty_monitor": False,
    "confusion_matrix": False,
    # csv_logger and throughput stay on: they are how the run is measured.
}


def make_dataset_stacked(
    features, target, *, batch_size, shuffle_seed=None, start_epoch=0, repeat=True
):
    """``toolkit.data.pipeline.make_dataset`` with one gather for all float columns."""
    import tensorflow as tf

    from toolkit.data.pipeline import steps_for

    numeric = [k for k, v in features.items() if v.dtype != object]
    other = {k: tf.constant(v) for k, v in features.items() if v.dtype == object}
    matrix = (
        tf.constant(np.concatenate([features[k] for k in numeric], axis=1)) if numeric else None
    )
    tensors_y = None if target is None else tf.constant(target)
    rows = len(next(iter(features.values())))

    def epoch_batches(epoch):
        if shuffle_seed is None:
            order = tf.range(rows, dtype=tf.int64)
        else:
            seed = tf.stack([tf.constant(shuffle_seed, tf.int64), epoch])
            order = tf.random.experimental.stateless_shuffle(tf.range(rows, dtype=tf.int64), seed)
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    epochs = tf.data.Dataset.range(start_epoch, 2**62) if repeat else tf.data.Dataset.range(1)

    def gather(index):
        x = {}
        if matrix is not None:
            columns = tf.split(tf.gather(matrix, index), len(numeric), axis=1)
            x.update(zip(numeric, columns, strict=True))
        x.update({k: tf.gather(v, index) for k, v in other.items()})
        return x if tensors_y is None else (x, tf.gather(tensors_y, index))

    dataset = epochs.flat_map(epoch_batches).map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    if not repeat:
        dataset = dataset.apply(
            tf.data.experimental.assert_cardinality(steps_for(rows, batch_size))
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


@contextlib.contextmanager
def stacked_pipeline():
    import toolkit.data.pipeline as pipeline

    original = pipeline.make_dataset
    pipeline.make_dataset = make_dataset_stacked
    try:
        yield
    finally:
        pipeline.make_dataset = original


@contextlib.contextmanager
def matrix_input(data_holder: dict):
    """One (n, k) ``numeric`` input; patches the builder, the data and evaluation."""
    import keras

    import toolkit.evaluation.evaluate as evaluate
    import toolkit.models.builder as builder
    from toolkit.models.layers.impute_standardize import ImputeStandardize

    data = data_holder["data"]
    spec = data.spec

    def stack(features):
        return {"numeric": np.concatenate([features[f.name] for f in spec.numeric], axis=1)}

    def build_inputs(spec):
        tensor = keras.Input(shape=(len(spec.numeric),), name="numeric", dtype="float32")
        layer = ImputeStandardize(
            mean=[f.mean for f in spec.numeric],
            std=[f.std for f in spec.numeric],
            name="impute_standardize",
        )
        return {"numeric": tensor}, layer(tensor)

    original_inputs, original_arrays = builder.build_inputs, evaluate.feature_arrays
    builder.build_inputs = build_inputs
    evaluate.feature_arrays = lambda frame, spec, what="input": stack(
        original_arrays(frame, spec, what=what)
    )
    data_holder["data"] = dataclasses.replace(
        data,
        train=(stack(data.train[0]), data.train[1]),
        validation=(stack(data.validation[0]), data.validation[1]),
        test=None,
    )
    try:
        yield
    finally:
        builder.build_inputs, evaluate.feature_arrays = original_inputs, original_arrays
        data_holder["data"] = data


def variants(name: str) -> dict[str, dict]:
    """Variant -> config overrides (merged into the benchmark config) and an optional patch."""
    spe = 64 if name == "small" else 100  # a divisor of the steps per epoch (1600 / 100)
    return {
        "toolkit (default)": {},
        "callbacks off": {"callbacks": CALLBACKS_OFF},
        "tensorboard off": {"callbacks": {"tensorboard": False}},
        "terminate_on_nan off": {"callbacks": {"terminate_on_nan": False}},
        "checkpoints off": {"callbacks": {"checkpoint": False, "backup_and_restore": False}},
        f"steps_per_execution={spe}": {"training": {"steps_per_execution": spe}},
        f"matrix input + steps_per_execution={spe}": {
            "training": {"steps_per_execution": spe},
            "patch": "matrix",
        },
        "matrix input + jit_compile": {"training": {"jit_compile": True}, "patch": "matrix"},
    }


def merged_config(base, overrides: dict):
    from toolkit.config.loading import deep_merge, validate_config

    raw = base.model_dump(mode="json")
    return validate_config(deep_merge(raw, {k: v for k, v in overrides.items() if k != "patch"}))


class CallbackClock:
    """Wraps every overridden ``on_*`` method of the run's callbacks with a timer."""

    HOOKS = (
        "on_train_begin",
        "on_train_end",
        "on_epoch_begin",
        "on_epoch_end",
        "on_train_batch_begin",
        "on_train_batch_end",
        "on_batch_end",
        "on_test_begin",
        "on_test_end",
        "on_test_batch_end",
    )

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def installed(self):
        from keras.src import utils

        import toolkit.training.callback_factory as factory

        original = factory.build_callbacks

        def build(*args, **kwargs):
            result = original(*args, **kwargs)
            for callback in result.callbacks:
                for hook in self.HOOKS:
                    method = getattr(callback, hook)
                    if utils.is_default(method):
                        continue
                    setattr(callback, hook, self._wrap(type(callback).__name__, hook, method))
            return result

        factory.build_callbacks = build
        try:
            yield self
        finally:
            factory.build_callbacks = original

    def _wrap(self, owner, hook, method):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds[f"{owner}.{hook}"] += time.perf_counter() - start

        return timed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--only", choices=sorted(throughput.WORKLOADS), default=None)
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3 if args.only == "small" else 2)

    from toolkit.training.train import prepare_data

    timer = throughput.FitTimer()
    for name, work in throughput.WORKLOADS.items():
        if args.only and name != args.only:
            continue
        work = dict(work)
        epochs = min(work["epochs"], 4)
        if args.quick:
            work["rows"] //= 4
            epochs = 3
        table = variants(name)
        results: dict[str, list[dict]] = {v: [] for v in table}
        with tempfile.TemporaryDirectory() as tmp:
            base = throughput.toolkit_config(name, work, epochs, tmp)
            holder = {"data": prepare_data(base)}
            clock = CallbackClock()
            with clock.installed():
                timed = throughput.run_toolkit(base, holder["data"], timer)
            print(
                f"\n== {name}: callback time in one default run "
                f"(fit {timed['fit_wall']:.1f} s, {timed['epochs']} epochs)"
            )
            for key, seconds in sorted(clock.seconds.items(), key=lambda kv: -kv[1])[:12]:
                print(f"  {key:45s} {seconds:7.2f} s")
            for repeat in range(repeats):
                names = list(table)
                shift = repeat % len(names)
                for variant in names[shift:] + names[:shift]:
                    overrides = table[variant]
                    config = merged_config(base, overrides)
                    patch = overrides.get("patch")
                    context = (
                        stacked_pipeline()
                        if patch == "stacked"
                        else matrix_input(holder)
                        if patch == "matrix"
                        else contextlib.nullcontext()
                    )
                    with context:
                        outcome = throughput.run_toolkit(config, holder["data"], timer)
                    results[variant].append(outcome)
                    print(
                        f"  [{name} r{repeat + 1}] {variant:38s} best epoch "
                        f"{max(outcome['epochs_sps']):>9,.0f} samples/s  "
                        f"fit {outcome['fit_wall']:6.1f} s  (load {os.getloadavg()[0]:.1f})",
                        flush=True,
                    )
        default = results["toolkit (default)"]
        reference, reference_cpu = throughput.best_epoch(default), throughput.cpu_rate(default)
        reference_wall = min(r["fit_wall"] for r in default)
        print(f"\n== {name}: {repeats} rounds; ratios to the unchanged toolkit")
        print(
            f"{'variant':44s} {'best epoch/s':>12s} {'ratio':>6s} {'per CPU-s':>10s} "
            f"{'ratio':>6s} {'fit s':>6s} {'ratio':>6s}"
        )
        for variant, runs in results.items():
            best, cpu = throughput.best_epoch(runs), throughput.cpu_rate(runs)
            wall = min(r["fit_wall"] for r in runs)
            print(
                f"{variant:44s} {best:>12,.0f} {best / reference:>6.2f} {cpu:>10,.0f} "
                f"{cpu / reference_cpu:>6.2f} {wall:>6.1f} {wall / reference_wall:>6.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
