"""Training throughput: the toolkit's ``train`` against hand-written Keras 3 and tf_keras.

Two MLPs on synthetic data, every contender timed in the same process, interleaved and
repeated (best and median over repeats):

* ``toolkit``: ``toolkit.training.train.train`` with its default callbacks, per-epoch
  throughput from history.csv (first epoch excluded) and the wall time of ``fit``;
* ``keras3 plain``: ``model.fit`` on NumPy arrays;
* ``keras3 tuned`` / ``keras3 tuned+xla``: cached tf.data + prefetch + steps_per_execution
  (without / with ``jit_compile``); "hand-tuned" is the faster of the two;
* ``tf_keras plain``: ``tf_keras`` ``model.fit`` on NumPy arrays.

Other processes share the cores, so each contender reports its fastest steady epoch over
all rounds ("best epoch", the least disturbed), the median epoch, and samples per
CPU-second of the process (the work per sample, little affected by the load). Achieved
FLOP/s are compared with a 2048^3 float32 ``tf.matmul`` timed next to every run and, for
the large MLP, with the matmuls of one training step timed alone (the workload's own
matmul rate) and with one Adam update of its weights timed alone.

    .venv/bin/python benchmarks/throughput.py            # about 5 minutes on 2 cores
    .venv/bin/python benchmarks/throughput.py --quick    # about 2 minutes
    .venv/bin/python benchmarks/throughput.py --only large --repeats 3
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

WORKLOADS = {
    # --quick: a quarter of the rows, 3 epochs, 1 round
    "small": {
        "rows": 64_000,
        "features": 10,
        "hidden": [64, 64],
        "batch": 32,
        "task": "regression",
        "epochs": 6,
        "repeats": 3,
    },
    "large": {
        "rows": 32_000,
        "features": 512,
        "hidden": [1024, 1024],
        "batch": 256,
        "task": "multiclass",
        "epochs": 4,
        "repeats": 2,
        "matmul_bound": True,
    },
}
CLASSES = 10
TUNED_STEPS_PER_EXECUTION = 64


def training_flops_per_sample(widths: list[int]) -> float:
    """Matmul FLOPs of one training step per sample: forward, weight gradients, and input
    gradients of every layer but the first (the gradient w.r.t. the data is never needed)."""
    layers = list(itertools.pairwise(widths))
    macs = sum(a * b for a, b in layers)  # forward
    macs += sum(a * b for a, b in layers)  # dW
    macs += sum(a * b for a, b in layers[1:])  # dX
    return 2.0 * macs


def matmul_rate(n: int = 2048, repeats: int = 5) -> float:
    """Best FLOP/s of an ``n x n`` float32 ``tf.matmul`` (inside a tf.function)."""
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    mm = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    mm().numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        mm().numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best


def step_matmul_rate(widths: list[int], batch: int, repeats: int = 10) -> float:
    """Best samples/s of the matmuls of one training step alone (same shapes as the MLP's
    forward, weight- and input-gradient products): a ceiling no training loop can pass."""
    import tensorflow as tf

    layers = list(itertools.pairwise(widths))
    xs = [tf.random.normal((batch, a)) for a, _ in layers]
    ws = [tf.random.normal((a, b)) for a, b in layers]
    gs = [tf.random.normal((batch, b)) for _, b in layers]

    @tf.function
    def step():
        sums = []
        for i, (x, w, g) in enumerate(zip(xs, ws, gs, strict=True)):
            sums.append(tf.reduce_sum(tf.matmul(x, w)))
            sums.append(tf.reduce_sum(tf.matmul(x, g, transpose_a=True)))
            if i:
                sums.append(tf.reduce_sum(tf.matmul(g, w, transpose_b=True)))
        return tf.add_n(sums)

    step().numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        step().numpy()
        best = min(best, time.perf_counter() - start)
    return batch / best


def adam_update_seconds(widths: list[int], repeats: int = 10) -> float:
    """Best seconds of one Keras Adam update of an MLP's weights (biases included), traced:
    memory-bound work that every training step does besides its matmuls."""
    import keras
    import tensorflow as tf

    shapes = [s for a, b in itertools.pairwise(widths) for s in ((a, b), (b,))]
    weights = [keras.Variable(tf.random.normal(s)) for s in shapes]
    grads = [tf.random.normal(s) for s in shapes]
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(weights)
    update = tf.function(lambda: optimizer.apply(grads, weights))
    update()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        update()
        float(weights[0][0, 0])  # wait for the update
        best = min(best, time.perf_counter() - start)
    return best


def toolkit_config(name: str, work: dict, epochs: int, output_dir: str):
    from toolkit.config.loading import validate_config

    return validate_config(
        {
            "name": f"throughput-{name}",
            "seed": 0,
            "data": {
                "source": f"synthetic:{work['task']}",
                "synthetic": {
                    "samples": work["rows"],
                    "features": work["features"],
                    "classes": CLASSES,
                    "noise": 0.1,
                },
                "validation": 0.2,
                "test": None,
            },
            "model": {"task": work["task"], "hidden": work["hidden"]},
            "training": {"epochs": epochs, "batch_size": work["batch"], "verbose": 0},
            # Post-training scikit-learn baselines are no part of fit; callbacks stay default.
            "evaluation": {"baselines": False, "plots": True},
            "output_dir": output_dir,
        }
    )


def epoch_timer(callback_base):
    """A callback recording wall and process-CPU seconds of each epoch's training part."""

    class EpochTimes(callback_base):
        def on_train_begin(self, logs=None):
            self.times, self.cpu, self._start = [], [], None

        def on_epoch_begin(self, epoch, logs=None):
            self._start = (time.perf_counter(), time.process_time())

        def on_test_begin(self, logs=None):
            self._stop()  # validation is not training

        def on_epoch_end(self, epoch, logs=None):
            self._stop()

        def _stop(self):
            if self._start is not None:
                self.times.append(time.perf_counter() - self._start[0])
                self.cpu.append(time.process_time() - self._start[1])
                self._start = None

    return EpochTimes()


