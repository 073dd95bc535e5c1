"""Scale: the toolkit on millions of rows of Parquet shards, streamed and in memory, beside a
plain Keras script reading the same shards with tf.data.

The data is the issue's: 20 numeric columns, one categorical, a numeric target, written as
Parquet shards of 250,000 rows (row groups of 65,536) under a temporary folder. Every
contender runs in a fresh process, one after the other, with the same model (``hidden: [128,
128]``, batch 256, 2 epochs, Adam):

* ``toolkit stream``: ``toolkit train`` with ``data.streaming: true`` and every other setting
  left at its default (baselines, plots, TensorBoard, checkpoints, resume points);
* ``toolkit memory``: the same with ``data.streaming: false`` (sizes that fit);
* ``plain keras``: a script as the tf.data guide writes it -- pyarrow batches through
  ``from_generator``, parallel interleave over the shards, ``unbatch``, ``shuffle(100_000)``,
  ``batch(256)``, ``prefetch``; a Normalization and a StringLookup layer fitted on the first
  shard; ``model.fit``. No evaluation or baselines.

Printed per size and contender: wall time split into start-up (process start to the data),
data (listing, one-pass statistics, splits), training (``fit``), evaluation (final metrics,
plots, saving) and baselines; peak RSS; training samples per second (the last epoch); the
share of wall time outside training. Then the 54,000-row CSV case (total wall against
import + training) and a 3-trial sweep on it (time outside training).

    .venv/bin/python benchmarks/scale.py                  # 1M and 5M rows, ~20 min on 2 cores
    .venv/bin/python benchmarks/scale.py --with-20m       # and 20M rows (~2 GB of shards)
    .venv/bin/python benchmarks/scale.py --sizes 1000000  # one size
    .venv/bin/python benchmarks/scale.py --compare /tmp/main-copy  # another checkout beside
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NUMERIC = 20
SHARD_ROWS = 250_000
ROW_GROUP = 65_536
EPOCHS = 2
BATCH = 256
HIDDEN = [128, 128]
LEVELS = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"])


# ---------------------------------------------------------------------------------- data


def write_shards(directory: Path, rows: int, seed: int = 0) -> Path:
    """``rows`` rows as Parquet shards of ``SHARD_ROWS`` (the last one shorter)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    weights = np.random.default_rng(1234).normal(size=NUMERIC)
    for index, start in enumerate(range(0, rows, SHARD_ROWS)):
        count = min(SHARD_ROWS, rows - start)
        rng = np.random.default_rng([seed, index])
        x = rng.normal(size=(count, NUMERIC))
        category = rng.integers(0, len(LEVELS), count)
        columns = {f"x{i}": x[:, i] for i in range(NUMERIC)}
        columns["category"] = LEVELS[category]
        columns["target"] = x @ weights + 0.3 * category + rng.normal(0.0, 0.5, count)
        pq.write_table(
            pa.table(columns), directory / f"part-{index:05d}.parquet", row_group_size=ROW_GROUP
        )
    return directory


def write_csv(path: Path, rows: int) -> Path:
    import pandas as pd

    write_shards(path.parent / "csv-source", rows, seed=7)
    frame = pd.concat(pd.read_parquet(p) for p in sorted((path.parent / "csv-source").iterdir()))
    frame.to_csv(path, index=False)
    return path


def numeric_bytes(rows: int) -> int:
    """The numeric data (20 features and the target) as float32."""
    return rows * (NUMERIC + 1) * 4


# ---------------------------------------------------------------------------------- children


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _config(source: str, name: str, *, streaming: bool, output: Path, **extra) -> Path:
    import yaml

    config = {
        "name": name,
        "seed": 0,
        "data": {
            "source": source,
            "kind": "table",
            "streaming": streaming,
            "validation": 0.1,
        },
        "model": {"task": "regression", "hidden": HIDDEN},
        "training": {"epochs": EPOCHS, "batch_size": BATCH},
        **extra,
    }
    path = output / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def child_toolkit(args: list[str]) -> dict:
    """``toolkit ARGS`` in this process; its run.json timings, history and peak RSS."""
    started = time.monotonic()
    from toolkit.cli import main

    code = main(args)
    wall = time.monotonic() - started
    return {"code": code, "wall_in_process": wall, "peak_rss_mb": _peak_rss_mb()}


