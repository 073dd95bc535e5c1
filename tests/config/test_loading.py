"""Config pipeline: YAML -> extends -> --set -> validate -> frozen, and its error messages."""

from __future__ import annotations

import pandas as pd
import pydantic
import pytest
import yaml

from tests.helpers import REPO, tiny_config
from toolkit.config.loading import dump_config, load_config, resolve_config, validate_config
from toolkit.errors import ConfigError


def test_extends_deep_merges_and_child_wins(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "seed: 1\ntraining: {epochs: 50, batch_size: 8, optimizer: {name: sgd, learning_rate: 0.1, momentum: 0.9}}\n"
    )
    child = tiny_config()
    child["extends"] = "base.yaml"
    child["training"] = {"epochs": 4}
    (tmp_path / "child.yaml").write_text(yaml.safe_dump(child))
    config = load_config(tmp_path / "child.yaml")
    assert config.training.epochs == 4  # child overrides
    assert config.training.batch_size == 8  # inherited, deep-merged
    assert config.training.optimizer.name == "sgd"
    assert config.training.optimizer.arguments == {"momentum": 0.9}
    assert config.seed == 7  # child's top-level value wins over base's


def test_extends_cycle_is_reported(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "a.yaml")


def test_missing_extends_file(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: nowhere.yaml\nname: a\n")
    with pytest.raises(ConfigError, match=r"a.yaml:1: extends: file not found: .*nowhere.yaml"):
        load_config(tmp_path / "a.yaml")


def test_overrides_parse_yaml_values_and_list_indices(write_config):
    path = write_config(tiny_config(model={"task": "regression", "hidden": [8, 4]}))
    config = load_config(
        path,
        [
            "model.hidden.0=128",
            "training.optimizer.learning_rate=3e-4",
            "model.batchnorm=true",
            "data.features=[x0, x1]",
        ],
    )
    assert [b.units for b in config.model.hidden] == [128, 4]
    assert config.training.optimizer.learning_rate == pytest.approx(3e-4)
    assert config.model.batchnorm is True
    assert config.data.features == ["x0", "x1"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.hidden.5=3", "index 5 out of range"),
        ("model.hiden=3", "unknown key 'hiden' (did you mean 'hidden'?)"),
        ("training.optimizer.name=adamm", "unknown optimizer 'adamm' (did you mean 'adam'?)"),
        ("model.activation=rellu", "unknown activation 'rellu' (did you mean 'relu'?)"),
        # Another case: difflib's ratio of 'ReLU' to 'relu' is 0, and it got no suggestion.
        ("model.activation=ReLU", "unknown activation 'ReLU' (did you mean 'relu'?)"),
        ("data.source=sklearn:diabetis", "unknown dataset 'diabetis' (did you mean 'diabetes'?)"),
        ("model.loss=binary_crossentropy", "does not fit task 'regression'"),
        ("model.dropout=1.0", "model.dropout"),
        ("training.epochs=0", "training.epochs"),
        ("noequals", "expected KEY=VALUE"),
    ],
)
def test_override_errors_name_the_key(write_config, override, message):
    path = write_config(tiny_config())
    with pytest.raises(ConfigError) as caught:
        load_config(path, [override])
    text = str(caught.value)
    assert message in text
    assert "\n" not in text
    assert text.startswith("--set")


def test_errors_point_at_file_and_line(write_config):
    config = tiny_config()
    config["model"]["activaton"] = "relu"
    path = write_config(config)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "activaton" in text)
    assert str(caught.value).startswith(f"{path}:{line}: model.activaton: unknown key")
    assert "did you mean 'activation'" in str(caught.value)


ELSEWHERE = [
    ("model.backbone.unfreeze", "5", "did you mean 'training.fine_tune.unfreeze'?"),
    ("training.dropout", "0.2", "did you mean 'model.dropout' or 'model.backbone.dropout'?"),
    ("model.epochs", "3", "did you mean 'training.epochs' or 'training.fine_tune.epochs'?"),
]


