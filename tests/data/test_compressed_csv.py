"""CSV files compressed whole (``train.csv.gz``, as Kaggle and UCI ship them) read as the
plain CSV of the same rows: in memory and streamed, as a shard among plain ones, as the
input of predict and evaluate; a corrupt one is a one-line error naming it."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.cli_chain import RUN, cli_chain
from tests.data.test_streaming import _config, _id_features, _table
from tests.helpers import cli_in_one_process, tiny_config
from tests.reliability._support import assert_nothing_written, assert_one_line_error
from toolkit.data.prepared import prepare_data
from toolkit.data.preprocessing import NUMERIC_INPUT

COMPRESSIONS = ["gz", "bz2", "zst", "lz4", "xz", "zip"]


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """``frame`` as CSV text at ``path``, compressed as its extension says: gzip, bz2 and xz
    by Python's own modules, zip as an archive of the one CSV file, zstd and lz4 (which
    Python lacks) by pyarrow's output stream."""
    text = frame.to_csv(index=False).encode()
    extension = path.name.rsplit(".", 1)[-1]
    if extension == "gz":
        path.write_bytes(gzip.compress(text))
    elif extension == "bz2":
        path.write_bytes(bz2.compress(text))
    elif extension == "xz":
        path.write_bytes(lzma.compress(text))
    elif extension == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(path.name.removesuffix(".zip"), text)
    elif extension in ("zst", "lz4"):
        import pyarrow as pa

        codec = {"zst": "zstd", "lz4": "lz4"}[extension]
        with pa.output_stream(str(path), compression=codec) as stream:
            stream.write(text)
    else:
        path.write_bytes(text)
    return path


def _truncated(source: Path, path: Path) -> Path:
    """The first three quarters of ``source``'s bytes at ``path``."""
    data = source.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 4])
    return path


def _diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True).frame


def _train_call(root: Path, source: Path, *, streaming: bool) -> list[str | Path]:
    """The ``toolkit train`` arguments of a run on ``source`` (diabetes' target)."""
    config = tiny_config(
        data={"source": str(source), "target": "target", "validation": 0.2, "test": 0.1},
        runtime={"deterministic": True},
    )
    config["data"]["streaming"] = streaming
    config["data"].pop("synthetic")
    path = root / f"{source.name}-{streaming}.yaml"
    path.write_text(yaml.safe_dump(config))
    return ["train", path, "--output-dir", root / "out"]


def _run_printed(result) -> Path:
    """The run directory ``toolkit train`` printed, checked to have trained."""
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module", params=[True, False], ids=["streamed", "in-memory"])
def runs(request, tmp_path_factory):
    """A run on diabetes as a plain CSV and one on the same rows as .csv.gz, same seed; and
    the answers of every predict and evaluate the tests below check on the plain run, all
    (both trains too) in one fresh process: ``(root, plain, packed, (plain_run, packed_run),
    answers)``, answers by name."""
    root = tmp_path_factory.mktemp("compressed")
    frame = _diabetes()
    plain = _write_csv(frame, root / "diabetes.csv")
    packed = _write_csv(frame, root / "diabetes.csv.gz")
    streaming = request.param
    # The plain run trained last: RUN below is the run the calls after it are made on.
    calls = {
        "train packed": _train_call(root, packed, streaming=streaming),
        "train plain": _train_call(root, plain, streaming=streaming),
    }
    # test_predict_and_evaluate_on_csv_gz_equal_those_on_the_plain_csv
    for source in (plain, packed):
        output = root / f"predictions-from-{source.name}.csv"
        calls[f"predict {source.name}"] = ["predict", RUN, "--input", source, "--output", output]
    for source in (plain, packed):
        calls[f"evaluate {source.name}"] = ["evaluate", RUN, "--data", source]
    broken = _truncated(packed, root / "broken.csv.gz")
    output = root / "from-broken.csv"
    calls["predict broken"] = ["predict", RUN, "--input", broken, "--output", output]
    calls["evaluate broken"] = ["evaluate", RUN, "--data", broken]
    # test_predict_and_evaluate_on_csv_xz_and_zip_equal_those_on_the_plain_csv
    for source in _xz_zip_sources(root, frame):
        output = root / f"predicted-{source.name}.csv"
        calls[f"xz predict {source.name}"] = ["predict", RUN, "--input", source, "--output", output]
        calls[f"xz evaluate {source.name}"] = ["evaluate", RUN, "--data", source]
    # test_predict_writes_csv_gz_output_holding_the_csv_outputs_bytes
    for name in ("out.csv", "out.csv.gz"):
        calls[f"predict to {name}"] = ["predict", RUN, "--input", plain, "--output", root / name]
    answers = dict(zip(calls, cli_chain(*calls.values()), strict=True))
    trained = (_run_printed(answers["train plain"]), _run_printed(answers["train packed"]))
    for name, answer in answers.items():
        if not name.startswith("train"):
            assert answer.args[2] == str(trained[0]), (name, answer.args)
    return root, plain, packed, trained, answers


