"""Memory over a long sweep: a 30-trial random search of a small model, RSS after each trial.

Each trial builds a new model, optimizer, datasets and tf.functions; without clearing the
Keras session between trials they pile up. The figure that matters is the growth from the
end of the first trial (TensorFlow loaded and warm) to the end of the last. Target: < 150 MB.

    .venv/bin/python benchmarks/sweep_memory.py [--trials 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from pathlib import Path

import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.cli import main

TARGET_MB = 150


def rss_mb() -> float:
    """Resident set size of this process now (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def sweep_config(output_dir: str, trials: int) -> dict:
    return {
        "name": "memory",
        "seed": 1,
        "data": {"source": "synthetic:regression", "synthetic": {"samples": 512, "features": 8}},
        "model": {"task": "regression", "hidden": [32, 32]},
        "training": {"epochs": 5, "batch_size": 32},
        # Learning curves and plots on, as a user's sweep has them: what a trial leaves to
        # finish while the next one trains must not keep its model alive.
        "callbacks": {"tensorboard": {"histogram_freq": 0}, "learning_curve": True},
        "evaluation": {"plots": True, "baselines": False},
        "output_dir": output_dir,
        "tuner": {
            "algorithm": "random",
            "max_trials": trials,
            "keep_top_k": 3,
            "seed": 1,
            "search_space": {
                "model.hidden.0": {"int": [16, 64], "step": 8},
                "model.dropout": {"choice": [0.0, 0.1, 0.2]},
                "training.batch_size": {"choice": [16, 32, 64]},
                "training.optimizer.learning_rate": {"float": [1.0e-4, 1.0e-2], "sampling": "log"},
            },
        },
    }


def main_benchmark() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sweep-memory-") as root:
        path = Path(root) / "sweep.yaml"
        path.write_text(yaml.safe_dump(sweep_config(root, args.trials), sort_keys=False))
        records = Path(root) / "memory"
        after_trial: dict[int, float] = {}
        done = threading.Event()

        def sample() -> None:
            # A trial's record is written when it ends; sample RSS right after each one.
            while not done.wait(0.05):
                count = len(list(records.glob("sweep-*/records/trial-*.json")))
                if count and count not in after_trial:
                    after_trial[count] = rss_mb()

        before = rss_mb()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = main(["tune", str(path)])
        done.set()
        sampler.join()
        end = rss_mb()
    if code != 0 or not after_trial:
        print(f"the sweep failed (exit {code})", file=sys.stderr)
        return 1
    first = after_trial[min(after_trial)]
    growth = end - first
    print(f"trials: {max(after_trial)}")
    print(f"RSS before the sweep (no TensorFlow yet): {before:8.1f} MB")
    print(f"RSS after trial 1 (start):               {first:8.1f} MB")
    for count in sorted(after_trial):
        if count % 5 == 0:
            print(f"RSS after trial {count:<3}                     {after_trial[count]:8.1f} MB")
    print(f"RSS at the end:                          {end:8.1f} MB")
    verdict = "ok" if growth < TARGET_MB else "TOO MUCH"
    print(f"growth over the sweep: {growth:+.1f} MB (target < {TARGET_MB} MB: {verdict})")
    return 0 if growth < TARGET_MB else 1


if __name__ == "__main__":
    raise SystemExit(main_benchmark())
