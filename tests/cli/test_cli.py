"""The CLI end to end in fresh processes: the run-directory contract, evaluate, predict, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.helpers import REPO, cli_in_one_process, cli_without_tensorflow, tiny_config

RUN_FILES = [
    "config.yaml",
    "model.keras",
    "metrics.json",
    "history.csv",
    "run.json",
    "preprocessing.json",
    "data_summary.json",
    "model_summary.txt",
]


# The refusal cases of the tests below (the ``refusals`` fixture runs them all).
MISSING_FILES = [
    ("data.source", "data.source"),
    ("data.validation", "data.validation file"),
    ("data.test", "data.test file"),
]
MISSING_COLUMNS = [
    (
        {"target": "diagnosys"},
        "{rows}: target column 'diagnosys' is not in the data (did you mean 'diagnosis'?); "
        "columns: radius, texture, diagnosis",
    ),
    (
        {"target": "diagnosis", "features": ["radius", "textur"]},
        "{rows}: feature column 'textur' is not in the data (did you mean 'texture'?); "
        "columns: radius, texture, diagnosis",
    ),
    (  # difflib's ratio for names differing only in case can be 0: no suggestion
        {"target": "DIAGNOSIS"},
        "{rows}: target column 'DIAGNOSIS' is not in the data (did you mean 'diagnosis'?); "
        "columns: radius, texture, diagnosis",
    ),
    (
        {"target": "diagnosis", "features": ["radius", "TEXTURE"]},
        "{rows}: feature column 'TEXTURE' is not in the data (did you mean 'texture'?); "
        "columns: radius, texture, diagnosis",
    ),
    (
        {"target": "diagnosis", "test": "{parquet}"},
        "{parquet}: target column 'diagnosis' is not in the data; columns: radius, texture",
    ),
    (
        {"target": "diagnosis", "source": "{semicolons}"},
        "data.source {semicolons} has one column, 'radius;texture;diagnosis': it looks "
        "separated by ';', and CSV files are read comma-separated; save it with commas (or "
        "as Parquet)",
    ),
]
SCIKIT_LEARN_COLUMNS = [
    ("binary.yaml", "data.target=diagnosis", "target column 'diagnosis'"),
    ("regression.yaml", "data.features=[age, bmi, glucose]", "feature column 'glucose'"),
]
# A classifier's labels that train refuses, as validate refuses them where the target reads
# cheaply: (file, model.task, labels of 40 rows, other data settings, train's line). "{rows}"
# is the file's path.
LABEL_MISTAKES = [
    (
        "rows.csv",
        "binary",
        ["a", "b", "c", "d"] * 10,
        {},
        "task 'binary' needs exactly 2 classes in target 'target', found 4: a, b, c, d; for 4 "
        "classes set model.task: multiclass",
    ),
    (
        "rows.csv",
        "multiclass",
        [None if i == 2 else "ab"[i % 2] for i in range(40)],
        {},
        "{rows}: target column 'target' has missing values (row 3); drop or fill them",
    ),
    (
        "rows.parquet",
        "multiclass",
        ["" if i == 5 else "abc"[i % 3] for i in range(40)],
        {},
        "{rows}: target column 'target' has missing values (row 6; blank text counts as "
        "missing); drop or fill them",
    ),
    (
        "rows.parquet",
        "binary",
        ["a", "b"] * 20,
        {"positive_class": "B"},
        "data.positive_class 'B' is not a class of target 'target' (did you mean 'b'?); "
        "classes: a, b",
    ),
]
MISTYPED_OPTIONS = [
    (
        ["--repat", "3"],
        "toolkit train: error: unrecognized arguments: --repat 3 (did you mean '--repeat'?); "
        "see toolkit train --help\n",
    ),
    (
        ["--repeat", "three"],
        "toolkit train: error: argument --repeat: invalid int value: 'three'; "
        "see toolkit train --help\n",
    ),
]
MISTYPED_CHOICES = [
    (
        ["trian", "config.yaml"],
        "toolkit: error: argument COMMAND: invalid choice: 'trian' (did you mean 'train'?); "
        "choose from train, validate, evaluate, predict, export, tune, report, compare, "
        "tensorboard; see toolkit --help\n",
    ),
    (
        ["tune", "config.yaml", "--role", "chef"],
        "toolkit tune: error: argument --role: invalid choice: 'chef' (did you mean "
        "'chief'?); choose from chief, worker; see toolkit tune --help\n",
    ),
]


def test_help_and_validate_do_not_import_tensorflow(write_config):
    path = write_config(tiny_config())
    result = cli_without_tensorflow((["validate", path], 0))
    assert "valid" in result.stdout


def _column_files(folder: Path) -> dict[str, Path]:
    """The tables of the missing-column cases in ``folder``: rows.csv, its features as
    test.parquet (no target) and as semicolons.csv (separated by ';'); their paths by name.
    Written by the first call (the fixture's); later calls (the test's) only name them."""
    files = {
        "rows": folder / "rows.csv",
        "parquet": folder / "test.parquet",
        "semicolons": folder / "semicolons.csv",
    }
    if not files["rows"].exists():
        frame = pd.DataFrame(
            {"radius": [1.0, 2.0] * 20, "texture": [3.0, 1.0] * 20, "diagnosis": ["b", "m"] * 20}
        )
        frame.to_csv(files["rows"], index=False)
        frame.drop(columns="diagnosis").to_parquet(files["parquet"], index=False)
        frame.to_csv(files["semicolons"], index=False, sep=";")
    return files


@pytest.fixture(scope="module")
def refusals(tmp_path_factory) -> dict[str, tuple[list[subprocess.CompletedProcess], Path]]:
    """The commands of the refusal tests below, each case in a folder of its own, all run as
    ``toolkit.cli.main`` in one fresh process that never imports TensorFlow (checked after
    each command): they were 24 processes, each starting the command line (about 1 s of
    CPU). Per case: its commands' results, in the order its test names them, and its
    folder."""
    cases: dict[str, tuple[list[list], Path]] = {}

    def written(folder: Path, config: dict) -> Path:
        path = folder / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def validate_and_train(name: str, folder: Path, config: dict) -> None:
        path = written(folder, config)
        cases[name] = (
            [["validate", path], ["train", path, "--output-dir", folder / "out"]],
            folder,
        )

    for setting, _ in MISSING_FILES:
        folder = tmp_path_factory.mktemp("missing-file")
        pd.DataFrame({"x": [1.0, 2.0, 3.0], "target": [1.0, 2.0, 3.0]}).to_csv(
            folder / "rows.csv", index=False
        )
        config = tiny_config(data={"source": str(folder / "rows.csv"), "validation": 0.25})
        config["data"].pop("synthetic")
        section, key = setting.split(".")
        config[section][key] = str(folder / "missing.csv")
        validate_and_train(f"missing file {setting}", folder, config)
    for data, _ in MISSING_COLUMNS:
        folder = tmp_path_factory.mktemp("missing-column")
        files = _column_files(folder)
        given = {k: v.format(**files) if isinstance(v, str) else v for k, v in data.items()}
        config = tiny_config(
            "binary", data={"source": str(files["rows"]), "validation": 0.25, **given}
        )
        config["data"].pop("synthetic")
        validate_and_train(f"missing column {data!r}", folder, config)
    for kind in ("missing", "not a run"):
        folder = tmp_path_factory.mktemp("init-from")
        if kind == "not a run":
            (folder / "old-run").mkdir()
        config = tiny_config(model={"task": "regression", "init_from": str(folder / "old-run")})
        validate_and_train(f"init_from {kind}", folder, config)
    for config, setting, _ in SCIKIT_LEARN_COLUMNS:
        folder = tmp_path_factory.mktemp("scikit-learn")
        args = [REPO / "configs" / config, "--set", setting]
        cases[f"scikit-learn {config} {setting}"] = (
            [["validate", *args], ["train", *args, "--set", f"output_dir={folder / 'out'}"]],
            folder,
        )
    for index, (name, task, labels, given, _) in enumerate(LABEL_MISTAKES):
        folder = tmp_path_factory.mktemp("labels")
        frame = pd.DataFrame({"x": [float(i) for i in range(40)], "target": labels})
        if name.endswith(".csv"):
            frame.to_csv(folder / name, index=False)
        else:
            frame.to_parquet(folder / name, index=False)
        config = tiny_config(task, data={"source": str(folder / name), **given})
        config["data"].pop("synthetic")
        validate_and_train(f"labels {index}", folder, config)
    folder = tmp_path_factory.mktemp("invalid-config")
    config = tiny_config()
    config["model"]["hiden"] = [3]
    cases["invalid config"] = (
        [["train", written(folder, config), "--output-dir", folder / "out"]],
        folder,
    )
    folder = tmp_path_factory.mktemp("bad-data")
    config = tiny_config(data={"source": str(folder / "missing.csv")})
    cases["bad data"] = (
        [["train", written(folder, config), "--output-dir", folder / "out"]],
        folder,
    )
    for arguments, _ in MISTYPED_OPTIONS:
        folder = tmp_path_factory.mktemp("mistyped-option")
        path = written(folder, tiny_config(output_dir=str(folder / "out")))
        cases[f"mistyped option {arguments}"] = ([["train", path, *arguments]], folder)
    for arguments, _ in MISTYPED_CHOICES:
        cases[f"mistyped choice {arguments}"] = ([arguments], REPO)
    folder = tmp_path_factory.mktemp("report-two")
    for name in ("run_a", "run_b"):
        (folder / name).mkdir()
    cases["report two directories"] = ([["report", folder / "run_a", folder / "run_b"]], folder)
    folder = tmp_path_factory.mktemp("unquoted-glob")
    shards = [folder / "new" / f"part-{i}.csv.gz" for i in range(4)]
    shards[0].parent.mkdir()
    for shard in shards:
        pd.DataFrame({"x": [1.0], "target": [2.0]}).to_csv(shard, index=False)
    cases["unquoted glob"] = (  # what the shell passes for --data new/*.csv.gz
        [
            ["evaluate", folder / "run", "--data", *shards],
            ["predict", folder / "run", "--input", *shards[:2], "--output", folder / "p.csv"],
        ],
        folder,
    )
    folder = tmp_path_factory.mktemp("image-size")
    given = ["configs/digits_cnn.yaml", "--set", "data.image.image_size=16"]  # from REPO
    cases["single image size"] = (
        [["validate", *given], ["train", *given, "--output-dir", folder / "out"]],
        folder,
    )

    answers = iter(
        cli_in_one_process(
            *(call for calls, _ in cases.values() for call in calls), without_tensorflow=True
        )
    )
    return {
        name: ([next(answers) for _ in calls], folder) for name, (calls, folder) in cases.items()
    }


@pytest.mark.parametrize(
    ("setting", "label"),
    MISSING_FILES,
)
def test_validate_names_a_missing_data_file_as_train_does(refusals, setting, label):
    """validate said 'valid' for a config whose data files do not exist."""
    answers, folder = refusals[f"missing file {setting}"]
    expected = f"toolkit: error: {label} not found: {folder / 'missing.csv'}\n"
    _assert_validate_and_train_refuse(answers, expected)


@pytest.mark.parametrize(
    ("data", "expected"),
    MISSING_COLUMNS,
    ids=["target", "feature", "target-case", "feature-case", "test-file", "semicolons"],
)
def test_validate_names_a_missing_column_as_train_does(refusals, data, expected):
    """validate said 'valid' for a config whose target is not a column of its CSV (a typo
    in the one field a user changes when bringing their own table); train said why."""
    answers, folder = refusals[f"missing column {data!r}"]
    files = _column_files(folder)
    expected = f"toolkit: error: {expected.format(**files)}\n"
    _assert_validate_and_train_refuse(answers, expected)
    assert not (folder / "out").exists()


@pytest.mark.parametrize(
    ("config", "setting", "missing"),
    SCIKIT_LEARN_COLUMNS,
)
def test_validate_names_a_scikit_learn_datasets_missing_column_as_train_does(
    refusals, config, setting, missing
):
    """validate said "valid" for the shipped configs with a column their scikit-learn
    dataset does not have (only CSV and Parquet headers were read); train then refused."""
    from sklearn import datasets

    name = {"binary.yaml": "breast_cancer", "regression.yaml": "diabetes"}[config]
    bunch = getattr(datasets, f"load_{name}")()
    columns = ", ".join([*bunch.feature_names, "target"])
    expected = f"toolkit: error: sklearn:{name}: {missing} is not in the data; columns: {columns}\n"
    answers, folder = refusals[f"scikit-learn {config} {setting}"]
    _assert_validate_and_train_refuse(answers, expected)
    assert not (folder / "out").exists()


@pytest.mark.parametrize(
    ("name", "task", "labels", "given", "expected"),
    LABEL_MISTAKES,
    ids=["binary-on-four-classes", "missing-label", "blank-label", "positive-class"],
)
def test_validate_refuses_labels_train_refuses(refusals, name, task, labels, given, expected):
    """validate said "valid" for labels train refused a moment later (configs/binary.yaml on
    a table of three classes, a missing or blank label, a data.positive_class that is no
    label): it reads the target where it reads cheaply, and refuses with train's line."""
    index = [case[:4] for case in LABEL_MISTAKES].index((name, task, labels, given))
    answers, folder = refusals[f"labels {index}"]
    expected = f"toolkit: error: {expected.format(rows=folder / name)}\n"
    _assert_validate_and_train_refuse(answers, expected)
    assert not (folder / "out").exists()


