"""The Python API: the README's example runs as written, ``import toolkit`` stays cheap, plain
``keras.saving.load_model`` loads the toolkit's files, and configs load from dicts."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

import toolkit
from tests.helpers import REPO, held_out_frame, tiny_config
from toolkit.data.input_audit import InputWarning
from toolkit.errors import ConfigError


@contextlib.contextmanager
def _tensorflow_warnings() -> Iterator[list[logging.LogRecord]]:
    """The records TensorFlow's logger emits inside the block, whatever level an earlier
    test of this process left it at."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]


@pytest.mark.slow
def test_the_readme_example_runs(tmp_path, monkeypatch):
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)  # runs land in tmp_path/experiments, as they would in a repo
    namespace: dict = {}
    exec(compile(_readme_example(), "README.md", "exec"), namespace)
    run, sweep, model = namespace["run"], namespace["sweep"], namespace["model"]
    assert run.status == "completed" and run.path.resolve().is_relative_to(tmp_path / "experiments")
    assert isinstance(namespace["predictions"], pd.DataFrame)
    # configs/regression.yaml has a Gaussian head: the mean and its interval
    assert list(namespace["predictions"].columns) == [
        "prediction",
        "std",
        "aleatoric_std",
        "lower",
        "upper",
    ]
    assert namespace["scores"]["rmse"] == pytest.approx(run.metrics["test"]["rmse"], rel=1e-6)
    assert (namespace["exported"] / "saved_model.pb").exists()
    assert namespace["same"].path == run.path
    assert sweep.status == "completed" and len(sweep.trials) == 2
    assert isinstance(namespace["best"], toolkit.ExperimentConfig)
    rows = namespace["rows"]
    features = {"numeric": rows[[f.name for f in run.spec.numeric]].to_numpy(np.float32)}
    np.testing.assert_allclose(
        model.predict(features, verbose=0)[:, 0],
        namespace["predictions"]["prediction"],
        rtol=1e-5,
    )


