"""Export round trips: each format, for a regressor, a classifier with a categorical column, a
Gaussian head and an MC-dropout model, loaded in a fresh process without Keras or the
toolkit, against ``toolkit predict`` on the same rows."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

import toolkit
from tests.helpers import cli_in_one_process, held_out_frame, run_cli, snapshot, tiny_config
from toolkit.cli import main
from toolkit.data.preprocessing import feature_arrays

FORMATS = ("saved_model", "onnx", "litert")
FORMAT_SUFFIXES = {"saved_model": "", "onnx": ".onnx", "litert": ".tflite"}
# The export's passes, given on the command line (predict uses the config's 50). The graph
# holds the model once per pass: 40 took 12 s of the fixture's CPU, 16 take 5 s; the
# statistical test's standard errors count the passes either way.
MC_SAMPLES = 16

CONFIGS = {
    "regressor": tiny_config("regression"),
    # Its table (written by the fixture) has categorical columns whose names a signature, or
    # a Keras layer, cannot take: renamed in the export, mapped back in its description.
    "classifier": tiny_config(
        "binary",
        data={"source": "classifier.csv", "target": "label", "validation": 0.25},
    ),
    "gaussian": tiny_config("regression", model={"task": "regression", "head": "gaussian"}),
    "mc_dropout": tiny_config(
        "regression",
        model={"task": "regression", "hidden": [{"units": 32, "dropout": 0.3}], "mc_dropout": True},
    ),
    # Its categorical columns are strings repeated once per pass inside the graph.
    "mc_dropout_classifier": tiny_config(
        "binary",
        data={"source": "classifier.csv", "target": "label", "validation": 0.25},
        model={"task": "binary", "hidden": [{"units": 16, "dropout": 0.3}], "mc_dropout": True},
    ),
    # A mixture of Gaussians without sampling: its interval is found by bisection on the
    # mixture's CDF inside the graph, so it is compared with predict exactly.
    "gaussian_ensemble": tiny_config(
        "regression",
        model={"task": "regression", "head": "gaussian", "hidden": [8], "ensemble": {"members": 2}},
    ),
}

# The fresh process: Keras and the toolkit made unimportable first (``import tensorflow``
# imports Keras whenever it is installed), as on a serving machine that has neither.
FRESH = textwrap.dedent(
    """
    import json, sys
    for name in ("keras", "tf_keras", "toolkit"):
        sys.modules[name] = None
    import numpy as np
    import onnxruntime
    import tensorflow as tf

    jobs = json.loads(sys.argv[1])
    results = {}
    for job in jobs:
        rows = dict(np.load(job["rows"], allow_pickle=True))
        if job["format"] == "saved_model":
            serve = tf.saved_model.load(job["path"]).signatures["serving_default"]
            out = {k: v.numpy() for k, v in serve(**{k: tf.constant(v) for k, v in rows.items()}).items()}
        elif job["format"] == "onnx":
            session = onnxruntime.InferenceSession(job["path"], providers=["CPUExecutionProvider"])
            names = [o.name for o in session.get_outputs()]
            out = dict(zip(names, session.run(None, rows)))
        else:
            runner = tf.lite.Interpreter(model_path=job["path"]).get_signature_runner("serving_default")
            out = runner(**{k: v.astype(bytes) if v.dtype == object else v for k, v in rows.items()})
        for name, value in out.items():
            value = np.asarray(value)
            if value.dtype.kind in "OS":
                value = np.asarray([v.decode() if isinstance(v, bytes) else str(v) for v in value.ravel()])
            results[job["key"] + "/" + name] = value
    loaded = [k for k in sys.modules if k.split(".")[0] in ("keras", "tf_keras", "toolkit")
              and sys.modules[k] is not None]
    assert not loaded, loaded
    np.savez(sys.argv[2], **results)
    """
)


# Categorical columns: a plain one, ones a signature renames (a space, a letter outside
# ASCII, a leading digit), one Keras refuses as a layer name (a slash) beside the name its
# layer would take, one of the builders' own layer names, and two that differ only in case
# (TensorFlow lowercases a signature's argument names: ONNX's inputs were 'colour', and the
# two were one argument, a ValueError).
AWKWARD_COLUMNS = ("cat0", "my col", "città", "1st", "x/1", "x_1", "features", "Colour", "colour")


def _classifier_table(path: Path) -> None:
    rng = np.random.default_rng(3)
    rows = 160
    table = pd.DataFrame({"x0": rng.normal(size=rows), "x1": rng.normal(size=rows)})
    for index, column in enumerate(AWKWARD_COLUMNS):
        table[column] = rng.choice(["a", "b", "c"][: 2 + index % 2], rows)
    score = table["x0"] + (table["cat0"] == "a") - (table["x/1"] == "b") + (table["my col"] == "a")
    table["label"] = np.where(score + rng.normal(scale=0.5, size=rows) > 0.5, "yes", "no")
    table.to_csv(path, index=False)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each kind trained once, exported in each format; the fresh process's outputs on the
    run's validation rows, and ``predict``'s on the same rows; each export's path by
    ``kind/format`` (read, never written, by the tests)."""
    base = tmp_path_factory.mktemp("export")
    runs, jobs, expected, frames, paths = {}, [], {}, {}, {}
    _classifier_table(base / "classifier.csv")
    for kind, config in CONFIGS.items():
        if kind in ("classifier", "mc_dropout_classifier"):
            config = {**config, "data": {**config["data"], "source": str(base / "classifier.csv")}}
        run = toolkit.train(config, output_dir=base / "runs", verbose=0)
        assert run.status == "completed", run.reason
        runs[kind] = run
        frame = held_out_frame(run)
        frames[kind] = frame
        expected[kind] = run.predict(frame)
        features = feature_arrays(frame, run.spec)
        rows = base / f"{kind}-rows.npz"
        for fmt in FORMATS:
            # A SavedModel directory may carry a version in its name (not a file suffix).
            names = {"saved_model": "sm.v2", "onnx": "m.onnx", "litert": "m.tflite"}
            path = base / kind / names[fmt]
            path.parent.mkdir(exist_ok=True)
            stochastic = kind.startswith("mc_dropout")
            if stochastic and fmt == "saved_model":  # the command line's --mc-samples
                code = main(
                    [
                        "export",
                        str(run.path),
                        "--format",
                        fmt,
                        "--output",
                        str(path),
                        "--mc-samples",
                        str(MC_SAMPLES),
                    ]
                )
                assert code == 0 and path.is_dir()
            else:
                run.export(path, format=fmt, mc_samples=MC_SAMPLES if stochastic else None)
            # The rows by the export's input names, as its description maps them to columns.
            inputs = json.loads(path.with_name(path.name + ".json").read_text())["inputs"]
            np.savez(rows, **{name: features[i.get("column", name)] for name, i in inputs.items()})
            jobs.append(
                {"key": f"{kind}/{fmt}", "format": fmt, "path": str(path), "rows": str(rows)}
            )
            paths[f"{kind}/{fmt}"] = path
    return runs, expected, _fresh_outputs(base, jobs), frames, paths


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A regressor trained for one epoch, shared by the tests that export it to paths of
    their own (none writes into its directory)."""
    config = tiny_config("regression", training={"epochs": 1, "batch_size": 16})
    run = toolkit.train(config, output_dir=tmp_path_factory.mktemp("small") / "runs", verbose=0)
    assert run.status == "completed", run.reason
    return run


# The --format and --output of the refused exports of test_an_output_suffix_that_is_not_...
WRONG_SUFFIXES = [
    ("saved_model", "model.txt"),
    ("onnx", "model.tflite"),
    ("litert", "model.onnx"),
    ("onnx", "model"),
]


@pytest.fixture(scope="module")
def small_run_commands(small_run, tmp_path_factory) -> dict[str, tuple[list, Path, dict]]:
    """The commands the tests below give ``small_run`` (and one a directory that is no run),
    each case in a folder of its own, all run as ``toolkit.cli.main`` in one fresh process:
    one TensorFlow start-up, where three processes started it (5 s of CPU each) and five
    more started the command line alone (1 s each). By case: its commands' results in order, its folder, and
    what the fixture made for it. The LiteRT export runs first: LiteRT's interpreter prints
    its XNNPACK line once per process, so only the first export could show it. The run's
    files are snapshot before all of them, as ``files``."""
    run = small_run
    cases: dict[str, tuple[list, Path, dict]] = {}
    folder = tmp_path_factory.mktemp("litert")
    export = ["export", run.path, "--format", "litert", "--output", folder / "model.tflite"]
    cases["litert"] = ([(export, None)], folder, {})
    for fmt, output in WRONG_SUFFIXES:
        folder = tmp_path_factory.mktemp("suffix")  # its current directory: empty
        export = ["export", run.path, "--format", fmt, "--output", output]
        cases[f"suffix {fmt} {output}"] = ([(export, folder)], folder, {})
    folder = tmp_path_factory.mktemp("unknown-format")  # a directory, but no run
    cases["unknown format"] = ([(["export", folder, "--format", "onx"], None)], folder, {})
    cases["given an export"] = _given_an_export(run, tmp_path_factory.mktemp("given-export"))
    cases["replace"] = _replacing(run, tmp_path_factory.mktemp("replace"))
    files = snapshot(run.path)
    answers = iter(cli_in_one_process(*(call for calls, _, _ in cases.values() for call in calls)))
    done = {
        name: ([next(answers) for _ in calls], folder, made)
        for name, (calls, folder, made) in cases.items()
    }
    return {**done, "files": files}


def _given_an_export(run: toolkit.Run, folder: Path) -> tuple[list, Path, dict]:
    """test_predict_given_an_export_names_the_run_it_came_from's commands: predict given
    the run's SavedModel export and the folder of its exports (refused), evaluate and export
    given the export (refused), and predict given the run, on the run's held-out rows."""
    (folder / "export").mkdir()
    exported = toolkit.export(run.path, folder / "export" / "saved_model")
    rows = folder / "rows.csv"
    held_out_frame(run).to_csv(rows, index=False)
    output, refused_output = folder / "predictions.csv", folder / "refused.csv"
    refused = [(exported, "is the saved_model export"), (exported.parent, "holds the exports")]
    calls = [
        *(["predict", given, "--input", rows, "--output", refused_output] for given, _ in refused),
        ["evaluate", exported],
        ["export", exported],
        ["predict", run.path, "--input", rows, "--output", output],
    ]
    made = {"refused": refused, "output": output, "refused output": refused_output}
    return [(call, None) for call in calls], folder, made


