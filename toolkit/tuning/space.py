"""The search space of ``tuner.search_space``: config paths, their ranges and conditions.

Pure Python (no TensorFlow, no Keras Tuner), so ``toolkit validate`` and ``toolkit tune``
reject a bad search space before TensorFlow starts. A trial's config is the base config
with the trial's values set at their paths, exactly as ``--set`` would set them.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass
from typing import Any

from toolkit.config.loading import (
    KeyPath,
    Origins,
    override_setting,
    penalty_paths,
    set_path,
    validate_config,
)
from toolkit.config.schema import ExperimentConfig, SearchDimension, TunerConfig
from toolkit.errors import ConfigError, did_you_mean

_MISSING = object()
_PROBE = "search-space probe"


def parse_path(name: str) -> KeyPath:
    """``model.hidden.0`` -> ``("model", "hidden", 0)``, as ``--set`` reads keys."""
    parts = name.split(".")
    if any(not part.strip() for part in parts):
        raise ConfigError(f"'{name}' is not a config path like model.dropout or model.hidden.0")
    return tuple(int(part) if part.isdigit() else part for part in parts)


def _closest_path(data: Any, path: KeyPath) -> str:
    """`` (did you mean 'a.b'?)`` for the key nearest the first part of ``path`` that is not
    in ``data``, or an empty string."""
    node, found = data, []
    for part in path:
        if isinstance(node, dict) and str(part) in node:
            node, found = node[str(part)], [*found, str(part)]
            continue
        if isinstance(node, dict):
            return did_you_mean(str(part), node, prefix="".join(f"{key}." for key in found))
        return ""
    return ""


def get_path(data: Any, path: KeyPath) -> Any:
    """The value at ``path`` in plain config data, or ``_MISSING``."""
    node = data
    for part in path:
        if isinstance(node, dict) and str(part) in node:
            node = node[str(part)]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return _MISSING
    return node


def _as_list(value: Any) -> list[Any]:
    """A ``when:`` value: a list means "any of these"."""
    return list(value) if isinstance(value, list) else [value]


def _choice_encoding(values: list[Any]) -> tuple[list[Any], bool]:
    """Keras Tuner's Choice takes one scalar type; anything else travels as JSON text."""
    if all(isinstance(v, str) for v in values):
        return list(values), False
    numeric = [isinstance(v, (int, float)) and not isinstance(v, bool) for v in values]
    if all(numeric) and all(isinstance(v, int) for v in values):
        return list(values), False
    if all(numeric):
        return [float(v) for v in values], False
    return [json.dumps(v, sort_keys=True) for v in values], True


@dataclass(frozen=True)
class Dimension:
    """One tuned path as Keras Tuner sees it: its values and the tuned parents it depends on."""

    name: str
    path: KeyPath
    spec: SearchDimension
    encoded: bool
    parents: tuple[tuple[str, tuple[Any, ...]], ...]

    @property
    def choices(self) -> list[Any]:
        """The Choice values handed to Keras Tuner (JSON text when ``encoded``)."""
        return _choice_encoding(self.spec.choice or [])[0]

    def encode(self, value: Any) -> Any:
        """A config value in the form Keras Tuner holds it (for conditions)."""
        if self.spec.choice is not None:
            if self.encoded:
                return json.dumps(value, sort_keys=True)
            if isinstance(self.choices[0], float) and isinstance(value, (int, float)):
                return float(value)
        return value

    def decode(self, value: Any) -> Any:
        """A Keras Tuner value in the form the config takes."""
        return json.loads(value) if self.encoded else value


