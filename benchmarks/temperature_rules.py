"""Temperature scaling's fitting rules on small validation splits, scored on the test split.

Issue #16: does a T fitted on a validation split with few mistakes hold on the test split?

``collect`` trains a shipped classifier config (binary.yaml, multiclass.yaml) once per table
and seed (the seed also draws the split) and saves the validation and test outputs at T = 1
that temperature scaling sees, as ``experiments/temperature-rules/<config>_<table>_<seed>.npz``
(resumable: a saved split is not trained again). ``score`` then fits T offline on the
validation outputs by several rules and prints, per table, the test log loss and ECE of each
rule minus those at T = 1 (mean ± standard error over the splits) and its wins/losses
against T = 1 and against the current rule (maximum likelihood):

    nice -n 5 .venv/bin/python benchmarks/temperature_rules.py collect \
        --config configs/multiclass.yaml --tables iris wine --seeds 5
    .venv/bin/python benchmarks/temperature_rules.py score
    nice -n 5 .venv/bin/python benchmarks/temperature_rules.py all   # RESULTS.md's runs (PLAN)

Rules (a split classified without a mistake keeps ``separable_temperature`` in all of them,
so only the rule for a split with mistakes is compared):
  mle       the current rule: the T in [1/4, 20] minimising the validation NLL
  map<s>    the T minimising the summed validation NLL + (log T)^2 / (2 s^2): a log-normal
            prior centred at T = 1, worth a fixed number of rows, so it fades as n grows
  crossfit  T = 1 unless the MLE T fitted on 4/5 of the validation rows lowers the NLL of the
            held-out fifth, summed over 5 folds; then the MLE T on every row
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from scipy import optimize
from tables import QUIET, TABLES

from toolkit.evaluation.metrics import expected_calibration_error
from toolkit.evaluation.temperature import (
    _LOG_T_BOUNDS,
    fit_temperature,
    mean_probabilities,
    negative_log_likelihood,
    separable,
    separable_temperature,
)

REPO = Path(__file__).resolve().parents[1]
STORE = REPO / "experiments" / "temperature-rules"


def collect(config: str, tables: list[str], seeds: int, first_seed: int, vi: bool) -> None:
    """Train ``config`` on each table and seed; save the outputs temperature scaling fits on.
    ``vi``: with bnn.yaml's variational section, as ``uncertainty.py``'s vi classifier."""
    import json

    import toolkit.evaluation.calibrate as calibrate
    from toolkit.api import train
    from toolkit.config.loading import load_config

    captured: list[tuple[np.ndarray, np.ndarray]] = []
    original = calibrate.calibration_change

    # fit_temperature_scaling calls calibration_change on the validation outputs, then on the
    # test outputs, both at T = 1: keep them.
    def keep(task, logits, labels, temperature):
        captured.append((np.asarray(logits), np.asarray(labels).reshape(-1).astype(int)))
        return original(task, logits, labels, temperature)

    calibrate.calibration_change = keep
    STORE.mkdir(parents=True, exist_ok=True)
    name = Path(config).stem + ("-vi" if vi else "")
    extra = []
    if vi:
        bayesian = load_config(REPO / "configs/bnn.yaml").model.bayesian.model_dump(mode="json")
        extra = [f"model.bayesian={json.dumps(bayesian)}"]
    for table_name in tables:
        table = TABLES[table_name]
        csv = table.write(STORE / "tables")
        for seed in range(first_seed, seeds):
            path = STORE / f"{name}_{table_name}_{seed}.npz"
            if path.exists():
                continue
            captured.clear()
            overrides = [*QUIET, f"data.source={csv}", f"seed={seed}", "training.verbose=0", *extra]
            train(config, overrides=overrides, output_dir=STORE / "runs")
            if len(captured) != 2:
                print(f"{path.name}: no test split captured, skipped", flush=True)
                continue
            (val_logits, val_y), (test_logits, test_y) = captured
            np.savez(
                path,
                task=table.task,
                val_logits=val_logits,
                val_y=val_y,
                test_logits=test_logits,
                test_y=test_y,
            )
            print(f"{path.name}: {len(val_y)} validation rows", flush=True)


# The runs behind RESULTS.md's figures (config, tables, first seed, end seed, vi): `all` trains
# them (resumably) and scores them. The seed draws the split too; 42 is the configs' own.
PLAN = [
    ("configs/multiclass.yaml", ["iris", "wine"], 0, 20, False),
    ("configs/multiclass.yaml", ["iris", "wine"], 42, 43, False),
    ("configs/multiclass.yaml", ["penguins_species"], 0, 10, False),
    ("configs/multiclass.yaml", ["digits", "seattle_weather", "cars_origin"], 0, 5, False),
    ("configs/binary.yaml", ["breast_cancer"], 0, 20, False),
    ("configs/binary.yaml", ["breast_cancer", "pima"], 42, 43, False),
    ("configs/binary.yaml", ["pima", "penguins_sex"], 0, 15, False),
    ("configs/binary.yaml", ["fair_any", "anes96_vote"], 0, 5, False),
    ("configs/binary.yaml", ["breast_cancer"], 0, 15, True),
    ("configs/binary.yaml", ["breast_cancer"], 42, 43, True),
]


def _map_temperature(task: str, logits: np.ndarray, labels: np.ndarray, scale: float) -> float:
    """argmin of sum NLL + (log T)^2 / (2 scale^2) over [1/4, 20]."""
    n = len(labels)

    def objective(log_t: float) -> float:
        p = mean_probabilities(task, logits, math.exp(log_t))
        return n * negative_log_likelihood(p, labels) + log_t**2 / (2 * scale**2)

    result = optimize.minimize_scalar(
        objective, bounds=_LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-6}
    )
    return float(math.exp(result.x))


def _crossfit_temperature(task: str, logits: np.ndarray, labels: np.ndarray) -> float:
    """The MLE T when it lowers the held-out folds' NLL against T = 1, else 1."""
    n = len(labels)
    folds = np.arange(n) % 5
    gain = 0.0
    for k in range(5):
        held, kept = folds == k, folds != k
        if not held.any() or not kept.any():
            continue
        t = fit_temperature(task, logits[:, kept], labels[kept])
        for sign, tt in ((1.0, 1.0), (-1.0, t)):
            p = mean_probabilities(task, logits[:, held], tt)
            gain += sign * held.sum() * negative_log_likelihood(p, labels[held])
    return fit_temperature(task, logits, labels) if gain > 0 else 1.0