@pytest.mark.parametrize(("key", "value", "hint"), ELSEWHERE)
def test_a_key_of_another_section_is_pointed_there(write_config, key, value, hint):
    """A key with no close spelling in its section but the exact name of a setting at
    another path names that path (at most two, shallowest first):
    ``model.backbone.unfreeze`` was only "unknown key 'unfreeze'; allowed: alpha, ..."
    where the setting is ``training.fine_tune.unfreeze``. In a file and as an override."""
    section, _, name = key.rpartition(".")
    config = node = tiny_config()
    for part in section.split("."):
        node = node.setdefault(part, {})
    node[name] = yaml.safe_load(value)
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(config))
    assert f"{key}: unknown key '{name}' ({hint}); allowed: " in str(caught.value)
    assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tiny_config()), [f"{key}={value}"])
    assert str(caught.value).startswith(
        f"--set {key}={value}: {key}: unknown key '{name}' ({hint})"
    )
    # A close spelling in the section itself still wins: 'epoch' is 'epochs' there.
    with pytest.raises(ConfigError, match=r"unknown key 'epoch' \(did you mean 'epochs'\?\);"):
        load_config(write_config(tiny_config()), ["training.epoch=3"])


def test_validate_points_an_unknown_key_at_its_section(cli):
    """``toolkit validate`` in a fresh process: one line, exit 2, naming where the key is."""
    for key, value, hint in ELSEWHERE:
        result = cli("validate", "configs/binary.yaml", "--set", f"{key}={value}")
        assert result.returncode == 2, result.stderr
        name = key.rpartition(".")[2]
        assert result.stderr == (
            f"toolkit: error: --set {key}={value}: {key}: unknown key '{name}' ({hint}); "
            f"allowed: {result.stderr.split('allowed: ')[1]}"
        )
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_invalid_yaml_and_python_tags_are_rejected(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodel: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)
    tagged = tmp_path / "tagged.yaml"
    tagged.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(tagged)


def test_duplicate_keys_are_rejected(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("name: a\nname: b\n")
    with pytest.raises(ConfigError, match=r"dup\.yaml:2: duplicate key 'name'"):
        load_config(path)


def test_config_is_frozen_and_dump_round_trips(write_config):
    config = load_config(
        write_config(
            tiny_config(model={"task": "regression", "hidden": [8, {"units": 4, "dropout": 0.1}]})
        )
    )
    with pytest.raises(pydantic.ValidationError):
        config.seed = 3
    dumped = dump_config(config)
    assert "- 8\n" in dumped  # compact blocks stay compact
    again = load_config(write_config(yaml.safe_load(dumped), "again.yaml"))
    assert again == config


def test_resolve_config_keeps_origins(write_config):
    path = write_config(tiny_config())
    data, origins = resolve_config(path, ["training.epochs=9"])
    assert data["training"]["epochs"] == 9
    assert origins[("training", "epochs")] == "--set training.epochs=9"
    assert origins[("model", "task")].startswith(f"{path}:")


def test_errors_name_the_users_key_not_a_union_tag(write_config):
    """A value that fails one member of a union (a fraction or a path; a width or a block)
    is reported at the user's key, not at pydantic's tag ('constrained-float', 'units')."""
    path = write_config(tiny_config())
    with pytest.raises(ConfigError) as caught:
        load_config(path, ["data.validation=-0.1"])  # 0 has a message of its own
    assert str(caught.value).startswith(
        "--set data.validation=-0.1: data.validation: Input should be greater than 0"
    )
    path = write_config(tiny_config(model={"task": "regression", "hidden": [-5]}))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert ": model.hidden.0: Input should be greater than 0, got -5" in str(caught.value)


def test_a_set_that_replaces_a_section_is_named_in_its_errors(write_config, tmp_path):
    """--set model.hidden=[-5] replaces the file's list: the error names the --set, not the
    file's line for the list it replaced (which held valid widths)."""
    path = write_config(tiny_config(model={"task": "regression", "hidden": [8, 4]}))
    with pytest.raises(ConfigError) as caught:
        load_config(path, ["model.hidden=[-5]"])
    assert str(caught.value).startswith("--set model.hidden=[-5]: model.hidden.0:")
    sweep = tiny_config(tuner={"search_space": {"model.dropout": {"choice": [0.0, 0.1]}}})
    path = write_config(sweep, "sweep.yaml")
    override = "tuner.search_space={model.dropout: {float: [0.5, 0.1]}}"
    with pytest.raises(ConfigError) as caught:
        load_config(path, [override])
    assert str(caught.value).startswith(f"--set {override}: tuner.search_space.model.dropout:")
    import toolkit

    with pytest.raises(ConfigError) as caught:
        toolkit.load_config(path, {"tuner.search_space": {"model.dropout": {"float": [0.5, 0.1]}}})
    assert str(caught.value).startswith("override tuner.search_space: ")


def test_a_check_across_a_sections_fields_names_the_sets_it_is_about(write_config):
    """data.validation + data.test >= 1 was blamed on the first --set under data alone, here
    the data.source that had nothing to do with it: the two --sets the message names are."""
    path = write_config(tiny_config())
    sets = ["data.source=synthetic:binary", "data.validation=0.5", "data.test=0.5"]
    with pytest.raises(ConfigError) as caught:
        load_config(path, [*sets, "model.task=binary", "training.epochs=2"])
    named = ", ".join(f"--set {s}" for s in sets[1:])
    assert str(caught.value).startswith(f"{named}: data: data.validation (0.5) and data.test")
    assert "model.task" not in str(caught.value).split(": data:")[0]


def test_an_empty_feature_list_is_refused(write_config):
    """features: [] trained on every column (an empty list counted as unset)."""
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tiny_config()), ["data.features=[]"])
    assert str(caught.value).startswith("--set data.features=[]: data.features: an empty list")


