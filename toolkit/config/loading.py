"""Config loading in one fixed order: YAML -> extends -> --set overrides -> validate -> freeze.

Only ``yaml.SafeLoader`` is used, so no YAML tag can build Python objects. Every key path
remembers the file and line it came from, so errors can point at it.
"""

from __future__ import annotations

import copy
import json
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from toolkit.config.schema import ExperimentConfig
from toolkit.errors import ConfigError, did_you_mean, resume_call
from toolkit.text import counted

KeyPath = tuple[str | int, ...]
Origins = dict[KeyPath, str]


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys instead of silently keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, list | dict):
                # `? [a, b]` makes a list a key: `key in seen` was a TypeError traceback.
                raise ConfigError(
                    f"{self.name}:{key_node.start_mark.line + 1}: a key must be text, got a "
                    f"{'list' if isinstance(key, list) else 'mapping'}"
                )
            if key in seen:
                raise ConfigError(
                    f"{self.name}:{key_node.start_mark.line + 1}: duplicate key '{key}'"
                )
            seen.add(key)
        if node.flow_style:
            self._check_colon_spacing(node)
        return super().construct_mapping(node, deep=deep)

    def _check_colon_spacing(self, node: yaml.MappingNode) -> None:
        """Refuse ``{yes:5}``: YAML reads a colon without a space after it as part of a plain
        key, so ``--set training.class_weight={yes:5}`` was the key 'yes:5' with no value,
        refused as "'yes:5': expected a positive number, got None" without the cause."""
        for key_node, value_node in node.value:
            key = key_node.value
            left, colon, right = key.partition(":") if isinstance(key, str) else ("", "", "")
            if (
                key_node.style is None  # a plain key: a quoted "a:b" is meant
                and colon
                and left.strip()
                and right.strip()
                and value_node.tag == "tag:yaml.org,2002:null"
                and value_node.start_mark.index == value_node.end_mark.index  # no value given
            ):
                # Override values are one line: no line number to give.
                where = (
                    self.name
                    if self.name.startswith(_OVERRIDE_LABELS)
                    else (f"{self.name}:{key_node.start_mark.line + 1}")
                )
                raise ConfigError(
                    f"{where}: '{key}' is read as a key with no value: YAML needs a space "
                    f"after the colon, {{{left}: {right}}}"
                )


def _record_lines(node: yaml.Node, path: KeyPath, where: str, origins: Origins) -> None:
    origins[path] = f"{where}:{node.start_mark.line + 1}"
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            origins[(*path, key)] = f"{where}:{key_node.start_mark.line + 1}"
            _record_lines(value_node, (*path, key), where, origins)
            origins[(*path, key)] = f"{where}:{key_node.start_mark.line + 1}"
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), where, origins)


def _directory_given(path: Path) -> str:
    """A directory in place of a config file (``toolkit train RUN_DIR``): its config, if it is
    a run or group (config.yaml) or a sweep (best_config.yaml), and how to continue it."""
    message = f"{path} is a directory, not a config file"
    if (path / "config.yaml").is_file():
        return (
            f"{message}: a run's config is {path / 'config.yaml'}; "
            f"{resume_call(path)} continues a stopped run"
        )
    if (path / "best_config.yaml").is_file():
        return f"{message}: this sweep's best config is {path / 'best_config.yaml'}"
    return message


# Limits far beyond any config (a few levels, some hundred values), well inside what Python's
# recursion and a second of work allow.
_MAX_DEPTH = 64
_MAX_VALUES = 1_000_000


def _check_extent(root: yaml.Node, where: str) -> None:
    """Refuse a YAML tree too deep or, with its aliases expanded, too large to process.

    An alias (``*name``) repeats its anchor's node without copying it, so nine anchors of nine
    aliases each (a "billion laughs" file of 300 bytes) are 9**9 values once walked: validate
    hung recording their lines. An alias inside its own anchor (``a: &a [*a]``) is endless.
    """
    extent: dict[int, tuple[int, int]] = {}  # node -> (values below it, levels below it)
    open_nodes: set[int] = set()

    def line(node: yaml.Node) -> str:
        return f"{where}:{node.start_mark.line + 1}"

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        if depth > _MAX_DEPTH:
            raise ConfigError(
                f"{line(node)}: invalid YAML: nested more than {_MAX_DEPTH} levels deep"
            )
        known = extent.get(id(node))
        if known is not None:
            if depth + known[1] > _MAX_DEPTH:
                raise ConfigError(
                    f"{line(node)}: invalid YAML: nested more than {_MAX_DEPTH} levels deep"
                )
            return known
        if id(node) in open_nodes:
            raise ConfigError(f"{line(node)}: invalid YAML: an alias (*name) inside its own anchor")
        open_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        values, levels = 1, 0
        for child in children:
            child_values, child_levels = measure(child, depth + 1)
            values += child_values
            levels = max(levels, child_levels + 1)
            if values > _MAX_VALUES:
                raise ConfigError(
                    f"{where}: invalid YAML: more than {_MAX_VALUES:,} values, counting each "
                    "alias (*name) as the values of its anchor (&name)"
                )
        open_nodes.discard(id(node))
        extent[id(node)] = (values, levels)
        return values, levels

    measure(root, 0)


