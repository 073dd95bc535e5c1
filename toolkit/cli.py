"""The ``toolkit`` command line: argument parsing and output only.

TensorFlow is imported lazily inside the commands that need it, so ``toolkit --help`` and
``toolkit validate`` answer in a fraction of a second. Every user mistake is one line on
stderr and exit code 2; Ctrl-C during training is exit code 130.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import re
import shlex
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from toolkit import __version__
from toolkit.errors import RunFailed, RunInterrupted, ToolkitError, command_line_wording
from toolkit.text import SUMMARY_METRICS, counted, split_label, summary_line

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a command its pipe ended


def _add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set training.epochs=5 --set model.hidden.0=128",
    )


# argparse's message for a value outside an argument's choices.
_INVALID_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*?)\)")


class _Parser(argparse.ArgumentParser):
    """argparse's errors as one line, as every other user mistake: argparse printed its
    usage block first (up to seven lines), and an unknown option of a command was reported
    under the top-level usage, ``toolkit: error: unrecognized arguments: --repat 3``, with
    neither the command nor the option meant."""

    def error(self, message: str) -> NoReturn:
        choice = _INVALID_CHOICE.search(message)
        if choice:  # `toolkit trian`: the command meant, as a mistyped config key gets
            from toolkit.errors import did_you_mean

            given, offered = choice.group(1), re.findall(r"'([^']*)'", choice.group(2))
            message = (
                f"{message[: choice.start()]}invalid choice: '{given}'"
                f"{did_you_mean(given, offered)}; choose from {', '.join(offered)}"
            )
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}; see {self.prog} --help\n")

    def unknown_arguments(self, extras: list[str]) -> NoReturn:
        from toolkit.errors import did_you_mean

        options = [name for action in self._actions for name in action.option_strings]
        unknown = next((extra for extra in extras if extra.startswith("-")), extras[0])
        hint = did_you_mean(unknown.split("=", 1)[0], options) if unknown.startswith("-") else ""
        self.error(f"unrecognized arguments: {' '.join(extras)}{hint}")


def _add_mc_samples(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--mc-samples",
        type=int,
        default=None,
        metavar="N",
        help=f"{what} (default: the run's prediction.mc_samples)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="toolkit",
        description="Train, tune and evaluate Keras models from YAML configs.",
    )
    parser.add_argument("--version", action="version", version=f"toolkit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train", help="train a model from a config; prints the run directory"
    )
    train.add_argument("config", nargs="?", help="experiment YAML file")
    _add_overrides(train)
    train.add_argument(
        "--output-dir", help="write the run under this directory instead of output_dir"
    )
    train.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    train.add_argument(
        "--repeat", type=int, default=1, metavar="N", help="train N seeds, report mean ± std"
    )
    train.add_argument("--verbose", action="store_true", help="show Keras' per-epoch progress")

    validate = commands.add_parser("validate", help="check a config without starting TensorFlow")
    validate.add_argument("config", help="experiment YAML file")
    _add_overrides(validate)
    validate.add_argument("--print", action="store_true", help="print the resolved config")

    evaluate = commands.add_parser("evaluate", help="print a run's metrics as JSON")
    evaluate.add_argument("run_dir", help="a run directory or a --repeat group")
    evaluate.add_argument(
        "--data",
        help="a .csv (or .csv.gz/.bz2/.zst/.lz4/.xz/.zip)/.parquet file, directory or glob "
        "with the target column, or for image and signal runs an .npz or a folder of class "
        "sub-folders (default: the run's test split, else its validation split)",
    )
    _add_mc_samples(evaluate, "stochastic passes per row for MC-dropout and Bayesian models")

    predict = commands.add_parser("predict", help="write predictions for a file of rows")
    predict.add_argument("run_dir", help="a run directory (of a --repeat group: one seed's run)")
    predict.add_argument(
        "--input",
        "--data",
        dest="input",
        required=True,
        help="a .csv (or .csv.gz/.bz2/.zst/.lz4/.xz/.zip)/.parquet file, directory or glob of "
        "rows, or for image and signal runs an .npz, a folder of images (flat or in class "
        "sub-folders), one image file or a "
        "quoted glob of them ('photos/*.jpg'); --data, as for "
        "evaluate, is the same option",
    )
    predict.add_argument(
        "--output",
        required=True,
        help="where to write the predictions (.csv, .csv.gz written gzip-compressed, or .parquet)",
    )
    _add_mc_samples(predict, "stochastic passes per row for MC-dropout and Bayesian models")

    export = commands.add_parser(
        "export", help="export a run's model for serving (SavedModel, ONNX, LiteRT)"
    )
    export.add_argument("run_dir", help="a run directory")
    export.add_argument(
        "--format", default="saved_model", metavar="FORMAT", help="saved_model | onnx | litert"
    )
    export.add_argument(
        "--output", default=None, help="where to write it (default: RUN_DIR/export/...)"
    )
    _add_mc_samples(export, "stochastic passes in the graph for MC-dropout and Bayesian models")

    tune = commands.add_parser("tune", help="run a Keras Tuner sweep over config fields")
    tune.add_argument("config", nargs="?", help="experiment YAML with a tuner: section")
    _add_overrides(tune)
    tune.add_argument(
        "--output-dir", help="where the sweep directory goes (default: the config's output_dir)"
    )
    tune.add_argument("--resume", metavar="SWEEP_DIR", help="continue a sweep")
    tune.add_argument("--sweep-dir", help="the sweep directory to create (chief) or join (worker)")
    tune.add_argument(
        "--final-train", action="store_true", help="retrain the best config as a normal run"
    )
    tune.add_argument("--verbose", action="store_true", help="show Keras' per-epoch progress")
    tune.add_argument("--role", choices=["chief", "worker"], help="distributed sweep role")
    tune.add_argument("--chief-address", default=None, help="chief host (default 127.0.0.1)")
    tune.add_argument("--chief-port", type=int, default=None, help="chief port")
    tune.add_argument("--worker-id", default=None, help="name of this worker (default: its pid)")

    report = commands.add_parser(
        "report", help="write report.html and report.md for a run or sweep"
    )
    report.add_argument("directory", help="a run, a --repeat group or a sweep directory")

    compare = commands.add_parser("compare", help="compare runs side by side")
    compare.add_argument("run_dirs", nargs="+", help="run directories or --repeat groups")
    compare.add_argument("--output", default=None, help="directory for compare.md/.csv/.png")

    board = commands.add_parser(
        "tensorboard", help="start TensorBoard over the experiments directory"
    )
    board.add_argument(
        "directory",
        nargs="?",
        default="experiments",
        help="a run, a sweep or the experiments directory above them (default experiments)",
    )
    board.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    board.add_argument("--port", type=int, default=6006, help="port to serve on (default 6006)")
    return parser


def _cmd_validate(args: argparse.Namespace) -> int:
    from toolkit.config.loading import dump_config, resolve_config, validate_config
    from toolkit.data.sources.table import check_data_columns
    from toolkit.data.streaming.files import check_data_locations

    data, origins = resolve_config(args.config, args.overrides)
    config = validate_config(data, origins, args.config)
    check_data_locations(config.data, config_file=args.config)
    check_data_columns(config.data)
    from toolkit.training.class_weight import check_class_weight_in_data

    check_class_weight_in_data(config)  # where the labels read cheaply (no TensorFlow)
    if config.model.init_from:
        from toolkit.runs import open_run_directory

        # As train checks it before any run exists; validate said 'valid' for a path that
        # is no run (its layers are matched at train, which needs TensorFlow).
        open_run_directory(config.model.init_from)
    if config.tuner is not None:
        from toolkit.tuning.space import validate_search_space

        validate_search_space(data, origins, config)
    if args.print:
        print(dump_config(config), end="")
    extra = (
        f", tuner {config.tuner.algorithm} over {counted(len(config.tuner.search_space), 'path')}"
        if config.tuner
        else ""
    )
    body = "" if config.model.body == "dense" else f"{config.model.body} body, "
    if config.model.backbone is not None:
        body = f"backbone {config.model.backbone.name}, "
    blocks = len(config.model.hidden)
    # With --print, stdout is the resolved config alone (as train's stdout is the run
    # directory): `validate --print > resolved.yaml` ended in this line, which made the file
    # fail to load ("unknown key 'configs/x.yaml'").
    print(
        f"{args.config}: valid ({config.model.task}, {body}"
        f"{counted(blocks, 'hidden block')}{extra})",
        file=sys.stderr if args.print else sys.stdout,
    )
    return 0


def _repeat_summary_line(group) -> str:
    """``mean ± std over 5 seeds, test split: rmse 55.23 ± 1.3  ...``"""
    completed = len(group.metrics.get("seeds", []))
    total = len(group.runs)
    seeds = counted(completed, "seed") if completed == total else f"{completed} of {total} seeds"
    if not completed:
        return f"{group.status}: no seed completed"
    evaluated = group.metrics.get("evaluated_on")
    scores = group.metrics["repeats"].get(evaluated, {})
    text = "  ".join(
        f"{k} {scores[k]['mean']:.4g} ± {scores[k]['std']:.2g}"
        for k in SUMMARY_METRICS
        if isinstance(scores.get(k), dict) and scores[k].get("mean") is not None
    )
    return f"mean ± std over {seeds}, {split_label(evaluated)}: {text}"


def _cmd_train(args: argparse.Namespace) -> int:
    from toolkit.runs import sigterm_as_interrupt

    with sigterm_as_interrupt():
        return _train(args)


def _train(args: argparse.Namespace) -> int:
    from toolkit import startup

    startup.quiet(keras_messages=args.verbose)
    verbose = 2 if args.verbose else 0
    if args.resume:
        if args.config or args.overrides:
            raise ToolkitError(
                "--resume takes the config from the run directory; drop CONFIG and --set"
            )
        if args.repeat != 1 or args.output_dir:
            # Both would be ignored: the run goes on in its own directory with its own seed.
            raise ToolkitError(
                "--resume continues one run in its own directory; drop --repeat and --output-dir"
            )
        from toolkit.api.commands import resume
        from toolkit.api.run_group import RunGroup

        finished: list[int] = []

        def report_seed(seed: int, run) -> None:
            """A resumed group's line per seed, as --repeat prints them (kept runs too)."""
            finished.append(seed)
            from toolkit.api.commands import load_run

            total = len(load_run(args.resume).record.get("seeds", []))
            line = f"seed {seed} ({len(finished)}/{total}) {summary_line(run)}"
            print(line, file=sys.stderr, flush=True)

        run = resume(args.resume, verbose=verbose, on_run_end=report_seed)
        summary = _repeat_summary_line(run) if isinstance(run, RunGroup) else summary_line(run)
        print(summary, file=sys.stderr)
        print(run.path)
        return 0 if run.status == "completed" else 1
    if not args.config:
        raise ToolkitError("train needs a CONFIG file (or --resume RUN_DIR)")
    if args.repeat < 1:
        raise ToolkitError(f"--repeat must be at least 1, got {args.repeat}")
    _check_data_paths(args.config, args.overrides)
    if args.repeat > 1:
        from toolkit.api.commands import train_repeated

        finished = []

        def report(seed: int, run) -> None:
            finished.append(seed)
            line = f"seed {seed} ({len(finished)}/{args.repeat}) {summary_line(run)}"
            print(line, file=sys.stderr, flush=True)

        group = train_repeated(
            args.config,
            repeats=args.repeat,
            overrides=args.overrides,
            output_dir=args.output_dir,
            verbose=verbose,
            on_run_end=report,
        )
        print(_repeat_summary_line(group), file=sys.stderr)
        print(group.path)
        return 0 if group.status == "completed" else 1
    from toolkit.api.commands import train

    run = train(args.config, overrides=args.overrides, output_dir=args.output_dir, verbose=verbose)
    print(summary_line(run), file=sys.stderr)
    print(run.path)
    return 0 if run.status == "completed" else 1