def test_import_toolkit_and_its_names_start_no_tensorflow():
    code = textwrap.dedent(
        """
        import sys
        import toolkit
        for name in toolkit.__all__:
            getattr(toolkit, name)
        config = toolkit.load_config({"name": "x", "data": {"source": "sklearn:iris"},
                                      "model": {"task": "multiclass"}})
        heavy = [m for m in ("tensorflow", "keras", "mlflow", "tf2onnx") if m in sys.modules]
        assert not heavy, heavy
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return toolkit.train(
        tiny_config("regression", model={"task": "regression", "head": "gaussian"}),
        output_dir=tmp_path_factory.mktemp("api"),
        verbose=0,
    )


# Plain Keras in a fresh process: first as the issue met it, then after registering the classes.
PLAIN_LOAD = textwrap.dedent(
    """
    import sys
    import numpy as np
    import keras
    try:
        keras.saving.load_model(sys.argv[1], safe_mode=True)
    except Exception as error:
        print("refused:", " ".join(str(error).split()))
    import toolkit.custom_objects
    model = keras.saving.load_model(sys.argv[1], safe_mode=True)
    np.save(sys.argv[3], model.predict({"numeric": np.load(sys.argv[2])}, verbose=0))
    """
)


@pytest.mark.slow
def test_plain_keras_loads_a_toolkit_model_after_importing_custom_objects(tiny_run, tmp_path):
    frame = held_out_frame(tiny_run)
    numeric = frame[[f.name for f in tiny_run.spec.numeric]].to_numpy(np.float32)
    np.save(tmp_path / "rows.npy", numeric)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PLAIN_LOAD,
            tiny_run.path / "model.keras",
            tmp_path / "rows.npy",
            tmp_path / "out.npy",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # Without the import, Keras does not know the toolkit's classes (what the issue met).
    assert done.stdout.startswith("refused:") and "ImputeStandardize" in done.stdout
    outputs = np.load(tmp_path / "out.npy")
    expected = tiny_run.predict(frame)
    np.testing.assert_allclose(outputs[:, 0], expected["prediction"], rtol=1e-5)
    np.testing.assert_allclose(outputs[:, 1], expected["aleatoric_std"], rtol=1e-5)


@pytest.mark.slow
def test_a_misspelled_keyword_is_a_toolkit_error_naming_the_allowed_ones(tiny_run, tmp_path):
    """``toolkit.train(config, verbos=0)`` was Python's bare TypeError ("got an unexpected
    keyword argument 'verbos'"), not the ToolkitError naming what is allowed that the README
    promises for every mistake. It stays a TypeError too, and nothing runs or is written."""
    calls = [
        (
            lambda: toolkit.train(tiny_config(), verbos=0, output_dir=tmp_path / "out"),
            "train() takes no keyword 'verbos' (did you mean 'verbose'?); allowed: config, "
            "overrides, output_dir, verbose",
        ),
        (
            lambda: toolkit.load_config(tiny_config(), overide={"seed": 1}),
            "load_config() takes no keyword 'overide' (did you mean 'overrides'?); allowed: "
            "source, overrides",
        ),
        (
            lambda: tiny_run.predict(held_out_frame(tiny_run), mc_sample=3),
            "Run.predict() takes no keyword 'mc_sample' (did you mean 'mc_samples'?); allowed: "
            "data, label, mc_samples",
        ),
        (
            lambda: toolkit.export(tiny_run.path, fromat="onnx"),
            "export() takes no keyword 'fromat' (did you mean 'format'?); allowed: run_dir, "
            "path, format, mc_samples",
        ),
    ]
    for call, message in calls:
        with pytest.raises(toolkit.ToolkitError) as caught:
            call()
        assert str(caught.value) == message
        assert isinstance(caught.value, TypeError)
    assert not (tmp_path / "out").exists() and not (tiny_run.path / "export").exists()
    # Keywords spelt right still pass through, positional arguments too.
    assert toolkit.load_config(tiny_config(), overrides={"seed": 1}).seed == 1


def test_a_run_object_reads_its_directory(tiny_run):
    same = toolkit.load_run(tiny_run.path)
    assert isinstance(same, toolkit.Run) and same.status == "completed"
    assert same.config == tiny_run.config and same.epochs == len(same.history) == 3
    assert same.history["epoch"].tolist() == [1, 2, 3]
    assert set(same.metrics) >= {"train", "validation", "evaluated_on"}
    scores = same.evaluate()
    assert scores["rmse"] == pytest.approx(same.metrics["validation"]["rmse"], rel=1e-6)
    with pytest.raises(toolkit.ToolkitError, match=r"^input feature column 'x0' is not in the"):
        same.predict(pd.DataFrame({"other": [1.0]}))


@pytest.mark.slow
def test_predict_and_evaluate_take_a_pathlib_path(tiny_run, tmp_path):
    """``Run.predict(Path("rows.csv"))`` failed inside the reader ('PosixPath' object is not
    iterable) though the README documents ``predict(frame_or_path)``; a Path now gives what
    the frame gives."""
    frame = held_out_frame(tiny_run)
    frame.to_csv(tmp_path / "rows.csv", index=False)
    expected = tiny_run.predict(frame)
    got = tiny_run.predict(tmp_path / "rows.csv")
    np.testing.assert_allclose(got["prediction"], expected["prediction"], rtol=1e-6)
    labelled = frame.assign(target=expected["prediction"] + 1.0)  # RMSE exactly 1
    labelled.to_csv(tmp_path / "labelled.csv", index=False)
    assert tiny_run.evaluate(tmp_path / "labelled.csv")["rmse"] == pytest.approx(1.0, rel=1e-5)
    assert tiny_run.predict_file(tmp_path / "rows.csv", tmp_path / "out.csv") == len(frame)


@pytest.mark.slow
def test_predict_file_names_its_output_keyword_and_the_command_line_its_flag(tiny_run, tmp_path):
    """``Run.predict_file(rows, "p.txt")`` was refused as "--output p.txt: ...", a flag a
    Python caller never passed: its refusals name the keyword, ``toolkit predict`` the flag."""
    from tests.helpers import run_cli

    rows = tmp_path / "rows.csv"
    held_out_frame(tiny_run).head(3).to_csv(rows, index=False)
    (tmp_path / "folder.csv").mkdir()
    suffix = "the suffix picks the format, and must be .csv or .parquet (or .csv.gz, written "
    cases = [
        (tmp_path / "p.txt", f"{tmp_path / 'p.txt'}: {suffix}gzip-compressed; got '.txt')"),
        (tmp_path / "folder.csv", f"{tmp_path / 'folder.csv'} exists and is not a regular file"),
        (
            rows,
            f"{rows} is the input file {rows}: writing the predictions would replace its rows; "
            "name another output file",
        ),
    ]
    before = {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*")}
    for output, message in cases:
        with pytest.raises(toolkit.ToolkitError) as refused:
            tiny_run.predict_file(rows, output)
        assert str(refused.value) == f"output {message}"
        flagged = run_cli("predict", tiny_run.path, "--input", rows, "--output", output)
        assert flagged.returncode == 2
        assert flagged.stderr == f"toolkit: error: --output {message}\n"
    assert {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*")} == before


@pytest.mark.slow
def test_predict_file_into_a_missing_directory_is_one_line(tiny_run, tmp_path):
    """From Python it was a FileNotFoundError naming the temporary file the predictions were
    being written to (``nowhere/.tmp-locked-...-p.csv``), once all of them had been made."""
    rows = tmp_path / "rows.csv"
    held_out_frame(tiny_run).head(3).to_csv(rows, index=False)
    (tmp_path / "plain").write_text("not a folder")
    for parent, state in [("nowhere", "does not exist"), ("plain", "is not a directory")]:
        with pytest.raises(toolkit.ToolkitError) as refused:
            tiny_run.predict_file(rows, tmp_path / parent / "p.csv")
        assert str(refused.value) == f"output directory {state}: {tmp_path / parent}"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["plain", "rows.csv"]


@pytest.mark.slow
def test_predict_and_evaluate_refuse_a_frame_with_a_column_twice(tiny_run):
    """A frame with a duplicated column name failed deep in the encoding ("'DataFrame'
    object has no attribute 'dtype'"); it is now the one line a file with it gets."""
    frame = held_out_frame(tiny_run)
    twice = pd.concat([frame, frame[["x1"]]], axis=1)
    with pytest.raises(toolkit.ToolkitError, match=r"^input has the column 'x1' twice; rename"):
        tiny_run.predict(twice)
    with pytest.raises(toolkit.ToolkitError, match=r"^data has the column 'x1' twice; rename"):
        tiny_run.evaluate(twice)


@pytest.mark.slow
def test_predict_refuses_an_infinite_feature_as_evaluate_and_training_do(tiny_run):
    """``Run.predict`` scored an inf with a warning (its prediction meaningless, a
    probability of 0.0 or none); it is now the one line evaluate and training give."""
    frame = held_out_frame(tiny_run).head(4).reset_index(drop=True)
    frame.loc[[1, 3], "x2"] = [np.inf, -np.inf]
    expected = r"^input column 'x2' has infinite values \(rows 2, 4\); drop them"
    with pytest.raises(toolkit.ToolkitError, match=expected):
        tiny_run.predict(frame)
    with pytest.raises(toolkit.ToolkitError, match=expected.replace("input", "data")):
        tiny_run.evaluate(frame.assign(target=0.0))
    # A missing value is no such mistake: the training mean, as the column's own, is scored.
    missing = frame.assign(x2=[frame["x2"][0], np.nan, 0.0, np.nan])
    mean = next(f for f in tiny_run.spec.numeric if f.name == "x2").mean
    imputed = tiny_run.predict(missing.assign(x2=missing["x2"].fillna(mean)))
    with pytest.warns(InputWarning, match=r"column 'x2': 2 of 4 rows are missing"):
        scored = tiny_run.predict(missing)
    np.testing.assert_allclose(scored["prediction"], imputed["prediction"])


@pytest.mark.slow
def test_input_warnings_name_the_callers_line(tiny_run, tmp_path):
    """A notebook's warning of a missing value names the line that called ``predict``,
    ``predict_file`` or ``evaluate``: it named toolkit/errors.py, the keyword checker's
    wrapper, which ``stacklevel=2`` reached instead of the caller."""
    frame = held_out_frame(tiny_run).head(4).reset_index(drop=True)
    frame.loc[1, "x2"] = np.nan
    rows = tmp_path / "rows.csv"
    frame.to_csv(rows, index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tiny_run.predict(frame)
        tiny_run.predict_file(rows, tmp_path / "predictions.csv")
        tiny_run.evaluate(frame.assign(target=0.0))
    found = [(w.filename, str(w.message)) for w in caught if w.category is InputWarning]
    assert len(found) == 3, found
    assert {filename for filename, _ in found} == {__file__}, found


@pytest.mark.slow
def test_evaluate_without_the_target_suggests_only_a_close_name(tiny_run):
    """A frame without the target but with an id column 'start' was told "(did you mean
    'start'?)" for 'target' (difflib's ratio 0.73, over its cutoff 0.6): only a name a
    typing slip or two away is suggested now; the columns there are listed either way."""
    import difflib

    frame = held_out_frame(tiny_run).head(3)
    features = ", ".join(frame.columns)
    for unrelated in ("start", "tag", "age"):  # 0.73, 0.67 and 0.67 alike to 'target'
        assert difflib.SequenceMatcher(None, "target", unrelated).ratio() > 0.6
        with pytest.raises(toolkit.ToolkitError) as caught:
            tiny_run.evaluate(frame.assign(**{unrelated: 1.0}))
        assert str(caught.value) == (
            f"target column 'target' is not in the data; columns: {features}, {unrelated}"
        )
    for slip in ("tagret", "trgt"):  # two letters swapped; two left out
        with pytest.raises(toolkit.ToolkitError) as caught:
            tiny_run.evaluate(frame.assign(start=2.0, **{slip: 1.0}))
        assert str(caught.value) == (
            f"target column 'target' is not in the data (did you mean '{slip}'?); "
            f"columns: {features}, start, {slip}"
        )


@pytest.mark.slow
def test_predict_takes_a_dict_of_columns_and_refuses_a_series(tiny_run):
    """A Series (``frame.iloc[0]``) and a dict were taken for paths ('input file not found',
    'matches no .csv or .parquet files'). A dict of columns is now a frame; a Series, or
    anything else, is a one-line error naming its type."""
    frame = held_out_frame(tiny_run).head(3)
    features = [f.name for f in tiny_run.spec.numeric]
    expected = tiny_run.predict(frame[features])
    got = tiny_run.predict({name: frame[name].tolist() for name in features})
    np.testing.assert_allclose(got["prediction"], expected["prediction"], rtol=1e-6)
    labelled = frame.assign(target=expected["prediction"].to_numpy() + 1.0)  # RMSE exactly 1
    scores = tiny_run.evaluate(labelled.to_dict(orient="list"))
    assert scores["rmse"] == pytest.approx(1.0, rel=1e-5)
    with pytest.raises(
        toolkit.ToolkitError,
        match=r"^Run.predict takes a pandas DataFrame, .*got Series; for one row, pass frame.iloc\[\[i\]\]",
    ):
        tiny_run.predict(frame.iloc[0])
    with pytest.raises(toolkit.ToolkitError, match=r"^Run.evaluate takes .* got int$"):
        tiny_run.evaluate(3)
    with pytest.raises(toolkit.ToolkitError, match=r"^Run.predict: a dict of columns maps each"):
        tiny_run.predict({"x0": [1.0, 2.0], "x1": [1.0]})


@pytest.mark.slow
def test_a_bad_row_of_a_frame_is_named_by_its_position_from_1(tiny_run):
    """Rows were named from 0 ("row 0 holds 'abc'": a spreadsheet's header) and, in a frame
    given to the API, by its index labels; row 1 is now the first row, in files and frames
    alike, whatever the frame's index."""
    frame = held_out_frame(tiny_run).head(4)
    frame.index = [10, 11, 12, 13]
    bad = frame.astype({"x1": object})
    bad.iloc[2, bad.columns.get_loc("x1")] = "abc"  # the third row
    with pytest.raises(toolkit.ToolkitError, match=r"^input column 'x1' must be numeric, row 3 "):
        tiny_run.predict(bad)
    unlabelled = frame.assign(target=[1.0, np.nan, 2.0, np.nan])  # the second and fourth
    with pytest.raises(
        toolkit.ToolkitError,
        match=r"^data: target column 'target' has missing values \(rows 2, 4\)",
    ):
        tiny_run.evaluate(unlabelled)


def test_configs_load_from_a_mapping_with_overrides():
    base = tiny_config("regression")
    config = toolkit.load_config(base, overrides={"training.epochs": 7, "model.hidden.0": 32})
    assert config.training.epochs == 7 and config.model.hidden[0].units == 32
    same = toolkit.load_config(config, overrides=["training.epochs=7", "model.hidden.0=32"])
    assert same == config
    given = (text for text in ["training.epochs=7", "model.hidden.0=32"])  # read once
    assert toolkit.load_config(base, overrides=given) == config
    assert toolkit.load_config(REPO / "configs" / "regression.yaml").name == "diabetes-mlp"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"model.hiden": 3},
            r"override model\.hiden: model\.hiden: unknown key 'hiden' \(did you mean 'hidden'\?\)",
        ),
        (
            {"model.hidden.5": 3},
            r"override model\.hidden\.5: model\.hidden\.5: index 5 out of range",
        ),
        ("training.epochs=2", r"overrides: expected a mapping of key paths or a list"),
        # Tracebacks from inside the loader: "'int' object is not iterable", "'int' object
        # has no attribute 'partition'"; a key 5 was blamed on the config ("config: 5: ...").
        (
            5,
            r"^overrides: expected a mapping of key paths or a list of KEY=VALUE strings, got int$",
        ),
        (["training.epochs=2", 5], r", got the item 5 \(int\) in the list$"),
        ({5: 1}, r", got the key 5 \(int\); write a key path as text, such as 'model\.hidden\.0'$"),
    ],
)
def test_a_bad_override_is_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message) as error:
        toolkit.load_config(tiny_config("regression"), overrides=overrides)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"trainin.epochs": 3},
            "override trainin.epochs: trainin: unknown key 'trainin' (did you mean 'training'?)",
        ),
        (
            {"data.validation": 0.6, "data.test": 0.6},
            "override data.validation, override data.test: data: data.validation (0.6) and "
            "data.test (0.6) add up to 1.2",
        ),
    ],
)
def test_a_mistake_an_override_mapping_made_names_the_override_not_the_file(overrides, message):
    """Errors blamed the file's line (``configs/regression.yaml: trainin: unknown key``,
    ``regression.yaml:43: data: ...``) for what the overrides set: only a --set was named."""
    with pytest.raises(ConfigError) as error:
        toolkit.load_config(REPO / "configs" / "regression.yaml", overrides=overrides)
    assert str(error.value).startswith(message)