def child_plain(source: str, rows: int) -> dict:
    """The plain Keras script (see the module docstring); returns its timings."""
    started = time.monotonic()
    import glob

    import keras
    import pyarrow.parquet as pq
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(source, "*.parquet")))
    numeric = [f"x{i}" for i in range(NUMERIC)]

    def batches(path):
        handle = pq.ParquetFile(path.decode())
        for batch in handle.iter_batches(batch_size=ROW_GROUP):
            x = np.stack([batch.column(c).to_numpy() for c in numeric], axis=1)
            category = batch.column("category").to_numpy(zero_copy_only=False)
            y = batch.column("target").to_numpy()
            yield (
                {"numeric": x.astype(np.float32), "category": category.astype(object)[:, None]},
                y.astype(np.float32)[:, None],
            )

    signature = (
        {
            "numeric": tf.TensorSpec([None, NUMERIC], tf.float32),
            "category": tf.TensorSpec([None, 1], tf.string),
        },
        tf.TensorSpec([None, 1], tf.float32),
    )
    data_started = time.monotonic()
    first = pq.read_table(files[0]).to_pandas()
    normalize = keras.layers.Normalization()
    normalize.adapt(first[numeric].to_numpy(np.float32))
    lookup = keras.layers.StringLookup(
        vocabulary=sorted(first["category"].unique()), output_mode="one_hot"
    )
    dataset = (
        tf.data.Dataset.from_tensor_slices(files)
        .interleave(
            lambda path: tf.data.Dataset.from_generator(
                batches, args=(path,), output_signature=signature
            ),
            cycle_length=4,
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        .unbatch()
        .shuffle(100_000)
        .batch(BATCH)
        .prefetch(tf.data.AUTOTUNE)
    )
    inputs = {
        "numeric": keras.Input((NUMERIC,), name="numeric"),
        "category": keras.Input((1,), name="category", dtype="string"),
    }
    x = keras.layers.Concatenate()([normalize(inputs["numeric"]), lookup(inputs["category"])])
    for units in HIDDEN:
        x = keras.layers.Dense(units, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    model.compile(optimizer="adam", loss="mse")
    data_seconds = time.monotonic() - data_started
    epoch_rates = []

    class Rate(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            epoch_rates.append(rows / (time.monotonic() - self.started))

    fit_started = time.monotonic()
    model.fit(dataset, epochs=EPOCHS, verbose=0, callbacks=[Rate()])
    return {
        "code": 0,
        "start-up": data_started - started,
        "data": data_seconds,
        "training": time.monotonic() - fit_started,
        "evaluation": 0.0,
        "baselines": 0.0,
        "samples_per_second": epoch_rates[-1],
        "peak_rss_mb": _peak_rss_mb(),
    }


def child_import() -> dict:
    """The import a ``toolkit`` command pays, made as the command line makes it: TensorFlow
    with the collector paused and without Keras' scikit-learn wrappers (``toolkit.startup``).
    A plain ``import keras`` took about 1.3 s of CPU more, which the sweep's share outside
    training and import was understated by."""
    started = time.monotonic()
    from toolkit import startup

    startup.quiet()
    startup.import_tensorflow()

    import toolkit.training.train  # noqa: F401

    seconds = time.monotonic() - started
    import gc

    # What shows it was made as the command's: no scikit-learn, the import's objects frozen.
    return {"import": seconds, "sklearn": "sklearn" in sys.modules, "frozen": gc.get_freeze_count()}


def _spawn(*args: str, timeout: float = 7200, repo: Path = REPO) -> tuple[dict, float]:
    """Run this file (``repo``'s copy: another checkout of the toolkit, compared with this
    one) as a child with ``args``; its JSON result and the wall time seen here."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(repo / "benchmarks" / "scale.py"), "--child", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{result.stderr[-3000:]}")
    child = json.loads(result.stdout.strip().splitlines()[-1])
    if child.get("code", 0) != 0:
        raise RuntimeError(f"child {args} exited {child['code']}:\n{result.stderr[-3000:]}")
    return child, wall


# ---------------------------------------------------------------------------------- contenders


def _run_dir(output: Path) -> Path:
    runs = sorted(p for p in output.glob("*/*") if (p / "run.json").exists())
    return runs[-1]


def toolkit_run(
    source: str, rows: int, *, streaming: bool, work: Path, name: str, repo: Path = REPO
) -> dict:
    import pandas as pd

    output = work / f"out-{name}"
    config = _config(source, name, streaming=streaming, output=work)
    child, wall = _spawn("toolkit", "train", str(config), "--output-dir", str(output), repo=repo)
    run = _run_dir(output)
    record = json.loads((run / "run.json").read_text())
    timings = record.get("timings", {})
    history = pd.read_csv(run / "history.csv")
    evaluation = timings.get("evaluation", 0.0) + timings.get("plots", 0.0)
    phases = {
        "data": timings.get("data", 0.0),
        "training": timings.get("training", 0.0),
        "baselines": timings.get("baselines", 0.0),
    }
    # Start-up: process start, imports, model build; evaluation also holds saving the model.
    phases["evaluation"] = evaluation
    accounted = sum(phases.values())
    phases["start-up"] = timings.get("build", 0.0) + max(
        0.0, wall - accounted - timings.get("build", 0.0)
    )
    return {
        **phases,
        "wall": wall,
        "samples_per_second": float(history["samples_per_second"].iloc[-1]),
        "peak_rss_mb": child["peak_rss_mb"],
        "status": record["status"],
        "baseline_sample": json.loads((run / "metrics.json").read_text())
        .get("baselines_info", {})
        .get("sample_rows"),
    }


def plain_run(source: str, rows: int) -> dict:
    child, wall = _spawn("plain", source, str(int(rows * 0.9)))
    child["wall"] = wall
    child["start-up"] += max(0.0, wall - sum(child[k] for k in ("start-up", "data", "training")))
    return child


# ---------------------------------------------------------------------------------- report


COLUMNS = ["start-up", "data", "training", "evaluation", "baselines"]


def _row(size: int, name: str, r: dict) -> str:
    outside = (r["wall"] - r["training"]) / r["wall"] * 100
    parts = " ".join(f"{r[c]:8.1f}" for c in COLUMNS)
    return (
        f"{size:>11,} {name:<22} {r['wall']:8.1f} {parts} {outside:7.0f}% "
        f"{r['peak_rss_mb']:8.0f} {r['samples_per_second']:11,.0f}"
    )


def header() -> str:
    names = " ".join(f"{c:>8}" for c in COLUMNS)
    return (
        f"{'rows':>11} {'contender':<22} {'wall s':>8} {names} {'outside':>8} "
        f"{'peak MB':>8} {'samples/s':>11}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,5000000", help="comma-separated row counts")
    parser.add_argument("--with-20m", action="store_true", help="add 20,000,000 rows")
    parser.add_argument(
        "--memory-limit", type=int, default=5_000_000, help="largest size also run in memory"
    )
    parser.add_argument(
        "--dir", default=None, help="where to write the shards (default: a temp dir)"
    )
    parser.add_argument("--skip-small", action="store_true", help="no 54,000-row CSV case or sweep")
    parser.add_argument(
        "--compare",
        default=None,
        help="another checkout of the toolkit (e.g. main's): its runs interleaved with these",
    )
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind == "toolkit":
            result = child_toolkit(rest)
        elif kind == "plain":
            result = child_plain(rest[0], int(rest[1]))
        else:
            result = child_import()
        print(json.dumps(result))
        if kind == "toolkit":
            from toolkit.cli import exit_now

            exit_now(0)  # as the toolkit command ends
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s]
    trees = {"": REPO} | ({"before ": Path(args.compare).resolve()} if args.compare else {})
    if args.with_20m:
        sizes.append(20_000_000)
    import tensorflow as tf

    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    verdicts = []
    with tempfile.TemporaryDirectory(dir=args.dir) as temporary:
        work = Path(temporary)
        results: dict[int, dict[str, dict]] = {}
        # The process, TensorFlow and the model with (next to) no data: what the in-memory
        # path's peak is measured beyond.
        small = write_shards(work / "shards-base", 20_000)
        base = toolkit_run(str(small), 20_000, streaming=False, work=work, name="base")
        print(
            f"process + TensorFlow + model (20,000 rows in memory): peak RSS "
            f"{base['peak_rss_mb']:.0f} MB"
        )
        print(header())
        for size in sizes:
            source = write_shards(work / f"shards-{size}", size)
            results[size] = {}
            modes = [("stream", True)] + ([("memory", False)] if size <= args.memory_limit else [])
            for mode, streaming in modes:
                for label, repo in trees.items():
                    name = f"{label}toolkit {mode}"
                    results[size][name] = toolkit_run(
                        str(source),
                        size,
                        streaming=streaming,
                        work=work,
                        name=f"{label.strip() or 'now'}-{mode}-{size}",
                        repo=repo,
                    )
                    print(_row(size, name, results[size][name]), flush=True)
            results[size]["plain keras"] = plain_run(str(source), size)
            print(_row(size, "plain keras", results[size]["plain keras"]), flush=True)
            for path in source.iterdir():
                path.unlink()
        for size, contenders in results.items():
            for name, r in contenders.items():
                if name.startswith("before"):
                    outside = (r["wall"] - r["training"]) / r["wall"]
                    print(f"  {size:,} {name}: outside training {outside:.0%}")
            stream = contenders["toolkit stream"]
            plain = contenders["plain keras"]
            memory = contenders.get("toolkit memory")
            if memory:
                ratio = stream["samples_per_second"] / memory["samples_per_second"]
                verdicts.append(
                    (f"{size:,}: streaming >= 0.8x in memory ({ratio:.2f}x)", ratio >= 0.8)
                )
                numeric = numeric_bytes(size) / (1 << 20)
                times = (memory["peak_rss_mb"] - base["peak_rss_mb"]) / numeric
                print(
                    f"  {size:,} in memory: peak RSS {memory['peak_rss_mb']:.0f} MB, "
                    f"{times:.1f}x the {numeric:.0f} MB of numeric data as float32 beyond "
                    f"the process and model"
                )
                verdicts.append(
                    (f"{size:,} in memory: peak <= 4x the numeric data ({times:.1f}x)", times <= 4)
                )
            ratio = stream["samples_per_second"] / plain["samples_per_second"]
            verdicts.append(
                (f"{size:,}: streaming >= 1.0x plain script ({ratio:.2f}x)", ratio >= 1.0)
            )
            for name, r in contenders.items():
                if name.startswith("toolkit"):
                    outside = (r["wall"] - r["training"]) / r["wall"]
                    verdicts.append(
                        (
                            f"{size:,} {name}: outside training <= 20% ({outside:.0%})",
                            outside <= 0.2,
                        )
                    )
        streamed = [results[s]["toolkit stream"]["peak_rss_mb"] for s in results]
        if args.compare:
            for size, contenders in results.items():
                r = contenders.get("before toolkit memory")
                if r is not None:
                    numeric = numeric_bytes(size) / (1 << 20)
                    times = (r["peak_rss_mb"] - base["peak_rss_mb"]) / numeric
                    print(f"  {size:,} before, in memory: {times:.1f}x the numeric data")
        if len(streamed) > 1:
            growth = max(streamed) / min(streamed) - 1
            verdicts.append(
                (f"streaming peak RSS within 10% across sizes (+{growth:.0%})", growth <= 0.10)
            )
        if not args.skip_small:
            for label, repo in reversed(trees.items()):
                found = small_cases(work, repo=repo, label=label)
                if not label:
                    verdicts += found
    print("\nTargets:")
    for text, ok in verdicts:
        print(f"  {'PASS' if ok else 'MISS'}  {text}")
    return 0


def small_cases(work: Path, *, repo: Path = REPO, label: str = "") -> list[tuple[str, bool]]:
    """The 54,000-row CSV: one run (wall against import + training) and a 3-trial sweep."""
    import yaml

    csv = work / "small" / "rows.csv"
    if not csv.exists():
        write_csv(csv, 54_000)
    imported, _ = _spawn("import", repo=repo)
    name = f"{label.strip() or 'now'}-small"
    run = toolkit_run(str(csv), 54_000, streaming=False, work=work, name=name, repo=repo)
    budget = imported["import"] + run["training"]
    print(
        f"\n{label}54,000-row CSV: wall {run['wall']:.1f} s; import {imported['import']:.1f} s + "
        f"training {run['training']:.1f} s = {budget:.1f} s"
        f" (data {run['data']:.1f}, evaluation {run['evaluation']:.1f}, "
        f"baselines {run['baselines']:.1f}, start-up {run['start-up']:.1f})"
    )
    sweep_config = _config(str(csv), "sweep", streaming=False, output=work)
    config = yaml.safe_load(sweep_config.read_text())
    config["training"]["epochs"] = 3
    config["tuner"] = {
        "algorithm": "random",
        "max_trials": 3,
        "search_space": {"model.hidden.0": {"choice": [64, 128, 256]}},
    }
    sweep_config.write_text(yaml.safe_dump(config))
    output = work / f"out-sweep-{label.strip() or 'now'}"
    started = time.monotonic()
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    _spawn("toolkit", "tune", str(sweep_config), "--output-dir", str(output), repo=repo)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The sweep process's CPU seconds: on a shared machine, steadier than its wall time.
    cpu = after.ru_utime - used.ru_utime + after.ru_stime - used.ru_stime
    timings = [
        json.loads(path.read_text()).get("timings", {})
        for path in output.glob("*/*/trials/*/*/run.json")
    ]
    training = sum(t.get("training", 0.0) for t in timings)
    phases = ", ".join(
        f"{name} {sum(t.get(name, 0.0) for t in timings):.2f}"
        for name in ("build", "evaluation", "plots", "baselines")
    )
    outside = (wall - training) / wall
    imported_share = imported["import"] / wall
    print(
        f"{label}3-trial sweep, 3 epochs: wall {wall:.1f} s, CPU {cpu:.1f} s, training "
        f"{training:.1f} s, import {imported['import']:.1f} s; outside training {outside:.0%} "
        f"({outside - imported_share:.0%} without the import); the trials' {phases} s"
    )
    return [
        (
            f"54,000 rows: wall <= 1.5x (import + training) ({run['wall'] / budget:.2f}x)",
            run["wall"] <= 1.5 * budget,
        ),
        (
            f"sweep: time outside training and import <= 10% ({outside - imported_share:.0%})",
            outside - imported_share <= 0.10,
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