def _one_run(run_dir: str):
    """The run at ``run_dir``; a ``--repeat`` group is refused with one of its runs named."""
    from toolkit.api.commands import load_run
    from toolkit.api.run_group import RunGroup

    run = load_run(run_dir)
    if isinstance(run, RunGroup):
        members = run.record.get("runs", [])
        example = f", e.g. {run.path / members[0]}" if members else ""
        raise ToolkitError(
            f"{run_dir} is a --repeat group of {len(members)} runs; pass one of its runs{example}"
        )
    return run


def _check_mc_samples(run, mc_samples: int | None) -> None:
    """A refused ``--mc-samples`` named as the flag: the API's own check, which runs again
    inside, names the Python keyword ``mc_samples``. A group's seeds share one model."""
    from toolkit.api.run import with_mc_samples
    from toolkit.api.run_group import RunGroup

    if mc_samples is None:
        return  # the config is not read for nothing
    for member in run.runs[:1] if isinstance(run, RunGroup) else [run]:
        with_mc_samples(member.config, mc_samples, name="--mc-samples")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from toolkit import startup
    from toolkit.api.commands import load_run
    from toolkit.api.run_group import RunGroup
    from toolkit.evaluation.metrics import json_safe

    startup.quiet()
    run = load_run(args.run_dir)
    _check_mc_samples(run, args.mc_samples)
    with _input_warnings_printed():
        scores = run.evaluate(args.data, label="--data", mc_samples=args.mc_samples)
    if isinstance(run, RunGroup):
        print(json.dumps(scores, indent=2))
        return 0
    split = args.data or run.default_split
    print(
        json.dumps({"run": str(run.path), "split": split, "metrics": json_safe(scores)}, indent=2)
    )
    return 0