# _xz_zip_sources' files: the plain file, two read as it, three refused.
XZ_ZIP_NAMES = [
    "diabetes.csv",
    "rows.csv.xz",
    "rows.csv.zip",
    "two.csv.zip",
    "rows.csv.7z",
    "rows.txt",
]


def _xz_zip_sources(root: Path, frame: pd.DataFrame) -> list[Path]:
    """The plain file, the same rows as .csv.xz and .csv.zip, then three files refused: a
    zip of two files, a 7z file and a .txt file."""
    sources = [
        root / "diabetes.csv",
        _write_csv(frame, root / "rows.csv.xz"),
        _write_csv(frame, root / "rows.csv.zip"),
    ]
    with zipfile.ZipFile(root / "two.csv.zip", "w") as archive:
        archive.writestr("a.csv", "x\n1\n")
        archive.writestr("b.csv", "x\n1\n")
    (root / "rows.csv.7z").write_bytes(b"7z")
    (root / "rows.txt").write_text(frame.to_csv(index=False))
    written = [*sources, root / "two.csv.zip", root / "rows.csv.7z", root / "rows.txt"]
    assert [path.name for path in written] == XZ_ZIP_NAMES
    return written


def test_a_run_on_csv_gz_equals_the_run_on_the_plain_csv(runs):
    _, _, _, (plain_run, packed_run), _ = runs
    for name in ("preprocessing.json", "data_summary.json", "metrics.json"):
        assert json.loads((packed_run / name).read_text()) == json.loads(
            (plain_run / name).read_text()
        ), name
    plain, packed = (json.loads((run / "run.json").read_text())["data"] for run in runs[3])
    assert packed["source"].endswith("diabetes.csv.gz")
    for key in ("source", "prepare_seconds"):
        plain.pop(key, None), packed.pop(key, None)
    assert packed == plain


def test_predict_and_evaluate_on_csv_gz_equal_those_on_the_plain_csv(runs):
    root, plain, packed, _, answers = runs  # the commands ran in the fixture's process
    outputs = {}
    for source in (plain, packed):
        output = root / f"predictions-from-{source.name}.csv"
        result = answers[f"predict {source.name}"]
        assert result.returncode == 0, result.stderr
        outputs[source.name] = pd.read_csv(output)
    assert len(outputs["diabetes.csv"]) == len(_diabetes())
    pd.testing.assert_frame_equal(outputs["diabetes.csv.gz"], outputs["diabetes.csv"])
    metrics = []
    for source in (plain, packed):
        result = answers[f"evaluate {source.name}"]
        assert result.returncode == 0, result.stderr
        metrics.append(json.loads(result.stdout))
    assert metrics[1].pop("split").endswith("diabetes.csv.gz")
    assert metrics[0].pop("split").endswith("diabetes.csv")
    assert metrics[0] == metrics[1]
    # Cut short, as by an interrupted download: one line naming it, no output written.
    for command in ("predict", "evaluate"):
        assert_one_line_error(
            answers[f"{command} broken"], "broken.csv.gz", "does not decompress as gzip"
        )
    assert not (root / "from-broken.csv").exists()