def test_a_python_callers_override_list_is_named_as_overrides_and_the_command_lines_as_set(
    tmp_path,
):
    """``overrides=["training.epochs"]`` was refused as "--set training.epochs: expected
    KEY=VALUE, e.g. --set training.epochs=5", a flag the caller never passed: each entry is
    named ``override KEY=VALUE``, as a mapping's keys are, and --set stays the CLI's."""
    from tests.helpers import run_cli

    regression = REPO / "configs" / "regression.yaml"
    for overrides, message in [
        (["training.epochs"], "override training.epochs: expected KEY=VALUE, e.g. "),
        (["training.epochs=[["], "override training.epochs=[[: value is not valid YAML"),
        (["model.hidden.5=3"], "override model.hidden.5=3: model.hidden.5: index 5 out of range"),
        (
            ["training.class_weight={yes:5}"],
            "override training.class_weight={yes:5}: 'yes:5' is read as a key with no value",
        ),
        (
            ["data.validation=0.6", "data.test=0.6"],
            "override data.validation=0.6, override data.test=0.6: data: data.validation",
        ),
    ]:
        with pytest.raises(ConfigError) as error:
            toolkit.load_config(regression, overrides=overrides)
        assert str(error.value).startswith(message)
        assert "--set" not in str(error.value)

    # A search space entry refused once the sweep validates it (past the command line's own
    # check of the config), from Python and from the command line.
    space = "tuner.search_space={model.dropout: {choice: [0.1, 2.0]}}"
    refusal = "tuner.search_space.model.dropout: value 2.0 gives an invalid config"
    sweep = REPO / "configs" / "sweep.yaml"
    with pytest.raises(ConfigError) as error:
        toolkit.tune(sweep, overrides=[space], output_dir=tmp_path / "api")
    assert str(error.value).startswith(f"override {space}: {refusal}")
    refused = run_cli("tune", sweep, "--set", space, "--output-dir", tmp_path / "cli")
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"toolkit: error: --set {space}: {refusal}")
    assert not (tmp_path / "api").exists() and not (tmp_path / "cli").exists()