class SearchSpace:
    """The tuned paths in declaration order (parents before the entries that depend on them).

    A ``when:`` condition on a tuned path becomes a Keras Tuner conditional scope; one on an
    untuned path is decided here against the base config, and an entry it switches off for
    good is an error rather than a silently unused dimension.
    """

    def __init__(
        self, tuner: TunerConfig, settings: dict[str, Any], origins: Origins | None = None
    ) -> None:
        """``settings``: the base config's values, defaults included (``model_dump``), against
        which a ``when:`` on an untuned path is decided."""
        self.tuner = tuner
        self._settings = settings
        self._origins = origins or {}
        specs = tuner.search_space
        parents: dict[str, dict[str, list[Any]]] = {}
        for name, spec in specs.items():
            parents[name] = {}
            for path in (name, *(spec.when or {})):
                try:
                    parse_path(path)
                except ConfigError as error:
                    raise ConfigError(f"{self.label(name)}: {error}") from None
            for parent, raw in (spec.when or {}).items():
                values = _as_list(raw)
                if parent == name:
                    raise ConfigError(f"{self.label(name)}: when: an entry cannot depend on itself")
                if parent in specs:
                    parents[name][parent] = values
                    continue
                current = get_path(settings, parse_path(parent))
                if current is _MISSING:
                    raise ConfigError(
                        f"{self.label(name)}: when: {parent} is not a config path"
                        f"{_closest_path(settings, parse_path(parent))}"
                    )
                if current not in values:
                    raise ConfigError(
                        f"{self.label(name)}: never active: when: needs {parent} in {values}, "
                        f"but the config has {current!r} and {parent} is not tuned"
                    )
        paths = {name: parse_path(name) for name in specs}
        for outer, inner in itertools.permutations(specs, 2):
            if paths[inner][: len(paths[outer])] == paths[outer]:
                raise ConfigError(
                    f"{self.label(inner)}: lies inside {outer}, which is tuned too; tune one of them"
                )
        ordered: list[str] = []
        while len(ordered) < len(specs):
            ready = [n for n in specs if n not in ordered and all(p in ordered for p in parents[n])]
            if not ready:
                stuck = ", ".join(n for n in specs if n not in ordered)
                raise ConfigError(
                    f"{self.label(None)}: when: conditions form a cycle among {stuck}"
                )
            ordered.extend(ready)
        dims: dict[str, Dimension] = {}
        for name in ordered:
            spec = specs[name]
            encoded = spec.choice is not None and _choice_encoding(spec.choice)[1]
            conditions = []
            for parent, values in parents[name].items():
                conditions.append((parent, tuple(self._parent_values(name, dims[parent], values))))
            dims[name] = Dimension(name, parse_path(name), spec, encoded, tuple(conditions))
        self.dimensions: tuple[Dimension, ...] = tuple(dims[name] for name in ordered)

    def switched_on(self, name: str) -> str | None:
        """The section above ``name`` that is null in the config (``model.bayesian`` for
        ``model.bayesian.kl_warmup_epochs``), which a trial's value there switches on with
        its defaults; None if every section above it is set."""
        path = parse_path(name)
        for length in range(1, len(path)):
            if get_path(self._settings, path[:length]) is None:
                return ".".join(str(part) for part in path[:length])
        return None

    def label(self, name: str | None) -> str:
        """``file:line: tuner.search_space.<name>`` for messages."""
        key = ("tuner", "search_space", name) if name else ("tuner", "search_space")
        where = self._origins.get(key) or self._origins.get(("tuner", "search_space"), "config")
        return f"{where}: tuner.search_space" + (f".{name}" if name else "")

    def _parent_values(self, name: str, parent: Dimension, values: list[Any]) -> list[Any]:
        spec = parent.spec
        if spec.float is not None:
            raise ConfigError(
                f"{self.label(name)}: when: {parent.name} is a float range; a condition needs a "
                "choice, boolean or int parent"
            )
        if spec.boolean is not None:
            reachable = [v for v in values if isinstance(v, bool)]
        elif spec.int is not None:
            low, high = spec.int
            reachable = [v for v in values if isinstance(v, int) and low <= v <= high]
        else:
            encoded = [parent.encode(v) for v in values]
            reachable = [v for v in encoded if v in parent.choices]
        if not reachable:
            raise ConfigError(
                f"{self.label(name)}: never active: when: {parent.name} in {values}, "
                f"but {parent.name} never takes any of those values"
            )
        return reachable

    @property
    def names(self) -> list[str]:
        return [dim.name for dim in self.dimensions]

    def decode(self, values: dict[str, Any]) -> dict[str, Any]:
        """The config values of a trial's active hyperparameters, in declaration order."""
        return {
            dim.name: dim.decode(values[dim.name]) for dim in self.dimensions if dim.name in values
        }

    def apply(
        self, base_data: dict[str, Any], overrides: dict[str, Any], *, epochs: int | None = None
    ) -> dict[str, Any]:
        """A trial's config data: the base with decoded ``overrides`` set and no tuner section."""
        data = copy.deepcopy(base_data)
        for name, value in overrides.items():
            set_path(
                data, parse_path(name), copy.deepcopy(value), label=f"tuner.search_space.{name}"
            )
        if epochs is not None:
            set_path(data, ("training", "epochs"), int(epochs), label="hyperband epochs")
        data.pop("tuner", None)
        return data