@pytest.mark.parametrize("streaming", [True, False], ids=["streamed", "in-memory"])
def test_shards_mixing_plain_and_compressed_csv_equal_the_plain_shards(tmp_path, streaming):
    """Each codec pyarrow decompresses by extension, as one shard of a set beside a plain
    one, and a compressed data.validation file: statistics and splits (by position: the
    shard's name is hashed) as on the plain files."""
    frame = _table(1000)
    held_out = _table(200, seed=1)
    bounds = np.linspace(0, len(frame), len(COMPRESSIONS) + 2).astype(int)
    parts = [frame.iloc[bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1)]
    extensions = ["", *(f".{c}" for c in COMPRESSIONS)]
    (tmp_path / "plain").mkdir()
    (tmp_path / "mixed").mkdir()
    for index, (part, extension) in enumerate(zip(parts, extensions, strict=True)):
        _write_csv(part, tmp_path / "plain" / f"part-{index}.csv")
        _write_csv(part, tmp_path / "mixed" / f"part-{index}.csv{extension}")
    _write_csv(held_out, tmp_path / "held-out.csv")
    _write_csv(held_out, tmp_path / "held-out.csv.zst")
    settings = _id_features(test=0.1, streaming=streaming)
    plain = prepare_data(
        _config(str(tmp_path / "plain"), validation=str(tmp_path / "held-out.csv"), **settings)
    )
    mixed = prepare_data(
        _config(str(tmp_path / "mixed"), validation=str(tmp_path / "held-out.csv.zst"), **settings)
    )
    assert mixed.streamed == streaming
    # Every row pandas wrote is read, split as the plain files' rows are.
    assert mixed.rows == plain.rows
    assert mixed.rows["train"] + mixed.rows["test"] == len(frame)
    assert mixed.rows["validation"] == len(held_out)
    assert mixed.spec.numeric == plain.spec.numeric
    assert mixed.spec.categorical == plain.spec.categorical
    assert mixed.spec.target == plain.spec.target
    for name in ("train", "validation", "test"):
        features_a, target_a = getattr(mixed, name).sample(None)
        features_b, target_b = getattr(plain, name).sample(None)
        np.testing.assert_array_equal(target_a, target_b)
        np.testing.assert_array_equal(features_a[NUMERIC_INPUT], features_b[NUMERIC_INPUT])


TRUNCATED_LAYOUTS = ["streamed-file", "in-memory-file", "streamed-shard", "in-memory-shard"]


@pytest.fixture(scope="module")
def truncated_trains(tmp_path_factory) -> dict[str, tuple]:
    """Per layout, ``toolkit train`` on a truncated .csv.gz (a file, or a shard beside a
    plain one; streamed or in memory), the four in one fresh process (one TensorFlow
    start-up), each in a folder of its own: ``layout -> (answer, source, output dir)``."""
    # Large enough that the first blocks decompress: the cut is met while the rows are read.
    frame = _table(20_000)
    root = tmp_path_factory.mktemp("truncated")
    whole = _write_csv(frame, root / "whole.csv.gz")
    layouts, calls = {}, []
    for layout in TRUNCATED_LAYOUTS:
        folder = root / layout
        folder.mkdir()
        streaming = layout.startswith("streamed")
        if layout.endswith("file"):
            source = _truncated(whole, folder / "rows.csv.gz")
        else:
            shards = folder / "shards"
            shards.mkdir()
            _write_csv(frame.iloc[:100], shards / "part-0.csv")
            source = _truncated(whole, shards / "part-1.csv.gz")
        config = tiny_config(
            data={
                **_id_features(),
                "source": str(source.parent if layout.endswith("shard") else source),
                "streaming": streaming,
                "validation": 0.2,
            }
        )
        config["data"].pop("synthetic")
        path = folder / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        calls.append(["train", path, "--output-dir", folder / "out"])
        layouts[layout] = (source, folder / "out")
    answers = cli_in_one_process(*calls)
    return {
        layout: (answer, *layouts[layout])
        for layout, answer in zip(TRUNCATED_LAYOUTS, answers, strict=True)
    }


