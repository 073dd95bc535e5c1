"""``load_config``: a config from a file, a mapping or a config, with overrides, validated."""

from __future__ import annotations

from toolkit.config.loading import ConfigSource, Overrides, resolve_source, validate_config
from toolkit.config.schema import ExperimentConfig
from toolkit.errors import checked_keywords


@checked_keywords
def load_config(source: ConfigSource, overrides: Overrides = None) -> ExperimentConfig:
    """The validated, frozen config of ``source``: a YAML file (with its ``extends:``), a
    mapping as the YAML would give, or a loaded config; then ``overrides``, either
    ``{"training.epochs": 5, "model.hidden": [32, 16]}`` or ``["training.epochs=5"]`` as
    ``--set`` takes them. A mistake is one ``ConfigError`` line naming the key and the
    allowed values, as on the command line."""
    data, origins, label = resolve_source(source, overrides)
    return validate_config(data, origins, label)