class FitTimer:
    """Times ``keras.Model.fit`` and adds an epoch timer to the toolkit's callbacks."""

    def __init__(self) -> None:
        import keras

        import toolkit.training.callback_factory as factory

        self.seconds = float("nan")
        self.clock = None
        original_fit, original_build = keras.Model.fit, factory.build_callbacks

        def timed_fit(model, *args, **kwargs):
            start = time.perf_counter()
            try:
                return original_fit(model, *args, **kwargs)
            finally:
                self.seconds = time.perf_counter() - start

        def build_callbacks(*args, **kwargs):
            result = original_build(*args, **kwargs)
            self.clock = epoch_timer(keras.callbacks.Callback)
            result.callbacks.insert(0, self.clock)
            return result

        keras.Model.fit = timed_fit
        factory.build_callbacks = build_callbacks


def run_toolkit(config, data, timer: FitTimer) -> dict:
    """One ``train`` run: per-epoch samples/s from history.csv, fit and total wall time."""
    from toolkit.training.train import train

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = train(config, output_dir=tmp, data=data, verbose=0)
        total = time.perf_counter() - start
        history = pd.read_csv(Path(result.run_dir) / "history.csv")
    rows = data.train.rows
    return {
        "epochs_sps": history["samples_per_second"].iloc[1:].tolist(),
        "epochs_cpu_sps": [rows / t for t in timer.clock.cpu[1:]],
        "fit_wall": timer.seconds,
        "e2e_sps": rows * len(history) / timer.seconds,
        "train_total": total,
        "epochs": len(history),
    }


def build_mlp(lib, work: dict, n_out: int):
    layers = [lib.Input(shape=(work["features"],))]
    layers += [lib.layers.Dense(w, activation="relu") for w in work["hidden"]]
    layers.append(lib.layers.Dense(n_out))
    return lib.Sequential(layers)


def run_hand(lib_name: str, mode: str, work: dict, x, y, epochs: int) -> dict:
    """One hand-written contender: ``mode`` is plain, tuned or tuned+xla."""
    import tensorflow as tf

    if lib_name == "tf_keras":
        import tf_keras as lib

        lib.utils.set_random_seed(0)
    else:
        import keras as lib

        lib.utils.set_random_seed(0)
    multiclass = work["task"] == "multiclass"
    model = build_mlp(lib, work, CLASSES if multiclass else 1)
    loss = (
        lib.losses.SparseCategoricalCrossentropy(from_logits=True)
        if multiclass
        else lib.losses.MeanSquaredError()
    )
    metric = "accuracy" if multiclass else "mae"
    timer = epoch_timer(lib.callbacks.Callback)
    batch = work["batch"]
    if mode == "plain":
        model.compile(optimizer=lib.optimizers.Adam(1e-3), loss=loss, metrics=[metric])
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[timer])
    else:
        model.compile(
            optimizer=lib.optimizers.Adam(1e-3),
            loss=loss,
            metrics=[metric],
            steps_per_execution=TUNED_STEPS_PER_EXECUTION,
            jit_compile=mode == "tuned+xla",
        )
        dataset = (
            tf.data.Dataset.from_tensor_slices((x, y))
            .cache()
            .shuffle(len(x), seed=0, reshuffle_each_iteration=True)
            .batch(batch)
            .prefetch(tf.data.AUTOTUNE)
        )
        start = time.perf_counter()
        model.fit(dataset, epochs=epochs, verbose=0, callbacks=[timer])
    wall = time.perf_counter() - start
    return {
        "epochs_sps": [len(x) / t for t in timer.times[1:]],
        "epochs_cpu_sps": [len(x) / t for t in timer.cpu[1:]],
        "fit_wall": wall,
        "e2e_sps": len(x) * epochs / wall,
    }


