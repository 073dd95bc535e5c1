"""A report as data: sections of blocks, rendered to HTML and to Markdown by Jinja2 templates.

Both formats come from the same blocks, so they cannot drift apart. The HTML template escapes
every value (autoescape); the Markdown one escapes table cells and picks code fences that the
text cannot close.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import jinja2


def format_value(value: Any) -> str:
    """A metric or setting as text: 4 significant digits, ``n/a`` for undefined, mean ± std."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a" if math.isnan(value) else str(value)
        return f"{value:.4g}"
    if isinstance(value, dict) and "mean" in value:
        return f"{format_value(value['mean'])} ± {format_value(value.get('std'))}"
    return str(value)


def format_count(value: Any) -> str:
    """Thousands-separated integer counts; anything else as :func:`format_value`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return format_value(value)


@dataclass(frozen=True)
class KeyValues:
    """Label: value pairs (a definition list; a bullet list in Markdown)."""

    kind: ClassVar[str] = "key_values"
    items: list[tuple[str, str]]

    @classmethod
    def of(cls, items: list[tuple[str, Any]]) -> KeyValues:
        """Pairs whose value is not ``None``, values formatted."""
        return cls(
            [(k, v if isinstance(v, str) else format_value(v)) for k, v in items if v is not None]
        )


@dataclass(frozen=True)
class Cell:
    text: str
    best: bool = False


@dataclass(frozen=True)
class Table:
    """A header and rows of formatted cells; ``best`` cells and ``highlight`` rows stand out."""

    kind: ClassVar[str] = "table"
    header: list[str]
    rows: list[list[Cell]]
    highlight: frozenset[int] = frozenset()

    @classmethod
    def of(
        cls,
        header: list[str],
        rows: list[list[Any]],
        *,
        best: set[tuple[int, int]] = frozenset(),
        highlight: set[int] = frozenset(),
    ) -> Table:
        cells = [
            [Cell(format_value(v), (r, c) in best) for c, v in enumerate(row)]
            for r, row in enumerate(rows)
        ]
        return cls(list(header), cells, frozenset(highlight))


@dataclass(frozen=True)
class Code:
    """Verbatim text (a config, a model summary, an error)."""

    kind: ClassVar[str] = "code"
    text: str

    @property
    def fence(self) -> str:
        """A Markdown fence longer than any run of backticks in the text."""
        longest = max((len(run) for run in re.findall(r"`+", self.text)), default=0)
        return "`" * max(3, longest + 1)


@dataclass(frozen=True)
class Note:
    kind: ClassVar[str] = "note"
    text: str


@dataclass(frozen=True)
class Paragraph:
    kind: ClassVar[str] = "paragraph"
    text: str


@dataclass(frozen=True)
class Image:
    """A PNG embedded as a data URI (HTML) and linked by relative path (Markdown)."""

    path: str
    caption: str
    data: str
    width: int
    height: int

    @property
    def wide(self) -> bool:
        """Figures much wider than tall take a whole row; the others share one."""
        return self.width > 1.9 * self.height


@dataclass(frozen=True)
class Figures:
    kind: ClassVar[str] = "figures"
    images: list[Image]


@dataclass(frozen=True)
class Links:
    """Sub-directories, each linked to its own report when it has one (``target`` not None)."""

    kind: ClassVar[str] = "links"
    items: list[tuple[str, str | None]]


@dataclass(frozen=True)
class Details:
    """A table folded away in HTML (``summary`` is the fold's label)."""

    kind: ClassVar[str] = "details"
    summary: str
    table: Table


Block = KeyValues | Table | Code | Note | Paragraph | Figures | Links | Details


@dataclass(frozen=True)
class Section:
    title: str
    blocks: list[Block]


@dataclass(frozen=True)
class Report:
    title: str
    subtitle: str
    status: str
    sections: list[Section]

    @classmethod
    def of(
        cls,
        record: dict[str, Any],
        directory: Path,
        subtitle: list[str],
        sections: list[Section | None],
    ) -> Report:
        """Titled by run.json's or sweep.json's name and status (the directory's name and
        ``unknown`` when missing); empty subtitle parts and ``None`` sections left out."""
        return cls(
            str(record.get("name", directory.name)),
            " · ".join(part for part in subtitle if part),
            str(record.get("status", "unknown")),
            [section for section in sections if section is not None],
        )


def why_it_stopped(record: dict[str, Any]) -> Section | None:
    """The reason run.json or sweep.json gives for a failed or interrupted end, verbatim."""
    return (
        Section("Why it stopped", [Code(str(record["reason"]))]) if record.get("reason") else None
    )


def as_killed(record: dict[str, Any], *, file: str, then: str) -> dict[str, Any]:
    """``record`` (run.json or sweep.json) as a report shows it when no process holds the
    directory's lock: ``running`` there means its process was killed, so the status is
    ``killed`` and the reason says how to go on (``then``)."""
    if record.get("status") != "running":
        return record
    reason = (
        f"{file} says running, but no toolkit process is writing this directory: its process "
        f"was killed (SIGKILL, out of memory, a lost machine) before it could record an end. "
        f"{then}"
    )
    return {**record, "status": "killed", "reason": reason}


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("toolkit.evaluation.report", "templates"),
    autoescape=lambda name: bool(name and name.endswith(".html.j2")),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_ENVIRONMENT.filters["md_cell"] = _markdown_cell


def render(template: str, **context: Any) -> str:
    """Render one of the package's templates (``report.html.j2``, ``report.md.j2``, ...)."""
    return _ENVIRONMENT.get_template(template).render(**context)