RULES = {
    "mle": lambda task, z, y: fit_temperature(task, z, y),
    "map0.25": lambda task, z, y: _map_temperature(task, z, y, 0.25),
    "map0.5": lambda task, z, y: _map_temperature(task, z, y, 0.5),
    "map1": lambda task, z, y: _map_temperature(task, z, y, 1.0),
    "crossfit": _crossfit_temperature,
}


def _scores(task: str, logits: np.ndarray, labels: np.ndarray, t: float) -> tuple[float, float]:
    p = mean_probabilities(task, logits, t)
    ece = expected_calibration_error(labels, p[:, 1] if task == "binary" else p, n_bins=10)
    return negative_log_likelihood(p, labels), ece


def _summary(differences: list[float]) -> str:
    d = np.asarray(differences)
    se = d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
    return f"{d.mean():+.4f} ± {se:.4f}"


def score() -> None:
    """Per table and rule: test log loss and ECE minus T = 1's, wins/losses."""
    groups: dict[str, list[Path]] = {}
    for path in sorted(STORE.glob("*.npz")):
        groups.setdefault(path.stem.rsplit("_", 1)[0], []).append(path)
    print(
        "| config, table | splits (with a mistake) | val rows | mistakes (median) | T=1 test log loss | rule "
        "| median T | Δ log loss vs T=1 | wins/losses vs T=1 | Δ vs mle | wins/losses vs mle "
        "| Δ ECE vs T=1 |"
    )
    print("|" + "---|" * 12)
    pooled: dict[str, list[tuple[float, float]]] = {}
    for group, paths in groups.items():
        splits = [np.load(path, allow_pickle=False) for path in paths]
        base, rows, mistakes, temps, results = [], [], [], {}, {}
        for s in splits:
            task = str(s["task"])
            z, y, tz, ty = s["val_logits"], s["val_y"], s["test_logits"], s["test_y"]
            rows.append(len(y))
            mistakes.append(int((mean_probabilities(task, z).argmax(axis=1) != y).sum()))
            base.append(_scores(task, tz, ty, 1.0))
            for rule, fit in RULES.items():
                clean = separable(task, z, y)
                t = separable_temperature(task, z, y) if clean else fit(task, z, y)
                temps.setdefault(rule, []).append(t)
                results.setdefault(rule, []).append(_scores(task, tz, ty, t))
        for rule in RULES:
            for i, r in enumerate(results[rule]):
                if mistakes[i] > 0 and rows[i] <= 100:  # a small split the rule fitted T on
                    pooled.setdefault(rule, []).append((r[0] - base[i][0], r[1] - base[i][1]))
        base_ll = np.array([b[0] for b in base])
        base_ece = np.array([b[1] for b in base])
        mle_ll = np.array([r[0] for r in results["mle"]])
        for rule in RULES:
            ll = np.array([r[0] for r in results[rule]])
            ece = np.array([r[1] for r in results[rule]])
            tol = 1e-6
            print(
                f"| {group} | {len(splits)} ({sum(m > 0 for m in mistakes)}) | {np.median(rows):.0f} | {np.median(mistakes):.0f} "
                f"| {base_ll.mean():.3f} | {rule} | {np.median(temps[rule]):.2f} "
                f"| {_summary(list(ll - base_ll))} "
                f"| {(ll < base_ll - tol).sum()}/{(ll > base_ll + tol).sum()} "
                f"| {_summary(list(ll - mle_ll))} "
                f"| {(ll < mle_ll - tol).sum()}/{(ll > mle_ll + tol).sum()} "
                f"| {_summary(list(ece - base_ece))} |"
            )
    mle = np.array([d[0] for d in pooled.get("mle", [])])
    print("\nPooled: every split of at most 100 validation rows with a mistake (test log loss and")
    print("ECE minus T = 1's; the worst split's log loss change; wins/losses against mle)\n")
    print("| rule | splits | Δ log loss vs T=1 | worst | Δ vs mle | wins/losses vs mle | Δ ECE |")
    print("|" + "---|" * 7)
    for rule, pairs in pooled.items():
        ll, ece = np.array([d[0] for d in pairs]), np.array([d[1] for d in pairs])
        print(
            f"| {rule} | {len(ll)} | {_summary(list(ll))} | {ll.max():+.3f} "
            f"| {_summary(list(ll - mle))} | {(ll < mle - 1e-6).sum()}/{(ll > mle + 1e-6).sum()} "
            f"| {_summary(list(ece))} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("collect")
    run.add_argument("--config", required=True)
    run.add_argument("--tables", nargs="+", required=True)
    run.add_argument("--seeds", type=int, default=5, help="seeds first-seed to seeds - 1")
    run.add_argument("--first-seed", type=int, default=0)
    run.add_argument("--vi", action="store_true", help="bnn.yaml's variational layers")
    sub.add_parser("score")
    sub.add_parser("all", help="train every run of PLAN (resumable), then score")
    args = parser.parse_args()
    if args.command == "collect":
        collect(args.config, args.tables, args.seeds, args.first_seed, args.vi)
    elif args.command == "all":
        for config, tables, first, end, vi in PLAN:
            collect(str(REPO / config), tables, end, first, vi)
        score()
    else:
        score()


if __name__ == "__main__":
    main()
