"""What a newcomer reads: the README's config reference agrees with the schema, and the
shipped Markdown renders as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.helpers import REPO
from toolkit.config.schema import ExperimentConfig

# Fields the reference fills with an example because they have no default, and keys of the
# loader rather than the schema.
EXAMPLES = {"name", "extends", "data.source", "model.task"}


def _reference_block() -> dict[str, Any]:
    """The YAML block of the README's "Config reference" section that documents every field."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Config reference", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    documented = [yaml.safe_load(block) for block in blocks]
    return next(block for block in documented if isinstance(block, dict) and "model" in block)


def _schema_defaults() -> dict[str, Any]:
    required = {
        "name": "x",
        "data": {"source": "sklearn:diabetes"},
        "model": {"task": "regression"},
    }
    return ExperimentConfig.model_validate(required).model_dump(mode="json")


def _disagreements(documented: Any, default: Any, path: str) -> list[str]:
    if path in EXAMPLES:
        return []
    if isinstance(documented, dict) and isinstance(default, dict):
        found = []
        for key, value in documented.items():
            where = f"{path}.{key}" if path else key
            if key not in default and where not in EXAMPLES:
                found.append(f"{where}: documented, but the schema has no such field")
            else:
                found += _disagreements(value, default.get(key), where)
        return found
    if documented != default:
        return [f"{path}: the README says {documented!r}, the schema's default is {default!r}"]
    return []


def test_the_config_reference_documents_the_schema_defaults():
    documented = _reference_block()
    assert {"data", "model", "training", "callbacks", "runtime"} <= set(documented)
    assert _disagreements(documented, _schema_defaults(), "") == []


def test_the_reference_check_finds_a_wrong_default():
    """The comparison above can fail: a README saying test: 0.1 (schema: none) is caught."""
    documented = _reference_block()
    documented["data"]["test"] = 0.1
    documented["callbacks"]["confusion_matrix"]["every_n_epochs"] = 5
    documented["training"]["epoch"] = 3
    assert _disagreements(documented, _schema_defaults(), "") == [
        "data.test: the README says 0.1, the schema's default is None",
        "training.epoch: documented, but the schema has no such field",
        "callbacks.confusion_matrix.every_n_epochs: the README says 5, the schema's default is 10",
    ]


@pytest.mark.parametrize("name", ["README.md", "experiments/README.md", "benchmarks/RESULTS.md"])
def test_markdown_has_no_escaped_line_breaks(name):
    text = (REPO / name).read_text(encoding="utf-8")
    assert "\\n" not in text, f"{name} holds a literal \\n where a line break was meant"
    assert text.endswith("\n") and text.count("\n") > 1


def test_run_directories_in_the_readme_are_the_shipped_configs_names():
    """`toolkit export experiments/diabetes-mc/...` named no run: the MC-dropout config's name
    is diabetes-mc-dropout. Every experiments/<name>/ the README shows is one a shipped config
    writes, but for the examples on other data it introduces."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    shown = set(re.findall(r"experiments/([A-Za-z0-9_.-]+)/", text))
    names = {
        yaml.safe_load(path.read_text(encoding="utf-8")).get("name")
        for path in (REPO / "configs").glob("*.yaml")
    }
    other_data = {"heart", "penguins-mlp"}
    assert shown - names - other_data == set()


def test_the_demo_signal_snippet_runs_in_a_clean_checkout(tmp_path, monkeypatch):
    """The snippet that writes configs/signal_cnn.yaml's data/signals.npz ran into
    FileNotFoundError on a clean checkout, which has no data/ folder."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("A demo signal file for `configs/signal_cnn.yaml`", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "README.md", "exec"), {})
    source = yaml.safe_load((REPO / "configs" / "signal_cnn.yaml").read_text())["data"]["source"]
    with np.load(tmp_path / source) as arrays:
        assert arrays["x"].shape == (1000, 64, 2) and arrays["y"].shape == (1000,)


def _undocumented(documented: Any, default: Any, path: str) -> list[str]:
    if not isinstance(default, dict):
        return []
    found = []
    for key, value in default.items():
        where = f"{path}.{key}" if path else key
        if not isinstance(documented, dict) or key not in documented:
            found.append(where)
        else:
            found += _undocumented(documented[key], value, where)
    return found


def test_the_config_reference_names_every_field():
    """description, data.synthetic, training.shuffle and a few callback settings were keys a
    config could set that the reference never showed. tuner has its own section."""
    missing = _undocumented(_reference_block(), _schema_defaults(), "")
    assert [key for key in missing if key != "tuner"] == []