def test_a_mapping_cannot_extend_a_file():
    with pytest.raises(ConfigError, match="extends: needs a config file"):
        toolkit.load_config({"extends": "base.yaml", "name": "x"})


@pytest.fixture(scope="module")
def pets_run(tmp_path_factory) -> tuple:
    """A one-epoch conv binary classifier of a tiny class folder: the folder and the run."""
    from tests.image_data import write_class_folder
    from toolkit.config.loading import validate_config

    tmp_path = tmp_path_factory.mktemp("pets")
    folder = write_class_folder(tmp_path / "pets", per_class=6)
    config = validate_config(
        {
            "name": "pets",
            "data": {"source": str(folder)},
            "model": {"task": "binary", "body": "conv", "conv": {"blocks": [4]}, "hidden": [4]},
            "training": {"epochs": 1, "batch_size": 4},
            "callbacks": {"learning_curve": False},
            "evaluation": {"plots": False, "baselines": False},
        }
    )
    return folder, toolkit.train(config, output_dir=tmp_path / "runs", verbose=0).path


def test_predicting_a_few_images_at_a_time_traces_no_graph_and_warns_nothing(pets_run):
    """One image per call, each with a new ``load_run`` as a script might: every model
    traced its own predict graph, and from the fifth TensorFlow warned "N out of the last M
    calls ... triggered tf.function retracing". A batch's worth of images is now called
    eagerly: no graph is traced, and the probabilities are the saved model's."""
    import keras
    from PIL import Image

    folder, path = pets_run
    files = sorted(str(f) for f in folder.rglob("*.png"))[:6]

    with _tensorflow_warnings() as records:
        one_at_a_time = [toolkit.load_run(path).predict(f) for f in files]
        run = toolkit.load_run(path)
        few = [run.predict(pd.DataFrame({"file": files[:n]})) for n in (1, 2, 3, 1)]
    assert not [r for r in records if "retracing" in r.getMessage()]
    assert run.model.predict_function is None  # Keras' predict graph was never built

    model = keras.saving.load_model(path / "model.keras")
    pixels = np.stack([np.asarray(Image.open(f)) for f in files]).astype("float32")
    logits = model.predict({"image": pixels}, verbose=0)[:, 0]
    expected = 1 / (1 + np.exp(-logits))
    got = pd.concat(one_at_a_time, ignore_index=True)["probability_dog"]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(few[2]["probability_dog"], expected[:3], atol=1e-6)


