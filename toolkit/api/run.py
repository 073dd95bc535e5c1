"""``Run``: a finished (or failed, or interrupted) run directory as a Python object."""

from __future__ import annotations

import functools
import itertools
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from toolkit.errors import DataError, ToolkitError, checked_keywords, user_stacklevel
from toolkit.runs import RunDirectory, open_run_directory, read_json

if TYPE_CHECKING:
    import keras

    from toolkit.config.schema import ExperimentConfig
    from toolkit.data.preprocessing import FeatureSpec
    from toolkit.evaluation.conformal import ConformalCalibration
    from toolkit.evaluation.posthoc import PostHocCalibration

# A dict of columns ({"a": [1.0, 2.0]}) is taken as the frame pandas makes of it.
DataArgument = pd.DataFrame | Mapping[str, Any] | str | Path


def given_rows(
    data: Any, *, method: str, spec: FeatureSpec | None = None
) -> pd.DataFrame | str | Path:
    """``data`` as ``method`` (``Run.predict``, ``Run.evaluate``) takes it: a frame (a dict of
    columns made one) or a path; a ToolkitError naming the type of anything else. Anything
    else was taken for a path: a Series (one row, ``frame.iloc[0]``) was 'input file not
    found', a dict 'matches no .csv or .parquet files'. With the ``spec`` of an image or
    signal run (``Run.predict``), a NumPy array of images or signals is one row each: it
    was refused, and the message named only tables, not the arrays, .npz files and folders
    those runs take."""
    arrays = spec is not None and (spec.image is not None or spec.signal is not None)
    if arrays and type(data).__module__ == "numpy" and type(data).__name__ == "ndarray":
        if data.ndim < 2:
            raise ToolkitError(
                f"{method} takes an array of {'images' if spec.image else 'signals'} with one "
                f"per row, (N, ...), got shape {data.shape}"
            )
        # Checked as an .npz's x is (shape, finite numbers) when the frame is encoded.
        return pd.DataFrame({(spec.image or spec.signal).column: list(data)})
    if isinstance(data, Mapping):
        try:
            data = pd.DataFrame(data)
        except (ValueError, TypeError) as error:  # columns of unequal lengths, all scalars
            raise ToolkitError(
                f"{method}: a dict of columns maps each column name to its values, one per row "
                f"({str(error).strip().splitlines()[0]})"
            ) from None
    if isinstance(data, (pd.DataFrame, str, Path)):
        return data
    one_row = "; for one row, pass frame.iloc[[i]] (a frame)" if isinstance(data, pd.Series) else ""
    more = (
        ", a NumPy array of "
        + ("images (N, H, W[, C])" if spec.image is not None else "signals (N, L[, C])")
        + " or an .npz"
        + (", image folder or image file" if spec.image is not None else "")
        + " path"
        if arrays
        else ""
    )
    raise ToolkitError(
        f"{method} takes a pandas DataFrame, a dict of columns{more} or a .csv/.parquet path "
        f"(a file, directory or glob), got {type(data).__name__}{one_row}"
    )


def read_rows(data: DataArgument, *, label: str) -> tuple[pd.DataFrame, str]:
    """A frame and its name for messages: the frame itself, or a .csv/.parquet file read."""
    if isinstance(data, pd.DataFrame):
        if data.empty:
            raise ToolkitError(f"{label} has no rows")
        twice = data.columns[data.columns.duplicated()]
        if len(twice):
            # As a file's header is refused (header_problem): frame[name] would be a frame,
            # which the encoding met as "'DataFrame' object has no attribute 'dtype'".
            raise DataError(f"{label} has the column '{twice[0]}' twice; rename one")
        # Errors name rows by position (row 1 the first, see row_number), not by the
        # frame's own labels; the rows are not copied.
        return data.reset_index(drop=True), label
    if isinstance(data, (str, Path)):
        from toolkit.data.sources import read_table

        return read_table(data, label=label), str(data)
    raise ToolkitError(
        f"{label}: expected a pandas DataFrame or a .csv/.parquet path, got {type(data).__name__}"
    )