def read_yaml(path: Path) -> tuple[dict[str, Any], Origins]:
    """Read one YAML mapping and the ``file:line`` of every key path in it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(_directory_given(path)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config file ({error})") from None
    loader: _UniqueKeyLoader | None = None
    try:
        # The loader's reader checks the characters as it is made: a NUL byte raised here.
        loader = _UniqueKeyLoader(text)
        loader.name = str(path)
        node = loader.get_single_node()
        if node is not None:
            _check_extent(node, str(path))
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        if isinstance(error, yaml.reader.ReaderError):  # a control character, as NUL
            code = error.character if isinstance(error.character, int) else ord(error.character)
            line = f":{text.count(chr(10), 0, error.position) + 1}"
            problem = f"the control character U+{code:04X} is not allowed in YAML text"
        raise ConfigError(f"{path}{line}: invalid YAML: {problem}") from None
    except RecursionError:
        # PyYAML's parser recurses once per level: [[[[...]]]] thousands deep overflowed it.
        raise ConfigError(
            f"{path}: invalid YAML: nested more than {_MAX_DEPTH} levels deep"
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        raise ConfigError(f"{path}: config file is empty")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of keys at the top, got {type(data).__name__}"
        )
    origins: Origins = {}
    _record_lines(node, (), str(path), origins)
    return data, origins


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Merge mappings recursively; lists and scalars in ``overlay`` replace those in ``base``."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``: a config as the key paths ``--set`` takes.

    Lists become compact JSON text, so every value is a scalar that compares, prints and goes
    into TensorBoard's HParams as it is; ``None`` values are left out, like absent keys.
    """
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{path}."))
        elif isinstance(value, list | tuple):
            flat[path] = json.dumps(value, default=str)
        elif value is not None:
            flat[path] = value
    return flat


def _load_with_extends(path: Path, chain: tuple[Path, ...]) -> tuple[dict[str, Any], Origins]:
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain, path))
        raise ConfigError(f"{path}: extends: cycle of config files: {cycle}")
    data, origins = read_yaml(path)
    parents = data.pop("extends", None)
    if parents is None:
        return data, origins
    if isinstance(parents, str):
        parents = [parents]
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise ConfigError(
            f"{origins.get(('extends',), path)}: extends: expected a path or a list of paths"
        )
    merged: dict[str, Any] = {}
    merged_origins: Origins = {}
    for parent in parents:
        parent_path = path.parent / parent
        if not parent_path.exists():
            raise ConfigError(
                f"{origins.get(('extends',), path)}: extends: file not found: {parent_path}"
            )
        parent_data, parent_origins = _load_with_extends(parent_path, (*chain, path))
        merged = deep_merge(merged, parent_data)
        merged_origins.update(parent_origins)
    merged_origins.update(origins)
    result = deep_merge(merged, data)
    section = data.get("data")
    if isinstance(section, dict) and "source" in section and "name" not in data:
        # A file that extends another with its own data and no name of its own: as for
        # ``--set data.source``, the inherited name's data word becomes this data's.
        result = _renamed_for_data(result, before=merged)
    return result, merged_origins


def parse_override(text: str, *, flag: str = "--set") -> tuple[KeyPath, Any]:
    """Split ``a.b.0=value`` into a key path and a YAML-parsed value. ``flag`` is what a
    refusal calls the entry: ``--set`` on the command line, ``override`` from Python."""
    label = f"{flag} {text}"
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        example = "--set training.epochs=5" if flag == "--set" else "'training.epochs=5'"
        raise ConfigError(f"{label}: expected KEY=VALUE, e.g. {example}")
    value = None
    if raw.strip():
        loader: _UniqueKeyLoader | None = None
        try:
            loader = _UniqueKeyLoader(raw)
            loader.name = label
            node = loader.get_single_node()
            if node is not None:
                # Measured as a file is: [[[...]]] thousands deep was a RecursionError traceback.
                _check_extent(node, label)
                value = loader.construct_document(node)
        except (yaml.YAMLError, RecursionError):
            raise ConfigError(f"{label}: value is not valid YAML") from None
        finally:
            if loader is not None:
                loader.dispose()
    path = tuple(int(part) if part.isdigit() else part for part in key.strip().split("."))
    return search_space_path(path), value