def _check_range(label: str, spec: SearchDimension) -> None:
    """What the schema cannot see in a range: steps that do not fit it."""
    bounds = spec.int or spec.float
    if bounds is None or spec.step is None:
        return
    low, high = bounds
    if spec.int is not None and float(spec.step) != int(spec.step):
        raise ConfigError(f"{label}: step {spec.step} must be a whole number for an int range")
    step = int(spec.step) if spec.int is not None else spec.step  # 'step 100', not 100.0
    if spec.sampling != "linear":
        if spec.step <= 1:
            raise ConfigError(
                f"{label}: with {spec.sampling} sampling, step is the factor between neighbouring "
                f"values and must be > 1, got {step}"
            )
    elif spec.step > high - low:
        raise ConfigError(f"{label}: step {step} is larger than the range [{low}, {high}]")


def _check_block(label: str, name: str, path: KeyPath, spec: SearchDimension, base: Any) -> None:
    """A value tuned in place of a block with settings of its own (``model.hidden.0`` where
    the config has ``{units: 64, dropout: 0.3}``) would replace the whole block and silently
    drop those settings: name the block's field to tune instead."""
    node = get_path(base, path)
    if not isinstance(node, dict) or len(node) < 2:  # also _MISSING: nothing there to drop
        return
    if any(isinstance(value, dict) for value in spec.probe_values()):
        return
    shown = ", ".join(f"{key}: {json.dumps(value)}" for key, value in node.items())
    width = next((key for key in ("units", "filters") if key in node), None)
    hint = f"tune {name}.{width} to keep them" if width else "tune one of its fields"
    raise ConfigError(
        f"{label}: {name} is the block {{{shown}}}; a value there replaces all of it and drops "
        f"its other settings; {hint}"
    )


def _probe_error(
    space: SearchSpace, name: str, value: Any, conditions: dict, error: ConfigError
) -> ConfigError:
    text = str(error).removeprefix(f"{_PROBE}: ").removeprefix(f"{name}: ")
    if "unknown key" in text:
        return ConfigError(f"{space.label(name)}: {text}")
    shown = f"value {value!r}"
    if conditions:
        shown += " (with " + ", ".join(f"{k}={v!r}" for k, v in conditions.items()) + ")"
    switched = space.switched_on(name)
    if switched is not None:
        # The message is about the section's defaults, which the config never mentions.
        shown += f" switches on {switched}, null in the config, with its defaults, and"
    spec = next(dim.spec for dim in space.dimensions if dim.name == name)
    if spec.float is not None and value == spec.fractional_value() and "integer" in text:
        # Its ends were whole and valid: say why a value between them was tried.
        low, high = spec.float
        text += (
            f"; a float range draws fractional values such as {value!r}, so use "
            f"{{int: [{low:g}, {high:g}]}} for a field of whole numbers"
        )
    return ConfigError(f"{space.label(name)}: {shown} gives an invalid config: {text}")


# Top-level config keys a trial cannot vary: the sweep's own settings (its trials are
# written under the sweep's directory whatever output_dir says).
_SWEEP_SETTINGS = ("tuner", "output_dir")