def test_a_set_inside_the_search_space_addresses_a_dotted_path(write_config):
    """Search-space keys are dotted config paths: ``--set tuner.search_space.model.dropout=``
    sets the entry ``model.dropout`` (it was read as nested keys, 'unknown key dropout'),
    ``...model.hidden.0.int=`` one field of ``model.hidden.0``; the same from Python."""
    import toolkit

    space = {
        "model.hidden.0": {"int": [8, 32], "step": 8},
        "model.dropout": {"choice": [0.0, 0.1]},
    }
    path = write_config(tiny_config(tuner={"search_space": space}))
    config = load_config(
        path,
        [
            "tuner.search_space.model.dropout={choice: [0.5]}",
            "tuner.search_space.model.hidden.0.int=[16, 64]",
            "tuner.search_space.training.optimizer.learning_rate={float: [0.001, 0.1]}",
        ],
    )
    dimensions = {
        key: value.model_dump(exclude_defaults=True)
        for key, value in config.tuner.search_space.items()
    }
    assert dimensions == {
        "model.hidden.0": {"int": [16, 64], "step": 8.0},
        "model.dropout": {"choice": [0.5]},
        "training.optimizer.learning_rate": {"float": [0.001, 0.1]},
    }
    same = toolkit.load_config(path, {"tuner.search_space.model.dropout.choice": [0.5]})
    assert same.tuner.search_space["model.dropout"].choice == [0.5]


def test_a_null_search_space_entry_takes_it_out_of_the_search(write_config, tmp_path):
    """``--set tuner.search_space.model.dropout=null`` (and ``model.dropout: null`` in a config
    that extends a sweep, and ``None`` from Python) removes that entry; it was refused as "got
    null", so a shipped sweep could not be narrowed without copying it. A mistyped entry is
    named with a suggestion."""
    import toolkit

    space = {
        "model.hidden.0": {"int": [8, 32], "step": 8},
        "model.dropout": {"choice": [0.0, 0.1]},
    }
    path = write_config(tiny_config(tuner={"search_space": space}), name="sweep.yaml")
    narrowed = load_config(path, ["tuner.search_space.model.dropout=null"])
    assert list(narrowed.tuner.search_space) == ["model.hidden.0"]
    assert list(
        toolkit.load_config(path, {"tuner.search_space.model.dropout": None}).tuner.search_space
    ) == ["model.hidden.0"]
    child = tmp_path / "child.yaml"
    child.write_text("extends: sweep.yaml\ntuner:\n  search_space:\n    model.dropout: null\n")
    assert list(load_config(child).tuner.search_space) == ["model.hidden.0"]

    with pytest.raises(ConfigError) as caught:
        load_config(path, ["tuner.search_space.model.droput=null"])
    assert str(caught.value) == (
        "--set tuner.search_space.model.droput=null: the search space has no entry "
        "'model.droput' to remove (did you mean 'model.dropout'?); entries: model.dropout, "
        "model.hidden.0"
    )


def _backbone_config(weights: str) -> dict:
    """A tiny binary image config on a MobileNetV3Small backbone with these weights."""
    raw = tiny_config(
        model={
            "task": "binary",
            "body": "backbone",
            "backbone": {"name": "MobileNetV3Small", "weights": weights},
            "hidden": [],
        }
    )
    raw["data"] = {"source": "photos", "kind": "image"}
    return raw