def test_predict_takes_a_numpy_array_of_images_and_names_it_when_refusing(pets_run):
    """``Run.predict(x)`` with x an array of images, as a notebook holds them, was refused
    with "takes a pandas DataFrame, a dict of columns or a .csv/.parquet path", naming
    neither arrays nor the .npz files, folders and image files an image run takes. Each
    image is a row; the probabilities are the saved model's on those pixels."""
    import keras

    from tests.image_data import patterned_images

    run = toolkit.load_run(pets_run[1])
    pixels = patterned_images(5, 16, 3, seed=4)[0].astype("float32")
    got = run.predict(pixels)
    assert list(got.columns) == ["prediction", "probability_dog"]
    model = keras.saving.load_model(run.path / "model.keras")
    logits = model.predict({"image": pixels}, verbose=0)[:, 0]
    np.testing.assert_allclose(got["probability_dog"], 1 / (1 + np.exp(-logits)), atol=1e-6)
    with pytest.raises(toolkit.ToolkitError) as caught:
        run.predict(pixels.tolist())
    assert str(caught.value) == (
        "Run.predict takes a pandas DataFrame, a dict of columns, a NumPy array of images "
        "(N, H, W[, C]) or an .npz, image folder or image file path or a .csv/.parquet path "
        "(a file, directory or glob), got list"
    )
    with pytest.raises(toolkit.ToolkitError, match=r"images of shape \(8, 8, 3\), the model"):
        run.predict(pixels[:, :8, :8])


def test_signals_with_a_nan_given_as_arrays_are_refused_as_an_npz_is(tmp_path):
    """A NaN in a signal given to ``Run.predict`` as an array or a dict of columns (an
    .npz's is refused when read) was scored: that row's probability NaN, its prediction the
    first class, without a word. Evaluate on such a frame scored it too."""
    from tests.image_data import write_signal_npz
    from toolkit.config.loading import validate_config

    source = write_signal_npz(tmp_path / "signals.npz", count=24, length=8)
    config = validate_config(
        {
            "name": "signals",
            "data": {"source": str(source), "kind": "signal", "validation": 0.25},
            "model": {"task": "binary", "flatten": True, "hidden": [4]},
            "training": {"epochs": 1, "batch_size": 8},
            "callbacks": {"learning_curve": False},
            "evaluation": {"plots": False, "baselines": False},
        }
    )
    run = toolkit.train(config, output_dir=tmp_path / "runs", verbose=0)
    with np.load(source) as archive:
        x, y = archive["x"][:6].copy(), archive["y"][:6]
    assert run.predict(x)["probability_1"].notna().all()
    x[3, 2, 1] = np.nan
    expected = (
        "input: signals hold NaN or infinite values in 1 row, the first row 4; images and "
        "signals must be finite numbers"
    )
    for given in (x, {"signal": list(x)}):
        with pytest.raises(toolkit.ToolkitError) as caught:
            run.predict(given)
        assert str(caught.value) == expected
    with pytest.raises(toolkit.ToolkitError) as caught:
        run.evaluate(pd.DataFrame({"signal": list(x), "target": y}))
    assert str(caught.value).endswith(expected.removeprefix("input"))


@pytest.mark.slow
def test_a_run_group_writes_its_report(tmp_path):
    """RunGroup had no report(), which Run and Sweep have; its report left out the warnings
    of its seed runs (here a KL warm-up as long as training, in each seed)."""
    config = tiny_config(
        model={"task": "regression", "hidden": [8], "bayesian": {"kl_warmup_epochs": 3}}
    )
    group = toolkit.train_repeated(config, repeats=2, output_dir=tmp_path, verbose=0)
    html_path, markdown_path = group.report()
    assert (html_path, markdown_path) == (group.path / "report.html", group.path / "report.md")
    rmse = pd.Series([run.metrics["validation"]["rmse"] for run in group.runs])
    markdown = markdown_path.read_text()
    assert "## Metrics (mean ± std over 2 seeds)" in markdown
    summary = f"{rmse.mean():.4g} ± {rmse.std():.4g}"  # pandas: the sample std, ddof=1
    rmse_row = next(line for line in markdown.splitlines() if line.startswith("| rmse |"))
    assert rmse_row.endswith(f"| {summary} |")  # columns train, validation
    assert f"<td>{summary}</td>" in html_path.read_text()
    warned = [line for line in markdown.splitlines() if "kl_warmup_epochs 3: the weights" in line]
    assert [line.split(":")[0] for line in warned] == [run.path.name for run in group.runs]