_SEARCH_SPACE = ("tuner", "search_space")


def search_space_path(path: KeyPath) -> KeyPath:
    """A search space is keyed by dotted config paths, so ``tuner.search_space.model.hidden.0``
    names the entry ``model.hidden.0`` (and ``...model.dropout.choice`` that entry's
    ``choice``), not nested keys ``model``, ``hidden``, ``0``."""
    from toolkit.config.schema import SearchDimension

    if path[:2] != _SEARCH_SPACE or len(path) < 3:
        return path
    rest = [str(part) for part in path[2:]]
    field = rest.pop() if len(rest) > 1 and rest[-1] in SearchDimension.model_fields else None
    return (*_SEARCH_SPACE, ".".join(rest), *([field] if field else []))


# Lists whose items may be a bare number, shorthand for a block setting only this key.
_COMPACT_BLOCKS = {"hidden": "units", "blocks": "filters"}


def set_path(data: dict[str, Any], path: KeyPath, value: Any, *, label: str) -> None:
    """Set ``value`` at ``path`` in place. Missing mapping keys are created, so the schema
    reports unknown ones with a suggestion; list indices must already exist."""
    node: Any = data
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        where = ".".join(str(p) for p in path[: depth + 1])
        if isinstance(node, list):
            if not isinstance(part, int):
                raise ConfigError(f"{label}: {where}: '{part}' is not a list index")
            if not 0 <= part < len(node):
                raise ConfigError(
                    f"{label}: {where}: index {part} out of range "
                    f"(the list has {counted(len(node), 'item')})"
                )
            if last:
                node[part] = value
            else:
                compact = _COMPACT_BLOCKS.get(str(path[depth - 1])) if depth else None
                item = node[part]
                if compact and isinstance(item, int) and not isinstance(item, bool):
                    # hidden: [128, 64] is shorthand for blocks: a key set inside one, as
                    # model.hidden.0.dropout=0.2, expands it to {units: 128, dropout: 0.2}.
                    node[part] = {compact: item}
                node = node[part]
        elif isinstance(node, dict):
            key = str(part)
            if last:
                node[key] = value
            else:
                if node.get(key) is None:
                    node[key] = {}
                node = node[key]
        else:
            parent = ".".join(str(p) for p in path[:depth])
            raise ConfigError(
                f"{label}: {where}: cannot set a key inside {parent}, which is a value"
            )


def _remove_search_entry(data: dict[str, Any], entry: str, *, label: str) -> None:
    """``--set tuner.search_space.model.dropout=null`` takes that entry out of the search, as a
    null entry in a config that extends another does (the entry's field keeps its value)."""
    space = (data.get("tuner") or {}).get("search_space")
    if not isinstance(space, dict) or entry not in space:
        entries = sorted(space) if isinstance(space, dict) else []
        raise ConfigError(
            f"{label}: the search space has no entry '{entry}' to remove"
            + did_you_mean(entry, entries)
            + (f"; entries: {', '.join(entries)}" if entries else "")
        )
    del space[entry]


def _replace_origins(origins: Origins, path: KeyPath, origin: str) -> None:
    """Record an override at ``path``: its value replaces what the files had there, so their
    lines below it are stale and errors inside it name the override."""
    for stale in [key for key in origins if key[: len(path)] == path]:
        del origins[stale]
    origins[path] = origin


def apply_overrides(
    data: dict[str, Any],
    overrides: Iterable[str],
    origins: Origins | None = None,
    *,
    flag: str = "--set",
) -> dict[str, Any]:
    """Apply ``KEY=VALUE`` overrides to a copy of ``data``; messages and origins name each
    as ``{flag} KEY=VALUE`` (``--set`` by default, ``override`` for the Python API's)."""
    result = copy.deepcopy(data)
    for text in overrides:
        label = f"{flag} {text}"
        path, value = parse_override(text, flag=flag)
        if value is None and len(path) == 3 and path[:2] == _SEARCH_SPACE:
            _remove_search_entry(result, path[2], label=label)
        else:
            set_path(result, path, value, label=label)
        if origins is not None:
            key = tuple(str(p) if not isinstance(p, int) else p for p in path)
            _replace_origins(origins, key, label)
    return result


class CommandLineOverrides(list):
    """``--set KEY=VALUE`` values as the command line gave them to the Python API, whose
    messages then name each as ``--set KEY=VALUE``; a Python caller's ``overrides=[...]``
    entry is named ``override KEY=VALUE``, as its ``overrides={...}`` keys are: a notebook
    was told of a --set it never passed."""


