"""Where a run's time outside training goes, in CPU seconds: ``toolkit train`` on the scale
benchmark's 1M-row shards, streamed, its main thread sampled every 10 ms, beside another
checkout, runs interleaved (A/B/A/B) so a change is judged on one noisy, shared machine.

Each run is a fresh process. Its wall time and the CPU seconds of the whole process (every
thread's) are split by what the main thread was doing: start-up (Python, the command line,
the config), data (``prepare_data``: listing, checking, the one pass), TensorFlow's import,
build (the run's first files, the model, the callbacks), training (``fit``) and evaluation
(calibration, final metrics, saving), then the baselines and the plots waited for after
training (their threads' CPU meanwhile counted there). Printed: the median of
each per checkout, the share of CPU outside training, and the ratio of the medians.

    nice -n 5 .venv/bin/python benchmarks/phase_cpu.py --dir /tmp/shards --compare /tmp/main-copy
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
PHASES = ["start-up", "data", "tf import", "build", "training", "evaluation", "baselines", "plots"]

_CHILD = """
import collections, json, os, sys, threading, time
sys.path.insert(0, sys.argv[1])
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
started, cpu_started = time.monotonic(), sum(os.times()[:2])
main_thread = threading.get_ident()
# The innermost of these on the main thread's stack names the phase (first match wins).
ORDER = [("_train_model", "training"), ("_wait", "baselines"), ("join", "plots"),
         ("_finish", "evaluation"), ("import_tensorflow", "tf import"),
         ("prepare_data", "data"), ("_fit", "build"), ("_write_and_fit", "build")]
wall, cpu, done = collections.Counter(), collections.Counter(), []

def phase(frame):
    names = set()
    while frame is not None:
        names.add(frame.f_code.co_name)
        frame = frame.f_back
    return next((label for name, label in ORDER if name in names), "start-up")

def sample():
    last, last_cpu = time.monotonic(), sum(os.times()[:2])
    while not done:
        time.sleep(0.01)
        now, now_cpu = time.monotonic(), sum(os.times()[:2])
        name = phase(sys._current_frames().get(main_thread))
        wall[name] += now - last
        cpu[name] += now_cpu - last_cpu
        last, last_cpu = now, now_cpu

threading.Thread(target=sample, daemon=True).start()
from toolkit.cli import exit_now, main
code = main(sys.argv[2:])
done.append(True)
print(json.dumps({"code": code, "wall": time.monotonic() - started,
                  "cpu": sum(os.times()[:2]) - cpu_started,
                  "phases": {k: [wall[k], cpu[k]] for k in wall}}), flush=True)
exit_now(code)
"""


def _run(checkout: Path, config: Path, output: Path) -> dict:
    command = [sys.executable, "-c", _CHILD, str(checkout), "train", str(config)]
    done = subprocess.run(
        [*command, "--output-dir", str(output)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"train failed in {checkout}:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="runs per checkout")
    parser.add_argument("--dir", default=None, help="where the shards are written (kept)")
    parser.add_argument("--compare", default=None, help="another checkout, run beside this one")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO / "benchmarks"))
    import scale

    root = Path(args.dir or tempfile.mkdtemp(prefix="phase-cpu-"))
    shards = root / f"shards-{args.rows}"
    if not shards.exists():
        scale.write_shards(shards, args.rows)
    config = scale._config(str(shards), "phase-cpu", streaming=True, output=root)
    checkouts = {"now": REPO} | ({"before": Path(args.compare)} if args.compare else {})
    results: dict[str, list[dict]] = {name: [] for name in checkouts}
    with tempfile.TemporaryDirectory(dir=root) as output:
        for index in range(args.runs):
            for name, checkout in checkouts.items():
                results[name].append(_run(checkout, config, Path(output) / f"{name}-{index}"))
    print("| checkout | " + " | ".join(PHASES) + " | outside training | whole run |")
    print("|---" * (len(PHASES) + 3) + "|")
    medians = {}
    for name, runs in results.items():
        cells = []
        for kind, column in (("wall", 0), ("CPU", 1)):
            values = {
                p: statistics.median(r["phases"].get(p, [0, 0])[column] for r in runs)
                for p in PHASES
            }
            total = statistics.median(r["wall" if column == 0 else "cpu"] for r in runs)
            outside = statistics.median(
                (r["wall" if column == 0 else "cpu"] - r["phases"].get("training", [0, 0])[column])
                for r in runs
            )
            medians[(name, kind)] = (values, outside, total)
            cells.append(
                f"| {name}, {kind} s | "
                + " | ".join(f"{values[p]:.2f}" for p in PHASES)
                + f" | {outside:.2f} ({outside / total:.0%}) | {total:.2f} |"
            )
        print("\n".join(cells))
    if args.compare:
        for kind in ("wall", "CPU"):
            now, before = medians[("now", kind)], medians[("before", kind)]
            ratios = ", ".join(
                f"{p} {now[0][p] / before[0][p]:.2f}" for p in PHASES if before[0][p] > 0
            )
            print(f"now / before, {kind}: {ratios}; outside training {now[1] / before[1]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