def test_predict_given_an_export_names_the_run_it_came_from(small_run, small_run_commands):
    """``toolkit predict RUN/export/saved_model`` said only 'is not a run directory (no
    config.yaml and run.json)'; the export's description names its run, and the run is
    what predict, evaluate and export take."""
    from tests.reliability._support import assert_one_line_error

    # The five commands ran in the fixture's one process; see _given_an_export.
    (*predicts, evaluated, reexported, predicted), _, made = small_run_commands["given an export"]
    hint = (
        f"of the run {small_run.path}: pass that run, whose model.keras predict, evaluate and "
        "export read (serve an export itself, see the README's Export)"
    )
    for (given, what), result in zip(made["refused"], predicts, strict=True):
        line = assert_one_line_error(result)
        assert line == f"toolkit: error: {given} is not a run directory; it {what} {hint}"
    assert assert_one_line_error(evaluated).endswith(hint)
    assert assert_one_line_error(reexported).endswith(hint)  # the hint names export too
    assert not made["refused output"].exists()
    # The run it names predicts those rows.
    assert predicted.returncode == 0, predicted.stderr
    assert len(pd.read_csv(made["output"])) == len(held_out_frame(small_run))


def _outputs(outputs, kind, fmt):
    prefix = f"{kind}/{fmt}/"
    return {k.removeprefix(prefix): v for k, v in outputs.items() if k.startswith(prefix)}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", ["regressor", "gaussian"])