@contextlib.contextmanager
def _input_warnings_printed():
    """Values the new rows hold that training never saw (``InputWarning``) and what their
    scores say of the model (``ScoreWarning``), each printed as one ``toolkit: warning:``
    line once the command's work is done."""
    from toolkit.data.input_audit import InputWarning
    from toolkit.evaluation.unpredicted import ScoreWarning

    with warnings.catch_warnings(record=True) as noticed:
        warnings.simplefilter("always", InputWarning)
        warnings.simplefilter("always", ScoreWarning)
        yield
    printed = set()  # once each: a group's runs all read the same rows
    for warning in noticed:
        if issubclass(warning.category, (InputWarning, ScoreWarning)):
            if str(warning.message) not in printed:
                printed.add(str(warning.message))
                print(f"toolkit: warning: {warning.message}", file=sys.stderr)
        else:  # recorded with the rest; shown as they would have been
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )


def _cmd_predict(args: argparse.Namespace) -> int:
    from toolkit import startup
    from toolkit.api.run import _check_not_input, _prediction_file
    from toolkit.runs import os_error_message

    startup.quiet()
    output = Path(args.output)
    # Refused as the flag here: predict_file's own checks name its keyword, output.
    _check_not_input(args.input, _prediction_file(output, name="--output"), name="--output")
    run = _one_run(args.run_dir)
    _check_mc_samples(run, args.mc_samples)
    try:
        with _input_warnings_printed():
            rows = run.predict_file(
                args.input, output, label="--input file", mc_samples=args.mc_samples
            )
    except OSError as error:
        raise ToolkitError(os_error_message(error, f"cannot write {output}")) from None
    print(f"wrote {counted(rows, 'prediction')} to {output}", file=sys.stderr)
    print(output)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from toolkit import startup

    startup.quiet()
    run = _one_run(args.run_dir)
    _check_mc_samples(run, args.mc_samples)
    path = run.export(args.output, format=args.format, mc_samples=args.mc_samples)
    print(f"exported {args.format} to {path}", file=sys.stderr)
    print(path)
    return 0


