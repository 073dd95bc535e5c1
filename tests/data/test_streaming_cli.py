"""Streamed data through the real ``toolkit`` command: train, predict, evaluate, resume."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.data.test_streaming import _table, _write_shards
from tests.helpers import cli_in_one_process, tiny_config


def _streamed_config(source: str, **overrides) -> dict:
    config = tiny_config(
        data={
            "source": source,
            "streaming": True,
            "features": ["a", "b", "colour"],
            "split_key": "id",
            "validation": 0.2,
            "test": 0.1,
            "shuffle_buffer": 1024,
        },
        **overrides,
    )
    config["training"]["batch_size"] = 32
    return config


@pytest.fixture(scope="module")
def streamed_run(tmp_path_factory):
    """A run trained on three Parquet shards, with a baseline time budget too small to fit
    anything: the run must still complete and say what was skipped."""
    from tests.helpers import run_cli

    root = tmp_path_factory.mktemp("streamed")
    frame = _table(1500)
    _write_shards(frame, root / "shards")
    # The folder itself, without data.kind: a folder of Parquet files holds table shards.
    config = _streamed_config(
        str(root / "shards"), evaluation={"plots": False, "baselines": {"time_budget": 1e-6}}
    )
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_cli("train", path, "--output-dir", root / "out")
    assert result.returncode == 0, result.stderr
    assert "AutoGraph" not in result.stderr and "WARNING" not in result.stderr, result.stderr
    return root, frame, Path(result.stdout.strip().splitlines()[-1])


def _infinite_shards(frame: pd.DataFrame, folder: Path, column: str) -> Path:
    """The first 300 rows in two CSV shards in ``folder/new``, ``column`` -inf on two rows of
    the second shard (its rows 101 and 131)."""
    broken = frame.iloc[:300].copy()
    broken.loc[[250, 280], column] = -np.inf
    return _write_shards(broken, folder / "new", shards=2, fmt="csv")


def _reordered_shards(frame: pd.DataFrame, folder: Path) -> Path:
    """The table in two CSV shards in ``folder/rows``, the second's header (and columns) in
    reverse order."""
    (folder / "rows").mkdir()
    frame.iloc[:700].to_csv(folder / "rows" / "part-0.csv", index=False)
    frame.iloc[700:][frame.columns[::-1]].to_csv(folder / "rows" / "part-1.csv", index=False)
    return folder / "rows"


@pytest.fixture(scope="module")
def streamed_answers(
    streamed_run, tmp_path_factory
) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Every ``toolkit predict`` and ``evaluate`` the tests below give the streamed run, run
    in one fresh process (TensorFlow started once; it started in six processes before, 5 s
    of CPU each), each in the folder of its own files: by name, each command's result and
    that folder. ``whole`` (predict on the whole table as one CSV file, the reference the
    predictions on shards are compared with) runs first."""
    root, frame, run_dir = streamed_run
    # Folder names without the words the tests look for in the commands' output.
    folders = {
        name: tmp_path_factory.mktemp(folder)
        for name, folder in (
            ("whole", "whole"),
            ("shards", "shards"),
            ("infinite a", "broken-a"),
            ("infinite target", "broken-target"),
            ("p.csv", "reordered-csv"),
            ("p.parquet", "reordered-parquet"),
            ("no tables", "no-tables"),
        )
    }
    whole = folders["whole"]
    frame.to_csv(whole / "all.csv", index=False)
    calls = {
        "whole": (
            ["predict", run_dir, "--input", whole / "all.csv", "--output", whole / "w.csv"],
            whole,
        ),
        "shards predict": (
            ["predict", run_dir, "--input", root / "shards", "--output", "s.parquet"],
            folders["shards"],
        ),
        "shards evaluate": (["evaluate", run_dir, "--data", root / "shards"], folders["shards"]),
        "whole evaluate": (["evaluate", run_dir, "--data", whole / "all.csv"], folders["shards"]),
    }
    for column in ("a", "target"):
        folder = folders[f"infinite {column}"]
        shards = _infinite_shards(frame, folder, column)
        calls[f"infinite {column} evaluate"] = (["evaluate", run_dir, "--data", shards], folder)
        calls[f"infinite {column} predict"] = (
            ["predict", run_dir, "--input", shards, "--output", folder / "p.csv"],
            folder,
        )
    for output in ("p.csv", "p.parquet"):
        folder = folders[output]
        rows = _reordered_shards(frame, folder)
        calls[f"reordered {output}"] = (
            ["predict", run_dir, "--input", rows, "--output", folder / output],
            folder,
        )
    # A folder without a table in it, named by the message of each command.
    nothing = folders["no tables"]
    (nothing / "new").mkdir()
    (nothing / "new" / "notes.txt").write_text("not a table\n")
    calls["no tables predict"] = (
        ["predict", run_dir, "--input", nothing / "new", "--output", nothing / "p.csv"],
        nothing,
    )
    calls["no tables evaluate"] = (["evaluate", run_dir, "--data", nothing / "new"], nothing)
    answers = cli_in_one_process(*calls.values())
    return {name: (answer, calls[name][1]) for name, answer in zip(calls, answers, strict=True)}


