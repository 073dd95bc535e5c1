"""Image runs end to end: the seeds' MNIST network exactly, saved models that take raw
images (checked against a NumPy forward pass), predictions in a fresh process for a flat
folder (one row per file) and an .npz, evaluation on a class folder, reports."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import REPO, cli_in_one_process
from tests.image_data import patterned_images, write_class_folder, write_keras_mnist


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory, request):
    """configs/mnist_mlp.yaml for 2 epochs on a small MNIST in a temporary Keras cache."""
    from toolkit.config.loading import load_config
    from toolkit.training.train import train

    home = tmp_path_factory.mktemp("keras-home")
    write_keras_mnist(home, train=200, test=50)
    patch = pytest.MonkeyPatch()
    request.addfinalizer(patch.undo)
    patch.setenv("KERAS_HOME", str(home))
    config = load_config(
        REPO / "configs" / "mnist_mlp.yaml",
        ["training.epochs=2", "evaluation.plots=false", "evaluation.baselines=false"],
    )
    result = train(config, output_dir=tmp_path_factory.mktemp("runs"), verbose=0)
    assert result.status == "completed"
    return home, result.run_dir


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """A conv body trained on a PNG class folder, with augmentation."""
    from toolkit.config.loading import validate_config
    from toolkit.training.train import train

    base = tmp_path_factory.mktemp("folder-run")
    folder = write_class_folder(base / "pets", per_class=16)
    config = validate_config(
        {
            "name": "pets",
            "data": {
                "source": str(folder),
                "augmentation": {"random_flip": "horizontal", "random_rotation": 0.05},
            },
            "model": {"task": "binary", "body": "conv", "conv": {"blocks": [8]}, "hidden": [8]},
            "training": {"epochs": 3, "batch_size": 8},
            "callbacks": {"learning_curve": False},
            "evaluation": {"plots": True, "baselines": False},
        }
    )
    result = train(config, output_dir=base / "runs", verbose=0)
    assert result.status == "completed"
    return folder, result.run_dir


def test_the_seeds_mnist_network_is_built_exactly(mnist_run):
    """Flatten(28, 28) -> Dense(128, relu) -> Dropout(0.2) -> Dense(10), after rescaling."""
    import keras

    from toolkit.models.saving import load_model

    _, run_dir = mnist_run
    model = load_model(run_dir / "model.keras")
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == [
        "InputLayer",
        "Rescaling",
        "Flatten",
        "Dense",
        "Activation",
        "Dropout",
        "Dense",
    ]
    seeds = keras.Sequential(
        [
            keras.Input((28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    assert model.count_params() == seeds.count_params() == 101_770


def test_predictions_take_raw_images(mnist_run, tmp_path):
    """Predictions for an .npz of raw pixels (no labels), read and written as ``toolkit
    predict`` does, equal a NumPy forward pass of the saved weights on pixels / 255: the
    rescaling is inside the model. (A fresh process predicts in the next test.)"""
    from toolkit.config.loading import load_config
    from toolkit.data.preprocessing import FeatureSpec
    from toolkit.data.sources.base import Source
    from toolkit.evaluation.predict import write_predictions
    from toolkit.models.saving import load_model

    home, run_dir = mnist_run
    with np.load(home / "datasets" / "mnist.npz") as archive:
        images = archive["x_test"][:20]
    np.savez(tmp_path / "new.npz", x=images)
    spec = FeatureSpec.from_json((run_dir / "preprocessing.json").read_text())
    model = load_model(run_dir / "model.keras")
    chunks = Source.read_input(str(tmp_path / "new.npz"), spec, label="--input")
    write_predictions(model, chunks, spec, load_config(run_dir / "config.yaml"), tmp_path / "p.csv")
    predicted = pd.read_csv(tmp_path / "p.csv")
    w1, b1 = model.get_layer("block0_dense").get_weights()
    w2, b2 = model.get_layer("logits").get_weights()
    hidden = np.maximum(images.reshape(20, -1) / 255.0 @ w1 + b1, 0.0)
    logits = hidden @ w2 + b2
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    columns = [f"probability_{i}" for i in range(10)]
    np.testing.assert_allclose(predicted[columns].to_numpy(), expected, atol=1e-5)
    assert list(predicted["prediction"].astype(str)) == [str(i) for i in expected.argmax(axis=1)]


def _save_images(directory: Path, count: int, seed: int) -> np.ndarray:
    """``count`` patterned images as ``directory/photo<i>.png``; the images."""
    from PIL import Image

    images, _ = patterned_images(count, seed=seed)
    directory.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        Image.fromarray(image).save(directory / f"photo{index}.png")
    return images


@pytest.fixture(scope="module")
def folder_answers(folder_run, tmp_path_factory):
    """The predict and evaluate commands of the folder run's tests below, each on the files
    its test names, run in one fresh process (seven TensorFlow start-ups and nine refusals
    were 40 s of CPU; the evaluate of labelled.csv, one more start-up, joined them): the
    folder of those files and each command's result by name."""
    import shutil

    from PIL import Image

    folder, run_dir = folder_run
    base = tmp_path_factory.mktemp("folder-answers")
    # A flat folder: five images, the first again under another name, and a text file.
    images = _save_images(base / "flat", 5, seed=9)
    Image.fromarray(images[0]).save(base / "flat" / "again.png")
    (base / "flat" / "notes.txt").write_text("not an image: skipped")
    # Globs, given from the current directory: of images only, and matching a text file too.
    _save_images(base / "glob" / "new", 3, seed=5)
    shutil.copytree(base / "glob", base / "mixed")
    (base / "mixed" / "new" / "notes.txt").write_text("not an image")
    # One image file.
    Image.fromarray(patterned_images(1, seed=11)[0][0]).save(base / "photo.png")
    # A CSV of image paths, one relative to the CSV's folder; one under another column name.
    (base / "lists").mkdir()
    relative = os.path.relpath(folder / "cat" / "000.png", base / "lists")
    absolute = str(folder / "dog" / "001.png")
    pd.DataFrame({"file": [relative, absolute], "id": ["a", "b"]}).to_csv(
        base / "lists" / "new.csv", index=False
    )
    pd.DataFrame({"path": [str(folder / "cat" / "000.png")], "target": ["cat"]}).to_csv(
        base / "paths.csv", index=False
    )
    # A CSV of image paths whose labels sit under another name than the run's target.
    pd.DataFrame({"file": [str(folder / "cat" / "000.png")], "label": ["cat"]}).to_csv(
        base / "labelled.csv", index=False
    )
    # A class folder of one class; the same with an image beside the class folder.
    shutil.copytree(folder / "dog", base / "dogs" / "dog")
    shutil.copytree(folder / "dog", base / "loose" / "dog")
    shutil.copy(folder / "cat" / "000.png", base / "loose" / "loose.png")
    # An .npz whose x has no rows.
    empty = base / "empty.npz"
    np.savez(empty, x=np.zeros((0, 16, 16, 3), np.uint8), y=np.array([], dtype=str))
    # Labels saved from pandas: y an object array, which NumPy loads only with allow_pickle.
    labels = pd.Series(["cat", "dog", "dog", "cat"], dtype=object).to_numpy()
    np.savez(base / "labels.npz", x=patterned_images(4, seed=13)[0], y=labels)

    def predict(given: str | Path, output: str) -> list:
        return ["predict", run_dir, "--input", given, "--output", output]

    calls = {
        "flat": predict(base / "flat", base / "flat.csv"),
        "glob": (predict("new/*.png", "p.csv"), base / "glob"),
        "evaluate glob": (["evaluate", run_dir, "--data", "new/*.png"], base / "glob"),
        "mixed glob": (predict("new/*", "q.csv"), base / "mixed"),
        "photo": predict(base / "photo.png", base / "one.csv"),
        "evaluate photo": ["evaluate", run_dir, "--data", base / "photo.png"],
        "paths": predict(base / "lists" / "new.csv", base / "paths.out.csv"),
        "predict path column": predict(base / "paths.csv", base / "predict.csv"),
        "evaluate path column": ["evaluate", run_dir, "--data", base / "paths.csv"],
        "evaluate labelled": ["evaluate", run_dir, "--data", base / "labelled.csv"],
        "dogs": predict(base / "dogs", base / "dogs.csv"),
        "evaluate dogs": ["evaluate", run_dir, "--data", base / "dogs"],
        "loose": predict(base / "loose", base / "loose.csv"),
        "evaluate folder": ["evaluate", run_dir, "--data", folder],
        "evaluate empty": ["evaluate", run_dir, "--data", empty],
        "predict gone file": predict(base / "gone.png", base / "gone.csv"),
        "evaluate gone file": ["evaluate", run_dir, "--data", base / "gone.png"],
        "predict gone folder": predict(base / "gone", base / "gone.csv"),
        "evaluate gone folder": ["evaluate", run_dir, "--data", base / "gone"],
        "predict empty": predict(empty, base / "empty.csv"),
        "predict object labels": predict(base / "labels.npz", base / "labels.csv"),
        "evaluate object labels": ["evaluate", run_dir, "--data", base / "labels.npz"],
        "train empty": [
            "train",
            REPO / "configs" / "digits_cnn.yaml",
            "--set",
            f"data.source={empty}",
            "--set",
            f"output_dir={base / 'runs'}",
        ],
    }
    results = cli_in_one_process(*calls.values())
    return base, dict(zip(calls, results, strict=True))