def _check_data_paths(config_file: str, overrides: list[str] | None) -> None:
    """The data files of ``config_file`` exist (``check_data_locations``) before anything
    starts: a relative path that names a file beside the config, not in the current
    directory, is told so, which only the command line can, as it knows the config's file."""
    from toolkit.config.loading import load_config
    from toolkit.data.streaming.files import check_data_locations

    config = load_config(config_file, overrides=overrides or ())
    check_data_locations(config.data, config_file=config_file)


def _cmd_tune(args: argparse.Namespace) -> int:
    from toolkit.runs import sigterm_as_interrupt

    # From the start: SIGTERM while TensorFlow starts killed the process without a word.
    with sigterm_as_interrupt():
        return _tune(args)


def _tune(args: argparse.Namespace) -> int:
    from toolkit import startup
    from toolkit.api.commands import run_tune

    startup.quiet(keras_messages=args.verbose)
    if args.config and not args.resume:
        _check_data_paths(args.config, args.overrides)
    sweep = run_tune(
        args.config,
        overrides=args.overrides,
        output_dir=args.output_dir,
        resume=args.resume,
        sweep_dir=args.sweep_dir,
        final_train=args.final_train,
        verbose=args.verbose,
        role=args.role,
        chief_address=args.chief_address,
        chief_port=args.chief_port,
        worker_id=args.worker_id,
    )
    if args.final_train and sweep.outcome == "completed" and sweep.final_run is not None:
        print(sweep.final_run.path)
    print(sweep.path)
    return 0 if sweep.outcome in ("completed", "joined") else 1


