"""Wording shared by the messages the toolkit prints."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 prediction``, ``3 predictions``: a count with its noun in the number it takes.
    ``plural`` for nouns that do not just add an s (``counted(2, "class", "classes")``)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3`` ... the first not in ``taken``, which it joins:
    names made from user text (column names) that must not collide once cleaned."""
    unique, count = name, 1
    while unique in taken:
        count += 1
        unique = f"{name}_{count}"
    taken.add(unique)
    return unique