_OVERRIDE_LABELS = ("--set ", "override ")


def _overridden(origins: Origins, path: KeyPath) -> bool:
    """True when the value at ``path`` was set by an override (``--set`` or the API's), at
    the path itself or at a section above it (``--set 'data={source: ...}'``)."""
    for length in range(len(path), 0, -1):
        origin = origins.get(path[:length])
        if origin is not None:
            return origin.startswith(_OVERRIDE_LABELS)
    return False


def override_setting(origins: Origins, path: KeyPath) -> str | None:
    """The override (``--set ...`` or the API's ``override ...``) that set ``path`` or a key
    below it (``--set model.hidden.0=16`` for ``model.hidden``), if one did. A section
    replaced above it is not counted: ``--set model.hidden=[32, 32]`` beside a search over
    ``model.hidden.0`` sets the number of blocks, which the search keeps."""
    for key, origin in origins.items():
        if key[: len(path)] == path and origin.startswith(_OVERRIDE_LABELS):
            return origin
    return None


def data_stem(source: Any) -> str:
    """A name part for a data source: ``penguins`` for ``data/penguins.csv`` (and for
    ``data/penguins.csv.gz``), ``diabetes`` for ``sklearn:diabetes``, ``shards`` for
    ``data/shards/*.parquet``; '' if none fits."""
    if not isinstance(source, str):
        return ""
    from toolkit.config.schema import source_prefix
    from toolkit.data.table_files import decompressed_name

    if source_prefix(source):
        text = source.partition(":")[2]
    else:
        # The last path part without wildcards: a glob's folder, a file without its suffix.
        parts = [part for part in re.split(r"[/\\]", source) if part and not _GLOB.search(part)]
        text = decompressed_name(parts[-1]) if parts else ""
        text = text.rsplit(".", 1)[0] if "." in text.lstrip(".") else text
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("._-")
    return text[:40]


_GLOB = re.compile(r"[*?\[]")


def _name_from_swapped_data(
    data: dict[str, Any], origins: Origins, *, before: dict[str, Any]
) -> dict[str, Any]:
    """Rename a run whose data was swapped by an override while its name was not.

    A name such as ``diabetes-mlp`` comes from the file and describes the file's data; a run
    on ``--set data.source=penguins.csv`` under that name would read as a diabetes run in its
    directory, report, TensorBoard and tracking. So when an override sets ``data.source`` and
    none sets ``name``, the old data's stem, where the name holds it as a word, becomes the
    new one's (``penguins-mlp``); a file that ``extends:`` another with its own data source
    and no name is renamed alike when it is loaded. A name that does not mention the old data
    claims nothing about it and is kept, as is the name of a config whose files set both, or
    one set by an override itself.
    """
    if not _overridden(origins, ("data", "source")) or _overridden(origins, ("name",)):
        return data
    return _renamed_for_data(data, before=before)


def _renamed_for_data(data: dict[str, Any], *, before: dict[str, Any]) -> dict[str, Any]:
    """``data`` with its name's word for ``before``'s data source replaced by the stem of
    its own (``diabetes-mlp`` on ``penguins.csv``: ``penguins-mlp``); as it is otherwise."""
    name = data.get("name")
    old_section, new_section = before.get("data"), data.get("data")
    old = data_stem(old_section.get("source")) if isinstance(old_section, dict) else ""
    new = data_stem(new_section.get("source")) if isinstance(new_section, dict) else ""
    if not isinstance(name, str) or not old or not new or new == old:
        return data
    # As a word: "diabetes" in "diabetes-mlp", not in "prediabetes-mlp"; "breast_cancer" in
    # "breast-cancer-mlp" too (- and _ alike, as names are often written with either).
    spelled = "[-_]".join(re.escape(part) for part in re.split(r"[-_]", old))
    word = re.compile(rf"(?<![A-Za-z0-9]){spelled}(?![A-Za-z0-9])")
    renamed = word.sub(lambda _: new, name, count=1)
    return {**data, "name": renamed[:100]} if renamed != name else data


def resolve_config(
    path: str | Path, overrides: Sequence[str] = ()
) -> tuple[dict[str, Any], Origins]:
    """The merged, overridden config as plain data, before validation (a run on data swapped
    by ``--set data.source`` is named from that data: see ``_name_from_swapped_data``)."""
    before, origins = _load_with_extends(Path(path), ())
    data = apply_overrides(before, overrides, origins)
    return _name_from_swapped_data(data, origins, before=before), origins