def test_a_regressor_export_equals_predict(exported, kind, fmt):
    _, expected, outputs, _, _ = exported
    got = _outputs(outputs, kind, fmt)
    columns = ["prediction"] + (
        ["std", "aleatoric_std", "lower", "upper"] if kind == "gaussian" else []
    )
    assert sorted(got) == sorted(columns)
    for column in columns:
        np.testing.assert_allclose(got[column], expected[kind][column], rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_gaussian_mixtures_export_equals_predict(exported, fmt):
    """The mixture's quantiles use erf, which LiteRT has no op for: its export failed (and
    flooded stderr with the converter's messages) for every Gaussian ensemble, MC-dropout or
    Bayesian regressor with a Gaussian head, the shipped mc_dropout.yaml among them. Every
    format now builds erf from a polynomial (Abramowitz and Stegun 7.1.26, within 1.5e-7)."""
    _, expected, outputs, _, _ = exported
    got = _outputs(outputs, "gaussian_ensemble", fmt)
    columns = ["prediction", "std", "epistemic_std", "aleatoric_std", "lower", "upper"]
    assert sorted(got) == sorted(columns)
    for column in columns:
        np.testing.assert_allclose(
            got[column], expected["gaussian_ensemble"][column], rtol=1e-4, atol=1e-4, err_msg=column
        )
    assert np.all(got["lower"] < got["prediction"]) and np.all(got["prediction"] < got["upper"])


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_classifier_with_a_categorical_column_exports_probabilities_and_labels(exported, fmt):
    runs, expected, outputs, frames, _ = exported
    got = _outputs(outputs, "classifier", fmt)
    assert sorted(got) == ["prediction", "probabilities"]
    classes = runs["classifier"].spec.target.classes
    assert got["probabilities"].shape == (len(frames["classifier"]), 2)
    positive = expected["classifier"][f"probability_{classes[1]}"]
    np.testing.assert_allclose(got["probabilities"][:, 1], positive, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["probabilities"].sum(axis=1), 1.0, atol=1e-6)
    assert list(got["prediction"]) == list(expected["classifier"]["prediction"].astype(str))
    # The categorical columns matter: an unseen category is its own (out-of-vocabulary) input.
    assert frames["classifier"]["cat0"].nunique() > 1


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_the_mc_dropout_endpoint_agrees_with_predict_statistically(exported, fmt):
    """N passes inside the graph: the mean within 3 standard errors of predict's mean over
    its own 50 passes, and the same spread."""
    runs, expected, outputs, _, _ = exported
    got = _outputs(outputs, "mc_dropout", fmt)
    assert sorted(got) == ["epistemic_std", "lower", "prediction", "std", "upper"]
    mine = expected["mc_dropout"]
    samples = runs["mc_dropout"].config.prediction.mc_samples
    spread = np.maximum(mine["std"].to_numpy(), 1e-6)
    standard_error = spread * np.sqrt(1.0 / MC_SAMPLES + 1.0 / samples)
    z = (got["prediction"] - mine["prediction"].to_numpy()) / standard_error
    assert abs(z.mean()) < 3.0 / np.sqrt(len(z)) * 1.5, z  # the rows' mean difference
    assert np.mean(np.abs(z) > 3.0) <= 0.1, z
    assert np.all(got["std"] > 0)  # the passes differ from each other
    ratio = np.median(got["std"] / spread)
    assert 0.7 < ratio < 1.3, ratio
    np.testing.assert_allclose(got["upper"] - got["prediction"], 1.959964 * got["std"], rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_an_mc_dropout_classifier_with_categorical_columns_agrees_with_predict(exported, fmt):
    """Its string columns go through the passes too: repeated by a gather, LiteRT's
    converter refused the export (no built-in gather of strings)."""
    runs, expected, outputs, frames, _ = exported
    got = _outputs(outputs, "mc_dropout_classifier", fmt)
    assert sorted(got) == ["entropy", "mutual_information", "prediction", "probabilities"]
    classes = runs["mc_dropout_classifier"].spec.target.classes
    positive = expected["mc_dropout_classifier"][f"probability_{classes[1]}"].to_numpy()
    assert got["probabilities"].shape == (len(frames["mc_dropout_classifier"]), 2)
    # Means of MC_SAMPLES and 50 passes of a value in [0, 1], whose spread is at most 0.5:
    # within 3 such standard errors per row, and their mean over the rows (each row its own
    # draws) within 3 of its own.
    samples = runs["mc_dropout_classifier"].config.prediction.mc_samples
    standard_error = 0.5 * np.sqrt(1.0 / MC_SAMPLES + 1.0 / samples)
    difference = got["probabilities"][:, 1] - positive
    assert np.all(np.abs(difference) < 3.0 * standard_error), difference
    assert abs(difference.mean()) < 3.0 * standard_error / np.sqrt(len(difference)), difference
    assert np.all(got["mutual_information"] > 0)  # the passes differ from each other


# The op each format draws dropout's uniform noise with (``portable_sampling``).
RANDOM_OPS = {
    "saved_model": "RandomUniform",
    "onnx": "RandomUniformLike",
    "litert": "RANDOM_UNIFORM",
}


def _random_ops(fmt: str, path: Path) -> int:
    """How many random-draw ops the export's graph holds (in every function and loop body)."""
    if fmt == "onnx":
        import onnx

        def count(graph) -> int:
            nodes = sum(node.op_type == RANDOM_OPS[fmt] for node in graph.node)
            bodies = [a.g for node in graph.node for a in node.attribute if a.g.node]
            return nodes + sum(count(body) for body in bodies)

        return count(onnx.load(str(path)).graph)
    if fmt == "litert":
        import tensorflow as tf

        interpreter = tf.lite.Interpreter(model_path=str(path))
        return sum(op["op_name"] == RANDOM_OPS[fmt] for op in interpreter._get_ops_details())
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
    graph = saved.meta_graphs[0].graph_def
    nodes = [*graph.node, *(node for f in graph.library.function for node in f.node_def)]
    return sum(node.op == RANDOM_OPS[fmt] for node in nodes)


def _served_twice(fmt: str, path: Path, rows: dict[str, np.ndarray]) -> list[dict]:
    """Two requests with the same rows to one loaded endpoint (one session, one runner)."""
    import tensorflow as tf

    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [output.name for output in session.get_outputs()]
        return [dict(zip(names, session.run(None, rows), strict=True)) for _ in range(2)]
    if fmt == "litert":
        runner = tf.lite.Interpreter(model_path=str(path)).get_signature_runner("serving_default")
        return [{k: np.array(v) for k, v in runner(**rows).items()} for _ in range(2)]
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    feed = {k: tf.constant(v) for k, v in rows.items()}
    return [{k: v.numpy() for k, v in serve(**feed).items()} for _ in range(2)]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_the_mc_dropout_endpoint_holds_the_model_once_and_draws_anew_per_request(exported, fmt):
    """The passes are one call of the model over the rows repeated --mc-samples times: each
    dropout layer draws once per request (each row its own mask), where the graph held the
    model once per pass (mc_dropout.yaml's 50 took tf2onnx ~29 s of CPU, LiteRT's converter
    ~13 s). Two requests with the same rows still get different draws."""
    from toolkit.models.layers.mc_dropout import MCDropout

    runs, _, _, frames, paths = exported
    run = runs["mc_dropout"]
    # The fixture's export with MC_SAMPLES passes (the SavedModel's by --mc-samples): a
    # second export of the same run here was three conversions more.
    path = paths[f"mc_dropout/{fmt}"]
    layers = sum(isinstance(layer, MCDropout) for layer in run.model._flatten_layers())
    assert layers == 1
    assert _random_ops(fmt, path) == layers
    features = feature_arrays(frames["mc_dropout"], run.spec)
    first, second = _served_twice(fmt, path, {"numeric": features["numeric"]})
    assert first["prediction"].shape == (len(frames["mc_dropout"]),)
    for name in ("prediction", "epistemic_std"):
        # Fresh draws: every row's mean and spread differ between the two requests.
        assert np.all(first[name] != second[name]), name
    # ... as two draws of the same estimate: the mean within a few standard errors.
    z = (first["prediction"] - second["prediction"]) / (
        first["epistemic_std"] * np.sqrt(2.0 / MC_SAMPLES)
    )
    assert np.mean(np.abs(z) > 3.0) <= 0.1, z


@pytest.mark.slow
def test_the_export_describes_itself(exported):
    runs, _, _, _, _ = exported
    path = runs["classifier"].export()  # the default place: RUN/export/saved_model
    assert path == runs["classifier"].path / "export" / "saved_model"
    described = json.loads((path.parent / "saved_model.json").read_text())
    assert described["inputs"]["cat0"] == {"dtype": "string", "shape": [None, 1]}
    # A column whose name a signature cannot take is renamed (as tf.function would rename
    # it, and unique), and the description names the column it takes.
    renamed = {
        name: entry["column"] for name, entry in described["inputs"].items() if "column" in entry
    }
    assert renamed == {
        "my_col": "my col",
        "citt_": "città",
        "arg_1st": "1st",
        "x_1_2": "x/1",
        "colour_2": "colour",
    }
    assert {"numeric", "x_1", "features", "Colour"} <= set(described["inputs"])
    assert described["classes"] == runs["classifier"].spec.target.classes
    assert described["outputs"] == ["prediction", "probabilities"]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".export-")]