@pytest.mark.parametrize("layout", TRUNCATED_LAYOUTS)
def test_a_truncated_gzip_file_is_one_line_naming_it_and_leaves_no_run(truncated_trains, layout):
    result, source, out = truncated_trains[layout]
    assert_one_line_error(result, source.name, "does not decompress as gzip", "gzip -t")
    assert_nothing_written(out)


@pytest.mark.parametrize(
    ("compression", "repeated"),
    [("gz", False), ("gz", True), ("bz2", False)],
    ids=["gzip-random-rows", "gzip-repeated-rows", "bz2-random-rows"],
)
def test_streaming_auto_judges_a_compressed_csv_by_its_text_not_its_size(
    tmp_path, monkeypatch, compression, repeated
):
    """A compressed file takes its decompressed text's room in memory: ``auto`` estimates
    at least what the plain file of the same rows is estimated to take, and streams both
    under a budget the plain file does not fit. Rows compressed no more than the assumed
    ratio are covered by it; gzip files say their size, which covers repeated rows too."""
    from toolkit.data.sources.shards import estimated_memory, streams

    frame = pd.concat([_table(50)] * 400) if repeated else _table(20_000)
    plain = _write_csv(frame, tmp_path / "rows.csv")
    packed = _write_csv(frame, tmp_path / f"rows.csv.{compression}")
    assert packed.stat().st_size < plain.stat().st_size / 2
    assert estimated_memory(str(packed)) >= estimated_memory(str(plain))
    budget = estimated_memory(str(plain)) / 2
    monkeypatch.setenv("TOOLKIT_MEMORY_BUDGET_MB", str(budget / (1 << 20)))
    for source in (plain, packed):
        assert streams(_config(str(source), streaming="auto", **_id_features()).data), source


def test_a_table_both_plain_and_compressed_in_one_folder_is_refused(tmp_path):
    """part-0.csv beside part-0.csv.gz: most likely one kept after (de)compressing the
    other, whose rows would be read twice."""
    from toolkit.data.streaming.files import list_shards
    from toolkit.errors import DataError

    frame = _table(50)
    _write_csv(frame, tmp_path / "part-0.csv")
    _write_csv(frame, tmp_path / "part-0.csv.gz")
    _write_csv(frame, tmp_path / "part-1.csv")
    with pytest.raises(DataError, match=r"holds both .*part-0\.csv and .*part-0\.csv\.gz"):
        list_shards(str(tmp_path))


def test_validate_reads_a_compressed_csv_header_and_names_a_missing_column(
    cli, write_config, tmp_path
):
    source = _write_csv(_table(50), tmp_path / "rows.csv.bz2")
    config = tiny_config(data={"source": str(source), "target": "targett", "validation": 0.2})
    config["data"].pop("synthetic")
    assert_one_line_error(
        cli("validate", write_config(config)), "target column 'targett' is not in the data"
    )


def test_an_unread_compression_is_refused_naming_what_is_read():
    from pydantic import ValidationError

    from toolkit.config.schema import DataConfig

    with pytest.raises(ValidationError) as refused:
        DataConfig(source="rows.csv.7z", target="y")
    assert "unknown data source 'rows.csv.7z'" in str(refused.value)
    assert ".csv (or .csv.gz/.bz2/.zst/.lz4/.xz/.zip)/.parquet" in str(refused.value)
    for extension in ("gz", "bz2", "zst", "lz4", "xz", "zip"):
        assert DataConfig(source=f"rows.csv.{extension}", target="y").form == "table"