@pytest.fixture(scope="module")
def whole_predictions(streamed_answers):
    """``toolkit predict`` of the streamed run on its whole table as one CSV file: the
    reference the predictions on shards are compared with (read, never written, by them)."""
    whole, folder = streamed_answers["whole"]
    assert whole.returncode == 0, whole.stderr
    return folder / "all.csv", folder / "w.csv"


def test_a_streamed_run_completes_and_the_baseline_time_budget_records_skipped(streamed_run):
    _, _, run_dir = streamed_run
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["data"]["streaming"] is True and record["data"]["shards"] == 3
    metrics = json.loads((run_dir / "metrics.json").read_text())
    baselines = metrics["baselines"]
    assert baselines["linear_regression"] == {"skipped": "time budget"}
    assert baselines["hist_gradient_boosting"] == {"skipped": "time budget"}
    # The sample they would have been fitted on: the whole training split here (< 100,000).
    assert (
        metrics["baselines_info"]["sample_rows"]
        == json.loads((run_dir / "data_summary.json").read_text())["rows"]["train"]
    )
    summary = json.loads((run_dir / "data_summary.json").read_text())
    assert sum(summary["rows"].values()) == 1500
    assert metrics["evaluated_rows"]["test"] == summary["rows"]["test"]


@pytest.mark.slow
def test_predict_on_shards_equals_predict_on_the_concatenated_table(
    streamed_run, whole_predictions, streamed_answers
):
    _, frame, _ = streamed_run
    _, whole = whole_predictions
    # The three commands ran in one process with the others (TensorFlow started once).
    sharded, folder = streamed_answers["shards predict"]
    evaluated = [streamed_answers[f"{on} evaluate"][0] for on in ("shards", "whole")]
    assert sharded.returncode == 0, sharded.stderr
    a, b = pd.read_parquet(folder / "s.parquet"), pd.read_csv(whole)
    assert len(a) == len(b) == len(frame)
    np.testing.assert_array_equal(a["id"], frame["id"])  # ids carried through, in order
    np.testing.assert_allclose(a["prediction"], b["prediction"], rtol=1e-6)

    # evaluate --data on the shards scores every row: the same as on the whole table.
    assert [result.returncode for result in evaluated] == [0, 0], evaluated
    scores = [json.loads(result.stdout)["metrics"] for result in evaluated]
    assert scores[0] == pytest.approx(scores[1], rel=1e-6)
    residual = frame["target"] - b["prediction"]
    assert scores[1]["rmse"] == pytest.approx(float(np.sqrt(np.mean(residual**2))), rel=1e-5)


@pytest.mark.parametrize("column", ["a", "target"])
def test_evaluate_and_predict_refuse_an_infinite_value_in_shards(streamed_answers, column):
    # evaluate --data scored the rows and printed null for every metric, exit 0; predict
    # wrote the rows with a feature's inf (a probability of 0.0, or an empty one) and only
    # warned. Both refuse it now, as training does, naming the shard, column and rows.
    from tests.reliability._support import assert_one_line_error

    # Both commands ran in one process with the others (TensorFlow started once); see
    # _infinite_shards for the rows.
    result, folder = streamed_answers[f"infinite {column} evaluate"]
    predicted, _ = streamed_answers[f"infinite {column} predict"]
    shards, output = folder / "new", folder / "p.csv"
    assert_one_line_error(
        result,
        f"shard {shards / 'part-01.csv'}",
        f"column '{column}' has infinite values (rows 101, 131)",
    )
    assert result.stderr.startswith(f"toolkit: error: --data shard {shards / 'part-01.csv'}")
    if column == "a":
        line = assert_one_line_error(
            predicted,
            f"shard {shards / 'part-01.csv'}",
            "column 'a' has infinite values (rows 101, 131)",
        )
        # Worded as --data's and data.source's: it read "--input file shard ...".
        assert line.startswith(f"toolkit: error: --input shard {shards / 'part-01.csv'}"), line
        assert not output.exists() and not list(folder.glob(".tmp-*")), "half-written"
    else:  # predict reads no target: an inf there is another column's value, carried
        assert predicted.returncode == 0, predicted.stderr
        assert "infinite" not in predicted.stderr
        assert (pd.read_csv(output)["target"] == -np.inf).sum() == 2