def test_a_check_across_sections_names_the_file_and_every_set(write_config):
    """A whole-config check (fine-tuning needs a frozen backbone) blamed the first --set,
    whatever it set (``--set training.epochs=3``); it now names the file and every --set."""
    raw = _backbone_config("none")
    raw["training"] = {**raw["training"], "epochs": 2, "fine_tune": {"epochs": 1}}
    path = write_config(raw)
    with pytest.raises(ConfigError) as caught:
        load_config(path, ["training.epochs=3", "model.backbone.trainable=true"])
    assert str(caught.value).startswith(
        f"{path} with --set training.epochs=3, --set model.backbone.trainable=true: "
        "training.fine_tune needs model.body 'backbone' with backbone.trainable: false"
    )


def test_a_section_check_names_the_set_its_message_names(write_config, tmp_path):
    """A check across data's keys ("data.augmentation applies to images only") blamed the
    first --set in data, ``--set data.source=signals.npz``, when the --set that gave the
    augmentation was the one at fault; a message naming no --set key names every --set in
    the section."""
    path = write_config(
        {"name": "s", "data": {"source": "x.npz", "kind": "signal"}, "model": {"task": "binary"}}
    )
    signals = str(tmp_path / "signals.npz")
    with pytest.raises(ConfigError) as caught:
        load_config(path, [f"data.source={signals}", "data.augmentation.random_flip=horizontal"])
    assert str(caught.value) == (
        "--set data.augmentation.random_flip=horizontal: data: data.augmentation applies to "
        "images only"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, [f"data.source={tmp_path / 'x.csv'}", "data.validation=0.3"])
    assert str(caught.value).startswith(
        f"--set data.source={tmp_path / 'x.csv'}, --set data.validation=0.3: data: "
    )


def test_a_backbone_weights_file_is_made_absolute_with_the_data_paths(tmp_path, monkeypatch):
    """config.yaml of a run holds its paths made absolute so it works from anywhere: a
    relative backbone weights file stayed relative, so --resume or evaluate from another
    directory failed 'backbone weights file not found'."""
    from toolkit.config.loading import validate_config, with_absolute_paths

    raw = _backbone_config("w/mine.weights.h5")
    monkeypatch.chdir(tmp_path)
    config = with_absolute_paths(validate_config(raw))
    assert config.model.backbone.weights == str(tmp_path / "w" / "mine.weights.h5")
    assert config.data.source == str(tmp_path / "photos")
    raw["model"]["backbone"]["weights"] = "imagenet"
    assert with_absolute_paths(validate_config(raw)).model.backbone.weights == "imagenet"


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        # The name spoke of the old data: it now speaks of the new.
        (["data.source=/data/penguins.csv", "data.target=body_mass_g"], "penguins-mlp"),
        # A compressed CSV is named as the CSV: not 'penguins.csv-mlp'.
        (["data.source=/data/penguins.csv.gz", "data.target=body_mass_g"], "penguins-mlp"),
        # Same data at another path: nothing to rename.
        (["data.source=/elsewhere/diabetes.csv"], "diabetes-mlp"),
        # An explicit name wins, whatever the data.
        (["data.source=penguins.csv", "name=my-run"], "my-run"),
        (["name=my-run", "data.source=penguins.csv"], "my-run"),
        # The whole data section replaced counts as swapping the source.
        (["data={source: shards/*.parquet, target: y}"], "shards-mlp"),
        # No swap, no rename.
        (["training.epochs=2"], "diabetes-mlp"),
    ],
)
def test_swapped_data_renames_a_run_named_after_the_old_data(tmp_path, overrides, name):
    path = tmp_path / "regression.yaml"
    path.write_text(
        "name: diabetes-mlp\ndata: {source: 'sklearn:diabetes'}\nmodel: {task: regression}\n"
    )
    data, _ = resolve_config(path, overrides)
    assert data["name"] == name


def test_a_name_not_about_the_data_and_a_file_setting_both_are_kept(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "name: diabetes-mlp\ndata: {source: 'sklearn:diabetes'}\nmodel: {task: regression}\n"
    )
    # A config file that sets both keeps its name; only overrides rename.
    (tmp_path / "both.yaml").write_text(
        "extends: base.yaml\nname: diabetes-again\ndata: {source: penguins.csv}\n"
    )
    assert resolve_config(tmp_path / "both.yaml")[0]["name"] == "diabetes-again"
    (tmp_path / "plain.yaml").write_text(
        "name: prediabetes-baseline\ndata: {source: 'sklearn:diabetes'}\nmodel: {task: regression}\n"
    )
    data, _ = resolve_config(tmp_path / "plain.yaml", ["data.source=penguins.csv"])
    assert data["name"] == "prediabetes-baseline"