def test_predict_and_evaluate_on_csv_xz_and_zip_equal_those_on_the_plain_csv(runs):
    """The extensions pandas' read_csv decompresses and pyarrow does not (xz, zip) read as
    the plain file, by predict --input and evaluate --data; a zip of two files, and a 7z
    or .txt file, are one line each, the latter two naming what is read."""
    root, plain, _, _, answers = runs  # the commands ran in the fixture's process
    *sources, two, seven, text = (root / name for name in XZ_ZIP_NAMES)
    refused = [two, seven, text]
    pairs = [
        (answers[f"xz predict {s.name}"], answers[f"xz evaluate {s.name}"])
        for s in [*sources, *refused]
    ]
    evaluated = []
    for source, (predicted, evaluation) in zip(sources, pairs[: len(sources)], strict=True):
        assert predicted.returncode == 0, predicted.stderr
        assert evaluation.returncode == 0, evaluation.stderr
        pd.testing.assert_frame_equal(
            pd.read_csv(root / f"predicted-{source.name}.csv"),
            pd.read_csv(root / f"predicted-{plain.name}.csv"),
        )
        metrics = json.loads(evaluation.stdout)
        assert metrics.pop("split").endswith(source.name)
        evaluated.append(metrics)
    assert evaluated[1] == evaluated[0] and evaluated[2] == evaluated[0]
    words = ".csv (or .csv.gz/.bz2/.zst/.lz4/.xz/.zip)/.parquet"
    expected = {
        "two.csv.zip": ("two.csv.zip cannot be read: it holds 2 files (a.csv, b.csv)",),
        "rows.csv.7z": (
            "rows.csv.7z is compressed in a way that is not read",
            "as .csv.gz/.bz2/.zst/.lz4/.xz/.zip",
        ),
        "rows.txt": (f"rows.txt is not a {words} file",),
    }
    for source, (predicted, evaluation) in zip(refused, pairs[len(sources) :], strict=True):
        for answer in (predicted, evaluation):
            assert_one_line_error(answer, *expected[source.name])
        assert not (root / f"predicted-{source.name}.csv").exists()


def test_predict_writes_csv_gz_output_holding_the_csv_outputs_bytes(runs):
    """``--output predictions.csv.gz`` writes the CSV text ``--output predictions.csv``
    writes, gzip-compressed (read back by Python's gzip module and by pandas)."""
    root, _, _, _, answers = runs  # the commands ran in the fixture's process
    for name in ("out.csv", "out.csv.gz"):
        result = answers[f"predict to {name}"]
        assert result.returncode == 0, result.stderr
    assert gzip.decompress((root / "out.csv.gz").read_bytes()) == (root / "out.csv").read_bytes()
    pd.testing.assert_frame_equal(pd.read_csv(root / "out.csv.gz"), pd.read_csv(root / "out.csv"))


@pytest.mark.slow
def test_a_killed_streamed_run_on_csv_gz_resumes_to_the_plain_csv_runs_model(
    cli, write_config, tmp_path
):
    """Split by each row's shard and position (no split key), killed after two epochs and
    resumed: the model is the one an uninterrupted run on the plain CSV trains."""
    from tests.data.test_streaming_cli import _streamed_config, assert_resumed_like_uninterrupted
    from tests.helpers import kill_mid_run, start_train

    frame = _table(2400)
    sources = {
        "plain": _write_csv(frame, tmp_path / "rows.csv"),
        "packed": _write_csv(frame, tmp_path / "rows.csv.gz"),
    }
    configs = {}
    for kind, source in sources.items():
        config = _streamed_config(
            str(source),
            model={"task": "regression", "hidden": [16], "dropout": 0.1},
            runtime={"deterministic": True},
        )
        config["data"].pop("split_key")
        config["training"] = {"epochs": 5, "batch_size": 32}
        configs[kind] = write_config(config, f"{kind}.yaml")
    reference = cli("train", configs["plain"], "--output-dir", tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr
    reference_dir = Path(reference.stdout.strip().splitlines()[-1])

    process = start_train(configs["packed"], tmp_path / "killed")
    run_dir = kill_mid_run(tmp_path / "killed", process, after_epochs=2)
    resumed = cli("train", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert_resumed_like_uninterrupted(run_dir, reference_dir)
