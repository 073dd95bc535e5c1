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


def missing_columns(missing: list[str], columns: list[str], needed: list[str]) -> str:
    """What follows ``column 'x' is not in the data`` for the first of ``missing``: a
    suggestion among the ``columns`` not ``needed`` as something else, and the others that
    are missing too. Rows without 3 of 4 features named one, and could suggest another
    feature, present, as the first's spelling."""
    from toolkit.errors import did_you_mean

    spare = [column for column in columns if column not in needed]
    others = ""
    if len(missing) > 1:
        verb = "is" if len(missing) == 2 else "are"
        others = (
            f"; nor {verb} {counted(len(missing) - 1, 'other')}: "
            f"{', '.join(map(repr, missing[1:]))}"
        )
    return did_you_mean(missing[0], spare) + others