@keras.saving.register_keras_serializable(package="tests")
class Lowercase(keras.layers.Layer):
    """A layer with a string op that neither LiteRT's built-ins nor tf2onnx convert."""

    def call(self, inputs):
        import tensorflow as tf

        return tf.strings.regex_replace(inputs, "[A-Z]", "x")

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype="string")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "litert"])
def test_a_layer_a_format_cannot_express_is_one_line_naming_it(exported, tmp_path, fmt, capfd):
    import shutil

    runs, _, _, _, _ = exported
    run_dir = tmp_path / "run"
    shutil.copytree(runs["classifier"].path, run_dir, ignore=shutil.ignore_patterns("export"))
    model = runs["classifier"].model
    inputs = {
        key: keras.Input(tensor.shape[1:], name=f"input{index}", dtype=tensor.dtype)
        for index, (key, tensor) in enumerate(model.input.items())
    }
    lowered = Lowercase(name="lowercase")(inputs["cat0"])
    outputs = model({**inputs, "cat0": lowered})
    keras.Model(inputs, outputs).save(run_dir / "model.keras")
    with pytest.raises(toolkit.ToolkitError) as error:
        # in-process: Lowercase is known
        toolkit.export(run_dir, tmp_path / f"out{FORMAT_SUFFIXES[fmt]}", format=fmt)
    message = str(error.value)
    assert message.startswith(f"--format {fmt} cannot express layer lowercase (Lowercase): "), (
        message
    )
    assert "\n" not in message
    if fmt == "litert":  # the converter's own diagnostics (a hundred lines) stay off stderr
        assert "neither a custom op nor a flex op" not in capfd.readouterr().err
    assert not (tmp_path / f"out{FORMAT_SUFFIXES[fmt]}").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export-")]