def validate_search_space(
    base_data: dict[str, Any], origins: Origins, config: ExperimentConfig
) -> SearchSpace:
    """Check every search-space entry against the config before any TensorFlow start-up.

    Each entry's probe values (range ends, every choice), with the values its ``when:``
    conditions need, are set on a copy of the base config, which must then validate.
    """
    tuner = config.tuner
    if tuner is None:
        raise ConfigError("the config has no tuner: section; add one with a search_space")
    space = SearchSpace(tuner, config.model_dump(mode="json"), origins)
    where = origins.get(("tuner",), "config")
    conformal = config.prediction.conformal
    if (
        tuner.cv_folds is not None
        and conformal is not None
        and conformal.calibration != "validation"
    ):
        # The folds cut the training split into training and validation rows only: every
        # cross-validated trial failed on the missing calibration rows (an AttributeError).
        raise ConfigError(
            f"{where}: tuner.cv_folds and prediction.conformal.calibration "
            f"{conformal.calibration} do not combine: each fold calibrates on its validation "
            "fold (calibration: validation)"
        )
    if not config.callbacks.csv_logger:
        raise ConfigError(
            f"{where}: tuner: trials are scored from history.csv; set callbacks.csv_logger: true"
        )
    for dim in space.dimensions:
        label = space.label(dim.name)
        _check_range(label, dim.spec)
        _check_block(label, dim.name, dim.path, dim.spec, base_data)
        if dim.path[0] in _SWEEP_SETTINGS:
            raise ConfigError(
                f"{label}: {dim.path[0]} is the sweep's own setting, the same for every "
                f"trial; the search space takes any config path but {', '.join(_SWEEP_SETTINGS)}"
            )
        if dim.name == "data.positive_class":
            # Each trial's precision, recall, f1 and pr_auc would score another class, and the
            # common class wins: 'legit' (82% of rows) beat 'fraud' on validation.f1 0.90 to 0.50.
            raise ConfigError(
                f"{label}: data.positive_class chooses the class that precision, recall, f1 "
                "and pr_auc score, so trials would be ranked on different classes' scores; "
                "set it under data:, outside the search space"
            )
        if dim.name == "prediction.mc_samples" and not _may_draw(config, space):
            # A model without MC dropout or Bayesian layers is run once whatever the count:
            # ensemble.yaml over [50, 10] gave two identical trials (val_loss 0.9744 both).
            raise ConfigError(
                f"{label}: prediction.mc_samples is the number of passes of an MC-dropout or "
                "Bayesian model, and this model draws nothing at prediction (no "
                "model.mc_dropout: true or model.bayesian), so every value gives the same "
                "trial; remove it from the search space"
            )
        after_training = _after_training(dim.name)
        if after_training is not None and not tuner.objective.startswith("validation."):
            # The members' epochs are chosen, and the prediction settings applied, after
            # training, which they do not change: every value logs the same history, so the
            # trials tied on val_loss and the first won (best_epoch 0.8654 and 0.8654;
            # ensemble.yaml over prediction.mc_samples [50, 10], 0.9744 and 0.9744).
            raise ConfigError(
                f"{label}: {dim.name} is {after_training} after training, so "
                f"tuner.objective {tuner.objective}, logged during training, is the same for "
                "every value; score the trials on the final model with a validation.<metric> "
                "objective (validation.nll, validation.log_loss)"
            )
        override = override_setting(origins, dim.path)
        if override is not None:
            # The sweep sets the field in every trial, so the override would be dropped
            # without a word (its value is in no trial, nor in the best config).
            raise ConfigError(
                f"{override}: {dim.name} is in the search space ({label}), so every trial "
                "takes it from there; drop the override or change the search space"
            )
        if tuner.algorithm == "hyperband" and dim.name == "training.epochs":
            raise ConfigError(
                f"{label}: hyperband sets training.epochs itself (up to tuner.max_epochs); "
                "remove it from the search space"
            )
        tuned_parents = {p: (dim.spec.when or {})[p] for p, _ in dim.parents}
        variants = [
            dict(zip(tuned_parents, combo, strict=True))
            for combo in itertools.product(*(_as_list(v) for v in tuned_parents.values()))
        ]
        losses = set()  # the loss training minimises, by probe value
        kl_weights = set()  # and the weight of its KL term ("none" without variational layers)
        for value in dim.spec.probe_values():
            for conditions in variants:
                data = copy.deepcopy(base_data)
                for parent, parent_value in conditions.items():
                    set_path(data, parse_path(parent), parent_value, label=f"{label}: when")
                set_path(data, dim.path, value, label=label)
                try:
                    probed = validate_config(data, {}, _PROBE)
                except ConfigError as error:
                    raise _probe_error(space, dim.name, value, conditions, error) from None
                losses.add(probed.model.resolved_loss)
                bayesian = probed.model.bayesian
                kl_weights.add("none" if bayesian is None else str(bayesian.kl_weight))
        if len(losses) > 1 and tuner.objective in _TRAINING_LOSSES:
            regression = config.model.task == "regression"
            suggested = "validation.rmse" if regression else "validation.log_loss"
            # Keras' loss is the quantity each trial minimises: a grid over model.head
            # [default, gaussian] ranked mean squared error (0.40) against a Gaussian NLL
            # (1.10), numbers in different units, and named the first best.
            raise ConfigError(
                f"{label}: {dim.name} changes the loss each trial trains on "
                f"({', '.join(sorted(losses))}), so tuner.objective {tuner.objective} would rank "
                "trials on different losses; score them on the final model with a "
                f"validation.<metric> objective ({suggested})"
            )
        if len(kl_weights) > 1 and tuner.objective in _TRAINING_LOSSES:
            # Keras' loss adds kl_weight * KL(q || p) of the variational layers to the data's
            # NLL, so the weight decides the ranking rather than the fit: bnn.yaml over
            # kl_weight [0.0001, 0.01] on a hetero table scored val_loss 1.42 against 3.07,
            # where their validation NLLs were 1.331 and 1.354.
            raise ConfigError(
                f"{label}: {dim.name} changes the weight of the KL term in the loss each trial "
                f"trains on ({', '.join(sorted(kl_weights))}), so tuner.objective "
                f"{tuner.objective} would rank trials by that weight; score them on the final "
                "model with a validation.<metric> objective (validation.nll, "
                "validation.log_loss)"
            )
    return space