def _labelled_table(kind: str, rows: int = 120) -> pd.DataFrame:
    """Two features and a target of ``kind``: bool, 0/1 integers or 0..3 integers."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows)})
    if kind == "bool":
        frame["label"] = frame["a"] > 0
    elif kind == "int":
        frame["label"] = (frame["a"] > 0).astype(np.int64)
    else:
        frame["label"] = np.digitize(frame["a"], [-0.7, 0.0, 0.7]).astype(np.int64)
    return frame


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "suffix", "streaming"),
    [("bool", "parquet", False), ("int", "csv", False), ("multi", "csv", True)],
)
def test_predicted_labels_keep_the_target_type(tmp_path, kind, suffix, streaming):
    """A bool or integer target came back as the strings 'True' or '1' (in Run.predict and a
    Parquet ``toolkit predict``), so ``prediction == label`` never held. The labels now have
    the target's type, checked against the probability columns' own argmax; a run from
    before (its preprocessing.json without ``label_type``) still predicts strings."""
    frame = _labelled_table(kind)
    source = tmp_path / f"train.{suffix}"
    frame.to_parquet(source) if suffix == "parquet" else frame.to_csv(source, index=False)
    task = "multiclass" if kind == "multi" else "binary"
    config = tiny_config(task, data={"source": str(source), "target": "label"})
    config["data"].pop("synthetic")
    config["data"]["streaming"] = streaming
    run = toolkit.train(config, output_dir=tmp_path / "out", verbose=0)
    got = run.predict(frame)
    classes = [False, True] if kind == "bool" else [0, 1] if kind == "int" else [0, 1, 2, 3]
    if task == "binary":
        expected = np.where(got[f"probability_{classes[1]}"] > 0.5, classes[1], classes[0])
    else:
        scores = got[[f"probability_{c}" for c in classes]].to_numpy()
        expected = np.asarray(classes)[scores.argmax(axis=1)]
    assert got["prediction"].dtype == frame["label"].dtype
    assert got["prediction"].tolist() == expected.tolist()
    # Compared with the labels as a user would: right where the labels agree.
    np.testing.assert_array_equal(got["prediction"] == got["label"], expected == frame["label"])
    for output in ("out.parquet", "out.csv"):
        run.predict_file(source, tmp_path / output)
        read = pd.read_parquet if output.endswith("parquet") else pd.read_csv
        written = read(tmp_path / output)
        assert written["prediction"].dtype == frame["label"].dtype, output
        assert written["prediction"].tolist() == expected.tolist(), output
    # An older run's preprocessing.json has no label_type: its labels stay the strings.
    spec = run.path / "preprocessing.json"
    raw = json.loads(spec.read_text())
    del raw["target"]["label_type"]
    spec.write_text(json.dumps(raw))
    old = toolkit.load_run(run.path).predict(frame)
    assert old["prediction"].tolist() == [str(c) for c in expected.tolist()]


def test_training_leaves_the_sessions_keras_dtype_policy_as_it_was(tmp_path):
    """A mixed-precision run set Keras' global dtype policy for the models it builds and
    left it so: in a notebook every later Keras layer of the session computed in float16."""
    import keras

    config = tiny_config(
        "regression",
        model={"task": "regression", "hidden": [4]},
        training={"epochs": 1, "batch_size": 32},
        runtime={"precision": "mixed_float16"},
    )
    before = keras.config.dtype_policy().name
    run = toolkit.train(config, output_dir=tmp_path / "runs", verbose=0)
    assert run.status == "completed", run.reason
    assert keras.config.dtype_policy().name == before == "float32"
    assert keras.layers.Dense(2).compute_dtype == "float32"
    # The run's own model keeps its precision, and predicts as trained.
    assert "mixed_float16" in {layer.dtype_policy.name for layer in run.model.layers}
    assert np.isfinite(run.predict(held_out_frame(run))["prediction"]).all()


def test_training_leaves_the_sessions_python_and_numpy_random_draws_as_they_were(
    tmp_path, monkeypatch
):
    """Training seeds Python's and NumPy's global generators with the config's seed and left
    them so: a notebook's ``np.random`` draws after ``toolkit.train`` came from the run's
    seed, the same numbers after every run of a loop. The session's own sequence goes on."""
    import random

    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    config = tiny_config("regression", training={"epochs": 1, "batch_size": 32})
    trainings = [
        lambda: toolkit.train(config, output_dir=tmp_path / "runs", verbose=0),
        lambda: toolkit.train_repeated(config, repeats=1, output_dir=tmp_path / "groups"),
    ]
    for train in trainings:
        np.random.seed(123)
        random.seed(123)
        expected_numpy = np.random.RandomState(123).random_sample(3)
        expected_python = random.Random(123).random()
        assert train().status == "completed"
        np.testing.assert_array_equal(np.random.random_sample(3), expected_numpy)
        assert random.random() == expected_python
        assert "PYTHONHASHSEED" not in os.environ
    # Training itself is seeded as before: the same config gives the same losses.
    again = toolkit.train(config, output_dir=tmp_path / "runs", verbose=0)
    first = toolkit.load_run(sorted((tmp_path / "runs" / "tiny-regression").iterdir())[0])
    np.testing.assert_array_equal(again.history["loss"], first.history["loss"])


def test_training_one_run_after_another_warns_nothing_about_retracing(tmp_path):
    """``toolkit.train`` four times in a session (a notebook's loop): each run's model traced
    its own step functions, and from the third TensorFlow warned "5 out of the last 15 calls
    to ... multi_step_on_iterator triggered tf.function retracing"."""
    with _tensorflow_warnings() as records:
        for seed in range(4):
            config = tiny_config("regression", seed=seed, output_dir=str(tmp_path / "runs"))
            config["training"]["epochs"] = 2
            assert toolkit.train(config, verbose=0).status == "completed"
    assert not [r.getMessage() for r in records if "retracing" in r.getMessage()]


def test_rows_missing_several_features_name_them_all_and_suggest_no_other_feature(
    tiny_run, tmp_path
):
    """Rows with 1 of 4 features named only the first missing one, and a misspelt name
    could be 'corrected' to another feature that was there (did you mean 'x0'?)."""
    x0, x1, x2, x3 = (f.name for f in tiny_run.spec.numeric)
    with pytest.raises(toolkit.ToolkitError) as caught:
        tiny_run.predict({x0: [0.1], "x_1": [0.2]})
    assert str(caught.value) == (
        f"input feature column '{x1}' is not in the data (did you mean 'x_1'?); nor are "
        f"2 others: '{x2}', '{x3}'; columns: {x0}, x_1"
    )
    rows = tmp_path / "rows.csv"
    rows.write_text(f"{x0},{x1}\n0.1,0.2\n")
    with pytest.raises(toolkit.ToolkitError) as caught:
        tiny_run.predict(rows)
    assert f"column '{x2}' is not in the data; nor is 1 other: '{x3}'; columns:" in str(
        caught.value
    )