def test_an_unknown_format_is_one_line(small_run_commands):
    (result,), _, _ = small_run_commands["unknown format"]
    # the run directory check comes first: a missing directory is named before the format
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr


@pytest.mark.parametrize(("fmt", "output"), WRONG_SUFFIXES)
def test_an_output_suffix_that_is_not_the_formats_is_one_line(
    small_run, small_run_commands, fmt, output
):
    """``--output model.txt`` wrote a SavedModel directory named model.txt; a name without
    a suffix said "(got 'none')"."""
    # Run from an empty folder of its own, in the fixture's one process.
    (result,), folder, _ = small_run_commands[f"suffix {fmt} {output}"]
    assert result.returncode == 2, result.stderr
    suffix = Path(output).suffix
    got = f"got {suffix!r}" if suffix else "it has none"
    assert result.stderr == (
        f"toolkit: error: --output {output}: the suffix must match --format {fmt} ({got}); "
        "allowed: no suffix (a directory) for "
        "saved_model, .onnx for onnx, .tflite for litert\n"
    )
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == []
    assert snapshot(small_run.path) == small_run_commands["files"]


def test_a_missing_extra_names_it(tmp_path):
    """A format whose converter is not installed: one line naming the extra to install."""
    code = textwrap.dedent(
        """
        import sys
        sys.modules["tf2onnx"] = None  # as if not installed
        from toolkit.serving.formats import FORMATS, check_installed
        from toolkit.errors import ToolkitError
        try:
            check_installed(FORMATS["onnx"])
        except ToolkitError as error:
            print(error)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == (
        "--format onnx needs tf2onnx, which is not installed: pip install 'keras-toolkit[export]'"
    ), done.stderr
    assert pd is not None


def test_a_litert_export_leaves_stderr_to_its_one_line(small_run_commands):
    """The check in LiteRT's interpreter printed "INFO: Created TensorFlow Lite XNNPACK
    delegate for CPU." after the export's line. (The fixture's first command: the line is
    printed once per process.)"""
    (result,), folder, _ = small_run_commands["litert"]
    output = folder / "model.tflite"
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"exported litert to {output}\n"
    assert output.stat().st_size > 0


@pytest.mark.slow
def test_a_mixed_precision_run_exports_to_litert_in_float32(tmp_path):
    """LiteRT has no float16 kernels: the converter failed on the first layer computing in
    float16 and blamed it (``cannot express layer impute_standardize ... IsNan``). The export
    is now built from a float32 copy of the model with the same weights: it gives predict's
    outputs to float16's precision."""
    from toolkit.serving.formats import FORMATS as runners

    config = tiny_config(
        "regression",
        model={"task": "regression", "hidden": [8], "head": "gaussian"},
        training={"epochs": 2, "batch_size": 16},
        runtime={"precision": "mixed_float16"},
    )
    run = toolkit.train(config, output_dir=tmp_path / "runs", verbose=0)
    frame = held_out_frame(run)
    expected = run.predict(frame)
    output = tmp_path / "model.tflite"
    result = run_cli("export", run.path, "--format", "litert", "--output", output)
    assert result.returncode == 0, result.stderr
    got = runners["litert"].run(output, feature_arrays(frame, run.spec))
    assert sorted(got) == ["aleatoric_std", "lower", "prediction", "std", "upper"]
    for name, values in got.items():
        scale = np.abs(expected[name].to_numpy()).max()
        np.testing.assert_allclose(
            np.asarray(values).ravel(), expected[name], atol=2e-3 * scale, err_msg=name
        )