def _probability_of_dog(run_dir: Path, images: np.ndarray) -> np.ndarray:
    """The saved model's probability of the second class (dog) for ``images``."""
    from toolkit.models.saving import load_model

    logits = load_model(run_dir / "model.keras").predict(
        {"image": images.astype("float32")}, verbose=0
    )[:, 0]
    return 1 / (1 + np.exp(-logits))


def test_a_flat_folder_gives_one_row_per_image_with_its_file(folder_run, folder_answers):
    """A fresh process gives the probabilities the saved model gives in this one;
    augmentation (on in training) is not in the saved model, so two predictions of one image
    agree."""
    from toolkit.models.saving import load_model

    _, run_dir = folder_run
    base, results = folder_answers
    assert results["flat"].returncode == 0, results["flat"].stderr
    predicted = pd.read_csv(base / "flat.csv")
    files = [Path(f).name for f in predicted["file"]]
    assert files == ["again.png", *(f"photo{i}.png" for i in range(5))]
    model = load_model(run_dir / "model.keras")
    assert not any("random" in type(layer).__name__.lower() for layer in model.layers)
    images, _ = patterned_images(5, seed=9)
    positive = predicted["probability_dog"]  # the second class in sorted order
    np.testing.assert_allclose(positive[1:], _probability_of_dog(run_dir, images), atol=1e-6)
    assert positive[0] == positive[1]