def test_validate_print_writes_a_config_that_loads_again(cli, tmp_path):
    """`validate --print > resolved.yaml` ended the file with 'configs/binary.yaml: valid
    (...)', on stdout after the YAML: the file failed to load ("unknown key"). The line goes
    to stderr with --print, and the saved config validates and equals the first."""
    result = cli("validate", "configs/binary.yaml", "--print", "--set", "training.epochs=7")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "configs/binary.yaml: valid (binary, 2 hidden blocks)\n"
    saved = tmp_path / "resolved.yaml"
    saved.write_text(result.stdout)
    again = cli("validate", saved, "--print")
    assert again.returncode == 0, again.stderr
    assert yaml.safe_load(again.stdout) == yaml.safe_load(result.stdout)
    assert yaml.safe_load(result.stdout)["training"]["epochs"] == 7


def test_invalid_config_exit_2_one_line_no_run_directory(refusals):
    (result,), folder = refusals["invalid config"]
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "unknown key 'hiden' (did you mean 'hidden'?)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (folder / "out").exists()


def test_bad_data_exit_2_no_run_directory(refusals):
    (result,), folder = refusals["bad data"]
    assert result.returncode == 2
    assert "not found" in result.stderr and "missing.csv" in result.stderr
    assert not (folder / "out").exists()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One classifier run through the CLI, shared by the contract tests below."""
    from tests.helpers import run_cli

    root = tmp_path_factory.mktemp("run")
    rng_frame = pd.DataFrame(
        {
            "id": range(200),
            "size": [float(i % 17) for i in range(200)],
            "colour": [["red", "green", "blue"][i % 3] for i in range(200)],
            "label": [["small", "large"][(i % 17) > 8] for i in range(200)],
        }
    )
    rng_frame.to_csv(root / "data.csv", index=False)
    config = tiny_config(
        "binary",
        data={
            "source": str(root / "data.csv"),
            "target": "label",
            "features": ["size", "colour"],
            "test": 0.2,
        },
        callbacks={"tensorboard": {"histogram_freq": 1}, "learning_curve": True},
        evaluation={"plots": True, "baselines": True},
    )
    config["training"]["epochs"] = 4
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_cli("train", root / "config.yaml", "--output-dir", root / "experiments")
    assert result.returncode == 0, result.stderr
    run_dir = result.stdout.strip().splitlines()[-1]
    return root, run_dir, result.stderr


def test_train_writes_the_run_directory_contract(trained_run):
    from pathlib import Path

    root, run_dir, stderr = trained_run
    run = Path(run_dir)
    assert run.parent == root / "experiments" / "tiny-binary"
    for name in RUN_FILES:
        assert (run / name).exists(), name
    assert (run / "tensorboard").is_dir() and (run / "checkpoints" / "best.weights.h5").exists()
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["versions"]["keras"].startswith("3.")
    assert record["seed"] == 7 and record["devices"] and record["data_fingerprint"]
    assert record["started"] <= record["ended"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) >= {"train", "validation", "test", "baselines"}
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    assert "logistic_regression" in metrics["baselines"]
    history = pd.read_csv(run / "history.csv")
    assert len(history) == 4 and {"loss", "val_loss", "accuracy"} <= set(history.columns)
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["training"]["epochs"] == 4 and "extends" not in resolved
    # One summary line naming the split its metrics come from (data.test is set here).
    (summary,) = stderr.strip().splitlines()
    assert summary.startswith("completed: 4 epochs; test split: accuracy ")
    assert f"accuracy {metrics['test']['accuracy']:.4g}" in summary
    assert {p.name for p in (run / "plots").iterdir()} >= {
        "learning_curves.png",
        "confusion_matrix.png",
        "roc_curve.png",
    }


# The rows each predict test below gives the shared run.
PREDICT_ROWS = {
    "labels": pd.DataFrame(
        {"id": [1001, 1002, 1003], "size": [1.0, 15.0, None], "colour": ["red", "purple", "blue"]}
    ),
    "one row": pd.DataFrame({"size": [3.0], "colour": ["red"]}),
    "ids": pd.DataFrame(
        {
            "id": [1001, 1002, -3],
            "zip": ["02139", "10001", "94105"],  # integers with a leading zero: text
            "size": [1.0, 15.0, 3.0],
            "colour": ["red", "blue", "green"],
        }
    ),
    "two rows": pd.DataFrame({"size": [1.0, 15.0], "colour": ["red", "blue"]}),
    "no colour": pd.DataFrame({"size": [1.0]}),
}


@pytest.fixture(scope="module")
def answered(trained_run, tmp_path_factory):
    """The predict and evaluate commands of the tests below on the shared run, run in one
    fresh process (eleven TensorFlow start-ups were 45 s of CPU): the folder of their files
    and each command's result by name. The evaluate tests' copies of the run: ``moved``
    reads the run's rows from another place, ``changed`` reads them with one value changed
    (the shared run's own file stays as it is)."""
    import shutil

    root, run_dir, _ = trained_run
    base = tmp_path_factory.mktemp("answered")
    for name, rows in PREDICT_ROWS.items():
        rows.to_csv(base / f"{name}.csv", index=False)
    frame = pd.read_csv(root / "data.csv")
    copies = {}
    for name in ("moved", "changed", "gone"):
        copies[name] = Path(shutil.copytree(run_dir, base / name / "run"))
        frame.to_csv(base / name / "data.csv", index=False)
        config = yaml.safe_load((copies[name] / "config.yaml").read_text())
        config["data"]["source"] = str(base / name / "data.csv")
        (copies[name] / "config.yaml").write_text(yaml.safe_dump(config))
    frame.loc[3, "size"] = 99.0
    frame.to_csv(base / "changed" / "data.csv", index=False)
    (base / "gone" / "data.csv").unlink()

    def predict(rows: str, output: str, option: str = "--input") -> list:
        return ["predict", run_dir, option, base / f"{rows}.csv", "--output", base / output]

    calls = {
        "labels": predict("labels", "labels.out.csv"),
        "one row": predict("one row", "one-row.out.csv"),
        "ids parquet": predict("ids", "ids.out.parquet"),
        "ids csv": predict("ids", "ids.out.csv"),
        "--input": predict("two rows", "p--input.csv"),
        "--data": predict("two rows", "p--data.csv", "--data"),
        "no colour": predict("no colour", "no-colour.out.csv"),
        "evaluate": ["evaluate", run_dir],
        "evaluate moved": ["evaluate", copies["moved"]],
        "evaluate changed": ["evaluate", copies["changed"]],
        "evaluate gone": ["evaluate", copies["gone"]],
        "evaluate changed --data": [
            "evaluate",
            copies["changed"],
            "--data",
            base / "changed" / "data.csv",
        ],
    }
    results = cli_in_one_process(*calls.values())
    return base, dict(zip(calls, results, strict=True))


def test_evaluate_prints_metrics_in_a_fresh_process(trained_run, answered):
    _, run_dir, _ = trained_run
    result = answered[1]["evaluate"]
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["split"] == "test"
    saved = json.loads((Path(run_dir) / "metrics.json").read_text())
    assert report["metrics"]["accuracy"] == pytest.approx(saved["test"]["accuracy"])


def test_evaluate_refuses_a_run_whose_data_changed(answered):
    """Without --data, evaluate reads the run's file again for its test split: a file changed
    since would be split and scored as another test set, so it is refused (as --resume is)."""
    from tests.reliability._support import assert_one_line_error

    base, results = answered
    # The same rows, elsewhere: still the run's.
    assert results["evaluate moved"].returncode == 0, results["evaluate moved"].stderr
    result = results["evaluate changed"]
    assert_one_line_error(
        result,
        f"the data of {base / 'changed' / 'data.csv'} changed since the run started",
        "its held-out rows cannot be read again; pass --data FILE to score given rows",
    )
    assert result.stdout == ""
    # A run whose file is gone said only "data.source not found", not what --data does.
    assert_one_line_error(
        results["evaluate gone"],
        f"data.source not found: {base / 'gone' / 'data.csv'}; its held-out rows cannot be "
        "read again; pass --data FILE to score given rows",
    )
    # Rows given with --data are still scored.
    assert results["evaluate changed --data"].returncode == 0


def test_predict_writes_labels_probabilities_and_carries_ids(answered):
    base, results = answered
    assert results["labels"].returncode == 0, results["labels"].stderr
    predictions = pd.read_csv(base / "labels.out.csv")
    assert list(predictions["id"]) == [1001, 1002, 1003]  # ids carried through
    assert set(predictions["prediction"]) <= {"small", "large"}
    # The column names the class its probability is for: the second of the sorted labels.
    assert [c for c in predictions.columns if c.startswith("probability")] == ["probability_small"]
    assert predictions["probability_small"].between(0, 1).all()
    assert (
        (predictions["probability_small"] > 0.5) == (predictions["prediction"] == "small")
    ).all()
    # 'purple' was never seen in training: the out-of-vocabulary bucket takes it, no crash.


def test_predict_imports_neither_scikit_learn_nor_scipy_stats(trained_run, tmp_path):
    """The command line's start-up: Keras' scikit-learn wrappers are left without scikit-learn
    and predict's intervals need no SciPy stats (about 1.3 s of CPU together), nor SciPy's
    optimizers, which fit a std factor in training (0.25 s); scikit-learn still imports
    afterwards, and the process's Keras works."""
    _, run_dir, _ = trained_run
    pd.DataFrame({"size": [1.0, 15.0], "colour": ["red", "blue"]}).to_csv(
        tmp_path / "rows.csv", index=False
    )
    code = (
        "import sys\n"
        "from toolkit.cli import main\n"
        f"assert main(['predict', {run_dir!r}, '--input', {str(tmp_path / 'rows.csv')!r}, "
        f"'--output', {str(tmp_path / 'out.csv')!r}]) == 0\n"
        "assert 'keras' in sys.modules\n"
        "heavy = ('sklearn', 'scipy.stats', 'scipy.optimize')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "import sklearn.metrics\n"
        "print(sklearn.metrics.accuracy_score([0, 1], [0, 1]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == ["[]", "1.0"]


def test_predict_counts_its_rows_in_words(answered):
    """One row said "wrote 1 predictions" (two rows: test_predict_takes_data_like_evaluate)."""
    base, results = answered
    result = results["one row"]
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"wrote 1 prediction to {base / 'one-row.out.csv'}\n"


def test_counted_puts_the_noun_in_the_number_it_takes():
    from toolkit.text import counted

    assert [counted(n, "trial") for n in (0, 1, 2)] == ["0 trials", "1 trial", "2 trials"]
    assert counted(1, "class", "classes") == "1 class"
    assert counted(3, "class", "classes") == "3 classes"


def test_predict_to_parquet_keeps_integer_ids_integers(answered):
    """CSV input is read as text (so the CSV output writes ids back as they were); the
    Parquet output had every carried column as strings, integer ids included."""
    base, results = answered
    for suffix in ("parquet", "csv"):
        assert results[f"ids {suffix}"].returncode == 0, results[f"ids {suffix}"].stderr
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(base / "ids.out.parquet")
    assert schema.field("id").type == pa.int64()
    assert schema.field("zip").type in (pa.string(), pa.large_string())
    predictions = pd.read_parquet(base / "ids.out.parquet")
    assert predictions["id"].tolist() == [1001, 1002, -3]
    assert predictions["zip"].tolist() == ["02139", "10001", "94105"]
    # The CSV output still writes the input's text back unchanged.
    lines = (base / "ids.out.csv").read_text().splitlines()
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["1001", "02139"],
        ["1002", "10001"],
        ["-3", "94105"],
    ]


def test_predict_takes_data_like_evaluate(answered):
    # evaluate reads its rows from --data; predict takes the same option as --input.
    base, results = answered
    for option in ("--input", "--data"):
        result = results[option]
        assert result.returncode == 0, result.stderr
        # Two rows are counted in the plural (one, in test_predict_counts_its_rows_in_words).
        assert result.stderr == f"wrote 2 predictions to {base / f'p{option}.csv'}\n"
    written = {option: pd.read_csv(base / f"p{option}.csv") for option in ("--input", "--data")}
    pd.testing.assert_frame_equal(written["--data"], written["--input"])
    assert len(written["--data"]) == 2


def test_predict_names_a_missing_column(answered):
    base, results = answered
    result = results["no colour"]
    assert result.returncode == 2
    assert "feature column 'colour' is not in the data" in result.stderr
    assert not (base / "no-colour.out.csv").exists()


@pytest.mark.slow
def test_deterministic_runs_are_bit_identical_across_processes(cli, write_config, tmp_path):
    import numpy as np

    from toolkit.models.saving import load_model

    config = tiny_config(
        model={"task": "regression", "hidden": [16, 8], "dropout": 0.2},
        runtime={"deterministic": True},
    )
    path = write_config(config)
    runs = []
    for index in range(2):
        result = cli("train", path, "--output-dir", tmp_path / f"out{index}")
        assert result.returncode == 0, result.stderr
        runs.append(result.stdout.strip().splitlines()[-1])
    first, second = (load_model(f"{run}/model.keras").get_weights() for run in runs)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    histories = [pd.read_csv(f"{run}/history.csv")["loss"] for run in runs]
    assert histories[0].equals(histories[1])


def test_every_argument_of_every_command_says_what_it_is():
    """``toolkit tensorboard --help`` showed ``[directory]`` and ``--port PORT`` with neither a
    word nor their defaults (experiments, 6006)."""
    import argparse

    from toolkit.cli import build_parser

    commands = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    silent = [
        f"{name} {action.dest}"
        for name, command in commands.choices.items()
        for action in command._actions
        if not isinstance(action, argparse._HelpAction) and not action.help
    ]
    assert silent == []


@pytest.mark.parametrize(
    ("arguments", "expected"),
    MISTYPED_OPTIONS,
)
def test_a_mistyped_option_is_one_line_naming_the_command_and_the_option_meant(
    refusals, arguments, expected
):
    """argparse printed its usage block (3 to 7 lines) before the error, and an unknown
    option of a command under the top-level usage: 'toolkit: error: unrecognized arguments:
    --repat 3', naming neither the command nor the option meant."""
    (result,), folder = refusals[f"mistyped option {arguments}"]
    assert result.returncode == 2
    assert result.stderr == expected and result.stdout == ""
    assert not (folder / "out").exists()


@pytest.mark.parametrize(
    ("arguments", "expected"),
    MISTYPED_CHOICES,
)
def test_a_mistyped_choice_names_the_one_meant(refusals, arguments, expected):
    """`toolkit trian` listed the nine commands without saying which was meant, as a
    mistyped config key does."""
    (result,), _ = refusals[f"mistyped choice {arguments}"]
    assert result.returncode == 2
    assert result.stderr == expected and result.stdout == ""


@pytest.mark.parametrize("kind", ["missing", "not a run"])
def test_validate_refuses_an_init_from_that_is_no_run_as_train_does(refusals, kind):
    """validate said 'valid' for a model.init_from that train refused."""
    answers, folder = refusals[f"init_from {kind}"]
    run = folder / "old-run"
    expected = (
        f"toolkit: error: run directory not found: {run}\n"
        if kind == "missing"
        else f"toolkit: error: {run} is not a run directory (no config.yaml and run.json)\n"
    )
    _assert_validate_and_train_refuse(answers, expected)
    assert not (folder / "out").exists()


def _assert_validate_and_train_refuse(answers: list, expected: str) -> None:
    """``toolkit validate`` and ``toolkit train`` (the two ``answers``, in that order) both
    refused with exactly the line ``expected``, exit 2, and nothing on stdout; the
    ``refusals`` process checked that neither imported TensorFlow (train checks its data and
    model.init_from before it starts, as validate does)."""
    assert [result.args[1] for result in answers] == ["validate", "train"]
    for result in answers:
        assert (result.returncode, result.stdout, result.stderr) == (2, "", expected), result.args


def test_report_of_two_directories_points_at_compare(refusals):
    """`toolkit report RUN_A RUN_B` gave argparse's bare 'unrecognized arguments: RUN_B',
    naming neither the mistake nor the command that compares two runs."""
    from tests.reliability._support import assert_one_line_error

    (result,), folder = refusals["report two directories"]
    run_a, run_b = folder / "run_a", folder / "run_b"
    line = assert_one_line_error(result, "report takes one run or sweep directory, got 2")
    assert line.endswith(f"toolkit compare {run_a} {run_b}"), line
    assert result.stdout == ""
    assert sorted(folder.rglob("*")) == [run_a, run_b]


def test_an_unquoted_glob_for_data_or_input_is_named_with_its_quoted_form(refusals):
    """`toolkit evaluate RUN --data new/*.csv.gz`, unquoted, reached the toolkit as four
    files, and argparse's line named the last three 'unrecognized arguments' without
    saying why or what to write."""
    from tests.reliability._support import assert_nothing_written, assert_one_line_error

    (evaluated, predicted), folder = refusals["unquoted glob"]
    new = folder / "new"
    line = assert_one_line_error(
        evaluated,
        "toolkit: error: evaluate --data takes one file, folder or glob, got 4 files "
        f"({new / 'part-0.csv.gz'}, {new / 'part-1.csv.gz'}, {new / 'part-2.csv.gz'}, ...): "
        f"the shell expanded an unquoted glob; quote it (--data '{new}/*.csv.gz') or give "
        "the files' folder",
    )
    assert "unrecognized" not in line
    assert_one_line_error(
        predicted,
        f"predict --input takes one file, folder or glob, got 2 files ({new / 'part-0.csv.gz'}, "
        f"{new / 'part-1.csv.gz'}): the shell expanded an unquoted glob; quote it "
        f"(--input '{new}/*.csv.gz')",
    )
    assert evaluated.stdout == predicted.stdout == ""
    assert_nothing_written(folder / "run")
    assert not (folder / "p.csv").exists()


def test_a_single_image_size_suggests_the_pair(refusals):
    """`--set data.image.image_size=16` said pydantic's 'Input should be a valid list, got
    16', leaving the list's form to guess; it now says [16, 16]."""
    from tests.reliability._support import assert_nothing_written, assert_one_line_error

    answers, folder = refusals["single image size"]
    assert [result.args[1] for result in answers] == ["validate", "train"]
    for result in answers:
        assert_one_line_error(
            result,
            "data.image.image_size: Input should be a list of two positive sizes, "
            "[height, width], got 16; for square images write [16, 16]",
        )
    assert_nothing_written(folder / "out")


def test_evaluate_help_names_the_split_it_scores_without_a_test_split(tmp_path):
    """`toolkit evaluate --help` said '--data ... (default: test split)', but a run without
    data.test is scored on its validation split, as the README says."""
    import toolkit

    # Trained in this process: the commands' answers are what is checked, both in one fresh
    # process (one TensorFlow start-up; the run's training and evaluate's were two more).
    run = toolkit.train(tiny_config(), output_dir=tmp_path / "r", verbose=0)
    assert run.status == "completed", run.reason
    evaluated, shown = cli_in_one_process(["evaluate", run.path], ["evaluate", "--help"])
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["split"] == "validation"
    assert shown.returncode == 0, shown.stderr
    assert "(default: the run's test split, else its validation split)" in " ".join(
        shown.stdout.split()
    )