def hand_arrays(data) -> tuple[np.ndarray, np.ndarray]:
    """The toolkit's training split as one float matrix; regression targets standardised."""
    features, target = data.train.arrays()
    x = features["numeric"]
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    if data.spec.target.task == "regression":
        target = (target - data.spec.target.mean) / data.spec.target.std
    return x.astype(np.float32), target


CONTENDERS = ["toolkit", "keras3 plain", "keras3 tuned", "keras3 tuned+xla", "tf_keras plain"]


def best_epoch(runs: list[dict]) -> float:
    """Fastest steady epoch over all repeats: the least disturbed by other processes."""
    return max(max(r["epochs_sps"]) for r in runs)


def median_epoch(runs: list[dict], key: str = "epochs_sps") -> float:
    return statistics.median(v for r in runs for v in r[key])


def cpu_rate(runs: list[dict]) -> float:
    """Median samples per CPU-second of the process: the work per sample, little affected
    by other processes taking the cores."""
    return median_epoch(runs, "epochs_cpu_sps")


def bench_workload(name: str, work: dict, epochs: int, repeats: int, timer: FitTimer) -> dict:
    from toolkit.data.prepared import prepare_data

    with tempfile.TemporaryDirectory() as tmp:
        config = toolkit_config(name, work, epochs, tmp)
        data = prepare_data(config)
        x, y = hand_arrays(data)
        results: dict[str, list[dict]] = {c: [] for c in CONTENDERS}
        rates: list[float] = []
        ceilings: list[float] = []
        updates: list[float] = []
        outputs = CLASSES if work["task"] == "multiclass" else 1
        widths = [work["features"], *work["hidden"], outputs]
        for repeat in range(repeats):
            # Rotate the order so no contender always runs first (or last) in a round.
            shift = repeat % len(CONTENDERS)
            for contender in CONTENDERS[shift:] + CONTENDERS[:shift]:
                if contender == "keras3 tuned+xla" and repeat > 0:
                    continue  # XLA is much slower on CPU here; one round shows it
                rates.append(matmul_rate())  # next to every run: the load changes
                if work.get("matmul_bound"):
                    ceilings.append(step_matmul_rate(widths, work["batch"]))
                    updates.append(adam_update_seconds(widths))
                if contender == "toolkit":
                    outcome = run_toolkit(config, data, timer)
                else:
                    lib_name, mode = contender.split(" ")
                    outcome = run_hand(lib_name, mode, work, x, y, epochs)
                results[contender].append(outcome)
                print(
                    f"  [{name} r{repeat + 1}] {contender:17s} "
                    f"best epoch {max(outcome['epochs_sps']):>9,.0f} samples/s  "
                    f"fit {outcome['fit_wall']:6.1f} s  (load {os.getloadavg()[0]:.1f}, "
                    f"matmul {rates[-1] / 1e9:.0f} GFLOP/s)",
                    flush=True,
                )
    return {
        "results": results,
        "rates": rates,
        "ceilings": ceilings,
        "updates": updates,
        "rows": len(x),
    }