def test_a_glob_of_images_is_predicted_as_its_files(folder_run, folder_answers):
    """``--input 'new/*.png'`` (what the help's "glob of rows" invites on an image run) was
    read as a glob of tables and refused as "not found". Now one row per matched file, as
    written from the current directory, each with the saved model's probability; evaluate
    on it, and a glob that also matches other files, are one line each."""
    _, run_dir = folder_run
    base, results = folder_answers
    assert results["glob"].returncode == 0, results["glob"].stderr
    predicted = pd.read_csv(base / "glob" / "p.csv")
    assert list(predicted["file"]) == [f"new/photo{i}.png" for i in range(3)]
    images, _ = patterned_images(3, seed=5)
    np.testing.assert_allclose(
        predicted["probability_dog"], _probability_of_dog(run_dir, images), atol=1e-6
    )

    evaluated = results["evaluate glob"]
    assert evaluated.returncode == 2
    assert evaluated.stderr.strip().splitlines() == [
        "toolkit: error: --data new/*.png names image files, with no labels; evaluation "
        "needs a class folder, a .csv/.parquet file of image paths with the target column, "
        "or an .npz with y"
    ]
    mixed = results["mixed glob"]
    assert mixed.returncode == 2 and not (base / "mixed" / "q.csv").exists()
    assert mixed.stderr.strip().splitlines() == [
        "toolkit: error: --input new/* matches image files and 1 other file "
        "(new/notes.txt); give a glob of images only"
    ]


def test_one_image_file_is_predicted_as_one_row(folder_run, folder_answers):
    """``--input photo.png`` gives the row the saved model gives that image; ``evaluate`` on
    it says it has no label, in one line."""
    _, run_dir = folder_run
    base, results = folder_answers
    assert results["photo"].returncode == 0, results["photo"].stderr
    predicted = pd.read_csv(base / "one.csv")
    assert list(predicted["file"]) == [str(base / "photo.png")]
    images, _ = patterned_images(1, seed=11)
    np.testing.assert_allclose(
        predicted["probability_dog"], _probability_of_dog(run_dir, images), atol=1e-6
    )

    evaluated = results["evaluate photo"]
    assert evaluated.returncode == 2 and evaluated.stdout == ""
    (line,) = evaluated.stderr.strip().splitlines()
    assert line.startswith("toolkit: error: --data") and "is one image, with no label" in line


