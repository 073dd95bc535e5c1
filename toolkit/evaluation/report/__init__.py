"""Reports of run and sweep directories (one self-contained HTML page and a Markdown twin) and
comparisons of runs.

The HTML embeds every plot as a data URI and carries its own CSS (no script, no external
resource), so it opens offline and can be mailed as one file. The Markdown references the same
PNGs by relative path. Missing optional files leave their section out or say so; they never
fail the report. Nothing here imports TensorFlow: a report is quick to rebuild.
"""

from __future__ import annotations

from pathlib import Path

from toolkit.errors import ToolkitError
from toolkit.evaluation.report.compare import compare_runs
from toolkit.evaluation.report.document import render
from toolkit.evaluation.report.run import run_report
from toolkit.evaluation.report.sweep import sweep_report
from toolkit.runs import REPORT_FILES, DirectoryLock, atomic_write_text

__all__ = ["compare_runs", "write_report"]


def write_report(directory: Path) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` into a run or sweep directory; return both paths.

    A directory with ``sweep.json`` is a sweep (its plots are drawn from trials.csv here), one
    with ``run.json`` a run or a ``--repeat`` group (whose seeds' curves are overlaid).

    The directory's lock is held while the report is written: a directory another process is
    still writing is refused (its report would be a snapshot with results missing), and one
    whose record still says ``running`` with no process holding it was killed, which the
    report says instead of ``running``.
    """
    directory = Path(directory)
    sweep = (directory / "sweep.json").exists()
    if not sweep and not (directory / "run.json").exists():
        raise ToolkitError(f"{directory} is neither a run (run.json) nor a sweep (sweep.json)")
    # The process writing the directory (a tracked run at its end) may report it itself.
    writing_it = DirectoryLock.held_here(directory)
    with DirectoryLock.acquire(directory, what="sweep directory" if sweep else "run directory"):
        killed = not writing_it
        report = (
            sweep_report(directory, killed=killed)
            if sweep
            else run_report(directory, killed=killed)
        )
        html_path, markdown_path = (directory / name for name in REPORT_FILES)
        atomic_write_text(html_path, render("report.html.j2", report=report))
        atomic_write_text(markdown_path, render("report.md.j2", report=report))
    return html_path, markdown_path
