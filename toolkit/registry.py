"""Registries are plain dicts filled explicitly, keyed by short names, read through ``lookup``.

No import-order magic and no import paths from configs: a name a registry does not hold is a
one-line error listing the names it does hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from toolkit.errors import ConfigError, unknown_name

T = TypeVar("T")


def lookup(registry: Mapping[str, T], name: str, *, kind: str) -> T:
    """``registry[name]``, or a ``ConfigError``: ``unknown <kind> 'x' (did you mean 'y'?); allowed: ...``."""
    try:
        return registry[name]
    except KeyError:
        raise ConfigError(unknown_name(kind, name, registry)) from None