def _replacing(run: toolkit.Run, folder: Path) -> tuple[list, Path, dict]:
    """test_an_export_replaces_only_an_earlier_export's commands: exports of ``run`` into a
    directory of the user's (``project``), over an earlier export of each format, into a
    directory where a file export would go, and over notes saved under each file format's
    suffix."""
    project = folder / "project"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    # An earlier export of each format, to be replaced, as re-exporting a retrained run
    # expects. (The earlier exports are made in this process: the command's replacing them is
    # what is checked.)
    served = {"saved_model": folder / "served"}
    run.export(served["saved_model"])
    for fmt, name in (("onnx", "notes.onnx"), ("litert", "notes.tflite")):
        # Notes saved under the format's suffix (notes saved as model.onnx were overwritten).
        (folder / name).write_text("important notes")
        served[fmt] = run.export(folder / f"served.{name}", format=fmt)
    # A directory where a file export would go.
    (folder / "model.onnx").mkdir()
    before = {fmt: path.stat().st_mtime_ns for fmt, path in served.items()}
    calls = [
        ["export", run.path, "--output", project],
        ["export", run.path, "--output", served["saved_model"]],
        ["export", run.path, "--format", "onnx", "--output", folder / "model.onnx"],
        *(
            ["export", run.path, "--format", fmt, "--output", path]
            for fmt in ("onnx", "litert")
            for path in (folder / f"notes{FORMAT_SUFFIXES[fmt]}", served[fmt])
        ),
    ]
    made = {"project": project, "served": served, "before": before}
    return [(call, None) for call in calls], folder, made


def test_an_export_replaces_only_an_earlier_export(small_run_commands):
    """``--output project`` for a SavedModel deleted the existing directory ``project`` and
    everything in it, to put the export there."""
    # The commands ran in the fixture's one process; see _replacing.
    answers, tmp_path, made = small_run_commands["replace"]
    into_project, into_served, into_directory, *into = answers
    project, served, before = made["project"], made["served"], made["before"]
    assert into_project.returncode == 2, into_project.stderr
    assert into_project.stderr == (
        f"toolkit: error: --output {project} exists and is not a SavedModel directory; an "
        "export replaces only an earlier export: choose a new path or remove it\n"
    )
    assert [p.name for p in project.iterdir()] == ["notes.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export-")]
    # An earlier export is replaced.
    assert into_served.returncode == 0, into_served.stderr
    assert (served["saved_model"] / "saved_model.pb").is_file()
    # A directory where a file export would go is not replaced either.
    assert into_directory.returncode == 2 and (
        "is not a model in onnx format" in into_directory.stderr
    ), into_directory.stderr
    # Nor a file that only has the suffix; an earlier export of the format is replaced.
    for (fmt, name), (notes, earlier) in zip(
        (("onnx", "notes.onnx"), ("litert", "notes.tflite")),
        (into[:2], into[2:]),
        strict=True,
    ):
        assert notes.returncode == 2, notes.stderr
        assert f"is not a model in {fmt} format" in notes.stderr
        assert (tmp_path / name).read_text() == "important notes"
        assert earlier.returncode == 0, earlier.stderr
    assert all(path.stat().st_mtime_ns != before[fmt] for fmt, path in served.items())


@pytest.mark.slow
def test_an_integer_target_is_exported_as_integer_labels(tmp_path):
    """The endpoint's labels are in the target's type, as toolkit predict writes them: a 0/1
    target came back from every format as the strings '0' and '1'."""
    from toolkit.serving.formats import FORMATS as runners

    rng = np.random.default_rng(5)
    table = pd.DataFrame({"x0": rng.normal(size=120), "x1": rng.normal(size=120)})
    table["label"] = (table["x0"] + rng.normal(scale=0.3, size=120) > 0).astype(int)
    table.to_csv(tmp_path / "rows.csv", index=False)
    config = tiny_config(
        "binary", data={"source": str(tmp_path / "rows.csv"), "target": "label", "validation": 0.25}
    )
    run = toolkit.train(config, output_dir=tmp_path / "runs", verbose=0)
    frame = table.drop(columns="label").head(20)
    expected = run.predict(frame)["prediction"].to_numpy()
    assert expected.dtype.kind == "i"
    rows = feature_arrays(frame, run.spec)
    for fmt in FORMATS:
        path = run.export(tmp_path / f"m{FORMAT_SUFFIXES[fmt]}", format=fmt)
        got = np.asarray(runners[fmt].run(path, rows)["prediction"])
        assert got.dtype.kind == "i", (fmt, got.dtype)
        np.testing.assert_array_equal(got.ravel(), expected, err_msg=fmt)