def test_every_see_section_names_a_section():
    """`jit_compile` pointed to "see Speed", a section the README does not have."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    titles = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]
    pointers = re.findall(r"\bsee ([A-Z][a-z]+(?: [a-z]+)*)", text)
    assert pointers
    dangling = [
        name
        for name in pointers
        if not any(name.startswith(title) or title.startswith(name) for title in titles)
    ]
    assert dangling == []


def test_the_summary_line_shown_for_make_train_is_the_one_train_prints():
    """The README showed `rmse 53.6  mae 42.9  r2 0.52`: three digits and no coverage, while
    train prints four significant digits and the Gaussian head's coverage."""
    from toolkit.text import summary_line

    text = (REPO / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"summary line on stderr such as\n`([^`]+)`", text).group(1)
    epochs = int(re.match(r"completed: (\d+) epochs", shown).group(1))
    scores = dict(re.findall(r"([a-z_0-9]+) ([-\d.e+]+)", shown.split("test split: ")[1]))
    metrics = {"evaluated_on": "test", "test": {k: float(v) for k, v in scores.items()}}
    # what configs/regression.yaml's Gaussian head scores on the test split, in this order
    assert list(scores) == ["rmse", "mae", "r2", "coverage"]
    result = types.SimpleNamespace(status="completed", epochs=epochs, metrics=metrics, reason=None)
    assert summary_line(result) == shown


@pytest.mark.parametrize(
    "script", sorted(p.name for p in (REPO / "benchmarks").glob("*.py") if p.name != "tables.py")
)
def test_a_benchmarks_help_describes_it_in_whole_sentences(script):
    """The README's Benchmarks commands: `--help` cut each description at its docstring's
    first line ("... streamed and in memory, beside a")."""
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    description = " ".join(done.stdout.split("\n\n")[1].split())
    assert description.endswith("."), description


def test_the_quickstart_writes_the_rows_it_predicts(tmp_path):
    """The Quickstart predicted from rows.csv, a file a clean checkout does not have."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    quickstart = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert "--input rows.csv" in quickstart
    line = next(line for line in quickstart.splitlines() if line.startswith("python -c "))
    code = line[len("python -c ") :].strip().strip('"')
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, timeout=120)
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert len(rows) == 10 and {"age", "bmi", "s6"} <= set(rows.columns)
    assert "target" not in rows.columns


def test_the_sweep_example_validates_and_ranks_trials_by_their_fit(tmp_path):
    """The Hyperparameter sweeps example searched model.hidden.0 by val_loss over
    regression.yaml, whose prior on the weights Keras adds to val_loss: the README's own
    example drew the warning `toolkit tune` prints for that."""
    from toolkit.config.loading import load_config
    from toolkit.tuning.space import penalised_objective_warning

    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Hyperparameter sweeps", 1)[1].split("\n## ", 1)[0]
    example = yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, flags=re.S).group(1))
    example.update(name="readme-sweep", extends=str(REPO / "configs" / example["extends"]))
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(example), encoding="utf-8")
    config = load_config(path)
    assert config.tuner is not None and config.model.weight_prior_scale is not None
    assert penalised_objective_warning(config) is None
    # The check itself fires on the example with Keras' val_loss.
    val_loss = load_config(path, overrides=["tuner.objective=val_loss"])
    assert "includes the weight penalty" in penalised_objective_warning(val_loss)


def test_the_export_section_names_every_output_an_export_can_have():
    """The Export section's table of outputs listed neither ``conformal_lower`` and
    ``conformal_upper`` nor ``prediction_set`` and ``set_size``, which every export of a run
    with ``prediction.conformal`` returns (as toolkit predict writes them)."""
    from toolkit.evaluation.conformal import ConformalCalibration
    from toolkit.evaluation.posthoc import PostHocCalibration
    from toolkit.serving.outputs import ServingPlan

    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| output | when |") :].split("\n\n", 1)[0]
    documented = {
        name for row in table.splitlines()[2:] for name in re.findall(r"`(\w+)`", row.split("|")[1])
    }
    produced = set()
    for task in ("regression", "binary", "multiclass"):
        calibration = PostHocCalibration(
            conformal=ConformalCalibration(task, "split", 0.1, np.zeros(3), "validation")
        )
        for gaussian in (False, True):
            for passes in (1, 5):
                plan = ServingPlan(
                    task, gaussian, passes, 0.95, ("a", "b"), calibration=calibration
                )
                produced |= set(plan.outputs())
    assert produced - documented == set()


def test_the_quoted_unknown_key_error_is_what_validate_prints():
    """The Config reference quoted `allowed: activation, batchnorm, ...`, skipping the
    `backbone` that validate lists between them: a quote is the command's words up to its
    `...`."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    command, quoted = re.search(r"\n\$ (toolkit [^\n]+)\n(toolkit: error: [^\n]+)\n", text).groups()
    done = subprocess.run(
        [sys.executable, "-m", "toolkit", *command.split()[1:]],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert done.returncode == 2
    assert quoted.endswith(", ...")
    assert done.stderr.startswith(quoted.removesuffix("...")), (quoted, done.stderr)
