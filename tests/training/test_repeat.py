"""``toolkit train --repeat N`` and ``toolkit evaluate`` on its group, through the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.helpers import run_cli, tiny_config

SEEDS = [7, 8, 9]


@pytest.fixture(scope="module")
def repeat(tmp_path_factory):
    """Three seeds of a tiny regression without a test split: (result, group directory)."""
    directory = tmp_path_factory.mktemp("repeat")
    config = tiny_config()
    config["training"]["epochs"] = 2
    (directory / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_cli(
        "train", directory / "config.yaml", "--repeat", 3, "--output-dir", directory / "out"
    )
    assert result.returncode == 0, result.stderr
    return result, Path(result.stdout.strip())


def _seed_metrics(group: Path) -> dict[int, dict]:
    """Each seed's own metrics.json (validation split: the config has no test split)."""
    record = json.loads((group / "run.json").read_text())
    found = {}
    for member in record["runs"]:
        seed = json.loads((group / member / "run.json").read_text())["seed"]
        found[seed] = json.loads((group / member / "metrics.json").read_text())["validation"]
    return found


@pytest.mark.slow
def test_one_line_per_seed_and_a_mean_and_std_line(repeat):
    """issue 15: --repeat printed two retracing warnings and only the group directory."""
    result, group = repeat
    assert result.stdout.strip() == str(group)  # stdout: the group directory only
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 4, result.stderr
    assert "retracing" not in result.stderr and "WARNING" not in result.stderr
    metrics = _seed_metrics(group)
    for index, (seed, line) in enumerate(zip(SEEDS, lines, strict=False), start=1):
        assert line.startswith(f"seed {seed} ({index}/3) completed: 2 epochs; ")
        assert "validation split (no test split: set data.test): " in line
        assert f"rmse {metrics[seed]['rmse']:.4g}" in line
    summary = lines[-1]
    assert summary.startswith(
        "mean ± std over 3 seeds, validation split (no test split: set data.test): "
    )
    for name in ("rmse", "mae", "r2"):
        values = np.array([metrics[seed][name] for seed in SEEDS])
        mean, std = values.mean(), values.std(ddof=1)
        assert f"{name} {mean:.4g} ± {std:.2g}" in summary


@pytest.mark.slow
def test_evaluate_on_the_group_scores_every_seed(repeat, cli):
    """issue 15: evaluate on a repeat directory exited 2 with "has no model.keras"."""
    _, group = repeat
    result = cli("evaluate", group)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["group"] == str(group) and report["split"] == "validation"
    saved = _seed_metrics(group)
    by_seed = {
        json.loads((Path(run["run"]) / "run.json").read_text())["seed"]: run["metrics"]
        for run in report["runs"]
    }
    assert sorted(by_seed) == SEEDS
    for seed in SEEDS:
        assert by_seed[seed]["rmse"] == pytest.approx(saved[seed]["rmse"], rel=1e-6)
    rmse = np.array([saved[seed]["rmse"] for seed in SEEDS])
    assert report["summary"]["rmse"]["mean"] == pytest.approx(rmse.mean(), rel=1e-6)
    assert report["summary"]["rmse"]["std"] == pytest.approx(rmse.std(ddof=1), rel=1e-6)


@pytest.mark.slow
def test_predict_on_the_group_names_a_run_to_pass(repeat, cli, tmp_path):
    _, group = repeat
    pd.DataFrame({f"x{i}": [0.0] for i in range(4)}).to_csv(tmp_path / "rows.csv", index=False)
    result = cli("predict", group, "--input", tmp_path / "rows.csv", "--output", tmp_path / "p.csv")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    first = json.loads((group / "run.json").read_text())["runs"][0]
    assert re.search(
        rf"is a --repeat group of 3 runs; pass one of its runs, e\.g\. .*{first}$",
        result.stderr.strip(),
    )
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.slow
def test_the_groups_config_names_the_seeds_its_runs_used(repeat):
    """The group's config.yaml said `seed: 7` alone: a reader could not tell 8 and 9 ran."""
    _, group = repeat
    used = sorted(
        yaml.safe_load((run / "config.yaml").read_text())["seed"]
        for run in group.glob("seeds/*/seed-*")
    )
    assert used == SEEDS
    text = (group / "config.yaml").read_text()
    assert text.startswith(
        f"# A --repeat 3 group: its runs used seeds {', '.join(map(str, used))} "
    )
    assert yaml.safe_load(text)["seed"] == used[0]  # still trains again as it is


def test_a_data_mistake_leaves_no_group_directory(write_config, tmp_path):
    """A corrupt PNG in the image folder: one line, exit 2, as for a single run; the group's
    directory was made before the data was read, and was left failed with no runs."""
    import shutil

    from tests.image_data import write_class_folder

    broken = shutil.copytree(write_class_folder(tmp_path / "pets", per_class=4), tmp_path / "b")
    victim = sorted(broken.glob("*/*.png"))[0]
    victim.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    config = write_config(
        {
            "name": "broken",
            "data": {"source": str(broken)},
            "model": {"task": "binary", "flatten": True},
        }
    )
    result = run_cli("train", config, "--repeat", "2", "--output-dir", tmp_path / "out")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"toolkit: error: data.source: {victim} is not a readable image "
        "(cannot identify image file)"
    ]
    assert not (tmp_path / "out").exists()
