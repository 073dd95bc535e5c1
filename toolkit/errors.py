"""The one error type users see: a message naming what was wrong and what is allowed."""

from __future__ import annotations

import difflib
import functools
import inspect
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar


class ToolkitError(Exception):
    """A user mistake (bad config, bad data, bad path). The CLI prints it on one line, exit 2."""


class ConfigError(ToolkitError):
    """The config is invalid, or does not fit the data or model it meets: raised before any
    run directory exists. Most while the config loads, before TensorFlow starts; those that
    need a model built come after it has started (``training.fine_tune.unfreeze`` above the
    backbone's layer count, ``model.init_from`` with no layer or class order of this model)."""


class DataError(ToolkitError):
    """The data does not fit the config (missing file, column, bad values)."""


class ArgumentError(ToolkitError, TypeError):
    """A Python API call with a keyword its function does not take: a ToolkitError naming
    the keywords allowed, and still the TypeError Python raises for it."""


_Function = TypeVar("_Function", bound=Callable[..., Any])


def checked_keywords(function: _Function) -> _Function:
    """Refuse a keyword ``function`` does not take with an ``ArgumentError`` that suggests
    the closest one and lists the rest: ``toolkit.train(config, verbos=0)`` was Python's
    bare "got an unexpected keyword argument 'verbos'", where the README promises a
    ToolkitError for every mistake."""
    signature = inspect.signature(function)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    allowed = [n for n, p in signature.parameters.items() if p.kind in kinds and n != "self"]

    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        unknown = next((name for name in kwargs if name not in allowed), None)
        if unknown is not None:
            raise ArgumentError(
                f"{function.__qualname__}() takes no keyword '{unknown}'"
                f"{did_you_mean(unknown, allowed)}; allowed: {', '.join(allowed)}"
            )
        return function(*args, **kwargs)

    return checked  # type: ignore[return-value]


# The toolkit package's folder: a frame whose file lies in it is the toolkit's own.
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def user_stacklevel() -> int:
    """The ``stacklevel`` for ``warnings.warn`` that names the first caller outside the
    toolkit, so a notebook's warning points at the user's line: a fixed ``stacklevel=2`` in
    ``Run.predict`` named ``toolkit/errors.py`` (``checked_keywords``' wrapper), and in
    ``RunGroup.evaluate`` its own call of ``Run.evaluate``. Called by the function that
    warns; counts it and every toolkit frame above it."""
    frame = sys._getframe(1)  # the function that warns: stacklevel 1
    level = 1
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        _PACKAGE
    ):
        frame = frame.f_back
        level += 1
    return level


def did_you_mean(given: str, choices: Iterable[str], *, prefix: str = "") -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or an empty string;
    ``prefix`` goes before the choice shown (the path above a mistyped key). Compared in
    lower case: difflib's ratio of 'RGB' to 'rgb' (color_mode), 'PNG' to 'png' or 'ReLU' to
    'relu' is 0, and a word given in another case got no suggestion at all."""
    by_lower: dict[str, str] = {}
    for choice in choices:
        by_lower.setdefault(str(choice).lower(), str(choice))
    matches = difflib.get_close_matches(str(given).lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean '{prefix}{by_lower[matches[0]]}'?)" if matches else ""


def did_you_mean_column(given: str, columns: Iterable[object]) -> str:
    """``did_you_mean`` for a data column: among difflib's close matches, only a name a few
    typing slips away (``close_edits``). difflib's ratio alone suggested columns a table
    happens to hold for a target missing from the rows: 'start', 'tag' or 'age' for
    'target' (0.73, 0.67, 0.67, over its cutoff 0.6), while a doubled letter in a short name
    ('yy' for 'y', 0.67) must stay a suggestion; three edits apart, neither is."""
    names = [str(column) for column in columns]
    for match in difflib.get_close_matches(str(given), names, n=3, cutoff=0.6):
        if edit_distance(str(given), match) <= close_edits(str(given), match):
            return f" (did you mean '{match}'?)"
    return ""


def close_edits(a: str, b: str) -> int:
    """How many typing slips make two names close: one per three characters of the longer
    (at least one): 'tagret' or 'trgt' for 'target', not 'start'."""
    return max(1, max(len(a), len(b)) // 3)


def edit_distance(a: str, b: str) -> int:
    """Insertions, deletions, substitutions and swaps of two neighbours that turn ``a`` into
    ``b`` (optimal string alignment distance)."""
    previous, current = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        before, previous, current = previous, current, [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
    return current[len(b)]


def unknown_name(kind: str, given: str, choices: Iterable[str]) -> str:
    """The standard message for a name that is not in a registry."""
    choices = sorted(choices)
    return f"unknown {kind} '{given}'{did_you_mean(given, choices)}; allowed: {', '.join(choices)}"


# Whether the command line (``toolkit ...``) is running: a message that says how to go on
# names its commands and flags there, and the Python calls and keywords to a Python caller
# (a notebook was told "toolkit train --resume RUN continues it"). A process-wide flag, not a
# ContextVar: the threads a command starts (data loading, a sweep's) read it too.
_command_line = False


@contextmanager
def command_line_wording() -> Iterator[None]:
    """Messages raised inside name the command line's commands and flags (``toolkit``'s
    ``main`` runs each command in it); outside, a Python caller's calls and keywords."""
    global _command_line
    before, _command_line = _command_line, True
    try:
        yield
    finally:
        _command_line = before