def summarise(name: str, work: dict, bench: dict) -> dict[str, float]:
    results, rates = bench["results"], bench["rates"]
    peak = max(rates)
    # For tiny layers the isolated matmuls are all call overhead: no meaningful ceiling.
    ceiling = max(bench["ceilings"]) if work.get("matmul_bound") else None
    outputs = CLASSES if work["task"] == "multiclass" else 1
    flops = training_flops_per_sample([work["features"], *work["hidden"], outputs])
    best = {c: best_epoch(results[c]) for c in CONTENDERS}
    median = {c: median_epoch(results[c]) for c in CONTENDERS}
    e2e = {c: max(r["e2e_sps"] for r in results[c]) for c in CONTENDERS}
    wall = {c: min(r["fit_wall"] for r in results[c]) for c in CONTENDERS}
    cpu = {c: cpu_rate(results[c]) for c in CONTENDERS}
    tuned = max(("keras3 tuned", "keras3 tuned+xla"), key=best.get)
    print(
        f"\n== {name} MLP {work['features']}->{'->'.join(map(str, work['hidden']))}->{outputs}, "
        f"batch {work['batch']}, {bench['rows']:,} training rows; "
        f"{flops / 1e6:.3f} MFLOP per training sample; matmul peak {peak / 1e9:.1f} GFLOP/s "
        f"(2048^3 float32, best of {len(rates)} measurements taken next to the runs)"
        + (f"; the step's matmuls alone: {ceiling:,.0f} samples/s" if ceiling else "")
    )
    print(
        f"{'contender':17s} {'best epoch/s':>13s} {'median':>9s} {'per CPU-s':>10s} "
        f"{'fit wall s':>11s} {'fit samples/s':>14s} {'GFLOP/s':>8s} {'% matmul':>9s}"
        + (f" {'% step matmuls':>15s}" if ceiling else "")
    )
    for c in CONTENDERS:
        print(
            f"{c:17s} {best[c]:>13,.0f} {median[c]:>9,.0f} {cpu[c]:>10,.0f} {wall[c]:>11.2f} "
            f"{e2e[c]:>14,.0f} {best[c] * flops / 1e9:>8.1f} {100 * best[c] * flops / peak:>8.1f}%"
            + (f" {100 * best[c] / ceiling:>14.1f}%" if ceiling else "")
        )
    pairs = {
        "toolkit / keras3 plain": ("toolkit", "keras3 plain"),
        f"toolkit / hand-tuned ({tuned})": ("toolkit", tuned),
        "toolkit / tf_keras plain": ("toolkit", "tf_keras plain"),
        "hand-tuned / keras3 plain": (tuned, "keras3 plain"),
    }
    print(f"{'ratios':44s} {'best epoch':>10s} {'median':>8s} {'per CPU-s':>10s}")
    for key, (a, b) in pairs.items():
        print(
            f"  {key:42s} {best[a] / best[b]:10.2f} {median[a] / median[b]:8.2f} "
            f"{cpu[a] / cpu[b]:10.2f}"
        )
    extra = {
        "fit wall: toolkit / hand-tuned": wall["toolkit"] / wall[tuned],
        "toolkit % of matmul peak": 100 * best["toolkit"] * flops / peak,
        "hand-tuned % of matmul peak": 100 * best[tuned] * flops / peak,
    }
    if ceiling:
        extra["toolkit % of the step's matmuls"] = 100 * best["toolkit"] / ceiling
        extra["hand-tuned % of the step's matmuls"] = 100 * best[tuned] / ceiling
        # Matmuls plus Adam's update, each timed alone: what a perfect loop could reach.
        step = work["batch"] / ceiling + min(bench["updates"])
        extra["Adam update, ms per step"] = 1000 * min(bench["updates"])
        extra["matmuls + Adam alone, % of matmul peak"] = 100 * work["batch"] / step * flops / peak
        extra["toolkit % of matmuls + Adam alone"] = 100 * best["toolkit"] * step / work["batch"]
    for key, value in extra.items():
        print(f"  {key:42s} {value:10.2f}")
    return {
        "toolkit / keras3 plain": best["toolkit"] / best["keras3 plain"],
        "toolkit / hand-tuned": best["toolkit"] / best[tuned],
        "toolkit % of matmul peak": extra["toolkit % of matmul peak"],
        "toolkit % of the step matmuls": extra.get("toolkit % of the step's matmuls", 0.0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows, epochs and repeats")
    parser.add_argument("--repeats", type=int, default=None, help="rounds per workload")
    parser.add_argument("--only", choices=sorted(WORKLOADS), default=None)
    args = parser.parse_args(argv)
    repeats = args.repeats

    import keras
    import tensorflow as tf

    timer = FitTimer()
    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    verdicts = []
    for name, work in WORKLOADS.items():
        if args.only and name != args.only:
            continue
        work = dict(work)
        epochs = work["epochs"]
        if args.quick:
            work["rows"] //= 4
            epochs = 3
        rounds = repeats or (1 if args.quick else work["repeats"])
        bench = bench_workload(name, work, epochs, rounds, timer)
        ratios = summarise(name, work, bench)
        if name == "small":
            verdicts.append(
                ("small: toolkit >= 4x keras3 plain", ratios["toolkit / keras3 plain"] >= 4)
            )
        verdicts.append(
            (f"{name}: toolkit >= 0.95x hand-tuned", ratios["toolkit / hand-tuned"] >= 0.95)
        )
        if name == "large":
            # The measured matmul rate of the workload itself: its own forward and gradient
            # matmuls at its own shapes, timed alone in the same run. A 2048^3 matmul runs
            # faster than any batch-256 one, so that rate is shown too, not judged.
            verdicts.append(
                (
                    "large: toolkit >= 85% of the step's matmul rate "
                    f"({ratios['toolkit % of the step matmuls']:.0f}%; "
                    f"{ratios['toolkit % of matmul peak']:.0f}% of a 2048^3 matmul)",
                    ratios["toolkit % of the step matmuls"] >= 85,
                )
            )
    print("\nTargets:")
    for text, ok in verdicts:
        print(f"  {'PASS' if ok else 'MISS'}  {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