def test_a_csv_of_image_paths_carries_the_paths_as_it_wrote_them(folder_run, folder_answers):
    """Relative paths are taken from the CSV's folder to find the files, but the output
    held them resolved ('<csv folder>/../pets/cat/000.png') instead of the CSV's text."""
    from PIL import Image

    folder, run_dir = folder_run
    base, results = folder_answers
    listed = base / "lists"
    relative = os.path.relpath(folder / "cat" / "000.png", listed)  # ../../.../pets/cat/000.png
    absolute = str(folder / "dog" / "001.png")
    assert results["paths"].returncode == 0, results["paths"].stderr
    predicted = pd.read_csv(base / "paths.out.csv")
    assert list(predicted["file"]) == [relative, absolute]
    assert list(predicted["id"]) == ["a", "b"]
    images = np.stack([np.asarray(Image.open(p)) for p in (listed / relative, absolute)])
    np.testing.assert_allclose(
        predicted["probability_dog"], _probability_of_dog(run_dir, images), atol=1e-6
    )


def test_a_csv_without_the_runs_path_column_is_one_line(folder_answers):
    """A CSV of paths under another column name ('path' where a folder run reads 'file')
    ended predict and evaluate in a pandas KeyError traceback."""
    base, results = folder_answers
    for command in ("predict", "evaluate"):
        result = results[f"{command} path column"]
        assert result.returncode == 2, result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert line.endswith(
            f"{base / 'paths.csv'} has no column 'file' of image paths, the column this run "
            "reads; columns: path, target"
        ), line
    assert not (base / "predict.csv").exists()


def test_evaluating_a_csv_of_paths_without_the_target_names_the_file(folder_answers):
    """`evaluate --data paths.csv` whose labels sat under another name said "target column
    'target' is not in the data" without the file, where a table run's names it."""
    base, results = folder_answers
    listed = base / "labelled.csv"
    result = results["evaluate labelled"]
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr == (
        f"toolkit: error: --data {listed} target column 'target' is not in the data; "
        "columns: file, label\n"
    )


def test_new_images_of_one_class_and_loose_images_beside_class_folders(folder_answers):
    """New images need not span two classes (a training rule: 'a classifier needs at least
    2' refused a folder holding only dog/); loose images beside class folders, which were
    left out, are refused in one line."""
    base, results = folder_answers
    assert results["dogs"].returncode == 0, results["dogs"].stderr
    predicted = pd.read_csv(base / "dogs.csv")
    assert len(predicted) == 16 and set(predicted["target"]) == {"dog"}
    evaluated = results["evaluate dogs"]
    assert evaluated.returncode == 0, evaluated.stderr
    accuracy = json.loads(evaluated.stdout)["metrics"]["accuracy"]
    assert accuracy == pytest.approx((predicted["prediction"] == "dog").mean())

    refused = results["loose"]
    assert refused.returncode == 2 and not (base / "loose.csv").exists()
    (line,) = refused.stderr.strip().splitlines()
    assert line.endswith(
        "holds 1 image directly beside class sub-folders; give a flat folder "
        "of new images or a folder of class sub-folders, not both"
    )


def test_evaluate_on_a_class_folder_scores_its_labels(folder_run, folder_answers):
    """The accuracy of a fresh process equals scikit-learn's on this process's predictions
    of the folder's images against their sub-folder names."""
    from sklearn.metrics import accuracy_score, recall_score

    from toolkit.config.loading import load_config
    from toolkit.data.preprocessing import FeatureSpec
    from toolkit.data.sources.files import read_new_frame
    from toolkit.evaluation.predict import predict_frame
    from toolkit.models.saving import load_model

    folder, run_dir = folder_run
    evaluated = folder_answers[1]["evaluate folder"]
    assert evaluated.returncode == 0, evaluated.stderr
    scores = json.loads(evaluated.stdout)["metrics"]
    config = load_config(run_dir / "config.yaml")
    spec = FeatureSpec.from_json((run_dir / "preprocessing.json").read_text())
    frame = read_new_frame(str(folder), spec, label="folder", with_target=False)
    table = predict_frame(load_model(run_dir / "model.keras"), frame, spec, config)
    assert len(table) == 32 and set(table["target"]) == {"cat", "dog"}
    assert scores["accuracy"] == pytest.approx(accuracy_score(table["target"], table["prediction"]))
    recall = recall_score(table["target"], table["prediction"], average=None, labels=["cat", "dog"])
    per_class = scores["per_class_accuracy"]
    np.testing.assert_allclose([per_class["cat"], per_class["dog"]], recall)