def _cmd_report(args: argparse.Namespace) -> int:
    from toolkit.runs import held_runs_hint

    directory = Path(args.directory)
    if not directory.exists():
        raise ToolkitError(
            f"directory not found: {directory} (report takes a run or a sweep)"
            f"{held_runs_hint(directory)}"
        )
    if not (directory / "run.json").exists() and not (directory / "sweep.json").exists():
        raise ToolkitError(
            f"{directory} is neither a run directory (run.json) nor a sweep (sweep.json)"
            f"{held_runs_hint(directory)}"
        )
    # Imported once the arguments are checked: the report's plotting (matplotlib, scikit-learn,
    # scipy.stats) took 2 s of imports before a mistyped directory was named.
    from toolkit.evaluation.report import write_report

    html, markdown = write_report(directory)
    print(html)
    print(markdown)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from toolkit.runs import enclosing_runs, open_run_directory

    runs = [open_run_directory(path, need_model=False).path for path in args.run_dirs]
    if len(runs) < 2:
        raise ToolkitError("compare needs at least two run directories")
    seen: dict[Path, str] = {}
    for given, run in zip(args.run_dirs, runs, strict=True):
        if run.resolve() in seen:  # a column twice: a comparison with itself
            raise ToolkitError(
                f"compare got the same run directory twice ({seen[run.resolve()]} and {given}); "
                "pass each run once"
            )
        seen[run.resolve()] = given
    if args.output:
        out = Path(args.output)
        inside = enclosing_runs(out)
        if inside:
            holder, kind = inside[0]
            where = "is" if holder == out.resolve() else "is inside"
            raise ToolkitError(
                f"--output {out} {where} the {kind} directory {holder}: compare.md, "
                "compare.csv and compare.png would mix with its own files; name a directory "
                "outside it"
            )
    else:
        # compare/ beside the first run; for a group's seed run or a sweep's trial, beside
        # the group or sweep, not among its files.
        inside = enclosing_runs(runs[0].parent)
        out = (inside[-1][0].parent if inside else runs[0].parent) / "compare"
    if out.exists() and not out.is_dir():
        raise ToolkitError(
            f"--output {out} is a file; it names a directory for compare.md, compare.csv "
            "and compare.png"
        )
    # Imported once the arguments are checked, as for report: a refused --output or a run
    # given twice took 2 s of plotting imports before its one line.
    from toolkit.evaluation.report import compare_runs

    out.mkdir(parents=True, exist_ok=True)
    table, _ = compare_runs(runs, out)
    print(table)
    print(out)
    return 0