def from_command_line() -> bool:
    """Whether the running call came from the command line (see ``command_line_wording``)."""
    return _command_line


def option(flag: str) -> str:
    """``--chief-port`` on the command line, ``chief_port`` (its keyword) from Python."""
    return flag if _command_line else flag.removeprefix("--").replace("-", "_")


def resume_call(path: object, *, command: str = "train") -> str:
    """What continues the run or sweep at ``path``: ``toolkit train --resume RUN`` on the
    command line, ``toolkit.resume('RUN')`` (``toolkit.tune(resume='SWEEP')``) from Python."""
    if _command_line:
        return f"toolkit {command} --resume {path}"
    if command == "tune":
        return f"toolkit.tune(resume={str(path)!r})"
    return f"toolkit.resume({str(path)!r})"


def train_call(config: object) -> str:
    """What trains the config file ``config``: ``toolkit train CONFIG`` or
    ``toolkit.train('CONFIG')``."""
    return f"toolkit train {config}" if _command_line else f"toolkit.train({str(config)!r})"


def predict_call() -> str:
    """What predicts unlabelled rows: ``toolkit predict`` or ``Run.predict``."""
    return "toolkit predict" if _command_line else "Run.predict"


class RunFailed(ToolkitError):
    """Training failed for a reason outside the config (a multi-worker peer lost): the run is
    marked failed and the CLI prints one line with exit code 1, as for a NaN loss."""


class RunInterrupted(ToolkitError):
    """Ctrl-C during training or a sweep: state is marked interrupted and checkpoints kept.

    Its text names the Python call that continues it (``toolkit.resume('RUN')``), as a
    notebook raised it; the command line prints ``command_line()``, ``toolkit train
    --resume RUN`` (a notebook was told of a command line it never ran)."""

    def __init__(self, path: object, *, command: str = "train"):
        call = (
            f"toolkit.tune(resume={str(path)!r})"
            if command == "tune"
            else f"toolkit.resume({str(path)!r})"
        )
        super().__init__(f"interrupted; resume with: {call}")
        self.path = path
        self.command = command

    def command_line(self) -> str:
        """The line ``toolkit`` prints: the command that continues it."""
        return f"interrupted; resume with: toolkit {self.command} --resume {self.path}"


class WorkerInterrupted(RunInterrupted):
    """Ctrl-C or SIGTERM of a distributed sweep's worker: its line names the command that
    rejoins the sweep. ``toolkit tune --resume SWEEP`` alone, as a chief or single process is
    told, is not a worker's: without ``--role worker`` and the chief's address it resumes the
    sweep as a single process, beside the chief still running it."""

    def __init__(self, path: object, *, address: str, port: str):
        port_value: object = int(port) if port.isdigit() else port
        ToolkitError.__init__(
            self,
            "interrupted; rejoin the sweep with: toolkit.tune(role='worker', "
            f"chief_address={address!r}, chief_port={port_value!r}, sweep_dir={str(path)!r})",
        )
        self.path = path
        self.command = "tune"
        self.address = address
        self.port = port

    def command_line(self) -> str:
        import shlex

        rejoin = ["toolkit", "tune", "--role", "worker", "--chief-address", self.address]
        rejoin += ["--chief-port", self.port, "--sweep-dir", str(self.path)]
        return f"interrupted; rejoin the sweep with: {shlex.join(rejoin)}"


class GroupInterrupted(RunInterrupted):
    """Ctrl-C during a ``--repeat`` group: the group is marked interrupted, and ``--resume``
    of the group finishes it (the seed run it stopped in continues from its last epoch)."""

    def __init__(self, path: object):
        ToolkitError.__init__(
            self, f"interrupted; finish the repeat group with: toolkit.resume({str(path)!r})"
        )
        self.path = path
        self.command = "train"

    def command_line(self) -> str:
        return f"interrupted; finish the --repeat group with: toolkit train --resume {self.path}"