# Settings used only once training has ended: the ensemble's choice of epochs and the ways
# predictions are made from the trained model. prediction.conformal.calibration is not one:
# a fraction holds its rows out of training.
_AFTER_TRAINING = {
    "model.ensemble.best_epoch": "chosen",
    "prediction.mc_samples": "applied",
    "prediction.interval": "applied",
    "prediction.std_scaling": "applied",
    "prediction.temperature_scaling": "applied",
    "prediction.target_range": "applied",
    "prediction.conformal.method": "applied",
    "prediction.conformal.alpha": "applied",
    "prediction.conformal.randomized": "applied",
}


def _may_draw(config: ExperimentConfig, space: SearchSpace) -> bool:
    """Whether a trial's model can draw at prediction: the base config's does, or the search
    varies model.mc_dropout, model.bayesian or the whole model section."""
    if config.model.is_stochastic:
        return True
    varied = ("model", "model.mc_dropout", "model.bayesian")
    return any(
        dim.name in varied or dim.name.startswith("model.bayesian.") for dim in space.dimensions
    )


def _after_training(name: str) -> str | None:
    """How the setting at ``name`` (a search-space path) acts once training has ended
    (``chosen``, ``applied``), or None when it can change training. A path inside one of
    them (``prediction.target_range.0``) is one too."""
    for path, how in _AFTER_TRAINING.items():
        if name == path or name.startswith(path + "."):
            return how
    return None


# The objectives that are Keras' loss itself, whose meaning is the loss the trial trains on.
_TRAINING_LOSSES = ("loss", "val_loss")


def _penalty_name(path: str) -> str:
    """What ``penalty_paths``' ``path`` adds to Keras' loss, in words."""
    return (
        "the KL term of model.bayesian"
        if path == "model.bayesian"
        else f"the weight penalty of {path}"
    )


def penalised_objective_warning(config: ExperimentConfig) -> str | None:
    """A warning when the objective is Keras' ``val_loss`` (or ``loss``), which adds the
    weights' penalty to the data's loss, and the search varies the model: networks of other
    widths or penalties carry other penalties, so it ranks them by more than their fit (a
    narrower network can come first with a worse validation NLL)."""
    tuner = config.tuner
    if tuner is None or tuner.objective not in ("val_loss", "loss"):
        return None
    penalties = penalty_paths(config.model.model_dump(mode="json"))
    searched = [path for path in tuner.search_space if path.startswith("model.")]
    # A search over model.bayesian changes its KL term (the prior, the posterior's start),
    # not the other penalties, so that term and that path are named first: bnn.yaml's
    # search over prior_scale named model.weight_prior_scale's penalty.
    varies_kl = [path for path in searched if path.startswith("model.bayesian")]
    if varies_kl and "model.bayesian" in penalties:
        penalties = ["model.bayesian"] + [p for p in penalties if p != "model.bayesian"]
        searched = varies_kl + [path for path in searched if path not in varies_kl]
    if not penalties or not searched:
        return None
    if config.model.task != "regression":
        fit = "validation.log_loss"
    elif config.model.has_spread:
        fit = "validation.nll"
    else:
        fit = "validation.rmse"
    return (
        f"tuner.objective {tuner.objective} includes {_penalty_name(penalties[0])}, "
        f"which changes with {searched[0]} between trials, so it can rank a worse fit first; "
        f"tuner.objective: {fit} compares the trials' fit alone"
    )