def test_a_file_extending_another_with_its_own_data_and_no_name_is_renamed(tmp_path):
    """``extends: regression.yaml`` with ``data.source: gap.csv`` ran under diabetes-mlp
    (found by a user pass); only ``--set data.source`` renamed."""
    (tmp_path / "mine.yaml").write_text(
        f"extends: {REPO / 'configs' / 'regression.yaml'}\n"
        "data: {source: /data/gap.csv, target: y}\n"
    )
    assert resolve_config(tmp_path / "mine.yaml")[0]["name"] == "gap-mlp"
    # Swapped again on the command line: named after the data it finally trains on.
    data, _ = resolve_config(tmp_path / "mine.yaml", ["data.source=/data/penguins.csv"])
    assert data["name"] == "penguins-mlp"
    (tmp_path / "sweep.yaml").write_text(
        f"extends: {REPO / 'configs' / 'sweep.yaml'}\ndata: {{source: /data/gap.csv}}\n"
    )
    assert resolve_config(tmp_path / "sweep.yaml")[0]["name"] == "gap-sweep"


def test_a_shipped_name_written_with_hyphens_is_renamed_too():
    """configs/binary.yaml's breast-cancer-mlp spells sklearn:breast_cancer with hyphens."""
    data, _ = resolve_config(REPO / "configs" / "binary.yaml", ["data.source=/data/heart.csv"])
    assert data["name"] == "heart-mlp"


def test_python_api_overrides_rename_like_the_command_line():
    from toolkit.api.configs import load_config

    overrides = {"data.source": "/data/penguins.csv", "data.target": "body_mass_g"}
    assert load_config(REPO / "configs" / "regression.yaml", overrides).name == "penguins-mlp"


def test_a_python_config_takes_paths_and_tuples_as_the_yaml_it_stands_for(tmp_path):
    """A notebook's ``data.source: Path(...)`` was refused ("Input should be a valid string,
    got PosixPath(...)"), in a mapping config and an override alike, and so was a tuple of
    widths; both are the text and the list YAML would give."""
    import pathlib

    from toolkit.api.configs import load_config as api_load_config

    rows, held = tmp_path / "rows.csv", tmp_path / "held.csv"
    raw = tiny_config(data={"source": rows, "target": "y"})
    raw["model"]["hidden"] = (8, 4)
    config = api_load_config(raw, {"data.validation": held, "model.hidden.1": 2})
    plain = tiny_config(data={"source": str(rows), "target": "y", "validation": str(held)})
    plain["model"]["hidden"] = [8, 2]
    assert config == validate_config(plain)
    assert isinstance(raw["data"]["source"], pathlib.Path)  # the caller's dict is untouched
    assert api_load_config(tiny_config(), {"model.hidden": (16,)}).model.hidden[0].units == 16


def test_a_path_that_starts_with_a_tilde_is_in_the_home_directory(tmp_path, monkeypatch):
    """``output_dir: ~/runs`` made a folder named ``~`` in the working directory for the run,
    while the history went to the real home, and training failed halfway; ``~/rows.csv`` as
    data.source was not found."""
    from toolkit.runs import create_run_directory

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "target": [1.0, 2.0, 3.0, 4.0]}).to_csv(
        tmp_path / "rows.csv", index=False
    )
    raw = tiny_config(output_dir="~/runs", data={"source": "~/rows.csv", "validation": "~/v.csv"})
    raw["model"]["init_from"] = "~/old-run"
    config = validate_config(raw)
    assert config.output_dir == str(tmp_path / "runs")
    assert config.data.source == str(tmp_path / "rows.csv")
    assert config.data.validation == str(tmp_path / "v.csv")
    assert config.model.init_from == str(tmp_path / "old-run")
    run = create_run_directory("~/api-runs", "x")
    assert run.path.parent == tmp_path / "api-runs" / "x"
    assert not (tmp_path / "~").exists()


