"""Predict and evaluate on millions of rows: memory stays flat as the input grows.

One run is trained on 200,000 rows of ``benchmarks/scale.py``'s data (20 numeric columns,
one categorical, a numeric target; ``hidden: [128, 128]``, one epoch). Then, for each size,
the same generator writes that many rows as Parquet shards, and ``toolkit predict RUN
--input SHARDS --output predictions.parquet`` and ``toolkit evaluate RUN --data SHARDS`` each
run in a fresh process (scale.py's child), one after the other.

Printed per size and command: wall time, rows per second, the process's peak RSS and its
ratio to the smallest size's, and the output file's size. Predict reads, predicts and writes
a chunk at a time, and evaluate scores every row in one pass, so the peak should not grow
with the rows (issue #12: "predicting a file of 10 million rows writes its output
incrementally with flat memory").

    nice -n 5 .venv/bin/python benchmarks/predict_memory.py                   # 1M, 5M, 10M
    nice -n 5 .venv/bin/python benchmarks/predict_memory.py --sizes 1000000,2000000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import _config, _run_dir, _spawn, write_shards

TRAIN_ROWS = 200_000


def _train(work: Path) -> Path:
    source = write_shards(work / "train", TRAIN_ROWS, seed=1)
    config = _config(
        str(source),
        "predict-memory",
        streaming=False,
        output=work,
        training={"epochs": 1, "batch_size": 256},
        callbacks={"tensorboard": False, "learning_curve": False},
        evaluation={"plots": False, "baselines": False},
    )
    _spawn("toolkit", "train", str(config), "--output-dir", str(work / "runs"))
    return _run_dir(work / "runs")


def measure(sizes: list[int], work: Path) -> list[dict]:
    run = _train(work)
    rows_out = []
    for size in sizes:
        shards = work / f"shards-{size}"
        started = time.monotonic()
        write_shards(shards, size, seed=2)
        written = time.monotonic() - started
        output = work / f"predictions-{size}.parquet"
        commands = {
            "predict": ["predict", str(run), "--input", str(shards), "--output", str(output)],
            "evaluate": ["evaluate", str(run), "--data", str(shards)],
        }
        for name, args in commands.items():
            child, wall = _spawn("toolkit", *args)
            rows_out.append(
                {
                    "rows": size,
                    "command": name,
                    "wall": wall,
                    "peak_rss_mb": child["peak_rss_mb"],
                    "output_mb": output.stat().st_size / 2**20 if name == "predict" else None,
                    "write_s": written,
                }
            )
            print(json.dumps(rows_out[-1]), file=sys.stderr, flush=True)
        output.unlink()
        shutil.rmtree(shards)
    return rows_out


def table(rows: list[dict]) -> str:
    first = {r["command"]: r["peak_rss_mb"] for r in rows if r["rows"] == rows[0]["rows"]}
    lines = [
        "| rows | command | wall s | rows/s | peak RSS | vs the smallest | output |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        output = f"{r['output_mb']:,.0f} MB" if r["output_mb"] is not None else "-"
        lines.append(
            f"| {r['rows']:,} | {r['command']} | {r['wall']:.1f} | {r['rows'] / r['wall']:,.0f} | "
            f"{r['peak_rss_mb']:,.0f} MB | {r['peak_rss_mb'] / first[r['command']]:.2f}x | "
            f"{output} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,5000000,10000000")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (a temporary one)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        print(table(measure(sizes, Path(folder))))


if __name__ == "__main__":
    main()