def _annotation_models(annotation: Any) -> list[type[BaseModel]]:
    """Every pydantic model class reachable inside a type annotation."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated, list, dict) or origin:
        for arg in typing.get_args(annotation):
            found.extend(_annotation_models(arg))
    return found


def _section_models(path: KeyPath) -> list[type[BaseModel]]:
    """The schema classes a section at ``path`` may be (the deepest known one)."""
    models: list[type[BaseModel]] = [ExperimentConfig]
    for part in path:
        if isinstance(part, int):
            continue
        next_models: list[type[BaseModel]] = []
        for model in models:
            field = model.model_fields.get(part)
            if field is not None:
                next_models.extend(_annotation_models(field.annotation))
        if not next_models:
            break
        models = next_models
    return models


def _allowed_keys(path: KeyPath) -> list[str]:
    """Field names of the schema section at ``path`` (for 'did you mean')."""
    return sorted({name for model in _section_models(path) for name in model.model_fields})


def _section_paths(
    model: type[BaseModel] = ExperimentConfig, above: tuple[str, ...] = ()
) -> dict[str, list[str]]:
    """Every field name of the schema and the dotted paths it is at (walked depth first):
    sections behind Optional or a union are walked, not the entries of a list or a mapping
    (``model.hidden``'s blocks), whose path a dotted key cannot name."""
    found: dict[str, list[str]] = {}
    for name, field in model.model_fields.items():
        path = (*above, name)
        found.setdefault(name, []).append(".".join(path))
        for sub in _direct_models(field.annotation):
            if len(path) < 4:  # the schema is three sections deep; no cycle can loop
                for key, paths in _section_paths(sub, path).items():
                    found.setdefault(key, []).extend(paths)
    return found


def _direct_models(annotation: Any) -> list[type[BaseModel]]:
    """The schema classes a value of ``annotation`` may itself be: through Optional, unions
    and Annotated, not into a list's or a mapping's entries."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated):
        members = typing.get_args(annotation)
        if typing.get_origin(annotation) is typing.Annotated:
            members = members[:1]
        return [model for member in members for model in _direct_models(member)]
    return []


_SCHEMA_PATHS: dict[str, list[str]] = {}


def _elsewhere(key: str, section: KeyPath) -> str:
    """ " (did you mean 'training.fine_tune.unfreeze'?)" for a key that is no field of its
    section but is the exact name of one at another path of the schema (at most two
    named): ``model.backbone.unfreeze`` was refused as unknown with no word of where the
    setting lives, as were ``training.dropout`` and ``model.epochs``."""
    if not _SCHEMA_PATHS:
        _SCHEMA_PATHS.update(_section_paths())
    here = ".".join(str(part) for part in section if not isinstance(part, int))
    paths = sorted(
        dict.fromkeys(p for p in _SCHEMA_PATHS.get(key, []) if p.rpartition(".")[0] != here),
        key=lambda p: (p.count("."), p),
    )[:2]
    return f" (did you mean {' or '.join(repr(p) for p in paths)}?)" if paths else ""


_NUMBER_ERRORS = {
    "float_parsing", "float_type", "int_parsing", "int_type", "int_from_float",
    "greater_than", "greater_than_equal", "less_than", "less_than_equal",
}  # fmt: skip
_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))


def _number_words(path: KeyPath) -> str | None:
    """How the schema describes the number a key at ``path`` may be: "a number > 0 and < 1"
    (from the bounds of its annotation; pydantic names them only when a number breaks one)."""
    if not path or isinstance(path[-1], int):
        return None
    for model in _section_models(path[:-1]):
        field = model.model_fields.get(path[-1])
        if field is None:
            continue
        for member in typing.get_args(field.annotation):
            if typing.get_origin(member) is not typing.Annotated:
                continue
            base, *metadata = typing.get_args(member)
            if base not in (int, float):
                continue
            items = [i for m in metadata for i in getattr(m, "metadata", None) or [m]]
            bounds = [
                f"{sign} {getattr(item, name):g}"
                for item in items
                for name, sign in _BOUNDS
                if getattr(item, name, None) is not None
            ]
            noun = "a whole number" if base is int else "a number"
            return " and ".join([f"{noun} {bounds[0]}" if bounds else noun, *bounds[1:]])
    return None


def _key_path(loc: tuple[Any, ...], data: Any) -> KeyPath:
    """Drop the parts of a pydantic location that are union tags, not keys of the input."""
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            path.append(part)
            node = node[part]
        elif last and isinstance(node, dict):  # a missing key; under a value, a union tag
            path.append(part)
    return tuple(path)


def _origin_for(path: KeyPath, origins: Origins, default: str, message: str = "") -> str:
    def mentioned(key: KeyPath) -> bool:
        """Whether ``message`` names ``key`` or a section of it below ``path``."""
        return any(
            re.search(rf"(?<![\w.]){re.escape('.'.join(map(str, key[:n])))}(?!\w)", message)
            for n in range(len(path) + 1, len(key) + 1)
        )

    # An override is a --set on the command line and an ``override KEY`` from the Python
    # API: only --sets were looked for, so a Python caller's override was blamed on the
    # file's line (``{"trainin.epochs": 3}``: "configs/x.yaml: trainin: unknown key").
    named = [
        origin
        for key, origin in origins.items()
        if path
        and origin.startswith(_OVERRIDE_LABELS)
        and key[: len(path)] == path
        and mentioned(key)
    ]
    if named:
        # A check across a section's keys whose message names the keys --sets gave (data's
        # "data.augmentation applies to images only" blamed --set data.source, the first
        # --set in data, when --set data.augmentation.random_flip was the one).
        return ", ".join(dict.fromkeys(named))
    if not path:
        # A check across sections: any --set may be the cause (the first one, whatever it set,
        # was named alone), so name the file and every --set.
        sets = [origin for origin in origins.values() if origin.startswith(_OVERRIDE_LABELS)]
        return " with ".join([default, ", ".join(dict.fromkeys(sets))]) if sets else default
    # A --set inside the offending section is the likeliest culprit: name it. A check across
    # a section's fields (data.validation + data.test below 1) may come from any of them:
    # naming the first alone blamed '--set data.source=rows.csv' for the two fractions set
    # after it, so every --set inside the section is named.
    inside = [
        origin
        for key, origin in origins.items()
        if origin.startswith(_OVERRIDE_LABELS) and key[: len(path)] == path
    ]
    if inside:
        return ", ".join(dict.fromkeys(inside))
    for length in range(len(path), 0, -1):
        if path[:length] in origins:
            return origins[path[:length]]
    return default


# The keys whose value is where rows are read from (a DataFrame is no such value).
_ROWS_PATHS = (("data", "source"), ("data", "validation"), ("data", "test"))


def _describe(value: Any) -> str:
    """``value`` as an error shows it: its repr, cut to 60 characters; an object whose repr
    spans lines (a pandas frame or Series, a NumPy array) by its type, as the message is
    one line: a DataFrame given as data.source printed its rows."""
    text = repr(value)
    if "\n" in text:
        kind = type(value)
        return f"a {kind.__module__.split('.')[0]} {kind.__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


def _union_choices(details: list[dict], path: tuple, data: dict[str, Any]) -> str | None:
    """Every choice of a key that is a boolean or one of some words (``data.streaming``:
    true, false or 'auto'), or a word or a number (``prediction.conformal.calibration``:
    'validation' or a number > 0 and < 1), when the value given is none of them: pydantic
    reports each member of the union on its own, and the first alone ("should be a valid
    boolean") hides the rest."""
    same = [d for d in details if _key_path(tuple(d["loc"]), data) == path]
    kinds = {d["type"] for d in same}
    if len(same) < 2:
        return None
    words = [d["ctx"]["expected"] for d in same if d["type"] == "literal_error"]
    if not words:
        return None
    choices = [word for text in words for word in text.split(" or ")]
    if kinds & {"bool_parsing", "bool_type"} and kinds <= {
        "bool_parsing",
        "bool_type",
        "literal_error",
    }:
        choices = ["true", "false", *choices]
    elif kinds - {"literal_error"} and kinds - {"literal_error"} <= _NUMBER_ERRORS:
        # 'validation' or a fraction: the range error alone ("less than 1") hides the word.
        number = _number_words(path)
        if number is None:
            return None
        choices = [*choices, number]
    else:
        return None
    return ", ".join(choices[:-1]) + " or " + choices[-1]


def _word_suggestion(details: list[dict], path: KeyPath, data: dict[str, Any]) -> str:
    """ " (did you mean 'regression'?)" for a misspelt word of a fixed set (model.task:
    regressoin): names in registries got one, the schema's own word lists did not."""
    words = [
        word
        for detail in details
        if detail["type"] == "literal_error" and _key_path(tuple(detail["loc"]), data) == path
        for word in re.findall(r"'([^']*)'", detail["ctx"]["expected"])
    ]
    given = next(
        (d.get("input") for d in details if _key_path(tuple(d["loc"]), data) == path), None
    )
    return did_you_mean(given, words) if isinstance(given, str) and words else ""


def format_validation_error(
    error: ValidationError, data: dict[str, Any], origins: Origins, source: str
) -> str:
    """One line: where, which key, what was given, what is allowed."""
    details = error.errors(include_url=False)
    # Prefer the most specific problem: an unknown key (often a misspelt required one), then
    # custom messages, then missing keys, then union fan-out.
    rank = {"extra_forbidden": 0, "value_error": 1, "missing": 2}
    details.sort(key=lambda d: rank.get(d["type"], 3))
    first = details[0]
    path = _key_path(tuple(first["loc"]), data)
    kind = first["type"]
    text = first["msg"] if kind == "value_error" else ""
    where = _origin_for(path, origins, source, text)
    dotted = ".".join(str(p) for p in path) or "config"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(path[:-1])
        hint = did_you_mean(str(path[-1]), allowed) or _elsewhere(str(path[-1]), path[:-1])
        message = f"unknown key '{path[-1]}'{hint}; allowed: {', '.join(allowed)}"
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "value_error":
        message = first["msg"].removeprefix("Value error, ")
        if "\n" in message and "input" in first:  # a validator's "got {value!r}": one line
            message = message.replace(repr(first["input"]), _describe(first["input"]))
    elif allowed := _union_choices(details, path, data):
        message = f"Input should be {allowed}, got {_describe(first.get('input'))}"
        message += _word_suggestion(details, path, data)
    else:
        # pydantic's own "got" ("a valid integer, got a number with a fractional part")
        # goes after the value: "..., got 2.5 (a number with a fractional part)".
        head, got, what = first["msg"].partition(", got ")
        message = f"{head}, got {_describe(first.get('input'))}" + (f" ({what})" if got else "")
        message += _word_suggestion(details, path, data)
        given = first.get("input")
        if kind == "string_type" and (given is None or isinstance(given, bool)):
            # A column named 'yes', 'no', 'on' or 'null' (data.target: yes): the text is
            # gone before validation, and "got True" alone left the user at a loss.
            message += (
                "; YAML reads unquoted yes, no, on, off, true and false as booleans and null "
                "and ~ as nothing: quote the value"
            )
    if path in _ROWS_PATHS and type(first.get("input")).__name__ == "DataFrame":
        # A notebook's frame, passed where the rows' file goes (pandas is not imported
        # here: config loading stays cheap).
        message += (
            f"; {dotted} takes where rows are, not the rows: write the frame to a file "
            "(frame.to_parquet('rows.parquet')) and give its path"
        )
    return f"{where}: {dotted}: {message}" if path else f"{where}: {message}"


def validate_config(
    data: dict[str, Any], origins: Origins | None = None, source: str = "config"
) -> ExperimentConfig:
    """Validate plain data into a frozen ``ExperimentConfig`` or raise one ``ConfigError``."""
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, data, origins or {}, source)) from None


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """File -> extends -> overrides -> validate -> frozen config."""
    data, origins = resolve_config(path, overrides)
    return validate_config(data, origins, str(path))


