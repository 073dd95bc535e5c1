"""Per-step cost of the toolkit's model and pipeline, without ``train`` around them.

Every variant's model is built and traced once; then the variants take turns, each
``fit`` for a few epochs with no callback but a timer, for many rounds. Alternating at
this fine grain keeps the comparison fair when other processes load the machine. The
variants go from the toolkit's own ``build_model`` + ``compile_model`` + ``make_dataset``
to the hand-tuned script of ``throughput.py`` one change at a time:

* ``spe=N``: ``training.steps_per_execution`` set to N (auto is the epoch, at most 512);
* ``metrics [mae]``: one training metric instead of the task default;
* ``hand-tuned``: the hand-written contender of ``throughput.py`` (a ``Sequential`` MLP,
  cached, shuffled and batched tf.data, ``steps_per_execution=64``);
* ``hand model, toolkit pipeline``: that model fed by ``make_dataset``.

    .venv/bin/python benchmarks/throughput_components.py --only small  # about 4 minutes
    .venv/bin/python benchmarks/throughput_components.py --only large  # about 7 minutes
    .venv/bin/python benchmarks/throughput_components.py --quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import throughput
import throughput_ablation as ablation


def toolkit_core(config, data):
    """The toolkit's model, loss, metrics, optimizer and dataset, as ``train`` makes them."""
    import keras

    from toolkit.data.pipeline import make_training_dataset, steps_for
    from toolkit.models.builder import build_model
    from toolkit.training.compile import compile_model

    keras.utils.set_random_seed(0)
    rows, batch = data.train.rows, config.training.batch_size
    steps = steps_for(rows, batch)
    model = build_model(config, data.spec, train_size=rows)
    compile_model(model, config, data.spec, steps_per_epoch=steps)
    dataset = make_training_dataset(*data.train.arrays(), batch_size=batch, shuffle_seed=0)
    return model, dataset, steps


def hand_tuned(work: dict, x, y, *, jit: bool, spe: int | None = None, toolkit_pipeline=False):
    """The hand-tuned contender of ``throughput.py``, optionally fed by ``make_dataset``."""
    import keras
    import tensorflow as tf

    from toolkit.data.pipeline import make_training_dataset, steps_for

    keras.utils.set_random_seed(0)
    multiclass = work["task"] == "multiclass"
    core = throughput.build_mlp(keras, work, throughput.CLASSES if multiclass else 1)
    model = keras.Model({"numeric": core.inputs[0]}, core.outputs) if toolkit_pipeline else core
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if multiclass
        else keras.losses.MeanSquaredError(),
        metrics=["accuracy" if multiclass else "mae"],
        steps_per_execution=spe or throughput.TUNED_STEPS_PER_EXECUTION,
        jit_compile=jit,
    )
    if toolkit_pipeline:
        dataset = make_training_dataset({"numeric": x}, y, batch_size=work["batch"], shuffle_seed=0)
        return model, dataset, steps_for(len(x), work["batch"])
    dataset = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .cache()
        .shuffle(len(x), seed=0, reshuffle_each_iteration=True)
        .batch(work["batch"])
        .prefetch(tf.data.AUTOTUNE)
    )
    return model, dataset, None


def variants(name: str, work: dict, base, data, x, y) -> dict:
    def config(**overrides):
        return ablation.merged_config(base, overrides)

    table = {
        "toolkit core (spe auto)": lambda: toolkit_core(base, data),
        "spe=64": lambda: toolkit_core(config(training={"steps_per_execution": 64}), data),
        "toolkit core + jit_compile": lambda: toolkit_core(
            config(training={"jit_compile": True}), data
        ),
        "hand-tuned": lambda: hand_tuned(work, x, y, jit=False),
        "hand-tuned + jit_compile": lambda: hand_tuned(work, x, y, jit=True),
        "hand model, toolkit pipeline": lambda: hand_tuned(
            work, x, y, jit=False, spe=400, toolkit_pipeline=True
        ),
    }
    if name == "small":
        table["metrics [mae]"] = lambda: toolkit_core(config(model={"metrics": ["mae"]}), data)
    return table


def timed_fit(model, dataset, steps, epochs: int, rows: int) -> tuple[list[float], list[float]]:
    """Samples/s and samples per CPU-second of every epoch but the first of one ``fit``."""
    import keras

    timer = throughput.epoch_timer(keras.callbacks.Callback)
    model.fit(dataset, epochs=epochs, steps_per_epoch=steps, verbose=0, callbacks=[timer])
    return [rows / t for t in timer.times[1:]], [rows / t for t in timer.cpu[1:]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--only", choices=sorted(throughput.WORKLOADS), default=None)
    args = parser.parse_args(argv)

    from toolkit.data.prepared import prepare_data

    for name, work in throughput.WORKLOADS.items():
        if args.only and name != args.only:
            continue
        work = dict(work)
        if args.quick:
            work["rows"] //= 4
        rounds = args.rounds or (2 if args.quick else 8 if name == "small" else 3)
        with tempfile.TemporaryDirectory() as tmp:
            base = throughput.toolkit_config(name, work, 3, tmp)
            data = prepare_data(base)
            x, y = throughput.hand_arrays(data)
            rows = len(x)
            built = {}
            for variant, make in variants(name, work, base, data, x, y).items():
                built[variant] = make()
                timed_fit(*built[variant], epochs=1, rows=rows)  # trace and warm up
            walls: dict[str, list[float]] = {v: [] for v in built}
            cpus: dict[str, list[float]] = {v: [] for v in built}
            names = list(built)
            for round_ in range(rounds):
                shift = round_ % len(names)
                for variant in names[shift:] + names[:shift]:
                    wall, cpu = timed_fit(*built[variant], epochs=3, rows=rows)
                    walls[variant] += wall
                    cpus[variant] += cpu
                print(f"  [{name}] round {round_ + 1}/{rounds} (load {os.getloadavg()[0]:.1f})")
        reference = "toolkit core (spe auto)"
        best_ref, cpu_ref = max(walls[reference]), statistics.median(cpus[reference])
        print(
            f"\n== {name}: {rows:,} rows, batch {work['batch']}; {rounds} rounds x 2 timed epochs"
            f"\n{'variant':44s} {'best epoch/s':>12s} {'ratio':>6s} {'median/s':>9s} "
            f"{'per CPU-s':>10s} {'ratio':>6s}"
        )
        for variant in names:
            best, cpu = max(walls[variant]), statistics.median(cpus[variant])
            print(
                f"{variant:44s} {best:>12,.0f} {best / best_ref:>6.2f} "
                f"{statistics.median(walls[variant]):>9,.0f} {cpu:>10,.0f} {cpu / cpu_ref:>6.2f}"
            )
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"({time.perf_counter() - started:.0f} s)")
    sys.exit(code)