def _check_can_serve(host: str, port: int) -> None:
    """One line for an address TensorBoard cannot serve on. TensorBoard's own answer to a port
    in use or out of range comes after seconds of start-up and TensorFlow's log lines, with
    exit code 255."""
    from toolkit.listening import check_can_listen

    check_can_listen(
        host,
        port,
        server="TensorBoard",
        host_option="--host",
        port_option="--port",
        host_hint=" (default 127.0.0.1; 0.0.0.0 serves every interface)",
    )


def _cmd_tensorboard(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    if directory.exists() and not directory.is_dir():
        # "not found" for a file that is there sent users looking for a missing path.
        raise ToolkitError(
            f"{directory} is a file; toolkit tensorboard takes a directory: a run, a sweep "
            "or the experiments directory above them"
        )
    if not directory.is_dir():
        raise ToolkitError(f"directory not found: {directory}")
    _check_can_serve(args.host, args.port)
    command = [
        sys.executable,
        "-m",
        "toolkit.tensorboard_main",
        "--logdir",
        str(directory),
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    print(
        f"TensorBoard on http://{args.host}:{args.port}/ over {directory} (Ctrl-C stops it)",
        file=sys.stderr,
    )
    os.execv(sys.executable, command)
    return 0  # not reached


COMMANDS = {
    "train": _cmd_train,
    "validate": _cmd_validate,
    "evaluate": _cmd_evaluate,
    "predict": _cmd_predict,
    "tune": _cmd_tune,
    "export": _cmd_export,
    "report": _cmd_report,
    "compare": _cmd_compare,
    "tensorboard": _cmd_tensorboard,
}


def _h5py_write_failure(error: BaseException | None, where: object) -> bool:
    """True for h5py's report of a file it could not finish writing, given as it frees the
    file's object (``where``: its ``__dealloc__``, or a traceback through h5py)."""
    return "h5py" in str(where) and "write failed" in str(error)


def _quiet_h5py_unraisable(unraisable) -> None:
    """h5py reports a file it could not finish writing (a full disk) once more when the
    file's object is freed, twice, with tracebacks after the toolkit's one-line error; that
    repeat is dropped. A Ctrl-C that landed in a finalizer is raised again (every command,
    not only those that train). Anything else is shown as Python shows it."""
    from toolkit.runs import redeliver_swallowed_interrupt

    if redeliver_swallowed_interrupt(unraisable):
        return
    if not _h5py_write_failure(unraisable.exc_value, unraisable.object):
        sys.__unraisablehook__(unraisable)


def _quiet_h5py_excepthook(kind, error, trace) -> None:
    """The first of h5py's two repeats goes through sys.excepthook (Cython prints it so)."""
    import traceback

    files = [frame.filename for frame in traceback.extract_tb(trace)]
    if not _h5py_write_failure(error, files):
        sys.__excepthook__(kind, error, trace)


# A compressed table's ending is two suffixes (part-0.csv.gz); see table_files.
_COMPRESSED = (".gz", ".bz2", ".zst", ".lz4", ".xz", ".zip")


def _expanded_glob(args: argparse.Namespace, extras: list[str]) -> str | None:
    """The error line for ``evaluate --data`` or ``predict --input`` given several existing
    files, which is what the shell makes of an unquoted glob (``--data data/*.csv``): argparse
    named only the second file on as 'unrecognized arguments'. None for any other mistake."""
    flag = {"evaluate": ("--data", "data"), "predict": ("--input", "input")}.get(args.command)
    if not flag or not extras or any(extra.startswith("-") for extra in extras):
        return None
    given = getattr(args, flag[1], None)
    paths = [Path(path) for path in [given, *extras] if path]
    if len(paths) < 2 or not all(path.is_file() for path in paths):
        return None
    # The pattern the shell most likely expanded: the files' folder and their common ending.
    suffixes = {
        "".join(path.suffixes[-2:]) if path.suffix in _COMPRESSED else path.suffix for path in paths
    }
    folders = {path.parent for path in paths}
    if len(folders) == 1 and len(suffixes) == 1:
        pattern = shlex.quote(f"{folders.pop() / '*'}{suffixes.pop()}")
    else:
        pattern = "'DIR/*.csv'"
    shown = ", ".join(map(str, paths[:3])) + (", ..." if len(paths) > 3 else "")
    return (
        f"toolkit: error: {args.command} {flag[0]} takes one file, folder or glob, got "
        f"{len(paths)} files ({shown}): the shell expanded an unquoted glob; quote it "
        f"({flag[0]} {pattern}) or give the files' folder"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras and args.command == "report" and not any(e.startswith("-") for e in extras):
        # `toolkit report RUN_A RUN_B`: two runs side by side is what compare does; argparse's
        # bare "unrecognized arguments: RUN_B" named neither.
        given = [args.directory, *extras]
        print(
            f"toolkit: error: report takes one run or sweep directory, got {len(given)} "
            f"({' '.join(given)}); to compare runs side by side use: "
            f"{shlex.join(['toolkit', 'compare', *given])}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    expanded = _expanded_glob(args, extras)
    if expanded:
        print(expanded, file=sys.stderr)
        return EXIT_USAGE
    if extras:
        command = next(
            action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
        ).choices[args.command]
        command.unknown_arguments(extras)
    if hasattr(args, "overrides"):
        from toolkit.config.loading import CommandLineOverrides

        # The API the commands call names these --set in its messages, and its other
        # arguments by their flags (a Python caller's by their keywords), none given too.
        args.overrides = CommandLineOverrides(args.overrides)
    sys.unraisablehook = _quiet_h5py_unraisable
    sys.excepthook = _quiet_h5py_excepthook
    try:
        with command_line_wording():
            return COMMANDS[args.command](args)
    except RunInterrupted as error:
        print(f"toolkit: {error.command_line()}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RunFailed as error:
        print(f"toolkit: error: {error}", file=sys.stderr)
        return 1
    except ToolkitError as error:
        print(f"toolkit: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("toolkit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as error:  # the file system, not the toolkit: a full disk, a lost mount
        from toolkit.runs import disk_full_message, os_error_message

        if isinstance(error, BrokenPipeError) and _stdout_closed():
            # The reader of stdout went away (``toolkit evaluate RUN | head``): end quietly,
            # as other commands do on SIGPIPE, with nothing more written to the closed pipe.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_BROKEN_PIPE
        where = str(error.filename or "file system error")
        message = disk_full_message(error) or os_error_message(error, where)
        print(f"toolkit: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:
        from toolkit.runs import disk_full_message

        message = disk_full_message(error)  # e.g. h5py reports a full disk as RuntimeError
        if message is None:
            raise
        print(f"toolkit: error: {message}", file=sys.stderr)
        return EXIT_USAGE


def _stdout_closed() -> bool:
    """True when stdout is a pipe whose reader has gone (poll reports an error on it), so a
    broken pipe elsewhere (a socket) is still reported."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & select.POLLERR for _, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll, or no stdout to ask about
        return False


def run(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``toolkit`` command: ``main``, then the process ends with its exit code."""
    exit_now(main(argv))


def exit_now(code: int) -> NoReturn:
    """End the process with ``code`` once everything it wrote is out.

    With TensorFlow loaded, the interpreter's teardown (freeing every module's objects, then
    TensorFlow's own) took 1.2 s or more after the last file was written, a tenth of a small
    run. Every file a command writes is closed when it returns; so the steps of an ordinary
    exit that finish work run as the interpreter runs them (threads' exit hooks, such as
    thread pools shutting down, and the wait for non-daemon threads; then the exit handlers:
    logging, TensorBoard writers; then the streams), and the teardown is skipped."""
    # CPython's own steps (private names, in 3.11-3.13): without them, the ordinary exit.
    shutdown_threads = getattr(threading, "_shutdown", None)
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if "tensorflow" not in sys.modules or shutdown_threads is None or run_exit_handlers is None:
        sys.exit(code)
    shutdown_threads()  # what Py_FinalizeEx calls first
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe or stream: nothing more can go out.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