def _trained_for_one_epoch(config: dict, output: Path) -> tuple[Path, dict]:
    """The run directory and run.json of ``config`` trained for one epoch, in this process
    (what the tests check is the commands run on it afterwards)."""
    import toolkit

    config["training"]["epochs"] = 1
    run = toolkit.train(config, output_dir=output, verbose=0)
    assert run.status == "completed", run.reason
    return run.path, json.loads((run.path / "run.json").read_text())


def _assert_resume_refused(cli, run_dir: Path, record: dict, message: str) -> None:
    """``record`` written as the run's run.json, stopped before its end: --resume refuses it
    with ``message``."""
    from tests.reliability._support import assert_one_line_error

    record["status"] = "interrupted"
    (run_dir / "run.json").write_text(json.dumps(record))
    assert_one_line_error(cli("train", "--resume", run_dir), message)


@pytest.mark.slow
def test_a_run_split_by_position_alone_is_not_resumed(cli, tmp_path):
    """Earlier versions split streamed rows by their position alone (the shard's name never
    reached the hash); resumed now, such a run would train on rows it validated on."""
    _write_shards(_table(600), tmp_path / "shards", fmt="csv")
    config = _streamed_config(str(tmp_path / "shards"), evaluation={"plots": False})
    config["data"].pop("split_key")
    run_dir, record = _trained_for_one_epoch(config, tmp_path / "out")
    assert record["data"]["split"] == "hash of shard name and row position"
    # As an earlier version recorded it, stopped before its end.
    record["data"]["split"] = "hash of shard and row position"
    _assert_resume_refused(
        cli,
        run_dir,
        record,
        "the run's rows were split by hash of shard and row position, and this version splits "
        "them by hash of shard name and row position; start a new run",
    )


@pytest.mark.slow
@pytest.mark.parametrize("streaming", [True, False])
def test_a_run_split_by_an_unsalted_key_hash_is_not_resumed_nor_evaluated(cli, tmp_path, streaming):
    """Keys were hashed without a salt before (the key 0 always fell in the test split): a
    run recorded so puts some keys in other splits now, and resumed would train on rows it
    validated on, and its test split evaluated again would hold other keys. Streamed runs
    recorded 'hash of KEY'; runs in memory recorded no split."""
    from tests.reliability._support import assert_one_line_error

    frame = _table(600)
    if streaming:
        source = str(_write_shards(frame, tmp_path / "shards", fmt="csv"))
    else:
        frame.to_csv(tmp_path / "all.csv", index=False)
        source = str(tmp_path / "all.csv")
    config = _streamed_config(source, evaluation={"plots": False})
    config["data"]["streaming"] = streaming
    run_dir, record = _trained_for_one_epoch(config, tmp_path / "out")
    assert record["data"]["split"] == "salted hash of id"
    # As an earlier version recorded it, stopped before its end.
    if streaming:
        record["data"]["split"] = "hash of id"
    else:
        del record["data"]["split"]
    (run_dir / "run.json").write_text(json.dumps(record))
    # Its test split read again now holds other keys, some of them the run trained on.
    evaluated = cli("evaluate", run_dir)
    assert_one_line_error(
        evaluated,
        "the run's rows were split by hash of id, and this version splits them by salted "
        "hash of id; its held-out rows cannot be read again; pass --data FILE to score given rows",
    )
    _assert_resume_refused(
        cli,
        run_dir,
        record,
        "the run's rows were split by hash of id, and this version splits them by salted "
        "hash of id; start a new run",
    )


