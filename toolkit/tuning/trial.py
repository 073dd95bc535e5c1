"""One trial: the base config with the trial's values, trained as normal runs and scored.

A trial is one ``train()`` run per execution and cross-validation fold, each in its own run
directory under ``<sweep>/trials/``. Its score is the BEST value of the objective over the
epochs of each run (from history.csv), averaged over runs. Any failure, including a NaN
loss, makes a record with status ``failed``; only Ctrl-C stops the sweep.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from toolkit.config.loading import validate_config
from toolkit.config.schema import ExperimentConfig, ModelConfig
from toolkit.data.prepared import PreparedData, prepare_data
from toolkit.data.preprocessing import refit_spec
from toolkit.errors import ConfigError, DataError, RunInterrupted, ToolkitError
from toolkit.runs import utc_now
from toolkit.text import counted
from toolkit.training.train import RunResult, train
from toolkit.tuning.board import write_session
from toolkit.tuning.memory import released_afterwards
from toolkit.tuning.records import SweepRecords, finite
from toolkit.tuning.space import SearchSpace

if TYPE_CHECKING:
    from toolkit.evaluation.baselines import BaselineFit


# scikit-learn's own warning for it ("The least populated class in y has only 2 members, which
# is less than n_splits=5.") came out as a two-line Python warning with a source path; the
# toolkit's line above says it with the class names. Filtered once and left in place, like
# the baselines' ConvergenceWarning: a filter cannot be scoped to one call from a thread.
warnings.filterwarnings(
    "ignore", message="The least populated class in y has only", category=UserWarning
)


def _warn_of_classes_below_the_folds(
    labels: np.ndarray, classes: list[str], k: int, target: str
) -> None:
    """One ``toolkit: warning`` line when a class of the ``target`` column has fewer training
    rows than ``tuner.cv_folds``: stratified folds cannot all hold it, so some folds'
    validation rows lack it (and their metrics say nothing about it). The sweep still runs."""
    counts = np.bincount(labels.astype(np.int64), minlength=len(classes))
    few = [(str(classes[i]), int(n)) for i, n in enumerate(counts) if n < k]
    if few:
        listed = ", ".join(f"'{name}' ({counted(n, 'row')})" for name, n in few)
        print(
            f"toolkit: warning: tuner.cv_folds {k}: {'class' if len(few) == 1 else 'classes'} "
            f"{listed} of target column '{target}' in the training split cannot be in every "
            "fold's validation rows; "
            "fewer folds, or more rows of them, fix it",
            file=sys.stderr,
            flush=True,
        )


class _TrialFailed(Exception):
    """A run of the trial did not give a usable objective."""


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


class TrialRunner:
    """Turns a trial's hyperparameter values into training runs and a trial record.

    Data is prepared once and reused by every trial (again only when a trial changes the
    data section or the seed), with the cross-validation folds cut from the training split;
    the baselines are fitted once per fold and referred to by every trial.
    """

    def __init__(
        self,
        *,
        space: SearchSpace,
        base_data: dict[str, Any],
        records: SweepRecords,
        verbose: int = 0,
        worker: str = "main",
    ) -> None:
        self.space = space
        self.tuner = space.tuner
        self.base_data = base_data
        self.records = records
        self.verbose = verbose
        self.worker = worker
        self._data_key: str | None = None
        self._folds: list[PreparedData] = []
        self._baselines: dict[tuple[int, str], BaselineFit] = {}
        # Each run's plots are drawn in a thread while the next trial trains.
        self._pending_plots: list = []

    # ------------------------------------------------------------------ data

    def _data(self, config: ExperimentConfig) -> list[PreparedData]:
        key = self._key(config)
        if key != self._data_key:
            self._folds, self._data_key = [], None  # free the old arrays before loading new ones
            self._baselines = {}
            prepared = prepare_data(config)
            folds = [prepared] if self.tuner.cv_folds is None else self._cut_folds(config, prepared)
            self._folds, self._data_key = folds, key
        return self._folds

    @staticmethod
    def _key(config: ExperimentConfig) -> str:
        return json.dumps(
            {
                "data": config.data.model_dump(mode="json"),
                "seed": config.seed,
                "task": config.model.task,
            },
            sort_keys=True,
        )

    def _baselines_for(self, config: ExperimentConfig, index: int) -> BaselineFit | None:
        """The baselines of fold ``index``, fitted by the first trial that needs them and
        referred to by every later one (they depend on the data, not on the trial)."""
        if not config.evaluation.baselines:
            return None
        key = (index, json.dumps(config.evaluation.baselines.model_dump(mode="json")))
        if key not in self._baselines:
            from toolkit.evaluation.baselines import BaselineFit

            # Fitted in a thread while the first trial trains: train() starts it then.
            self._baselines[key] = BaselineFit(config, self._folds[index], start=False)
        return self._baselines[key]

    def _cut_folds(self, config: ExperimentConfig, prepared: PreparedData) -> list[PreparedData]:
        """k folds of the training split: in memory, (stratified) k-fold on its rows; streamed,
        by hashing each row into one of k buckets (``toolkit.data.streaming.folds``)."""
        k = self.tuner.cv_folds
        if prepared.streamed:
            from toolkit.data.streaming.folds import streamed_folds

            return streamed_folds(config, prepared, k)
        from sklearn.model_selection import KFold, StratifiedKFold

        from toolkit.data.in_memory import InMemorySplit

        train = prepared.train
        assert isinstance(train, InMemorySplit)
        stratify = (
            config.data.stratify
            if config.data.stratify is not None
            else config.model.task != "regression"
        )
        splitter = (StratifiedKFold if stratify else KFold)(
            n_splits=k, shuffle=True, random_state=config.seed
        )
        labels = train.target[:, 0] if stratify else None
        if labels is not None and config.model.task != "regression":
            target = prepared.spec.target
            _warn_of_classes_below_the_folds(labels, target.classes, k, target.name)
        try:
            parts = list(splitter.split(np.zeros(train.rows), labels))
        except ValueError as error:
            raise DataError(
                f"tuner.cv_folds {k}: cannot cut the training split into folds: {error}"
            ) from None
        folds = []
        for train_rows, validation_rows in parts:
            fold_train = train.subset(train_rows)
            folds.append(
                PreparedData(
                    spec=refit_spec(
                        prepared.spec,
                        fold_train.features,
                        fold_train.target,
                        max_tokens=config.data.max_tokens,
                    ),
                    train=fold_train,
                    validation=train.subset(validation_rows),
                    test=None,
                    fingerprint=prepared.fingerprint,
                    source=prepared.source,
                )
            )
        return folds

    def _as_trials_read_data(self, config: ExperimentConfig) -> ExperimentConfig:
        """``config`` with each searched ``data.*`` path at its first value: the data a trial
        reads. The base's own may be data no trial reads: images of mixed sizes with
        ``image_size: null`` and sizes in the search space stopped the sweep before its first
        trial, asking for the image_size that the search space sets."""
        first = {
            dim.name: dim.spec.probe_values()[0]
            for dim in self.space.dimensions
            if dim.path[0] == "data"
        }
        if not first:
            return config
        try:
            return validate_config(self.space.apply(self.base_data, first), {}, "search space")
        except ToolkitError:  # a value valid only with its when: parents set: the base's data
            return config

    def preflight(self, config: ExperimentConfig) -> None:
        """Load the data once and check every backbone's weights and class weight the search
        can pick against it. Batch sizes are not checked: a split smaller than the batch
        trains as one partial batch per epoch, as Keras trains any epoch's last batch."""
        config = self._as_trials_read_data(config)
        folds = self._data(config)
        if folds[0].spec.image is not None:
            self._check_backbone_weights(config, folds[0].spec.image.shape)
        self._check_class_weights(config, folds[0])

    def _check_class_weights(self, config: ExperimentConfig, data: PreparedData) -> None:
        """Every training.class_weight the search can pick names only classes of the target:
        a label that is not one failed each trial that drew it, after the others had trained
        (all of them, 'sweep failed: no trial completed', when the base config named it)."""
        from toolkit.config.schema import class_weight_setting
        from toolkit.training.class_weight import check_class_weight

        searched = next(
            (dim for dim in self.space.dimensions if dim.name == "training.class_weight"), None
        )
        if searched is None:
            check_class_weight(config, data.spec)
            return
        for choice in searched.spec.probe_values():
            training = config.training.model_copy(
                update={"class_weight": class_weight_setting(choice)}
            )
            try:
                check_class_weight(config.model_copy(update={"training": training}), data.spec)
            except ConfigError as error:
                reason = str(error).removeprefix("training.class_weight: ")
                raise ConfigError(f"{self.space.label(searched.name)}: {reason}") from None

    def _backbone_models(self, config: ExperimentConfig) -> list[ModelConfig]:
        """The base model and, for each choice of each searched path, the model a trial with
        that value would build. Each choice alone against the base: a ``when:`` or a
        combination may leave some unused, but a check too many only asks for weights the
        search space names; choices the schema refuses alone are left to their trials."""
        models = [config.model]
        for dim in self.space.dimensions:
            for value in dim.spec.choice or []:
                data = self.space.apply(self.base_data, {dim.name: value})
                try:
                    models.append(validate_config(data, {}, "search space").model)
                except ToolkitError:
                    continue
        return models

    def _check_backbone_weights(self, config: ExperimentConfig, image_shape: list[int]) -> None:
        """Fetch (or find in Keras' cache) the weights of every backbone a trial may build, as
        train does before its run exists: offline, each trial failed alone (each printing
        "Downloading data from ...") and the sweep ended failed, its directory left."""
        import keras

        from toolkit.models.bodies.backbone import ensure_weights

        # Keras' "Downloading data from ..." only with --verbose, as train shows it: without,
        # a refusal is the one line of the error.
        shown = keras.config.is_interactive_logging_enabled()
        if not self.verbose:
            keras.config.disable_interactive_logging()
        try:
            checked = set()
            for model in self._backbone_models(config):
                if model.backbone is None:
                    continue
                key = json.dumps(model.backbone.model_dump(mode="json"), sort_keys=True)
                if key not in checked:
                    checked.add(key)
                    ensure_weights(model, image_shape)
        finally:
            if shown:
                keras.config.enable_interactive_logging()

    def finish_plots(self) -> None:
        """Wait for what the runs trained so far left to finish while the next trained (plots,
        learning curves, baselines still fitting); one that failed is logged (its trial's
        result stands)."""
        while self._pending_plots:
            try:
                self._pending_plots.pop(0).join()
            except Exception as error:
                print(
                    f"sweep: a trial's plots or baselines failed: {_one_line(error)}",
                    file=sys.stderr,
                )

    # ------------------------------------------------------------------ trials

    def run(
        self, trial_id: str, values: dict[str, Any], *, epochs: int | None = None
    ) -> dict[str, Any]:
        """Train and score one trial; returns its record (also written to the sweep)."""
        overrides = self.space.decode(values)
        shown = dict(overrides)
        if epochs is not None:
            shown["training.epochs"] = int(epochs)
        previous = self.records.read_record(trial_id)
        if previous and previous["status"] == "completed" and previous["hyperparameters"] == shown:
            # Finished just before a kill, but Keras Tuner had not saved that yet.
            return previous
        self.records.retire_abandoned_runs(trial_id)  # an attempt killed before this one
        started = time.monotonic()
        record: dict[str, Any] = {
            "trial_id": trial_id,
            "status": "failed",
            "hyperparameters": shown,
            "objective": None,
            "objective_std": None,
            "best_epoch": None,
            "duration_s": None,
            "best_run_dir": None,
            "runs": [],
            "reason": None,
            "config": None,
            "worker": self.worker,
            "started": utc_now(),
        }
        interrupted = False
        try:
            data = self.space.apply(self.base_data, overrides, epochs=epochs)
            config = validate_config(data, {}, f"trial {trial_id}")
            record["config"] = {
                k: v for k, v in config.model_dump(mode="json").items() if k != "tuner"
            }
            self._train_all(trial_id, config, record)
        except (RunInterrupted, KeyboardInterrupt):
            interrupted = True
            raise KeyboardInterrupt from None
        except _TrialFailed as error:
            record["reason"] = str(error)
        except Exception as error:
            record["reason"] = _one_line(error)
            record["traceback"] = traceback.format_exc(limit=4)
        finally:
            record["duration_s"] = round(time.monotonic() - started, 2)
            record["ended"] = utc_now()
            if not interrupted:
                self.records.write_record(record)
        if record["status"] == "completed":
            write_session(
                self.records.tensorboard / f"trial-{trial_id}",
                trial_id=trial_id,
                values=shown,
                objective=self.tuner.objective,
                best=record["objective"],
            )
        return record

    def _train_all(self, trial_id: str, config: ExperimentConfig, record: dict[str, Any]) -> None:
        folds = self._data(config)
        executions = self.tuner.executions_per_trial
        for execution in range(executions):
            # Executions differ only in their initial weights: the seed moves, the data does not.
            run_config = (
                config
                if execution == 0
                else config.model_copy(update={"seed": config.seed + execution})
            )
            for index, fold in enumerate(folds):
                prefix = f"trial-{trial_id}-"
                if executions > 1:
                    prefix += f"e{execution}-"
                if self.tuner.cv_folds is not None:
                    prefix += f"f{index}-"
                with released_afterwards():
                    result = train(
                        run_config,
                        output_dir=self.records.trials_dir,
                        data=fold,
                        verbose=self.verbose,
                        run_prefix=prefix,
                        baselines=self._baselines_for(run_config, index),
                        deferred_plots=self._pending_plots,
                    )
                run = self._score(result)
                record["runs"].append(run)
                if run["status"] != "completed":
                    raise _TrialFailed(run["reason"])
        scores = np.array([run["objective"] for run in record["runs"]], dtype=float)
        best_index = int(
            np.argmin(scores) if self.tuner.resolved_direction == "min" else np.argmax(scores)
        )
        best_run = record["runs"][best_index]
        record.update(
            status="completed",
            objective=float(scores.mean()),
            objective_std=float(scores.std()) if len(scores) > 1 else None,
            best_epoch=best_run["best_epoch"],
            best_run_dir=best_run["run_dir"],
        )

    def _score(self, result: RunResult) -> dict[str, Any]:
        """The best objective over the run's epochs, from its history.csv."""
        run = {
            "run_dir": str(result.run_dir.relative_to(self.records.path)),
            "status": "failed",
            "objective": None,
            "best_epoch": None,
            "reason": None,
        }
        name = self.tuner.objective
        history_path = result.run_dir / "history.csv"
        if result.status != "completed":
            run["reason"] = result.reason or f"run ended with status {result.status}"
            return run
        if name.startswith("validation."):
            return self._score_evaluated(result, run)
        if not history_path.exists():
            run["reason"] = "the run wrote no history.csv"
            return run
        history = pd.read_csv(history_path)
        if name not in history:
            run["reason"] = f"objective {name} was not logged"
            return run
        column = history[name].to_numpy(dtype=float)
        usable = np.where(np.isfinite(column))[0]
        if not len(usable):
            run["reason"] = f"{name} was never finite"
            return run
        pick = (
            usable[np.argmin(column[usable])]
            if self.tuner.resolved_direction == "min"
            else usable[np.argmax(column[usable])]
        )
        # history.csv counts epochs from 1, as everything a user reads does.
        epoch = int(history["epoch"].iloc[pick]) if "epoch" in history else int(pick) + 1
        value = float(column[pick])
        run.update(
            status="completed" if finite(value) else "failed", objective=value, best_epoch=epoch
        )
        return run

    def _score_evaluated(self, result: RunResult, run: dict[str, Any]) -> dict[str, Any]:
        """``validation.<metric>`` from the run's metrics.json: the final model's score (the
        best epoch's weights when early stopping restores them), after MC sampling."""
        name = self.tuner.objective
        value = result.metrics.get("validation", {}).get(name.removeprefix("validation."))
        if value is None or not finite(float(value)):
            run["reason"] = f"objective {name} is missing or not finite in metrics.json"
            return run
        record = json.loads((result.run_dir / "run.json").read_text())
        run.update(status="completed", objective=float(value), best_epoch=record.get("best_epoch"))
        return run