@pytest.mark.parametrize("key", ["source", "validation", "test"])
def test_a_dataframe_where_a_config_takes_a_path_is_one_line_saying_to_write_it(key):
    """A notebook's frame given as data.source (or validation, test) was refused with the
    frame's rows in the message, over several lines ("got    a\\n0  1\\n1  2")."""
    frame = pd.DataFrame({"a": [1, 2]})
    config = tiny_config("regression")
    config["data"][key] = frame
    expected = (
        "Input should be a valid string"
        if key == "source"
        else ("expected a fraction in (0, 1) or a path to a file")
    )
    remedy = (
        f"got a pandas DataFrame; data.{key} takes where rows are, not the rows: write the "
        "frame to a file (frame.to_parquet('rows.parquet')) and give its path"
    )
    for given, label in [
        (lambda: toolkit.load_config(config), "config"),
        (
            lambda: toolkit.load_config(tiny_config("regression"), {f"data.{key}": frame}),
            f"override data.{key}",
        ),
    ]:
        with pytest.raises(ConfigError) as error:
            given()
        assert str(error.value) == f"{label}: data.{key}: {expected}, {remedy}"
    series = tiny_config("regression")
    series["data"][key] = frame["a"]
    with pytest.raises(ConfigError) as error:
        toolkit.load_config(series)
    assert str(error.value) == f"config: data.{key}: {expected}, got a pandas Series"


def test_a_notebooks_interrupted_run_names_the_python_call_that_resumes_it(tmp_path):
    """KeyboardInterrupt in a notebook (the kernel's interrupt, here ``_thread.interrupt_main``
    once an epoch is recorded) raised "interrupted; resume with: toolkit train --resume RUN",
    a command line: it names ``toolkit.resume``, and that call finishes the run as one
    never interrupted (the command line's own line is checked in test_repeat_interrupted)."""
    import _thread
    import threading

    config = tiny_config(
        "regression",
        data={"synthetic": {"samples": 400, "features": 4}},
        training={"epochs": 60, "batch_size": 8},
        runtime={"deterministic": True},
        callbacks={"tensorboard": False, "learning_curve": False, "early_stopping": None},
    )
    output = tmp_path / "runs"
    stop = threading.Event()

    def interrupt_after_an_epoch() -> None:
        while not stop.wait(0.05):
            histories = list(output.glob("*/*/history.csv"))
            if histories and len(histories[0].read_text().splitlines()) > 2:
                _thread.interrupt_main()
                return

    watcher = threading.Thread(target=interrupt_after_an_epoch, daemon=True)
    watcher.start()
    try:
        with pytest.raises(toolkit.ToolkitError) as interrupted:
            # Interrupted at its second epoch of 60: it does not end before the watcher sees it.
            toolkit.train(config, output_dir=output, verbose=0)
    finally:
        stop.set()
        watcher.join()
    run_dir = interrupted.value.path
    assert str(interrupted.value) == f"interrupted; resume with: toolkit.resume('{run_dir}')"
    assert toolkit.load_run(run_dir).status == "interrupted"
    resumed = toolkit.resume(run_dir, verbose=0)
    whole = toolkit.train(config, output_dir=tmp_path / "whole", verbose=0)
    assert resumed.status == "completed"
    np.testing.assert_array_equal(resumed.history["loss"], whole.history["loss"])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda out: toolkit.train(tiny_config(), output_dir=123),
            "output_dir: expected a path (text or a pathlib.Path), got int",
        ),
        (
            lambda out: toolkit.train(tiny_config(), output_dir=out, verbose="yes"),
            "verbose must be 0, 1 or 2 (Keras' progress: none, a bar, a line per epoch), got 'yes'",
        ),
        (
            lambda out: toolkit.train(tiny_config(), output_dir=out, verbose=5),
            "verbose must be 0, 1 or 2 (Keras' progress: none, a bar, a line per epoch), got 5",
        ),
        (
            lambda out: toolkit.train_repeated(tiny_config(), repeats="3", output_dir=out),
            "repeats must be a whole number of at least 1, got '3'",
        ),
        (
            lambda out: toolkit.train_repeated(tiny_config(), repeats=True, output_dir=out),
            "repeats must be a whole number of at least 1, got True",
        ),
        (
            lambda out: toolkit.resume(123),
            "run_dir: expected a path (text or a pathlib.Path), got int",
        ),
        (
            lambda out: toolkit.tune(REPO / "configs" / "sweep.yaml", sweep_dir=1),
            "sweep_dir: expected a path (text or a pathlib.Path), got int",
        ),
        (
            lambda out: toolkit.load_run(None),
            "path: expected a path (text or a pathlib.Path), got NoneType",
        ),
    ],
)
def test_an_argument_of_the_wrong_kind_is_one_line_naming_its_keyword(call, message, tmp_path):
    """``output_dir=123`` and ``repeats='3'`` were TypeError tracebacks (from pathlib, from a
    comparison), and ``verbose='yes'`` or ``5`` went on to Keras without a word (and
    ``repeats=True`` trained one seed): each is one line naming the keyword, nothing written."""
    with pytest.raises(toolkit.ToolkitError) as refused:
        call(tmp_path / "out")
    assert str(refused.value) == message
    assert not (tmp_path / "out").exists()


def _stopped_run(path, **record) -> object:
    """A run directory without model.keras, as a killed or pruned run leaves one."""
    import yaml

    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump(tiny_config()))
    (path / "run.json").write_text(json.dumps(record))
    return path


