"""Where the toolkit's training time goes: ``train`` with one change at a time.

Each variant is a full ``toolkit.training.train.train`` run on the workloads of
``throughput.py``; variants run interleaved and repeated in one process, and the script
prints steady samples/s (history.csv, first epoch excluded), ``fit`` wall time and the
ratio to the unchanged toolkit: what the default callbacks, the execution size and XLA
cost or gain. It also times every callback method of one default run.
``throughput_components.py`` measures the model and pipeline without ``train`` around them.

    .venv/bin/python benchmarks/throughput_ablation.py --only small   # about 4 minutes
    .venv/bin/python benchmarks/throughput_ablation.py --only large   # about 8 minutes
    .venv/bin/python benchmarks/throughput_ablation.py --quick
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

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


def variants(name: str) -> dict[str, dict]:
    """Variant -> config overrides, merged into the benchmark config."""
    return {
        "toolkit (default)": {},
        "callbacks off": {"callbacks": CALLBACKS_OFF},
        "tensorboard off": {"callbacks": {"tensorboard": False}},
        "terminate_on_nan off": {"callbacks": {"terminate_on_nan": False}},
        "checkpoints off": {"callbacks": {"checkpoint": False, "backup_and_restore": False}},
        "histograms off": {"callbacks": {"tensorboard": {"histogram_freq": 0}}},
        "steps_per_execution=64": {"training": {"steps_per_execution": 64}},
        "jit_compile": {"training": {"jit_compile": True}},
    }


def merged_config(base, overrides: dict):
    from toolkit.config.loading import deep_merge, validate_config

    raw = base.model_dump(mode="json")
    return validate_config(deep_merge(raw, overrides))


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--only", choices=sorted(throughput.WORKLOADS), default=None)
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3 if args.only == "small" else 2)

    from toolkit.data.prepared import prepare_data

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
                    config = merged_config(base, table[variant])
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