def test_an_npz_without_rows_is_one_line_for_evaluate_predict_and_train(folder_answers):
    """An .npz whose x has 0 rows: evaluate ended in a ValueError traceback ('no rows to
    evaluate'), predict wrote an empty predictions file, and train said 'found 0 classes';
    an empty table says 'has no rows' for each."""
    from tests.reliability._support import assert_nothing_written, assert_one_line_error

    base, results = folder_answers
    expected = f"{base / 'empty.npz'} has no rows (x has shape (0, 16, 16, 3))"
    assert assert_one_line_error(results["evaluate empty"]).endswith(f"--data {expected}")
    line = assert_one_line_error(results["predict empty"])
    assert line.endswith(expected) and not (base / "empty.csv").exists()
    line = assert_one_line_error(results["train empty"])
    assert line.endswith(f"data.source {expected}")
    assert_nothing_written(base / "runs")


def test_an_npz_with_object_labels_is_predicted_from_x_and_refused_by_evaluate(
    folder_run, folder_answers
):
    """An .npz whose y holds Python objects (labels saved from pandas) was refused by
    predict too, which needs no labels: it predicts from x with one warning line, leaving y
    out of the output; evaluate, which scores y, still refuses it."""
    from tests.reliability._support import assert_one_line_error

    _, run_dir = folder_run
    base, results = folder_answers
    path = base / "labels.npz"
    refusal = (
        f"{path}: y is an array of Python objects (dtype object), which is not loaded, as "
        "loading one can run code; save the labels as numbers or text, e.g. "
        "np.asarray(y, dtype=str)"
    )
    result = results["predict object labels"]
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"toolkit: warning: --input file {refusal}; predicted from x alone, without y "
        "beside the predictions",
        f"wrote 4 predictions to {base / 'labels.csv'}",
    ]
    predicted = pd.read_csv(base / "labels.csv")
    assert "target" not in predicted.columns
    images, _ = patterned_images(4, seed=13)
    np.testing.assert_allclose(
        predicted["probability_dog"], _probability_of_dog(run_dir, images), atol=1e-6
    )
    line = assert_one_line_error(results["evaluate object labels"])
    assert line == f"toolkit: error: --data {refusal}"


def test_a_missing_image_file_or_folder_is_named_not_found(folder_answers):
    """A path that does not exist, typed for predict or evaluate: an image file was told
    "this run takes ... one image file" (which it was) and a folder given to evaluate "has
    no class sub-folders", neither saying that nothing is there."""
    from tests.reliability._support import assert_one_line_error

    base, results = folder_answers
    for given in ("file", "folder"):
        path = base / ("gone.png" if given == "file" else "gone")
        line = assert_one_line_error(results[f"predict gone {given}"])
        assert line == f"toolkit: error: --input file not found: {path}", line
        line = assert_one_line_error(results[f"evaluate gone {given}"])
        assert line == f"toolkit: error: --data not found: {path}", line
    assert not (base / "gone.csv").exists()


def test_the_report_shows_per_class_accuracy_and_the_confidently_wrong_images(folder_run):
    from toolkit.evaluation.report import write_report

    _, run_dir = folder_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics[metrics["evaluated_on"]]["per_class_accuracy"]) == {"cat", "dog"}
    assert (run_dir / "plots" / "confidently_wrong.png").exists()
    _, markdown = write_report(run_dir)
    text = markdown.read_text()
    assert "## Per-class accuracy" in text and "confidently_wrong.png" in text