def with_mc_samples(
    config: ExperimentConfig, mc_samples: int | None, *, name: str = "mc_samples"
) -> ExperimentConfig:
    """``config`` with ``mc_samples`` stochastic passes per prediction in place of its
    ``prediction.mc_samples`` (more passes: a smoother std and interval, in more time), for
    MC-dropout and Bayesian models; ``None`` leaves it as trained.

    ``name`` is what a refusal calls the count: the keyword from Python, and the command line
    checks it first as ``--mc-samples`` (a Python caller was told of a flag it never passed)."""
    if mc_samples is None:
        return config
    if isinstance(mc_samples, bool) or not isinstance(mc_samples, int) or mc_samples < 2:
        raise ToolkitError(f"{name} must be a whole number of at least 2, got {mc_samples}")
    if not config.model.is_stochastic:
        raise ToolkitError(
            f"{name} applies to MC-dropout and Bayesian models; this run's model is deterministic"
        )
    prediction = config.prediction.model_copy(update={"mc_samples": mc_samples})
    return config.model_copy(update={"prediction": prediction})


class Run:
    """One run directory: its config, metrics, history and model, and what to do with them.

    Nothing is read until asked for, and TensorFlow starts only when the model is needed
    (``model``, ``predict``, ``evaluate``, ``export``)::

        run = toolkit.load_run("experiments/diabetes-mlp/<run_id>")
        run.metrics["test"]["rmse"], run.history.tail()
        run.predict("rows.csv")  # prediction, std, lower, upper ... as `toolkit predict`
    """

    def __init__(self, path: str | Path) -> None:
        self._run = open_run_directory(path, need_model=False)
        if self.record.get("kind") == "repeat":
            raise ToolkitError(
                f"{self.path} is a --repeat group, not one run; open it with toolkit.load_run, "
                "which gives a RunGroup"
            )

    def __repr__(self) -> str:
        return f"Run('{self.path}', status={self.status!r})"

    # ------------------------------------------------------------------ files

    @property
    def path(self) -> Path:
        return self._run.path

    @property
    def directory(self) -> RunDirectory:
        """The paths of the run's files (``model``, ``metrics``, ``history``, ``plots`` ...)."""
        return self._run

    @property
    def record(self) -> dict[str, Any]:
        """run.json, read now: status, reason, times, versions, warnings ..."""
        return self._run.read_run()

    @property
    def status(self) -> str:
        return self.record.get("status", "unknown")

    @property
    def reason(self) -> str | None:
        return self.record.get("reason")

    @property
    def warnings(self) -> list[str]:
        """What the run noticed and finished anyway (a loss that never improved, a tracking
        server that could not be reached)."""
        return list(self.record.get("warnings", []))

    @property
    def epochs(self) -> int:
        """Epochs trained (the rows of history.csv)."""
        epochs = self.record.get("epochs")
        if epochs is None:
            epochs = len(self.history)
        return int(epochs)

    @functools.cached_property
    def config(self) -> ExperimentConfig:
        """The resolved config the run trained with (config.yaml)."""
        from toolkit.config.loading import load_config

        return load_config(self._run.config)

    @functools.cached_property
    def spec(self) -> FeatureSpec:
        """The fitted preprocessing (preprocessing.json): columns, statistics, class labels."""
        from toolkit.data.preprocessing import FeatureSpec

        if not self._run.preprocessing.exists():
            if not self._run.model.exists():
                # A run killed in its first moments (before preprocessing.json): why, and
                # the command that continues it, as for any run without its model.
                from toolkit.runs import no_model_message

                raise ToolkitError(no_model_message(self._run))
            raise ToolkitError(f"{self.path} has no preprocessing.json")
        return FeatureSpec.from_json(self._run.preprocessing.read_text(encoding="utf-8"))

    @property
    def metrics(self) -> dict[str, Any]:
        """metrics.json: ``{"train": {...}, "validation": {...}, "test": {...}, ...}``, or {}."""
        return read_json(self._run.metrics) if self._run.metrics.exists() else {}

    @property
    def history(self) -> pd.DataFrame:
        """history.csv as a frame, one row per epoch (``epoch`` counts from 1)."""
        if not self._run.history.exists():
            return pd.DataFrame()
        return pd.read_csv(self._run.history)

    # ------------------------------------------------------------------ the model

    @functools.cached_property
    def model(self) -> keras.Model:
        """The trained ``keras.Model``, preprocessing inside, loaded in Keras' safe mode."""
        from toolkit import startup
        from toolkit.models.saving import check_model_file, load_run_model

        if not self._run.model.exists():
            from toolkit.runs import no_model_message

            raise ToolkitError(no_model_message(self._run))
        check_model_file(self._run.model)  # a corrupt file fails before TensorFlow starts
        startup.import_tensorflow()
        return load_run_model(self.path)

    @functools.cached_property
    def calibration(self) -> PostHocCalibration:
        """The run's post-hoc calibration (``std_scaling.json``, ``conformal.json``): predict,
        evaluate and export apply it (``toolkit.evaluation.posthoc``)."""
        from toolkit.evaluation.posthoc import PostHocCalibration

        return PostHocCalibration.load(self.path)

    @property
    def conformal(self) -> ConformalCalibration | None:
        """The run's conformal calibration (``conformal.json``), or None: predict and evaluate
        apply it (``toolkit.evaluation.conformal``)."""
        return self.calibration.conformal

    @property
    def std_scale(self) -> float:
        """The run's std factor (``std_scaling.json``), 1 without one: predict and evaluate
        scale a regressor's predictive distribution by it (``toolkit.evaluation.std_scaling``)."""
        return self.calibration.std_scale

    @property
    def default_split(self) -> str:
        """The split ``evaluate()`` scores without data: test, else validation."""
        return "test" if self.config.data.test is not None else "validation"

    def _reader(self):
        """The source kind of the run's data: it reads new input files for the model."""
        from toolkit.data.sources import get, kind_of

        return get(kind_of(self.config.data.model_copy(update={"streaming": False})))

    @checked_keywords
    def predict(
        self, data: DataArgument, *, label: str = "input file", mc_samples: int | None = None
    ) -> pd.DataFrame:
        """Predictions for raw rows (a frame, a dict of columns such as ``{"a": [1.0, 2.0]}``
        taken as ``pd.DataFrame(d)``, or a .csv/.parquet file, directory or glob; one row of a
        frame is ``frame.iloc[[i]]``, a Series is refused),
        the columns ``toolkit predict`` writes: the input's other columns (ids) first, then
        ``prediction`` and, where the model gives them, ``std``, ``epistemic_std``,
        ``aleatoric_std``, ``lower``, ``upper`` or ``probability_<class>``, ``entropy``,
        ``mutual_information``, and with a conformal calibration ``conformal_lower``,
        ``conformal_upper`` or ``prediction_set``, ``set_size``. ``label`` names a file input
        in messages; ``mc_samples``, passes of a stochastic model (default: the run's
        ``prediction.mc_samples``). Values training never saw are scored, and each column that
        held some is an ``InputWarning``, as ``predict_file`` and ``evaluate`` warn."""
        from toolkit.data.input_audit import InputAudit, InputWarning
        from toolkit.data.preprocessing import feature_arrays
        from toolkit.evaluation.blocks import input_blocks
        from toolkit.evaluation.predict import draws_at_prediction, predict_chunk, predict_frame

        config = with_mc_samples(self.config, mc_samples)
        data = given_rows(data, method="Run.predict", spec=self.spec)
        audit = InputAudit(self.spec)
        if isinstance(data, pd.DataFrame):
            frame, what = read_rows(data, label="input")
            # Problems (an infinite number too) fail before TensorFlow; what training never
            # saw is counted.
            audit.counted(feature_arrays(frame, self.spec, what=what, finite=True))
            predictions = predict_frame(
                self.model,
                frame,
                self.spec,
                config,
                calibration=self.calibration,
            )
        else:
            chunks = audit.watch(self._reader().read_input(data, self.spec, label=label))
            model = self.model
            frames = [
                predict_chunk(
                    model,
                    chunk,
                    self.spec,
                    config,
                    calibration=self.calibration,
                    first_row=first_row,
                )
                for first_row, chunk in input_blocks(
                    chunks, exact=draws_at_prediction(model, config)
                )
            ]
            predictions = pd.concat(frames, ignore_index=True)
        for finding in audit.findings():
            warnings.warn(finding, InputWarning, stacklevel=user_stacklevel())
        return predictions

    @checked_keywords
    def predict_file(
        self,
        data: str | Path,
        output: str | Path,
        *,
        label: str = "input file",
        mc_samples: int | None = None,
    ) -> int:
        """``toolkit predict``: predictions for the rows of ``data`` written to ``output``
        (CSV, gzip-compressed CSV or Parquet, by its suffix: .csv, .csv.gz, .parquet) a chunk
        at a time, in flat memory; returns the rows.
        Values training never saw (new categories, missing numbers) are scored, and each
        column that held some is an ``InputWarning``."""
        from toolkit.data.input_audit import InputAudit, InputWarning
        from toolkit.data.streaming.files import is_shard_set
        from toolkit.evaluation.predict import is_parquet, write_predictions

        if is_shard_set(str(data)):
            # "--input file" names one file; a set is named as data.source's and --data's
            # are: "--input shard part-1.csv", "--input directory new/", not "--input file
            # shard part-1.csv".
            label = label.removesuffix(" file")
        config = with_mc_samples(self.config, mc_samples)
        output = _prediction_file(Path(output))
        _check_not_input(data, output)
        chunks = _first_chunk_read(
            self._reader().read_input(  # checked here
                data, self.spec, label=label, carried_as_text=not is_parquet(output)
            )
        )
        audit = InputAudit(self.spec)
        rows = write_predictions(
            self.model,
            audit.watch(chunks),
            self.spec,
            config,
            output,
            calibration=self.calibration,
        )
        for finding in audit.findings():
            warnings.warn(finding, InputWarning, stacklevel=user_stacklevel())
        return rows

    @checked_keywords
    def evaluate(
        self,
        data: DataArgument | None = None,
        *,
        label: str = "data",
        mc_samples: int | None = None,
    ) -> dict[str, Any]:
        """Metrics on rows with the target column (a frame, a dict of columns, or a file,
        directory or glob), by
        default on the run's own test split (else validation), in the target's units, as
        metrics.json has them. ``label`` names a file input in messages; ``mc_samples``,
        passes of a stochastic model (default: the run's ``prediction.mc_samples``, as
        metrics.json's)."""
        from toolkit.data.input_audit import InputAudit, InputWarning
        from toolkit.data.preprocessing import encode_target, feature_arrays
        from toolkit.evaluation.evaluate import evaluate_chunks
        from toolkit.evaluation.unpredicted import ScoreWarning, unpredicted_class_warning

        sampled = with_mc_samples(self.config, mc_samples)
        audit = None
        if data is not None:
            data = given_rows(data, method="Run.evaluate")
        if data is None:
            from toolkit.data.prepared import check_same_data, prepare_data

            summary = self._run.data_summary
            rows = read_json(summary).get("rows") if summary.exists() else None
            config = self.config
            given = f"{label} FILE" if label.startswith("-") else f"the rows as {label}"
            remedy = f"its held-out rows cannot be read again; pass {given} to score given rows"
            try:
                prepared = prepare_data(config, spec=self.spec, rows=rows)
            except DataError as error:
                # The run's data gone or unreadable since it trained: "data.source not
                # found" alone did not say that --data scores the rows you give.
                raise DataError(f"{error}; {remedy}") from None
            # Rows read again are the run's held-out split only if the data and the way it is
            # split are those of the run; else training rows could be scored as test.
            check_same_data(self.record, config, prepared, remedy=remedy)
            _, part = prepared.held_out
            chunks = part.chunks()
        else:
            # Rows a user gives may hold what training never saw: scored, and said, as predict
            # says it (a missing number silently took the training mean).
            audit = InputAudit(self.spec, target_range=self.config.prediction.target_range)
            if isinstance(data, pd.DataFrame):
                frame, what = read_rows(data, label="data")
                features = feature_arrays(frame, self.spec, what=what, finite=True)
                target = audit.targets(encode_target(frame, self.spec, what=what, scoring=True))
                chunks = [(audit.counted(features), target)]
            else:
                inputs = self._reader().read_input(data, self.spec, label=label, with_target=True)
                chunks = _first_chunk_read(
                    (chunk.features, audit.targets(chunk.target)) for chunk in audit.watch(inputs)
                )
        scores, _, _ = evaluate_chunks(
            self.model,
            chunks,
            self.spec,
            sampled,
            calibration=self.calibration,
        )
        for finding in audit.findings() if audit is not None else []:
            warnings.warn(finding, InputWarning, stacklevel=user_stacklevel())
        # Training's warning of a rare class never predicted, said of the rows scored here.
        trained = (self.metrics.get("train") or {}).get("confusion_matrix")
        rows_word = f"{self.default_split} row" if data is None else f"row of {label}"
        line = unpredicted_class_warning(self.config, scores, trained, rows_word)
        if line is not None:
            warnings.warn(line, ScoreWarning, stacklevel=user_stacklevel())
        return scores

    @checked_keywords
    def export(
        self,
        path: str | Path | None = None,
        *,
        format: str = "saved_model",
        mc_samples: int | None = None,
    ) -> Path:
        """Export the model for serving (see ``toolkit.export``); returns where it went."""
        from toolkit.serving import export

        return export(self.path, path, format=format, mc_samples=mc_samples)

    def report(self) -> tuple[Path, Path]:
        """Write report.html and report.md into the run directory; return both paths."""
        from toolkit.evaluation.report import write_report

        return write_report(self.path)