def with_absolute_paths(config: ExperimentConfig) -> ExperimentConfig:
    """``config`` with its relative file paths (data.source, data.validation, data.test,
    model.init_from, a model.backbone.weights file) made absolute against the current
    directory, where they were read: a run directory's config.yaml then works from anywhere
    (``toolkit evaluate RUN``, ``--resume``, ``toolkit train RUN/config.yaml``)."""
    import os

    from toolkit.config.schema import source_prefix

    def absolute(value: Any) -> Any:
        if not isinstance(value, str) or source_prefix(value) or os.path.isabs(value):
            return value
        return os.path.abspath(os.path.expanduser(value))

    def changed(section: Any, names: tuple[str, ...]) -> dict[str, Any]:
        paths = {name: absolute(getattr(section, name)) for name in names}
        return {name: path for name, path in paths.items() if path != getattr(section, name)}

    data = changed(config.data, ("source", "validation", "test"))
    model = changed(config.model, ("init_from",))
    backbone = config.model.backbone
    if backbone is not None and backbone.weights not in ("imagenet", "none"):
        weights = changed(backbone, ("weights",))
        if weights:
            model["backbone"] = backbone.model_copy(update=weights)
    if not data and not model:
        return config
    return config.model_copy(
        update={
            "data": config.data.model_copy(update=data),
            "model": config.model.model_copy(update=model),
        }
    )