@pytest.mark.slow
def test_a_python_caller_is_told_the_call_that_goes_on_and_the_command_line_the_command(
    tiny_run, tmp_path, monkeypatch
):
    """From Python, a run without model.keras said "toolkit train --resume RUN continues it",
    evaluate of unlabelled rows "use toolkit predict", and tune(role=...) "--role worker needs
    --chief-port": the command line's words. They name the Python call or keyword now, and
    the command line its commands and flags, as before."""
    import socket

    import yaml

    from tests.helpers import cli_in_one_process
    from tests.tuning.conftest import sweep_config

    run = _stopped_run(tmp_path / "runs" / "killed", status="interrupted")
    sweep = tmp_path / "sweep"
    trial = _stopped_run(sweep / "trials" / "x" / "trial-0", status="interrupted")
    pruned = _stopped_run(sweep / "trials" / "x" / "trial-1", status="completed")
    (sweep / "sweep.json").write_text(json.dumps({"settings": {"keep_top_k": 1}}))
    reason = "the sweep stopped during this trial; it was run again from the start"
    retired = _stopped_run(tmp_path / "retired", status="interrupted", reason=reason)
    rows = held_out_frame(tiny_run).head(3)
    target = tiny_run.config.data.target
    rows[target] = [1.0, np.nan, 2.0]  # the second row unlabelled
    rows.to_csv(tmp_path / "rows.csv", index=False)
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump(sweep_config(tmp_path)))
    saved = tmp_path / "saved"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        monkeypatch.delenv("KERASTUNER_ORACLE_IP", raising=False)
        monkeypatch.delenv("KERASTUNER_ORACLE_PORT", raising=False)
        no_model = f"{run} has no model.keras: its training was interrupted before the end; "
        trial_of = f"{trial} has no model.keras: its training was interrupted before the end; "
        own = f"{trial} is a trial of the sweep {sweep}, which trains its trials itself: "
        keep = f"{pruned} has no model.keras: its sweep keeps the models of its best 1 trial"
        keep += " only (tuner.keep_top_k); train this trial's config again with: "
        new = f"{retired} cannot be resumed: {reason} (its new attempt is beside it; "
        missing = (
            f"data {tmp_path / 'rows.csv'}: target column '{target}' has missing values (rows "
        )
        missing += "2); scoring needs a "
        missing += "target on every row: drop those rows, or use "
        a_dir = f"{run} is a directory, not a config file: a run's config is {run}/config.yaml; "
        # (the Python call, its line; the command line's arguments, its line)
        cases = [
            (
                lambda: toolkit.export(run, saved),
                f"{no_model}toolkit.resume('{run}') continues it",
                ["export", run, "--output", saved],
                f"{no_model}toolkit train --resume {run} continues it",
            ),
            (
                lambda: toolkit.train(run),
                f"{a_dir}toolkit.resume('{run}') continues a stopped run",
                ["train", run],
                f"{a_dir}toolkit train --resume {run} continues a stopped run",
            ),
            (
                lambda: toolkit.export(trial, saved),
                f"{trial_of}it is a trial of the sweep {sweep}, and "
                f"toolkit.tune(resume='{sweep}') runs it again",
                ["export", trial, "--output", saved],
                f"{trial_of}it is a trial of the sweep {sweep}, and toolkit tune --resume "
                f"{sweep} runs it again",
            ),
            (
                lambda: toolkit.resume(trial),
                f"{own}toolkit.tune(resume='{sweep}') runs an unfinished trial again "
                f"(toolkit.train('{trial}/config.yaml') trains its config as a run of its own)",
                ["train", "--resume", trial],
                f"{own}toolkit tune --resume {sweep} runs an unfinished trial again "
                f"(toolkit train {trial}/config.yaml trains its config as a run of its own)",
            ),
            (
                lambda: toolkit.export(pruned, saved),
                f"{keep}toolkit.train('{pruned}/config.yaml')",
                ["export", pruned, "--output", saved],
                f"{keep}toolkit train {pruned}/config.yaml",
            ),
            (
                lambda: toolkit.resume(retired),
                f"{new}toolkit.tune(resume=...) on the sweep continues it)",
                ["train", "--resume", retired],
                f"{new}toolkit tune --resume on the sweep continues it)",
            ),
            (
                lambda: tiny_run.evaluate(tmp_path / "rows.csv"),
                f"{missing}Run.predict for unlabelled rows",
                ["evaluate", tiny_run.path, "--data", tmp_path / "rows.csv"],
                f"{missing.replace('data ', '--data ', 1)}toolkit predict for unlabelled rows",
            ),
            (
                lambda: toolkit.tune(config, chief_port=8000),
                "chief_address, chief_port and worker_id need role='chief' or 'worker'",
                ["tune", config, "--chief-port", 8000],
                "--chief-address, --chief-port and --worker-id need --role chief|worker",
            ),
            (
                lambda: toolkit.tune(config, role="worker"),
                "role='worker' needs chief_port (or KERASTUNER_ORACLE_PORT)",
                ["tune", config, "--role", "worker"],
                "--role worker needs --chief-port (or KERASTUNER_ORACLE_PORT)",
            ),
            (
                lambda: toolkit.tune(config, role="chief", chief_port=0),
                "chief_port must be between 1 and 65535, got 0",
                ["tune", config, "--role", "chief", "--chief-port", 0],
                "--chief-port must be between 1 and 65535, got 0",
            ),
            (
                lambda: toolkit.tune(config, role="chief", chief_port=busy),
                f"port {busy} on 127.0.0.1 is in use (another chief?); pick a free one with "
                "chief_port",
                ["tune", config, "--role", "chief", "--chief-port", busy],
                f"port {busy} on 127.0.0.1 is in use (another chief?); pick a free one with "
                "--chief-port",
            ),
        ]
        for call, line, _, _ in cases:
            with pytest.raises(toolkit.ToolkitError) as refused:
                call()
            assert str(refused.value) == line
        answers = cli_in_one_process(*(arguments for _, _, arguments, _ in cases))
    for answer, (_, _, _, line) in zip(answers, cases, strict=True):
        assert (answer.returncode, answer.stderr) == (2, f"toolkit: error: {line}\n")
    assert not saved.exists() and not (tmp_path / "out").exists()
