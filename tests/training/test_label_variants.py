"""Class labels that differ only in surrounding spaces or case (" setosa" beside "setosa", a
slip in a hand-edited CSV) were trained as classes of their own without a word: iris became
a 6-class problem whose summary line looked like any other."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sklearn.datasets import load_iris

from tests.helpers import tiny_config


def _iris_with_spaces(path, *, binary: bool = False) -> str:
    iris = load_iris(as_frame=True)
    frame = iris.data.copy()
    labels = np.asarray(iris.target_names)[iris.target].astype(object)
    if binary:
        labels = np.where(iris.target == 0, "yes", "no").astype(object)
    # Every 7th label with a leading space, as a hand edit leaves it.
    labels[::7] = [f" {label}" for label in labels[::7]]
    frame["species"] = labels
    frame.to_csv(path, index=False)
    return str(path)


def test_labels_differing_only_in_spaces_are_named_on_the_summary_line(cli, write_config, tmp_path):
    config = tiny_config(
        "multiclass",
        data={"source": _iris_with_spaces(tmp_path / "iris.csv"), "target": "species"},
        output_dir=str(tmp_path / "runs"),
    )
    config["data"].pop("synthetic")
    result = cli("train", write_config(config))
    assert result.returncode == 0, result.stderr
    warning = (
        "target 'species': classes ' setosa' and 'setosa'; ' versicolor' and 'versicolor'; "
        "' virginica' and 'virginica' differ only in spaces or case, and were trained as 6 "
        "separate classes; make them one label in the data"
    )
    assert f"; warning: {warning}" in result.stderr
    run = json.loads((next((tmp_path / "runs").glob("*/*")) / "run.json").read_text())
    assert run["warnings"] == [warning]


def test_clean_labels_pass_and_spaced_binary_labels_are_named(cli, write_config, tmp_path):
    """Distinct labels give no warning; a binary target of 'yes', ' yes', 'no' and ' no' is refused
    (4 classes) with the reason visible, not as 'found 4:  no,  yes, no, yes'."""
    clean = tmp_path / "clean.csv"
    frame = pd.read_csv(_iris_with_spaces(tmp_path / "iris.csv"))
    frame.assign(species=frame["species"].str.strip()).to_csv(clean, index=False)
    config = tiny_config(
        "multiclass",
        data={"source": str(clean), "target": "species"},
        output_dir=str(tmp_path / "runs"),
    )
    config["data"].pop("synthetic")
    assert cli("train", write_config(config)).returncode == 0
    record = json.loads((next((tmp_path / "runs").glob("*/*")) / "run.json").read_text())
    assert "warnings" not in record or record["warnings"] == []

    config["data"]["source"] = _iris_with_spaces(tmp_path / "binary.csv", binary=True)
    config["model"]["task"] = "binary"
    config["output_dir"] = str(tmp_path / "binary-runs")
    result = cli("train", write_config(config))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "toolkit: error: task 'binary' needs exactly 2 classes in target 'species', found 4: "
        " no,  yes, no, yes; classes ' no' and 'no'; ' yes' and 'yes' differ only in spaces "
        "or case: make them one label in the data"
    ]
    assert not (tmp_path / "binary-runs").exists()


def test_labels_differing_only_in_unicode_form_are_named(cli, write_config, tmp_path):
    """'départ' with a precomposed 'é' (NFC) beside 'départ' with 'e' and a combining accent
    (NFD, as files written on macOS may hold it): two labels that print alike were trained
    as two classes without a word, and a binary target was refused as 'found 3: départ,
    départ, reste'. Both now say the labels differ only in their Unicode form."""
    import unicodedata

    nfc, nfd = "départ", unicodedata.normalize("NFD", "départ")
    assert nfc != nfd
    first, second = sorted([nfc, nfd])  # the classes' order: NFD's plain 'e' sorts first
    rng = np.random.default_rng(0)
    labels = np.array([nfc, "reste", "reste"] * 20, dtype=object)
    labels[::6] = nfd
    frame = pd.DataFrame({"x": rng.normal(size=60), "label": labels})
    frame.to_csv(tmp_path / "rows.csv", index=False)
    config = tiny_config(
        "multiclass",
        data={"source": str(tmp_path / "rows.csv"), "target": "label"},
        output_dir=str(tmp_path / "runs"),
    )
    config["data"].pop("synthetic")
    result = cli("train", write_config(config))
    assert result.returncode == 0, result.stderr
    warning = (
        f"target 'label': classes '{first}' and '{second}' differ only in spaces, case or Unicode "
        "form (an accent precomposed or combining), and were trained as 3 separate classes; "
        "make them one label in the data"
    )
    assert f"; warning: {warning}" in result.stderr

    config["model"]["task"] = "binary"
    config["output_dir"] = str(tmp_path / "binary-runs")
    result = cli("train", write_config(config))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"toolkit: error: task 'binary' needs exactly 2 classes in target 'label', found 3: "
        f"{first}, {second}, reste; classes '{first}' and '{second}' differ only in spaces, case or "
        "Unicode form (an accent precomposed or combining): make them one label in the data"
    ]
    assert not (tmp_path / "binary-runs").exists()