def dump_config(config: ExperimentConfig) -> str:
    """The resolved config as YAML that loads back to the same config."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


# A config as the Python API takes it: a YAML path, a mapping as the YAML would give, or a
# loaded config; overrides as ``{"training.epochs": 5}`` or ``["training.epochs=5"]``.
ConfigSource = str | Path | Mapping[str, Any] | ExperimentConfig
Overrides = Mapping[str, Any] | Sequence[str] | None


def _yaml_values(value: Any) -> Any:
    """``value`` with the Python values a notebook passes for YAML's own made plain: a path
    (``pathlib.Path``, any ``os.PathLike``) as its text and a tuple as a list, at any depth
    of a mapping config or an override's value. ``data.source: Path("train.csv")`` was
    refused ("Input should be a valid string") and ``hidden: (64, 32)`` too, while
    ``Run.predict`` takes a path and YAML has no tuples."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {key: _yaml_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_yaml_values(item) for item in value]
    return value


def _override_mapping(
    data: dict[str, Any], overrides: Mapping[str, Any], origins: Origins
) -> dict[str, Any]:
    """Set Python values at key paths (``model.hidden.0``), as ``--set`` sets parsed YAML."""
    result = copy.deepcopy(data)
    for key, value in overrides.items():
        label = f"override {key}"
        parts = str(key).split(".")
        if any(not part.strip() for part in parts):
            raise ConfigError(f"{label}: '{key}' is not a key path like training.epochs")
        path = search_space_path(tuple(int(p) if p.isdigit() else p for p in parts))
        if value is None and len(path) == 3 and path[:2] == _SEARCH_SPACE:
            _remove_search_entry(result, path[2], label=label)
        else:
            set_path(result, path, copy.deepcopy(_yaml_values(value)), label=label)
        _replace_origins(origins, path, label)
    return result