def test_a_float_npz_in_0_1_is_taken_in_its_range_and_predict_warns_of_0_255(tmp_path):
    """Float pixels in [0, 1] were rescaled as 0..255 (value_range [0, 255] in
    preprocessing.json, near-black images, accuracy at chance). Now their range is inferred:
    predictions equal a NumPy forward pass on the pixels as they are; pixels given to the run
    as 0..255 are reported on one warning line."""
    from toolkit.config.loading import validate_config
    from toolkit.training.train import train

    images, labels = patterned_images(32, 8, 1)
    pixels = images.astype(np.float32) / 255.0
    np.savez(tmp_path / "unit.npz", x=pixels, y=np.array(["a", "b"])[labels % 2])
    config = validate_config(
        {
            "name": "unit",
            "data": {"source": str(tmp_path / "unit.npz"), "kind": "image", "validation": 0.25},
            "model": {"task": "binary", "flatten": True, "hidden": [4]},
            "training": {"epochs": 1, "batch_size": 8},
            "callbacks": {"tensorboard": False, "learning_curve": False},
            "evaluation": {"plots": False, "baselines": False},
        }
    )
    run_dir = train(config, output_dir=tmp_path / "runs", verbose=0).run_dir
    spec = json.loads((run_dir / "preprocessing.json").read_text())
    assert spec["image"]["value_range"] == [0.0, 1.0]

    from toolkit.models.saving import load_model

    model = load_model(run_dir / "model.keras")
    w1, b1 = model.get_layer("block0_dense").get_weights()
    w2, b2 = model.get_layer("logits").get_weights()
    hidden = np.maximum(pixels.reshape(32, -1) @ w1 + b1, 0.0)
    expected = 1.0 / (1.0 + np.exp(-(hidden @ w2 + b2)[:, 0]))
    np.savez(tmp_path / "new.npz", x=pixels)
    np.savez(tmp_path / "bytes.npz", x=pixels * 255.0)
    # Both predictions in one fresh process: one TensorFlow start-up.
    result, bytes_result = cli_in_one_process(
        ["predict", run_dir, "--input", tmp_path / "new.npz", "--output", tmp_path / "p.csv"],
        ["predict", run_dir, "--input", tmp_path / "bytes.npz", "--output", tmp_path / "q.csv"],
    )
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    predicted = pd.read_csv(tmp_path / "p.csv")
    np.testing.assert_allclose(
        predicted.filter(like="probability").to_numpy()[:, -1], expected, atol=1e-5
    )

    result = bytes_result
    assert result.returncode == 0, result.stderr
    assert (
        "toolkit: warning: images: 32 of 32 rows hold pixels far outside the run's value "
        "range [0, 1] (data.image.value_range), which the model rescales from; their "
        "predictions are not meaningful (scale the pixels as training had them)\n"
    ) in result.stderr


def test_pixels_scaled_to_0_1_given_to_a_run_on_0_255_are_warned_of(tmp_path):
    """The reverse of the warning above: a run on 0..255 given the same images scaled to
    [0, 1] (inside its range, so not "far outside") predicted near-black images at chance
    without a word. The images as training had them, and a dark image of whole numbers in
    [0, 1], get no warning."""
    from toolkit.config.loading import validate_config
    from toolkit.training.train import train

    images, labels = patterned_images(32, 8, 1)
    np.savez(tmp_path / "bytes.npz", x=images, y=np.array(["a", "b"])[labels % 2])
    config = validate_config(
        {
            "name": "bytes",
            "data": {"source": str(tmp_path / "bytes.npz"), "kind": "image", "validation": 0.25},
            "model": {"task": "binary", "flatten": True, "hidden": [4]},
            "training": {"epochs": 1, "batch_size": 8},
            "callbacks": {"tensorboard": False, "learning_curve": False},
            "evaluation": {"plots": False, "baselines": False},
        }
    )
    run_dir = train(config, output_dir=tmp_path / "runs", verbose=0).run_dir
    assert json.loads((run_dir / "preprocessing.json").read_text())["image"]["value_range"] == [
        0.0,
        255.0,
    ]
    np.savez(tmp_path / "unit.npz", x=images.astype(np.float32) / 255.0)
    np.savez(tmp_path / "dark.npz", x=(images > 128).astype(np.uint8))  # 0s and 1s
    scaled, as_trained, dark = cli_in_one_process(
        *(
            [
                "predict",
                run_dir,
                "--input",
                tmp_path / f"{name}.npz",
                "--output",
                tmp_path / f"{name}.csv",
            ]
            for name in ("unit", "bytes", "dark")
        )
    )
    assert scaled.returncode == 0, scaled.stderr
    assert scaled.stderr.splitlines()[0] == (
        "toolkit: warning: images: 32 of 32 rows hold pixels all within [0, 1], the run's "
        "value range is [0, 255] (data.image.value_range); if they were scaled to [0, 1], "
        "scale them back to [0, 255] as training had them: their predictions are not "
        "meaningful otherwise"
    )
    for result in (as_trained, dark):
        assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
