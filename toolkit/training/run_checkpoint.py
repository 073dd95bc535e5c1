"""Best and last checkpoints of a run, written so that a killed run can resume exactly."""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import json
import logging
import math
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np

from toolkit.errors import ToolkitError
from toolkit.runs import atomic_write, atomic_write_json, atomic_write_text, disk_full_message
from toolkit.training.member_selection import MemberSelection


def save_weights_file(model: keras.Model, path: Path) -> None:
    """``model.save_weights`` into ``path`` through a temporary file beside it (a kill or a
    failure mid-write leaves the previous file whole, and no half-written one). A failure
    names ``path``, not the temporary file h5py names in its text; and the HDF5 file Keras
    left open is released first (``_release_h5_file``)."""

    def write(temporary: Path) -> None:
        try:
            model.save_weights(temporary)
        except BaseException:
            _release_h5_file(temporary)
            raise

    try:
        atomic_write(path, write)
    except Exception as error:
        if isinstance(error, OSError) and str(error.filename) == str(path):
            raise  # atomic_write named the target already
        if disk_full_message(error) is None:
            raise
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from error


def _release_h5_file(path: Path) -> None:
    """Close the HDF5 file at ``path`` that a failed ``save_weights`` left open.

    Keras closes its H5IOStore only when the write succeeds. On a full disk the file
    stayed open, referenced from the traceback: when that was freed, h5py's objects failed
    to close ("Exception ignored in ObjectID.__dealloc__") and the HDF5 library crashed the
    interpreter at exit (SIGSEGV, -11) as it tried to flush the file once more. The file is
    a temporary one about to be deleted, so it is first truncated: that returns its space,
    which HDF5's closing flush needs.
    """
    import h5py

    target = os.fsencode(os.path.abspath(path))
    for file_id in h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE):
        try:
            if os.fsencode(os.path.abspath(os.fsdecode(file_id.name))) != target:
                continue
            with contextlib.suppress(OSError, ValueError):
                os.ftruncate(file_id.get_vfd_handle(), 0)
            h5py.File(file_id).close()
        except Exception:  # nothing more to do: the write's own error is raised
            pass


def _state_variables(model: keras.Model) -> dict[str, list]:
    """Everything a resumed run needs, in a stable order: the model's variables (weights,
    normalisation statistics and the seed generators that draw dropout masks and weight
    samples) and the optimizer's (moments, step counter, loss scale)."""
    optimizer = model.optimizer
    return {
        "model": list(model.variables),
        "optimizer": [] if optimizer is None else list(optimizer.variables),
    }