def _checked_overrides(overrides: Any) -> Overrides:
    """``overrides`` as a mapping or a list (a tuple or a generator read into one), or one
    ConfigError line for anything else: ``overrides=5`` was "'int' object is not iterable"
    and ``[5]`` "'int' object has no attribute 'partition'", tracebacks from the loader."""
    expected = "overrides: expected a mapping of key paths or a list of KEY=VALUE strings, got"
    if overrides is None:
        return None
    if isinstance(overrides, str):
        raise ConfigError(f"{expected} the string {overrides!r}")
    if isinstance(overrides, Mapping):
        keys = [key for key in overrides if not isinstance(key, str)]
        if keys:
            raise ConfigError(
                f"{expected} the key {keys[0]!r} ({type(keys[0]).__name__}); write a key path "
                "as text, such as 'model.hidden.0'"
            )
        return overrides
    if not isinstance(overrides, Iterable):
        raise ConfigError(f"{expected} {type(overrides).__name__}")
    # A list as it is (the command line's CommandLineOverrides keeps its type): a
    # generator is read once, here, not used up by this check.
    listed = overrides if isinstance(overrides, list) else list(overrides)
    items = [item for item in listed if not isinstance(item, str)]
    if items:
        raise ConfigError(
            f"{expected} the item {_describe(items[0])} ({type(items[0]).__name__}) in the list"
        )
    return listed


def resolve_source(
    source: ConfigSource, overrides: Overrides = None
) -> tuple[dict[str, Any], Origins, str]:
    """Plain config data of ``source`` with ``overrides`` applied (not validated), where each
    key came from, and the label messages name it by."""
    overrides = _checked_overrides(overrides)
    origins: Origins = {}
    if isinstance(source, str | Path):
        label = str(source)
        data, origins = _load_with_extends(Path(source), ())
    elif isinstance(source, ExperimentConfig):
        label, data = "config", source.model_dump(mode="json")
    elif isinstance(source, Mapping):
        if "extends" in source:
            raise ConfigError(
                "config: extends: needs a config file, whose directory its paths are relative "
                "to; load the file instead"
            )
        label, data = "config", copy.deepcopy(_yaml_values(source))
    else:
        raise ConfigError(
            f"config: expected a YAML path, a mapping or an ExperimentConfig, got "
            f"{type(source).__name__}"
        )
    before = data
    if isinstance(overrides, Mapping):
        data = _override_mapping(data, overrides, origins)
    elif overrides:
        flag = "--set" if isinstance(overrides, CommandLineOverrides) else "override"
        data = apply_overrides(data, list(overrides), origins, flag=flag)
    return _name_from_swapped_data(data, origins, before=before), origins, label


def penalty_paths(section: Any, path: str = "model") -> list[str]:
    """The config paths that put a weight penalty on the model: ``l1``/``l2`` at any depth
    (the model's, a block's, the conv section's), ``weight_prior_scale``,
    ``first_layer_l1_prior_scale``, and ``bayesian``, whose variational layers add
    kl_weight * KL(q || p) to Keras' loss as the others add their decay."""
    found = []
    if isinstance(section, dict):
        for key, value in section.items():
            here = f"{path}.{key}"
            penalises = key in ("l1", "l2", "weight_prior_scale", "first_layer_l1_prior_scale")
            if value and (penalises or (key == "bayesian" and path == "model")):
                found.append(here)
            else:
                found.extend(penalty_paths(value, here))
    elif isinstance(section, list):
        for index, item in enumerate(section):
            found.extend(penalty_paths(item, f"{path}.{index}"))
    return found