_NOTHING = object()


def _first_chunk_read(chunks: Iterable[Any]) -> Iterator[Any]:
    """``chunks`` with the first already read, and so its values checked, before the model
    loads: a file refused for what its rows hold (text in a number column, a line not UTF-8)
    was one line only after TensorFlow had started (3 s of CPU), unlike a refused header."""
    chunks = iter(chunks)
    first = next(chunks, _NOTHING)
    return chunks if first is _NOTHING else itertools.chain([first], chunks)


PREDICTION_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


def _prediction_file(output: Path, *, name: str = "output") -> Path:
    """Where predictions go: a .csv, .csv.gz or .parquet file (the suffix picks the format),
    through a symbolic link to its target. The file is written beside it and renamed into
    place, which would replace a link, or a device such as /dev/stdout, with a plain file.

    ``name`` is what a refusal calls the path: the keyword from Python, and the command line
    checks it first as ``--output`` (a Python caller was told of a flag it never passed)."""
    if not output.name.lower().endswith(PREDICTION_SUFFIXES):
        raise ToolkitError(
            f"{name} {output}: the suffix picks the format, and must be .csv or .parquet"
            f" (or .csv.gz, written gzip-compressed; got '{output.suffix or 'none'}')"
        )
    if output.is_symlink():
        output = output.resolve()
    if not output.parent.is_dir():
        # Checked before any row is read: from Python it was a FileNotFoundError naming the
        # temporary file beside it, once every prediction had been made.
        state = "is not a directory" if output.parent.exists() else "does not exist"
        raise ToolkitError(f"{name} directory {state}: {output.parent}")
    if output.exists() and not output.is_file():
        raise ToolkitError(f"{name} {output} exists and is not a regular file")
    return output


def _check_not_input(data: str | Path, output: Path, *, name: str = "output") -> None:
    """A ToolkitError when ``output`` is one of the input's files: the predictions would
    replace the rows they were made from once written."""
    from toolkit.data.streaming.files import list_shards

    try:
        inputs = list_shards(str(data))
    except DataError:
        return  # not CSV/Parquet files (an image folder): the reader says what is wrong
    if output.exists() and any(output.samefile(path) for path in inputs):
        where = f"the input file {data}" if len(inputs) == 1 else f"a file of the input {data}"
        raise ToolkitError(
            f"{name} {output} is {where}: writing the predictions would replace its rows; "
            "name another output file"
        )