class _ReaderTracing(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning for ``_VariableReader``'s
    function: TensorFlow counts traces by code, and every run of a process (seeds of a
    ``--repeat`` group, sweep trials, phase two of fine-tuning) traces its own reader once,
    by design; its advice was printed from the third run on."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message and _READER in message)


_READER = "_VariableReader.__call__"
_reader_tracing = _ReaderTracing()


class _VariableReader:
    """The values of a model's variables as NumPy arrays, each a copy (training goes on).

    Read in one TensorFlow call (a function traced once per list of variables) rather than
    one eager read each: between two epochs of a small model, with the resume-point and
    TensorBoard writers holding the interpreter in turn, 26 reads took 8-12 ms, as long as
    a 30 ms epoch of ``configs/regression.yaml`` a third of the time. Tracing the function
    takes 50-80 ms, more than a few eager reads: the first ``EAGER_READS`` reads of a list are
    eager (a sweep's 3-epoch trials never trace one). Under a distribution strategy, each
    variable is always read on its own.
    """

    EAGER_READS = 8

    def __init__(self) -> None:
        self._key: tuple[int, ...] | None = None
        self._function = None
        self._reads = 0

    def __call__(self, variables: list) -> list[np.ndarray]:
        import tensorflow as tf

        key = tuple(id(variable) for variable in variables)
        if key != self._key:
            self._key, self._function, self._reads = key, None, 0
        self._reads += 1
        if self._reads == self.EAGER_READS + 1:
            values = [variable.value for variable in variables]
            distributed = any(isinstance(v, tf.distribute.DistributedValues) for v in values)
            logger = logging.getLogger("tensorflow")
            if _reader_tracing not in logger.filters:
                logger.addFilter(_reader_tracing)
            self._function = (
                None
                if distributed or not values
                else tf.function(lambda: [tf.identity(value) for value in values])
            )
        if self._function is None:
            return [np.asarray(variable).copy() for variable in variables]
        return [np.array(value) for value in self._function()]


def _improved(current: float, best: float | None, mode: str) -> bool:
    if current is None or not math.isfinite(current):
        return False
    if best is None:
        return True
    return current < best if mode == "min" else current > best


def resolve_mode(monitor: str, mode: str) -> str:
    if mode != "auto":
        return mode
    better_high = ("acc", "auc", "precision", "recall", "r2")
    return "max" if any(token in monitor for token in better_high) else "min"


class RunCheckpoint(keras.callbacks.Callback):
    """Keeps the weights of the epoch where the monitored value was best, saved as
    ``best.weights.h5``, and writes after every epoch a complete resume point: model and
    optimizer state, the epoch, the best value so far, the best weights and the
    early-stopping counters.

    A resume point is a fresh directory ``resume/epoch-NNNNNN`` published by atomically
    rewriting the ``resume/LATEST`` pointer, so a kill at any moment leaves the previous
    point intact. Place it after EarlyStopping in the callback list so it records the
    counters of the epoch just finished.

    With resume points, the best weights are copied when they improve and written with the
    next point (``resume/best-NNNNNN.npz``, in the background with it), and
    ``best.weights.h5`` once, when training ends or stops (Ctrl-C, SIGTERM, a failure:
    ``save_best_weights``): Keras' HDF5 writer at every improvement took 20-40 ms an epoch on
    the main thread, as long as an epoch of ``configs/regression.yaml``. Without resume
    points, ``best.weights.h5`` is written at every improvement, the only record of them.
    """

    def __init__(
        self,
        directory: Path,
        *,
        monitor: str = "val_loss",
        mode: str = "auto",
        save_best: bool = True,
        save_last: bool = True,
        early_stopping: keras.callbacks.EarlyStopping | None = None,
        member_selection: MemberSelection | None = None,
        initial_best: float | None = None,
        background: bool = False,
    ):
        super().__init__()
        self.directory = Path(directory)
        # background: resume points are captured at the end of the epoch (a copy of every
        # variable) and written by a thread while the next epochs train. One is written at a
        # time; a point captured meanwhile waits, and a newer one replaces it (a resume from
        # either is exact): epochs shorter than a write (30 ms ones of regression.yaml, and
        # each write flushes to disk) waited for the writer. Training ends only once the
        # last point is published.
        self.background = background
        self._writer: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: concurrent.futures.Future | None = None
        self._queue_lock = threading.Lock()
        self._queued: tuple | None = None  # the newest point not yet being written
        self._draining = False  # whether the writer is writing points
        self._write_error: BaseException | None = None  # the writer's, raised on this thread
        self.monitor = monitor
        self.mode = resolve_mode(monitor, mode)
        self.save_best = save_best
        self.save_last = save_last
        self.early_stopping = early_stopping
        self.member_selection = member_selection
        self.best = initial_best
        self.best_epoch: int | None = None
        # The best epoch's weights (``model.weights`` order), copied when they improve;
        # ``_best_version`` counts improvements, and what was saved where is by version.
        self._best_weights: list[np.ndarray] | None = None
        self._best_version = 0
        self._best_in_file = 0  # the version best.weights.h5 holds
        self._best_written: str | None = None  # the resume points' best file (writer's)
        self._read_state = _VariableReader()
        self._read_weights = _VariableReader()
        # Recorded in every resume point from now on (e.g. where fine-tuning's phase 2 began).
        self.extra_state: dict[str, Any] = {}

    @property
    def best_path(self) -> Path:
        return self.directory / "best.weights.h5"

    @property
    def resume_root(self) -> Path:
        return self.directory / "resume"

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        current = logs.get(self.monitor)
        if self.save_best and _improved(current, self.best, self.mode):
            self.best = float(current)
            self.best_epoch = epoch
            self._best_weights = self._read_weights(self.model.weights)
            self._best_version += 1
            if not self.save_last:
                self.save_best_weights()
        if self.save_last:
            self._save_resume_point(epoch + 1)

    def save_best_weights(self) -> None:
        """Write ``best.weights.h5`` from the best weights kept, if it does not hold them
        yet: the model takes them for the write and gets its own back."""
        if self._best_weights is None or self._best_in_file == self._best_version:
            return
        current = [np.asarray(weight).copy() for weight in self.model.weights]
        self.model.set_weights(self._best_weights)
        try:
            self._save_best()
        finally:
            self.model.set_weights(current)
        self._best_in_file = self._best_version

    def _save_best(self) -> None:
        """Write ``best.weights.h5`` through a temporary file beside it (a kill mid-write
        leaves the previous best whole). A failure names ``best.weights.h5``: h5py names the
        temporary file in its text, and a full disk read "cannot write
        .../.best.tmp.weights.h5", a file the user never sees."""
        save_weights_file(self.model, self.best_path)

    def on_train_end(self, logs=None) -> None:
        self.wait()
        self.save_best_weights()

    @contextlib.contextmanager
    def best_weights_saved_on_stop(self) -> Iterator[None]:
        """Within: training that stops by an exception (Ctrl-C, SIGTERM, an error) still
        leaves ``best.weights.h5`` holding the best weights so far, as a finished run does.
        A failure to write it then gives way to the exception that stopped training."""
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                self.wait()
            with contextlib.suppress(Exception):
                self.save_best_weights()
            raise

    def wait(self) -> None:
        """Block until the last resume point is published; re-raise what its writer raised."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()
        self._raise_write_error()
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None

    def _save_resume_point(self, completed_epochs: int) -> None:
        # NumPy rather than save_weights: the whole resume point of bnn.yaml took 8 ms instead
        # of 31 ms, paid every epoch; and it includes the seed generators' state, which
        # save_weights skips (a resumed run would draw different dropout masks without it).
        groups = _state_variables(self.model)
        names = [
            f"{group}/{index:05d}"
            for group, variables in groups.items()
            for index in range(len(variables))
        ]
        values = self._read_state([v for variables in groups.values() for v in variables])
        arrays = dict(zip(names, values, strict=True))
        state = self._state(completed_epochs, groups)
        best = None
        if self._best_weights is not None:
            # Written by the first point that refers to them (the file's name is their
            # version); replaced, never changed in place, when they improve: no copy needed.
            state["best_file"] = f"best-{self._best_version:06d}.npz"
            best = (state["best_file"], self._best_weights)
        if self.member_selection is not None:
            # Its arrays are replaced, never changed in place, when a member improves.
            state["member_selection"], member_arrays = self.member_selection.resume_state()
            arrays.update({f"members/{key}": value for key, value in member_arrays.items()})
        if not self.background:
            self._write_resume_point(completed_epochs, arrays, state, best)
            return
        self._raise_write_error()
        if self._writer is None:
            self._writer = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="resume-point"
            )
        with self._queue_lock:
            self._queued = (completed_epochs, arrays, state, best)
            if self._draining:
                return  # the writer takes it after the point it is writing
            self._draining = True
        self._pending = self._writer.submit(self._write_queued_points)

    def _write_queued_points(self) -> None:
        """The writer thread: the newest queued point, until none is left. A failure is
        kept for the training thread to raise (at the next epoch's end, or when training
        ends), and drops the points still queued."""
        try:
            while True:
                with self._queue_lock:
                    point, self._queued = self._queued, None
                    if point is None:
                        self._draining = False
                        return
                self._write_resume_point(*point)
        except BaseException as error:
            with self._queue_lock:
                self._queued, self._draining = None, False
                self._write_error = error

    def _raise_write_error(self) -> None:
        with self._queue_lock:
            error, self._write_error = self._write_error, None
        if error is not None:
            raise error

    def _state(self, completed_epochs: int, groups: dict[str, list]) -> dict[str, Any]:
        es = self.early_stopping
        state = {
            "completed_epochs": completed_epochs,
            "variables": {group: [v.path for v in vs] for group, vs in groups.items()},
            "best": self.best,
            "best_epoch": self.best_epoch,
            "extra": self.extra_state,
            "early_stopping": None
            if es is None
            else {
                "wait": int(es.wait),
                "best": None if es.best is None else float(es.best),
                "best_epoch": int(es.best_epoch),
                "stopped_epoch": int(es.stopped_epoch),
            },
        }
        return state

    def _write_resume_point(
        self,
        completed_epochs: int,
        arrays: dict[str, np.ndarray],
        state: dict[str, Any],
        best: tuple[str, list[np.ndarray]] | None = None,
    ) -> None:
        """Write the point's files (and the best weights, when they changed since the last
        point), then publish it by rewriting ``LATEST`` atomically."""
        self.resume_root.mkdir(parents=True, exist_ok=True)
        if best is not None and best[0] != self._best_written:
            name, weights = best
            atomic_write(self.resume_root / name, lambda path: np.savez(path, *weights))
            self._best_written = name
        point = self.resume_root / f"epoch-{completed_epochs:06d}"
        if point.exists():
            shutil.rmtree(point)
        point.mkdir()
        with open(point / "state.npz", "wb") as handle:
            np.savez(handle, **arrays)
        atomic_write_json(point / "state.json", state)
        atomic_write_text(self.resume_root / "LATEST", point.name)
        for old in self.resume_root.glob("epoch-*"):
            if old.name != point.name:
                shutil.rmtree(old, ignore_errors=True)
        for old in self.resume_root.glob("best-*.npz"):
            if old.name != state.get("best_file"):
                old.unlink(missing_ok=True)

    # ------------------------------------------------------------------ resume

    @staticmethod
    def latest_state(directory: Path) -> tuple[Path, dict[str, Any]] | None:
        """The newest complete resume point in ``directory``, if any."""
        pointer = Path(directory) / "resume" / "LATEST"
        if not pointer.exists():
            return None
        point = pointer.parent / pointer.read_text().strip()
        if not (point / "state.json").exists() or not (point / "state.npz").exists():
            return None
        return point, json.loads((point / "state.json").read_text())

    def restore(self, point: Path, state: dict[str, Any]) -> int:
        """Load model and optimizer state from a resume point; returns the epoch to start at."""
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        best_file = state.get("best_file")
        if best_file is not None:
            with np.load(self.resume_root / best_file) as saved:
                self._best_weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]
            # Named by version: the next points refer to the same file until they improve.
            self._best_version = int(best_file[len("best-") : -len(".npz")])
            self._best_written = best_file
            # A killed writer may have left a newer one the resumed run would name again.
            for other in self.resume_root.glob("best-*.npz"):
                if other.name != best_file:
                    other.unlink(missing_ok=True)
            # best.weights.h5 may be older (a killed run writes it only when it stops).
            self._best_in_file = 0
        if self.early_stopping is not None and state.get("early_stopping"):
            best_weights = None
            if self.early_stopping.restore_best_weights and (
                self.early_stopping.monitor == self.monitor
            ):
                if self._best_weights is not None:
                    best_weights = [np.array(weight) for weight in self._best_weights]
                elif self.best_path.exists():  # a resume point written before best files
                    self.model.load_weights(self.best_path)
                    best_weights = self.model.get_weights()
            self.early_stopping.resume_from(state["early_stopping"], best_weights)
        groups = _state_variables(self.model)
        saved_paths = state.get("variables", {})
        with np.load(point / "state.npz") as saved:
            for group, variables in groups.items():
                # Names, not full paths: an optimizer's path prefix depends on the scope it
                # was built in (a LossScaleOptimizer's, or none), not on what it holds.
                current = [v.path.rsplit("/", 1)[-1] for v in variables]
                recorded = [path.rsplit("/", 1)[-1] for path in saved_paths.get(group) or []]
                if current != recorded:
                    first = next(
                        (
                            i
                            for i, (a, b) in enumerate(zip(current, recorded, strict=False))
                            if a != b
                        ),
                        min(len(current), len(recorded)),
                    )
                    raise ToolkitError(
                        f"the resume point {point} was written by a different model or "
                        f"optimizer ({group} variable {first}: "
                        f"{recorded[first] if first < len(recorded) else 'none'} saved, "
                        f"{current[first] if first < len(current) else 'none'} now); "
                        "start a new run"
                    )
                for index, variable in enumerate(variables):
                    variable.assign(saved[f"{group}/{index:05d}"])
            if self.member_selection is not None and state.get("member_selection"):
                self.member_selection.resume_from(
                    state["member_selection"],
                    {
                        key.removeprefix("members/"): saved[key]
                        for key in saved.files
                        if key.startswith("members/")
                    },
                )
        return int(state["completed_epochs"])


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras' EarlyStopping whose counters and best weights survive a restart."""

    _resumed: dict[str, Any] | None = None
    _resumed_weights: list[np.ndarray] | None = None

    def resume_from(self, state: dict[str, Any], best_weights: list[np.ndarray] | None) -> None:
        self._resumed = state
        self._resumed_weights = best_weights

    def on_train_begin(self, logs=None) -> None:
        super().on_train_begin(logs)
        if self._resumed:
            self.wait = self._resumed["wait"]
            if self._resumed["best"] is not None:
                self.best = self._resumed["best"]
            self.best_epoch = self._resumed["best_epoch"]
            self.best_weights = self._resumed_weights