def test_an_augmentation_factor_of_zero_is_off(write_config):
    """0 was refused ("should be greater than 0"), so a sweep over
    ``data.augmentation.random_rotation: {choice: [0.0, 0.1]}`` could not try none; 0 now
    turns a transform off as null does, and a negative factor is still refused."""
    raw = {
        "name": "pets",
        "data": {"source": "photos", "kind": "image"},
        "model": {"task": "binary", "body": "conv"},
        "tuner": {"search_space": {"data.augmentation.random_rotation": {"choice": [0.0, 0.1]}}},
    }
    path = write_config(raw)
    config = load_config(
        path, ["data.augmentation.random_zoom=0", "data.augmentation.random_flip=null"]
    )
    assert config.data.augmentation.random_zoom is None
    assert not config.data.augmentation.active
    # The message said "greater than 0" though 0 is allowed.
    for factor in ("random_rotation", "random_zoom", "random_translation", "random_contrast"):
        with pytest.raises(ConfigError) as caught:
            load_config(path, [f"data.augmentation.{factor}=-0.1"])
        assert str(caught.value).endswith(
            f"data.augmentation.{factor}: Input should be 0 (off) or greater, got -0.1"
        ), caught.value


def test_a_key_set_inside_a_compact_block_expands_it(write_config):
    # hidden: [128, 64] is shorthand for blocks; --set model.hidden.0.dropout=0.2 (dropout
    # on the first block, as the course's MNIST network has) was refused: "cannot set a key
    # inside model.hidden.0, which is a value". It now expands that block.
    raw = tiny_config(model={"task": "regression", "hidden": [8, 4]})
    path = write_config(raw)
    config = load_config(path, ["model.hidden.0.dropout=0.2"])
    assert [(b.units, b.dropout) for b in config.model.hidden] == [(8, 0.2), (4, None)]
    image = tiny_config(model={"task": "regression", "body": "conv", "hidden": [4]})
    image["data"] = {"source": "photos", "kind": "image"}
    image["model"]["conv"] = {"blocks": [8, 16]}
    config = load_config(write_config(image), ["model.conv.blocks.1.residual=true"])
    assert [(b.filters, b.residual) for b in config.model.conv.blocks] == [(8, None), (16, True)]


def test_a_message_that_says_got_says_it_once(write_config):
    # pydantic's "Input should be a valid integer, got a number with a fractional part" was
    # followed by the value: "..., got a number with a fractional part, got 2.5".
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tiny_config()), ["training.epochs=2.5"])
    assert str(caught.value).endswith(
        "training.epochs: Input should be a valid integer, got 2.5 (a number with a fractional part)"
    )


@pytest.mark.parametrize(
    ("section", "values", "expected"),
    [
        (
            "model",
            {"task": "regresion"},
            "model.task: Input should be 'regression', 'binary' or 'multiclass', got "
            "'regresion' (did you mean 'regression'?)",
        ),
        (
            "data",
            {"streaming": "autoo"},
            "data.streaming: Input should be true, false or 'auto', got 'autoo' "
            "(did you mean 'auto'?)",
        ),
        (
            "model",
            {"task": "regression", "batchnorm": "beforee"},
            "model.batchnorm: Input should be true, false, 'before' or 'after', got "
            "'beforee' (did you mean 'before'?)",
        ),
        (
            "model",
            {"task": "regression", "head": "GAUSSIAN"},
            "model.head: Input should be 'default', 'gaussian' or 'homoscedastic', got "
            "'GAUSSIAN' (did you mean 'gaussian'?)",
        ),
        (
            "data",
            {"image": {"color_mode": "RGB"}},
            "data.image.color_mode: Input should be 'rgb', 'grayscale' or 'rgba', got 'RGB' "
            "(did you mean 'rgb'?)",
        ),
        (
            "model",
            {"task": "regression", "head": "zzz"},
            "model.head: Input should be 'default', 'gaussian' or 'homoscedastic', got 'zzz'",
        ),
    ],
)
def test_a_misspelt_word_of_the_schema_gets_a_suggestion(section, values, expected):
    """Names in registries (activations, optimizers) got 'did you mean'; the schema's own
    word lists (model.task, data.streaming) listed the words without one. A word in another
    case ('RGB', 'GAUSSIAN') got none either."""
    config = tiny_config()
    config[section] = {**config[section], **values}
    with pytest.raises(ConfigError) as caught:
        validate_config(config)
    assert str(caught.value) == f"config: {expected}"
