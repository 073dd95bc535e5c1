"""The data phase alone: ``prepare_data`` on the scale benchmark's shards, streamed and in
memory, optionally beside another checkout, runs interleaved (A/B/A/B) so a change is judged
on one noisy machine.

Each run is a fresh process that loads the config and calls ``prepare_data``; printed per
size, mode and checkout: the median of ``prepare_seconds`` (what run.json's ``data`` timing
holds), the median CPU seconds the process spent in it (every thread's) and the largest peak
RSS. The shards are ``scale.write_shards``'s (written once under ``--dir``).

    .venv/bin/python benchmarks/data_phase.py --dir /tmp/shards --compare /tmp/main-copy
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_CHILD = """
import json, resource, sys
sys.path.insert(0, sys.argv[1])
from toolkit.config.loading import load_config
from toolkit.data.prepared import prepare_data

config = load_config(sys.argv[2])

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

before = cpu()
data = prepare_data(config)
print(json.dumps({
    "seconds": data.source["prepare_seconds"],
    "cpu": cpu() - before,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def _config(directory: Path, source: Path, streaming: bool) -> Path:
    import yaml

    raw = {
        "name": "data-phase",
        "seed": 0,
        "data": {"source": str(source), "kind": "table", "streaming": streaming},
        "model": {"task": "regression", "hidden": [128, 128]},
        "training": {"epochs": 2, "batch_size": 256},
    }
    raw["data"]["validation"] = 0.1
    path = directory / f"{source.name}-{'stream' if streaming else 'memory'}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _run(checkout: Path, config: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(checkout), str(config)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,5000000", help="comma-separated row counts")
    parser.add_argument("--runs", type=int, default=3, help="runs per size, mode and checkout")
    parser.add_argument("--dir", default=None, help="where the shards are written (kept)")
    parser.add_argument("--compare", default=None, help="another checkout, run beside this one")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO / "benchmarks"))
    import scale

    root = Path(args.dir or tempfile.mkdtemp(prefix="data-phase-"))
    checkouts = {"now": REPO} | ({"before": Path(args.compare)} if args.compare else {})
    results: dict[tuple, list[dict]] = {}
    for size in [int(s) for s in args.sizes.split(",") if s]:
        shards = root / f"shards-{size}"
        if not shards.exists():
            scale.write_shards(shards, size)
        configs = {
            mode: _config(root, shards, mode == "streamed") for mode in ("streamed", "in memory")
        }
        for _ in range(args.runs):
            for mode, config in configs.items():
                for name, checkout in checkouts.items():
                    results.setdefault((size, mode, name), []).append(_run(checkout, config))
    print("| rows | data | checkout | seconds (median) | CPU s (median) | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for (size, mode, name), runs in results.items():
        print(
            f"| {size:,} | {mode} | {name} | {statistics.median(r['seconds'] for r in runs):.2f} "
            f"| {statistics.median(r['cpu'] for r in runs):.2f} "
            f"| {max(r['rss_mb'] for r in runs):,.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