@pytest.mark.slow
def test_uneven_split_key_shares_are_a_run_warning(cli, write_config, tmp_path):
    """The line about data.split_key's row shares reaches run.json's warnings (the shares
    themselves are checked in test_streaming)."""
    frame = _table(1000)
    frame["customer"] = np.where(np.arange(1000) < 300, 0, np.arange(1000))
    _write_shards(frame, tmp_path / "shards", fmt="csv")
    config = _streamed_config(str(tmp_path / "shards"), evaluation={"plots": False})
    config["data"]["split_key"] = "customer"
    config["training"]["epochs"] = 1
    result = cli("train", write_config(config), "--output-dir", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    (warning,) = json.loads((run_dir / "run.json").read_text())["warnings"]
    assert warning.startswith("data.split_key 'customer' put these shares of the rows")
    assert "the largest, 0, holds 30.0% of the rows" in warning
    # The terminal shows it too, on the summary line, as every run warning.
    (summary,) = result.stderr.strip().splitlines()[-1:]
    assert summary.startswith("completed: 1 epoch; ")
    assert summary.endswith(f"; warning: {warning}")


@pytest.mark.parametrize("output", ["p.csv", "p.parquet"])
def test_predict_on_shards_with_columns_in_another_order_keeps_each_value_in_its_column(
    streamed_run, whole_predictions, streamed_answers, output
):
    """A CSV shard whose header lists the columns in another order: its carried columns
    were written in its own order under the first shard's header (a CSV output's ids and
    targets swapped columns without a word; a Parquet output failed with pyarrow's
    ValueError)."""
    _, frame, _ = streamed_run
    # See _reordered_shards for the shards; predict ran in one process with the others.
    result, folder = streamed_answers[f"reordered {output}"]
    assert result.returncode == 0, result.stderr
    read = pd.read_csv if output.endswith(".csv") else pd.read_parquet
    predicted, reference = read(folder / output), pd.read_csv(whole_predictions[1])
    assert list(predicted.columns) == ["id", "target", "prediction"]
    np.testing.assert_array_equal(predicted["id"], frame["id"])
    np.testing.assert_allclose(predicted["target"], frame["target"])
    np.testing.assert_allclose(predicted["prediction"], reference["prediction"], rtol=1e-6)


def _bad_shard(folder: Path, problem: str) -> dict:
    frame = _table(400)
    source = _write_shards(frame, folder / "shards")
    bad = folder / "shards" / "part-01.parquet"
    if problem == "missing-column":
        frame.drop(columns="colour").to_parquet(bad)
    else:
        bad.write_bytes(bad.read_bytes()[:200])  # cut short, as by a failed copy
    return _streamed_config(source)


def _one_file_without_a_column(folder: Path, fmt: str) -> dict:
    """One streamed file (not a set of shards) without the listed feature 'colour'."""
    path = folder / f"rows.{fmt}"
    frame = _table(400).drop(columns="colour")
    frame.to_parquet(path, index=False) if fmt == "parquet" else frame.to_csv(path, index=False)
    return _streamed_config(str(path))


def _compressed_tables(folder: Path, layout: str) -> dict:
    # A folder's listing skipped part-02.csv.7z as it skips a README: its rows were left out
    # of training without a word. Alone in dated folders, the folder was taken for images.
    # (A .csv.gz, .bz2, .zst, .lz4, .xz or .zip file is read: see test_compressed_csv.py.)
    frame = _table(400)
    export = folder / "export"
    if layout == "beside-csv-shards":
        _write_shards(frame.iloc[:300], export, shards=2, fmt="csv")
        frame.iloc[300:].to_csv(export / "part-02.csv.7z", index=False)
    else:
        for day, rows in (("2026-12-01", frame.iloc[:200]), ("2026-12-02", frame.iloc[200:])):
            (export / day).mkdir(parents=True)
            rows.to_parquet(export / day / "part-0.parquet.gz", index=False)
    return _streamed_config(str(export))


def _text_in_the_first_shard(folder: Path, fmt: str) -> dict:
    frame = _table(600)
    source = _write_shards(frame, folder / "shards", fmt=fmt)
    # Sorted first, so its types are the ones read first.
    odd = folder / "shards" / f"part-00.{fmt}"
    first = frame.iloc[:200].assign(a=lambda f: "n" + f["a"].round(2).astype(str))
    first.to_parquet(odd, index=False) if fmt == "parquet" else first.to_csv(odd, index=False)
    assert pd.api.types.is_numeric_dtype(frame["a"])
    return _streamed_config(source)


def _a_column_only_the_first_shard_holds(folder: Path) -> dict:
    frame = _table(600)
    source = _write_shards(frame, folder / "shards")
    frame.iloc[:200].assign(note=1.0).to_parquet(folder / "shards" / "part-00.parquet", index=False)
    config = _streamed_config(source)
    del config["data"]["features"]  # every column of the first shard but target and key
    return config


def _a_column_only_a_later_shard_holds(folder: Path, *, streaming: bool) -> dict:
    frame = _table(600)
    source = _write_shards(frame, folder / "shards")
    later = frame.iloc[200:400].assign(note=1.0)
    later.to_parquet(folder / "shards" / "part-01.parquet", index=False)
    config = _streamed_config(source)
    config["data"]["streaming"] = streaming
    return config


def _key_as_text_in_a_later_shard(folder: Path, value: str | None = None) -> dict:
    """data.split_key 'id' as numbers in part-00 and part-02, as the same digits in text in
    part-01 (a Parquet export that wrote it as strings); its first row ``value``, if given."""
    frame = _table(600)
    source = _write_shards(frame, folder / "shards")
    text = frame.iloc[200:400].assign(id=lambda f: f["id"].astype(str))
    if value is not None:
        text.iloc[0, text.columns.get_loc("id")] = value
    text.to_parquet(folder / "shards" / "part-01.parquet", row_group_size=150, index=False)
    return _streamed_config(source)


def _a_csv_line_of_other_fields(folder: Path, case: str) -> dict:
    """Three CSV shards; part-01.csv's line 151 (its 150th row) has 6 fields ('more') or 2
    ('fewer') where the header has 5; read streamed, or in memory ('more-in-memory')."""
    source = _write_shards(_table(600), folder / "shards", fmt="csv")
    path = folder / "shards" / "part-01.csv"
    lines = path.read_text().splitlines()
    lines[150] = "1,2,3,4,5,6" if case.startswith("more") else "7,8"
    path.write_text("\n".join(lines) + "\n")
    config = _streamed_config(source)
    config["data"]["streaming"] = not case.endswith("in-memory")
    return config


def _csv_shards_of_two_kinds(folder: Path, column: str) -> dict:
    """Three CSV shards read in memory; part-01.csv's ``column`` holds another kind than
    part-00's: 'colour' numbers (text in the others), 'a' True/False (numbers)."""
    frame = _table(600)
    source = _write_shards(frame, folder / "shards", fmt="csv")
    part = frame.iloc[200:400].copy()
    part[column] = np.arange(200) if column == "colour" else part["b"] > 2
    part.to_csv(folder / "shards" / "part-01.csv", index=False)
    config = _streamed_config(source)
    config["data"]["streaming"] = False
    return config


# The streamed trainings refused over their shards, by name: each builds its files in a folder
# and returns the config.
REFUSED = {
    **{f"bad-shard-{p}": lambda d, p=p: _bad_shard(d, p) for p in ("missing-column", "corrupt")},
    **{
        f"one-file-{fmt}": lambda d, fmt=fmt: _one_file_without_a_column(d, fmt)
        for fmt in ("csv", "parquet")
    },
    **{
        f"compressed-{layout}": lambda d, layout=layout: _compressed_tables(d, layout)
        for layout in ("beside-csv-shards", "alone-in-dated-folders")
    },
    **{
        f"text-first-{fmt}": lambda d, fmt=fmt: _text_in_the_first_shard(d, fmt)
        for fmt in ("parquet", "csv")
    },
    "column-only-in-the-first": _a_column_only_the_first_shard_holds,
    "key-as-text-later": _key_as_text_in_a_later_shard,
    **{
        f"column-only-in-a-later-{how}": lambda d, how=how: _a_column_only_a_later_shard_holds(
            d, streaming=how == "streamed"
        )
        for how in ("streamed", "in-memory")
    },
    **{
        f"csv-in-memory-{column}": lambda d, column=column: _csv_shards_of_two_kinds(d, column)
        for column in ("colour", "a")
    },
    "key-as-text-later-in-memory": lambda d: {
        **(config := _key_as_text_in_a_later_shard(d, value="id-7")),
        "data": {**config["data"], "streaming": False},
    },
    **{
        f"csv-line-{case}": lambda d, case=case: _a_csv_line_of_other_fields(d, case)
        for case in ("more", "fewer", "more-in-memory")
    },
}


@pytest.fixture(scope="module")
def refused(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """``toolkit train`` of every config of ``REFUSED``, each in its own folder, all in one
    process (each refusal is a second of start-up otherwise): the answer and the folder."""
    calls, folders = [], []
    for name, build in REFUSED.items():
        folders.append(tmp_path_factory.mktemp(name))
        path = folders[-1] / "config.yaml"
        path.write_text(yaml.safe_dump(build(folders[-1]), sort_keys=False))
        calls.append((["train", path, "--output-dir", folders[-1] / "out"], folders[-1]))
    answers = cli_in_one_process(*calls, without_tensorflow=True)
    return dict(zip(REFUSED, zip(answers, folders, strict=True), strict=True))


@pytest.mark.parametrize("problem", ["missing-column", "corrupt"])
def test_a_bad_shard_is_one_line_naming_it_and_leaves_no_run(refused, problem):
    result, folder = refused[f"bad-shard-{problem}"]
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "part-01.parquet" in lines[0], result.stderr
    assert not (folder / "out").exists() or not list((folder / "out").rglob("run.json"))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_one_streamed_file_without_a_column_is_named_as_in_memory(refused, fmt):
    # A set of shards named the shard; one file was named by no word ("feature column
    # 'colour' is not in the data; columns: ..."), where the in-memory line names it.
    from tests.reliability._support import assert_nothing_written, assert_one_line_error

    result, folder = refused[f"one-file-{fmt}"]
    assert_one_line_error(
        result,
        f"data.source {folder / f'rows.{fmt}'}: feature column 'colour' is not in the data; "
        "columns: id, a, b, target",
    )
    assert_nothing_written(folder / "out")


@pytest.mark.parametrize("layout", ["beside-csv-shards", "alone-in-dated-folders"])
def test_compressed_tables_in_a_shard_folder_are_named_not_skipped(refused, layout):
    result, folder = refused[f"compressed-{layout}"]  # see _compressed_tables
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "holds compressed tables (part-" in line and "decompress them" in line, line
    assert not (folder / "out").exists() or not list((folder / "out").rglob("run.json"))


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_column_of_text_in_the_first_shard_and_numbers_in_the_others_is_an_error(refused, fmt):
    """The first shard alone used to decide a column's kind: text there made the numeric
    column 'a' categorical for every shard, and the run trained on its numbers as categories
    without a word. A column must hold one kind of value in every shard."""
    result, folder = refused[f"text-first-{fmt}"]
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "column 'a' holds numbers" in lines[0] and f"part-00.{fmt} holds text" in lines[0]
    assert "data.categorical" in lines[0]  # what is allowed
    assert not (folder / "out").exists() or not list((folder / "out").rglob("run.json"))


def test_a_split_key_of_numbers_and_text_in_other_shards_is_an_error(refused):
    """A key is hashed as it is stored: the text '10' and the number 10 fell in different
    splits, so one id's rows trained and validated the model without a word (a feature's
    text is parsed as numbers, the key's was not)."""
    from tests.reliability._support import assert_nothing_written, assert_one_line_error
    from toolkit.data import hashing

    # The leak the refusal prevents: the same ids, as numbers and as text, split apart.
    ids = _table(600)["id"].iloc[200:400]
    as_numbers = hashing.assign(hashing.key_hashes(ids), validation=0.2, test=0.1)
    as_text = hashing.assign(hashing.key_hashes(ids.astype(str)), validation=0.2, test=0.1)
    assert (as_numbers != as_text).any()

    result, folder = refused["key-as-text-later"]
    assert_one_line_error(
        result,
        f"data.source shard {folder / 'shards' / 'part-01.parquet'}: data.split_key column "
        f"'id' holds text, but data.source shard {folder / 'shards' / 'part-00.parquet'} holds "
        "numbers in it; a key is hashed as it is stored (5 and '5' fall in different splits), "
        "so it must hold one kind of value in every shard: write it as numbers everywhere, or "
        "as text everywhere",
    )
    assert_nothing_written(folder / "out")


@pytest.mark.parametrize(
    ("case", "fields", "text"),
    [("more", 6, "1,2,3,4,5,6"), ("fewer", 2, "7,8"), ("more-in-memory", 6, "1,2,3,4,5,6")],
)
def test_a_csv_line_with_other_fields_than_the_header_is_named_by_its_line(
    refused, case, fields, text
):
    """Arrow's words, 'CSV parse error: Expected 5 columns, got 6: 1,2,3,4,5,6', named
    neither the line nor where to look in a file of millions of lines (pandas named the line
    of a longer one in memory, 'Expected 5 fields in line 151, saw 6')."""
    from tests.reliability._support import assert_nothing_written, assert_one_line_error

    result, folder = refused[f"csv-line-{case}"]
    shard = folder / "shards" / "part-01.csv"
    assert_one_line_error(
        result,
        f"shard {shard} cannot be read: line 151 has {fields} fields where the header has 5 "
        f"('{text}'): every line needs the header's 5 fields; fix or remove that line",
    )
    assert_nothing_written(folder / "out")


def test_parquet_shards_read_in_memory_name_the_shards_whose_column_kinds_differ(refused):
    """In memory, Arrow's 'Unable to merge: Field id has incompatible types: int64 vs
    large_string' named no shard among the many of a folder (text that is all numbers is
    parsed: test_a_parquet_shard_of_numbers_as_text_is_parsed_in_memory_as_streamed)."""
    from tests.reliability._support import assert_nothing_written, assert_one_line_error

    result, folder = refused["key-as-text-later-in-memory"]
    shards = folder / "shards"
    assert_one_line_error(
        result,
        f"data.source shard {shards / 'part-01.parquet'}: column 'id' holds text, but "
        f"data.source shard {shards / 'part-00.parquet'} holds numbers in it; a column must "
        "hold one kind of value in every shard: write it as the same kind in each",
    )
    assert_nothing_written(folder / "out")


@pytest.mark.parametrize(
    ("column", "kind", "first_kind"),
    [("colour", "numbers", "text"), ("a", "True/False", "numbers")],
)
def test_csv_shards_read_in_memory_refuse_a_column_of_two_kinds_as_streamed(
    refused, column, kind, first_kind
):
    """pandas joined the shards' columns into one of objects: 'colour' became a category
    per distinct number of part-01.csv, 'a' a category per number and True/False, and the
    run trained on without a word. Streamed, both were refused; in memory now too."""
    from tests.reliability._support import assert_nothing_written, assert_one_line_error

    result, folder = refused[f"csv-in-memory-{column}"]
    shards = folder / "shards"
    assert_one_line_error(
        result,
        f"data.source shard {shards / 'part-01.csv'}: column '{column}' holds {kind}, but "
        f"data.source shard {shards / 'part-00.csv'} holds {first_kind} in it; a column must "
        "hold one kind of value in every shard (fix the shard, or list the column in "
        "data.categorical to read it as text everywhere)",
    )
    assert_nothing_written(folder / "out")


def test_a_column_only_the_first_shard_holds_is_traced_to_it(refused):
    """With data.features: null the first shard's columns are the features: a column only
    it holds was reported missing from the second shard, without a word of where it came
    from or what to do."""
    result, folder = refused["column-only-in-the-first"]
    first = folder / "shards" / "part-00.parquet"
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "part-01.parquet: feature column 'note' is not in the data" in lines[0]
    assert f"the columns of the first shard, {first}" in lines[0]
    assert "list them in data.features" in lines[0]  # what to do
    assert not (folder / "out").exists() or not list((folder / "out").rglob("run.json"))


def test_a_later_shard_with_an_extra_column_is_refused_streamed_as_in_memory(refused):
    """A later shard holding a column the first does not was refused loaded whole ("unlike
    the first shard") but read past when streamed: the same shards trained or not depending
    on data.streaming. Both refuse it, in the same line, naming the shard and the column."""
    from tests.reliability._support import assert_nothing_written, assert_one_line_error

    lines = []
    for how in ("streamed", "in-memory"):
        result, folder = refused[f"column-only-in-a-later-{how}"]
        shards = folder / "shards"
        lines.append(
            assert_one_line_error(
                result,
                f"data.source shard {shards / 'part-01.parquet'} has columns",
                f"unlike the first shard, {shards / 'part-00.parquet'} (extra note)",
            ).replace(str(folder), "<folder>")
        )
        assert_nothing_written(folder / "out")
    assert lines[0] == lines[1]


@pytest.mark.slow
def test_a_streamed_csv_with_text_far_down_a_number_column_names_its_row(
    cli, write_config, tmp_path
):
    """The column's type is fixed from the file's first block; a value beyond it that does not
    parse is reported by pyarrow without its row, which the message must still name."""
    from toolkit.data.streaming.reader import CSV_BLOCK_BYTES

    frame = _table(80_000)
    late = len(frame) - 50
    frame["a"] = frame["a"].astype(object)
    frame.loc[late, "a"] = "oops"
    path = tmp_path / "rows.csv"
    frame.to_csv(path, index=False)
    lines = path.read_bytes().splitlines(keepends=True)
    assert sum(map(len, lines[: late + 1])) > CSV_BLOCK_BYTES  # beyond the first block
    assert lines[late + 1].split(b",")[1] == b"oops"  # line late + 2: the header is line 1

    result = cli(
        "train", write_config(_streamed_config(str(path))), "--output-dir", tmp_path / "out"
    )
    assert result.returncode == 2
    message = result.stderr.strip().splitlines()
    assert len(message) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "column 'a' holds 'oops'" in message[0], message[0]
    assert f"row {late + 1} (line {late + 2})" in message[0], message[0]  # rows from 1
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("run.json"))


def assert_resumed_like_uninterrupted(run_dir: Path, reference_dir: Path) -> None:
    """A run killed after its second epoch and resumed completed with the weights and the
    history of a run never interrupted."""
    from toolkit.models.saving import load_model

    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "completed" and record["resumed_at_epoch"] >= 2
    for a, b in zip(
        load_model(run_dir / "model.keras").get_weights(),
        load_model(reference_dir / "model.keras").get_weights(),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(
        pd.read_csv(run_dir / "history.csv")[["epoch", "loss", "val_loss"]],
        pd.read_csv(reference_dir / "history.csv")[["epoch", "loss", "val_loss"]],
    )


@pytest.mark.slow
def test_sigkill_mid_stream_then_resume_is_exact(write_config, tmp_path):
    from tests.helpers import kill_mid_run, start_train

    source = _write_shards(_table(2400), tmp_path / "shards", shards=4)
    config = _streamed_config(
        source,
        model={"task": "regression", "hidden": [16], "dropout": 0.1},
        runtime={"deterministic": True},
    )
    config["training"] = {"epochs": 5, "batch_size": 32}
    path = write_config(config)

    process = start_train(path, tmp_path / "killed")
    run_dir = kill_mid_run(tmp_path / "killed", process, after_epochs=2)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    # The resume, then the run never interrupted, in one fresh process (TensorFlow started
    # once for both, where two processes started it): the resume first, so that it starts
    # as in a process of its own; the reference trained after it must still match it.
    resumed, reference = cli_in_one_process(
        ["train", "--resume", run_dir], ["train", path, "--output-dir", tmp_path / "reference"]
    )
    assert resumed.returncode == 0, resumed.stderr
    assert reference.returncode == 0, reference.stderr
    reference_dir = Path(reference.stdout.strip().splitlines()[-1])
    assert_resumed_like_uninterrupted(run_dir, reference_dir)


@pytest.mark.slow
def test_two_workers_each_read_their_own_shard_files(tmp_path):
    from tests.runtime._support import free_ports, last_line, run_record
    from tests.runtime.test_multi_worker import _start_worker
    from toolkit.models.saving import load_model

    source = _write_shards(_table(1600), tmp_path / "shards", shards=4)
    config = _streamed_config(source, runtime={"distribute": "multi_worker"})
    config["training"]["epochs"] = 1
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    temps = [tmp_path / f"tmp{index}" for index in range(2)]
    for temp in temps:
        temp.mkdir()
    workers = [_start_worker(i, cluster, path, out, temps[i]) for i in range(2)]
    outputs = []
    try:
        outputs = [worker.communicate(timeout=240) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=30)
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr[-3000:]
    runs = [last_line(stdout) for stdout, _ in outputs]
    records = [run_record(run) for run in runs]
    assert all(r["status"] == "completed" and r["workers"] == 2 for r in records)
    shards = [set(r["data"]["worker_shards"]) for r in records]
    assert shards == [
        {"part-00.parquet", "part-02.parquet"},
        {"part-01.parquet", "part-03.parquet"},
    ]
    # One model: the workers' gradients are combined at every step.
    for a, b in zip(
        load_model(runs[0] / "model.keras").get_weights(),
        load_model(runs[1] / "model.keras").get_weights(),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_predict_names_a_folder_as_evaluate_does(streamed_answers):
    """``predict --input new/`` on a folder holding no table said "--input file directory
    new/ holds no .csv or .parquet files"; it is "--input directory new/", as evaluate's
    "--data directory new/" and data.source's lines."""
    from tests.reliability._support import assert_one_line_error

    predicted, folder = streamed_answers["no tables predict"]
    evaluated, _ = streamed_answers["no tables evaluate"]
    for result, flag in ((predicted, "--input"), (evaluated, "--data")):
        line = assert_one_line_error(result, "holds no .csv or .parquet files")
        assert line.startswith(f"toolkit: error: {flag} directory {folder / 'new'} "), line
    assert not (folder / "p.csv").exists()
