"""Wording shared by the messages the toolkit prints."""

from __future__ import annotations

from typing import Any


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
    from toolkit.errors import did_you_mean_column

    spare = [column for column in columns if column not in needed]
    others = ""
    if len(missing) > 1:
        verb = "is" if len(missing) == 2 else "are"
        others = (
            f"; nor {verb} {counted(len(missing) - 1, 'other')}: "
            f"{', '.join(map(repr, missing[1:]))}"
        )
    # A column that differs only by case (`X2` for `x2`) is the one meant; difflib's ratio
    # for two-character names that differ in one letter's case (0.5) is below its cutoff.
    folded = [column for column in spare if str(column).casefold() == missing[0].casefold()]
    if len(folded) == 1:
        return f" (did you mean '{folded[0]}'?)" + others
    # The same name in another Unicode form ('âge' as 'a' and a combining accent, as macOS
    # may write it, against one precomposed 'â'): the message listed a column that looked
    # exactly like the one it said was missing.
    alike = [column for column in spare if nfc(column) == nfc(missing[0])]
    if len(alike) == 1:
        return (
            f" (the data's '{alike[0]}' looks the same but is another Unicode form of it: "
            f"{unicode_form(str(alike[0]))} against {unicode_form(missing[0])}; spell it alike in both, "
            "e.g. with unicodedata.normalize('NFC', name))" + others
        )
    return did_you_mean_column(missing[0], spare) + others


def nfc(name: object) -> str:
    """``name`` as text in Unicode's composed form (NFC): two spellings of one name or
    category in different forms (an accent precomposed or combining) compare equal."""
    import unicodedata

    return unicodedata.normalize("NFC", str(name))


def unicode_form(name: str) -> str:
    """``4 code points (NFD)``: how ``name`` is written, for a message about two spellings
    of one name."""
    import unicodedata

    forms = [form for form in ("NFC", "NFD") if unicodedata.is_normalized(form, name)]
    return counted(len(name), "code point") + (f" ({forms[0]})" if forms else "")


# The main metrics of a summary line, in this order, when the task has them.
SUMMARY_METRICS = ("rmse", "mae", "r2", "accuracy", "roc_auc", "f1_macro", "log_loss", "coverage")


def split_label(evaluated: str | None) -> str:
    """The split a summary line's metrics come from, as it names it."""
    if evaluated == "test":
        return "test split"
    return "validation split (no test split: set data.test)"


def summary_line(result: Any) -> str:
    """One line: how the run ended, its main metrics and the split they come from, and why a
    failed run failed. ``result``: anything with ``status``, ``epochs``, ``metrics`` (a run's
    metrics.json), ``reason`` and optionally ``warnings``: a ``Run`` or a training result."""
    parts = [f"{result.status}: {counted(result.epochs, 'epoch')}"]
    if result.metrics:
        evaluated = result.metrics.get("evaluated_on")
        scores = result.metrics.get(evaluated, {})
        text = "  ".join(
            f"{k} {scores[k]:.4g}"
            for k in SUMMARY_METRICS
            if isinstance(scores.get(k), (int, float))
        )
        parts.append(f"{split_label(evaluated)}: {text}")
    if result.reason:
        parts.append(result.reason)
    parts.extend(f"warning: {w}" for w in getattr(result, "warnings", None) or [])
    return "; ".join(parts)