def _fresh_outputs(tmp_path: Path, jobs: list[dict]) -> dict[str, np.ndarray]:
    """``FRESH``'s outputs for ``jobs``: a process with neither Keras nor the toolkit."""
    out = tmp_path / "outputs.npz"
    done = subprocess.run(
        [sys.executable, "-c", FRESH, json.dumps(jobs), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": ""},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(np.load(out))


# The rows of the whole-number tests below. Whole numbers as pandas writes them ('1.0',
# '2.0', '4.0'); and the missing category, written as an empty cell.
WHOLE_NUMBERS = pd.DataFrame({"x0": np.linspace(-1.0, 1.0, 6), "grade": [1.0, 2.0, 4.0] * 2})
MISSING = pd.DataFrame({"x0": np.linspace(-1.0, 1.0, 4), "grade": [np.nan] * 4})
MISSING_SPELLINGS = {"empty": "", "nan": "nan", "none": "None", "token": "<missing>"}


def _whole_number_run(base: Path):
    """A binary run on a whole-number categorical column with blanks (pandas writes it as
    '1.0', '2.0', '4.0' and empty cells; training reads the categories '1', '2', '4' and
    '<missing>'); the rows of both whole-number tests as ``base/new.csv``."""
    rng = np.random.default_rng(11)
    rows = 160
    grade = rng.choice([1.0, 2.0, 4.0], rows)
    grade[rng.random(rows) < 0.2] = np.nan
    table = pd.DataFrame({"x0": rng.normal(size=rows), "grade": grade})
    score = table["x0"] + 2.0 * (table["grade"] == 4.0) - 2.0 * (table["grade"] == 1.0)
    score += 3.0 * table["grade"].isna()
    table["label"] = np.where(score + rng.normal(scale=0.3, size=rows) > 0, "yes", "no")
    table.to_csv(base / "rows.csv", index=False)
    config = tiny_config(
        "binary",
        data={
            "source": str(base / "rows.csv"),
            "target": "label",
            "validation": 0.25,
            "categorical": ["grade"],
        },
        training={"epochs": 5, "batch_size": 16},
    )
    run = toolkit.train(config, output_dir=base / "runs", verbose=0)
    assert run.status == "completed", run.reason
    assert run.spec.categorical[0].vocabulary == ["1", "2", "4", "<missing>"]
    pd.concat([WHOLE_NUMBERS, MISSING], ignore_index=True).to_csv(base / "new.csv", index=False)
    return run


def _boolean_run(base: Path):
    """A binary run on a column of 'true'/'false' (as R, Spark and JSON write booleans),
    which pandas reads as booleans: training learns 'True' and 'False'. Its training file,
    ``base/rows.csv``, is also the file it predicts."""
    rng = np.random.default_rng(13)
    rows = 160
    table = pd.DataFrame({"x0": rng.normal(size=rows), "flag": rng.random(rows) < 0.5})
    score = table["x0"] + 3.0 * table["flag"] - 1.5
    table["label"] = np.where(score + rng.normal(scale=0.3, size=rows) > 0, "yes", "no")
    table["flag"] = table["flag"].map({True: "true", False: "false"})
    table.to_csv(base / "rows.csv", index=False)
    config = tiny_config(
        "binary",
        data={"source": str(base / "rows.csv"), "target": "label", "validation": 0.25},
        training={"epochs": 5, "batch_size": 16},
    )
    run = toolkit.train(config, output_dir=base / "runs", verbose=0)
    assert run.status == "completed", run.reason
    assert run.spec.categorical[0].vocabulary == ["False", "True"]
    return run


ROWS = {"grade": "new.csv", "flag": "rows.csv"}  # what each run's predict reads


@pytest.fixture(scope="module")
def category_runs(tmp_path_factory) -> dict:
    """The whole-number run and the boolean run, each exported to SavedModel and ONNX and
    predicting its rows (``new.csv``; the boolean run its training file) as ``p.csv`` by the
    command line: the six commands in one fresh process (one TensorFlow start-up). Per run:
    the run, its exports by format, its folder and its predict's result."""
    runs = {}
    for name, train in (("grade", _whole_number_run), ("flag", _boolean_run)):
        folder = tmp_path_factory.mktemp(name)
        runs[name] = (train(folder), folder)
    calls, exports = [], {}
    for name, (run, folder) in runs.items():
        exports[name] = {
            fmt: folder / f"m{FORMAT_SUFFIXES[fmt]}" for fmt in ("saved_model", "onnx")
        }
        calls += [
            ["export", run.path, "--format", f, "--output", p] for f, p in exports[name].items()
        ]
        calls.append(
            ["predict", run.path, "--input", folder / ROWS[name], "--output", folder / "p.csv"]
        )
    done = cli_in_one_process(*calls)
    for result in done:
        assert result.returncode == 0, result.stderr
    predicts = iter(done[2::3])
    return {
        name: (run, exports[name], folder, next(predicts)) for name, (run, folder) in runs.items()
    }


def _predicted(folder: Path) -> np.ndarray:
    """``toolkit predict``'s probability of 'yes' on a run's rows, as ``folder/p.csv``."""
    return pd.read_csv(folder / "p.csv")["probability_yes"].to_numpy()


def _served(tmp_path: Path, runs: dict[str, tuple[dict, dict[str, dict]]]) -> dict[str, np.ndarray]:
    """Per run, ``(exports, variants)``: each export's probability of 'yes' on each variant's
    inputs, by ``run/format/variant``; one fresh process for all of them."""
    jobs = []
    for run, (exports, variants) in runs.items():
        for name, inputs in variants.items():
            rows = tmp_path / f"{run}-{name}.npz"
            np.savez(rows, **inputs)
            for fmt, path in exports.items():
                job = {"key": f"{run}/{fmt}/{name}", "format": fmt, "path": str(path)}
                jobs.append({**job, "rows": str(rows)})
    outputs = _fresh_outputs(tmp_path, jobs)
    return {
        key.removesuffix("/probabilities"): value[:, 1]
        for key, value in outputs.items()
        if key.endswith("/probabilities")
    }


@pytest.fixture(scope="module")
def category_outputs(category_runs, tmp_path_factory) -> dict:
    """For the tests below, on their rows: ``toolkit predict``'s probability of 'yes', the
    CSV's text of the column, and each export's probability of 'yes' on each variant of the
    inputs (one fresh process, without the toolkit, for all of them), by run. A subprocess
    costs seconds of TensorFlow's start: one for the three tests."""
    variants = {}
    # The whole numbers as the CSV's text and as training spelt them; the missing category
    # in each spelling.
    _, exports, folder, _ = category_runs["grade"]
    text = pd.read_csv(folder / "new.csv", dtype=str, keep_default_na=False)["grade"]
    text = text.to_numpy(dtype=object)[: len(WHOLE_NUMBERS)]
    spelt = np.asarray([v.removesuffix(".0") for v in text], dtype=object)
    numeric = WHOLE_NUMBERS[["x0"]].to_numpy(np.float32)
    grades = {
        "written": {"numeric": numeric, "grade": text.reshape(-1, 1)},
        "trained": {"numeric": numeric, "grade": spelt.reshape(-1, 1)},
    }
    numeric = MISSING[["x0"]].to_numpy(np.float32)
    for name, spelling in MISSING_SPELLINGS.items():
        grade = np.full((len(MISSING), 1), spelling, dtype=object)
        grades[f"missing-{name}"] = {"numeric": numeric, "grade": grade}
    variants["grade"] = (exports, grades)
    # The flag as the vocabulary spells it, in lower case (the file's) and in upper case.
    _, exports, folder, _ = category_runs["flag"]
    table = pd.read_csv(folder / "rows.csv", dtype={"flag": str})
    numeric = table[["x0"]].to_numpy(np.float32)
    flag = table["flag"].to_numpy(dtype=object)
    flags = {
        "vocabulary": np.char.capitalize(flag.astype(str)).astype(object),
        "lower": flag,
        "upper": np.char.upper(flag.astype(str)).astype(object),
    }
    variants["flag"] = (
        exports,
        {name: {"numeric": numeric, "flag": v.reshape(-1, 1)} for name, v in flags.items()},
    )
    got = _served(tmp_path_factory.mktemp("category-outputs"), variants)
    return {
        "grade": (_predicted(category_runs["grade"][2]), text, got),
        "flag": (_predicted(category_runs["flag"][2]), got),
    }


@pytest.mark.slow
def test_a_whole_number_category_spelt_as_pandas_writes_it_is_that_category(
    category_runs, category_outputs
):
    """``toolkit predict`` reads the cell '4.0' as training's '4'; the export took it as an
    unseen category (the out-of-vocabulary bucket), so a service feeding the CSV's text got
    other probabilities than predict for every such row. In a fresh process without the
    toolkit, each format gives '4.0' the probabilities it gives '4', and those of predict."""
    _, exports, _, _ = category_runs["grade"]
    predicted, text, got = category_outputs["grade"]
    assert list(text) == ["1.0", "2.0", "4.0"] * 2  # the CSV's text, as a service reads it
    expected = predicted[: len(WHOLE_NUMBERS)]
    for fmt in exports:
        written, trained = got[f"grade/{fmt}/written"], got[f"grade/{fmt}/trained"]
        np.testing.assert_allclose(written, trained, rtol=1e-6, atol=1e-6, err_msg=fmt)
        np.testing.assert_allclose(written, expected, rtol=1e-5, atol=1e-5, err_msg=fmt)


@pytest.mark.slow
def test_a_missing_category_sent_as_empty_or_nan_is_missing(category_runs, category_outputs):
    """``toolkit predict`` scores an empty cell as the column's missing category, which
    training learnt; the export had no way to say missing but its internal token '<missing>'
    (documented nowhere): the empty string or 'nan' a service sends (``str`` of a NaN) fell
    into the out-of-vocabulary bucket, with other probabilities than predict's. In a fresh
    process, each format gives '', 'nan', 'None' and '<missing>' predict's probabilities."""
    _, exports, _, _ = category_runs["grade"]
    predicted, _, got = category_outputs["grade"]
    expected = predicted[len(WHOLE_NUMBERS) :]
    assert len(expected) == len(MISSING)
    for fmt in exports:
        for name in MISSING_SPELLINGS:
            key = f"grade/{fmt}/missing-{name}"
            np.testing.assert_allclose(got[key], expected, rtol=1e-5, atol=1e-5, err_msg=key)


@pytest.mark.slow
def test_a_boolean_column_spelt_true_in_lower_case_is_that_category(
    category_runs, category_outputs
):
    """pandas reads a CSV column of 'true'/'false' (as R, Spark and JSON write booleans) as
    booleans, so training learnt the categories 'True' and 'False'; ``toolkit predict`` and
    ``evaluate --data`` read the same file's cells as text, and scored every row of it as an
    unseen category (a warning naming 'true' and 'false' for all 569 rows of a breast-cancer
    table). Predict on the training file now gives, and each export in a fresh process gives
    for 'true' and 'TRUE', the probabilities of the vocabulary's own 'True' and 'False'."""
    _, exports, _, predicted = category_runs["flag"]
    assert "never seen in training" not in predicted.stderr
    expected, got = category_outputs["flag"]
    for fmt in exports:
        np.testing.assert_allclose(
            expected, got[f"flag/{fmt}/vocabulary"], rtol=1e-5, atol=1e-5, err_msg=f"predict/{fmt}"
        )
        for name in ("lower", "upper"):
            np.testing.assert_allclose(
                got[f"flag/{fmt}/{name}"],
                got[f"flag/{fmt}/vocabulary"],
                rtol=1e-6,
                atol=1e-6,
                err_msg=name,
            )
