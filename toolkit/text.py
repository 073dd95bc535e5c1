"""Wording shared by the messages the toolkit prints."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 prediction``, ``3 predictions``: a count with its noun in the number it takes.
    ``plural`` for nouns that do not just add an s (``counted(2, "class", "classes")``)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
