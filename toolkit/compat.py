"""Every private Keras, Keras Tuner and TensorFlow internal the toolkit relies on, in one place.

Each piece says which upstream issue it works around and comes with a behaviour check (the
distributed-fit probe, ``check_keras_tuner``, ``check_gradient_registry``; tests/test_compat.py
runs them) that fails, naming the piece, when an upgrade moves what it relies on or fixes
what it works around. pyproject.toml caps tensorflow, keras and keras-tuner below their next
minor versions, so an untested release cannot break users silently.

1. Keras ``fit`` under ``tf.distribute`` strategies: a patch of Keras' TensorFlow trainer,
   applied only where a probe shows the installed Keras still needs it; and a deadline for a
   multi-worker cluster to register (TensorFlow's coordination-service configuration).
2. Keras Tuner: its private oracle client, oracle service and oracle bookkeeping, for bounded
   waits, requeueing a dead worker's trial, resuming a grid search, a failure limit that
   stops the search cleanly, and failed trials in the Bayesian oracle's Gaussian process.
3. TensorFlow's gradient registry: dropping the ``CustomGradient-N`` entries a finished run
   left behind, so a sweep's memory stays flat.

``import toolkit.compat`` is cheap: TensorFlow, Keras and Keras Tuner load inside functions.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any


class UpstreamChanged(RuntimeError):
    """A behaviour check found that an upstream library no longer behaves as relied on."""


# =========================================================================== 1. Keras + tf.distribute
#
# keras-team/keras#20585 (and tensorflow/tensorflow#72388): since TF 2.16 made Keras 3 its
# Keras, ``fit`` fails under MultiWorkerMirroredStrategy. In Keras 3.15.1 it breaks in three
# places of ``keras/src/backend/tensorflow/trainer.py``:
#
# 1. ``_maybe_symbolic_build`` mean-reduces a whole distributed batch only to learn its shapes.
#    Across workers: ``Attempt to convert a value (PerReplica:...) ... to a Tensor``; under
#    MirroredStrategy too as soon as a feature is a string (``AddN`` has no string kernel).
#    Patched: build from the first local replica's batch (any strategy).
# 2. ``reduce_per_replica`` averages the step's scalar logs with ``strategy.reduce("MEAN", v,
#    axis=0)``: ``Invalid reduction dimension 0 for input with 0 dimensions``. The single-worker
#    branch means the mean across replicas, which is ``axis=None``. Patched: multi-worker only.
# 3. ``steps_per_execution > 1`` runs steps in a ``tf.while_loop``/``tf.cond`` that fails under
#    any strategy with ``You must feed a value for placeholder tensor 'while/cond/Placeholder'``
#    (keras-team/keras#19246). Patched: one step per execution for models built under a
#    strategy (fit, evaluate and predict).
#
# Whether the installed Keras still needs this is not guessed from its version number: a probe
# trains a tiny model (a string feature, two steps per execution) under a real two-worker
# MultiWorkerMirroredStrategy on 127.0.0.1, unpatched. The probe runs in two child processes
# (a failed collective op leaves TensorFlow's collective runtime unusable, so it cannot run in
# the training process) once per Keras and TensorFlow version; the answer is cached.

_PATCHED = "_toolkit_distribution_patch"
PROBE_FAILED = 3  # a probe worker's exit code when fit raised
PROBE_TIMEOUT = 180.0


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of ``probe_distributed_fit``: ``works`` is None when it was inconclusive."""

    works: bool | None
    detail: str


def _versions() -> str:
    return f"keras {metadata.version('keras')}, tensorflow {metadata.version('tensorflow')}"


def _cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "keras-toolkit" / "compat.json"


def _read_cache() -> dict[str, Any]:
    try:
        cached = json.loads(_cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return cached if isinstance(cached, dict) else {}


def _write_cache(key: str, value: Any) -> None:
    """Best effort: an unwritable cache only means probing again next time."""
    path = _cache_path()
    entries = {**_read_cache(), key: value}
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(entries, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(temporary, path)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def probe_distributed_fit(*, patched: bool, timeout: float = PROBE_TIMEOUT) -> ProbeResult:
    """Train a tiny model under a two-worker MultiWorkerMirroredStrategy on 127.0.0.1.

    Two fresh processes form the cluster; ``patched`` applies the trainer patch in both first.
    ``works`` is True when both trained, False when ``fit`` raised, None when the probe itself
    did not run to an answer (a timeout, a crash, a taken port).
    """
    ports = ",".join(map(str, _free_ports(2)))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1"}
    env.pop("TOOLKIT_CPU_DEVICES", None)
    with tempfile.TemporaryDirectory(prefix="toolkit-probe-") as scratch:
        logs = [Path(scratch) / f"worker{index}.log" for index in range(2)]
        processes = []
        for index, log in enumerate(logs):
            command = [sys.executable, "-m", "toolkit.compat", "probe-worker", str(index), ports]
            with log.open("w") as output:
                processes.append(
                    subprocess.Popen(
                        command + (["--patched"] if patched else []),
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        env={**env, "TF_CONFIG": _probe_tf_config(index, ports)},
                    )
                )
        deadline = time.monotonic() + timeout
        try:
            for process in processes:
                process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return ProbeResult(None, f"the probe did not finish within {timeout:g} s")
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        codes = [process.returncode for process in processes]
        last_lines = [
            (log.read_text(errors="replace").strip().splitlines() or [""])[-1] for log in logs
        ]
    if codes == [0, 0]:
        return ProbeResult(True, "fit trained on two workers")
    if PROBE_FAILED in codes:
        return ProbeResult(False, last_lines[codes.index(PROBE_FAILED)])
    return ProbeResult(None, f"probe workers exited {codes}: {' | '.join(last_lines)}")


def _probe_tf_config(index: int, ports: str) -> str:
    workers = [f"127.0.0.1:{port}" for port in ports.split(",")]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def _probe_worker(patched: bool) -> int:
    """One worker of the probe (``TF_CONFIG`` already set): exit 0, or ``PROBE_FAILED``."""
    import keras
    import numpy as np
    import tensorflow as tf

    if patched:
        apply_distribution_patch()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    features = {
        "number": np.arange(16, dtype="float32")[:, None],
        "word": np.array([["a"], ["b"]] * 8),
    }
    target = np.arange(16, dtype="float32")[:, None]
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    data = tf.data.Dataset.from_tensor_slices((features, target)).batch(4).with_options(options)
    with strategy.scope():
        number = keras.Input((1,), name="number")
        word = keras.Input((1,), name="word", dtype="string")
        encoded = keras.layers.StringLookup(vocabulary=["a", "b"], output_mode="one_hot")(word)
        joined = keras.layers.Concatenate()([number, keras.layers.Reshape((3,))(encoded)])
        model = keras.Model({"number": number, "word": word}, keras.layers.Dense(1)(joined))
        model.compile(optimizer="sgd", loss="mse", steps_per_execution=2)
    try:
        model.fit(data, epochs=2, verbose=0)
    except Exception as error:  # the answer of the probe, printed as its last line
        first = (str(error).strip().splitlines() or [""])[0][:300]
        print(f"fit failed: {type(error).__name__}: {first}", flush=True)
        return PROBE_FAILED
    print("fit trained", flush=True)
    return 0


def _probe_cache_key() -> str:
    return f"distributed fit works unpatched ({_versions()})"


def keras_needs_distribution_patch() -> bool:
    """Whether Keras' ``fit`` fails under tf.distribute without the patch (probed, cached).

    An inconclusive probe counts as "needs it" and is not cached: the patch is what the tests
    ran with on the pinned versions.
    """
    key = _probe_cache_key()
    cached = _read_cache().get(key)
    if isinstance(cached, bool):
        return not cached
    result = probe_distributed_fit(patched=False)
    if result.works is None:
        return True
    _write_cache(key, result.works)
    return not result.works


def apply_distribution_patch() -> bool:
    """Patch Keras' TensorFlow trainer as described above; True once patched (idempotent)."""
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer, _PATCHED, False):
        return True

    original_build = trainer.TensorFlowTrainer._maybe_symbolic_build

    @functools.wraps(original_build)
    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is None or strategy is None:
            return original_build(self, iterator=iterator, data_batch=data_batch)
        batch = None
        for _, _, batches in iterator:
            batch = next(batches)
            break
        local = tf.nest.map_structure(
            lambda value: (
                strategy.experimental_local_results(value)[0]
                if isinstance(value, tf.distribute.DistributedValues)
                else value
            ),
            batch,
        )
        with strategy.scope():
            self._symbolic_build(data_batch=local)

    original_reduce = trainer.reduce_per_replica

    @functools.wraps(original_reduce)
    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and _is_multi_worker(strategy):
            return tf.nest.map_structure(
                lambda value: strategy.reduce("MEAN", value, axis=None), values
            )
        return original_reduce(values, strategy, reduction)

    def one_step_per_execution(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            if self.steps_per_execution != 1 and self._distribute_strategy is not None:
                self.steps_per_execution = 1
                self.train_function = self.test_function = self.predict_function = None
            return method(self, *args, **kwargs)

        return wrapper

    for name in ("fit", "evaluate", "predict"):
        method = getattr(trainer.TensorFlowTrainer, name)
        setattr(trainer.TensorFlowTrainer, name, one_step_per_execution(method))
    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer.reduce_per_replica = reduce_per_replica  # looked up by name when fit traces
    setattr(trainer, _PATCHED, True)
    return True


def distribution_patch_applied() -> bool:
    from keras.src.backend.tensorflow import trainer

    return bool(getattr(trainer, _PATCHED, False))


def _is_multi_worker(strategy) -> bool:
    import tensorflow as tf

    return (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and strategy.extended._in_multi_worker_mode()
    )


# ------------------------------------------------------------- 1b. the cluster's registration
#
# MultiWorkerMirroredStrategy() configures TensorFlow's coordination service with no deadline
# for the other tasks to register: a worker whose peer never starts waits in C++ forever
# (``CoordinationServiceAgent::WaitForAllTasks``), holding the GIL. The service has a bound,
# ``cluster_register_timeout_in_ms``, but it only applies to registering through a barrier
# (``cluster_register_with_barrier``, which ``configure_coordination_service`` does not take
# as an argument): with it the leader's registration fails with DeadlineExceededError naming
# the tasks that never came, and the others' fails after about twice the bound. The strategy
# keeps a coordination service configured before it is created, so this one is set up as the
# strategy would (same leader, same coordinated jobs) plus the bound. Behaviour check:
# tests/runtime/test_multi_worker.py (a peer whose port answers but that never registers).


def bound_cluster_registration(timeout_seconds: float) -> None:
    """Make MultiWorkerMirroredStrategy's cluster registration fail after ``timeout_seconds``.

    Call with ``TF_CONFIG`` set, before the strategy is created and before TensorFlow starts.
    """
    import tensorflow as tf
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context

    spec = tf.distribute.cluster_resolver.TFConfigClusterResolver().cluster_spec()
    jobs = [
        coordination_config_pb2.CoordinatedJob(name=job, num_tasks=spec.num_tasks(job))
        for job in ("chief", "worker")  # the jobs the strategy coordinates
        if job in spec.jobs
    ]
    context.context().configure_coordination_service(
        service_type="standalone",
        service_leader=multi_worker_util.coordination_leader(spec),
        coordinated_jobs=jobs,
        cluster_register_timeout_in_ms=max(1, int(timeout_seconds * 1000)),
    )
    service = context.context().coordination_service
    if not hasattr(service, "cluster_register_with_barrier"):
        raise UpstreamChanged(
            "TensorFlow's CoordinationServiceConfig has no cluster_register_with_barrier: "
            "the bounded wait for a multi-worker cluster needs reviewing in toolkit/compat.py"
        )
    service.cluster_register_with_barrier = True


# =========================================================================== 2. Keras Tuner
#
# - keras-team/keras-tuner#990 (PR #991): ``OracleClient`` waits up to an hour (``TIMEOUT``) on
#   every call, so a worker whose chief is gone hangs. The toolkit subclasses the private
#   ``keras_tuner.src.distribute.oracle_client.OracleClient`` and swaps its gRPC ``stub``.
# - keras-team/keras-tuner#915: the chief's ``start_server`` waits forever for a worker that
#   died with a trial in hand. The toolkit serves the private ``OracleServicer`` itself and
#   hands a dead worker's trial back through the oracle's private ``_retry_queue`` (what
#   Keras Tuner's own reload does with ongoing trials).
# - keras-team/keras-tuner#761: ``max_consecutive_failed_trials`` raises ``RuntimeError`` from
#   inside ``Oracle.end_trial``, which leaves the trial "ongoing" and a distributed chief
#   waiting. The toolkit disables that limit (``NO_FAILURE_LIMIT``) and counts failures in a
#   row from the oracle's ``end_order`` itself (``tuner.max_consecutive_failures``).
# - keras-team/keras-tuner#1055 (PR #1056 open): ``GridSearchOracle`` keeps the order of the
#   combinations it has tried (``_ordered_ids``) and the trials whose successor is still to be
#   found (``_populate_next``) only in memory. A reloaded grid sweep therefore stops at once, or
#   fails with a KeyError after its next trial. ``rebuild_grid_order`` restores both from the
#   reloaded trials.
# - ``keras_tuner.src.engine.conditions.Parent.to_proto`` prints its first value (a debugging
#   line left in Keras Tuner 1.4): a distributed sweep with a conditional field (``when:``)
#   printed "sgd" on its own line on every call to the chief. ``quiet_condition_protos``
#   gives that module a ``print`` that prints nothing.
# - ``keras_tuner.src.utils.save_json`` opens its file for writing (truncating it) and then
#   writes: the oracle's oracle.json, each trial's trial.json and the tuner's tuner0.json. A
#   sweep killed in between left an empty oracle.json, and ``tune --resume`` failed with a
#   JSONDecodeError inside ``Oracle.reload``. ``atomic_tuner_state`` writes each of those
#   files beside itself and renames it into place, so a kill leaves the previous version.

NO_FAILURE_LIMIT = 10**9


def oracle_client_class() -> type:
    """Keras Tuner's private worker-side oracle client."""
    from keras_tuner.src.distribute.oracle_client import OracleClient

    return OracleClient


def wrapped_oracle(client: Any) -> Any:
    """The local oracle an ``OracleClient`` wraps (Keras Tuner keeps it private)."""
    return client._oracle


def is_chief_oracle() -> bool:
    """True in the process Keras Tuner's environment variables make the chief."""
    from keras_tuner.src.distribute import utils

    return bool(utils.is_chief_oracle())


def oracle_service(oracle: Any, server: Any) -> Any:
    """Add Keras Tuner's private ``OracleServicer`` for ``oracle`` to a gRPC ``server``."""
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    servicer = OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    return servicer


def search_finished(servicer: Any, oracle: Any) -> bool:
    """The oracle has stopped the search and no trial or worker is left."""
    from keras_tuner.src.distribute.oracle_chief import exit_chief

    return bool(servicer.stop_triggered and exit_chief(oracle))


def bayesian_dependencies() -> None:
    """Give Keras Tuner's Bayesian oracle scikit-learn and SciPy's optimizers when its module
    was imported without them (``toolkit.startup.import_keras_tuner`` leaves them out for
    other searches); it reads them from its private module's globals. Nothing when they are
    there, or not installed (Keras Tuner then says so itself)."""
    from keras_tuner.src.tuners import bayesian

    if bayesian.sklearn is not None and bayesian.scipy is not None:
        return
    try:
        import scipy.optimize
        import sklearn.exceptions
        import sklearn.gaussian_process
    except ImportError:
        return
    bayesian.sklearn, bayesian.scipy = sklearn, scipy


def quiet_failed_trials() -> None:
    """Keras Tuner prints the traceback of every failed trial; the sweep records keep it."""
    from keras_tuner.src import config

    config.DEBUG = False


def quiet_condition_protos() -> None:
    """Keras Tuner's conditions module prints a condition's first value whenever it is sent
    to or from the chief; that module prints nothing else."""
    from keras_tuner.src.engine import conditions

    conditions.print = _print_nothing


def _print_nothing(*args: Any, **kwargs: Any) -> None:
    return None


def atomic_tuner_state() -> None:
    """Make Keras Tuner write its state files (oracle, trials, tuner) all at once: to a
    temporary file in the same directory, then renamed over the old one."""
    from keras_tuner.src import utils

    if getattr(utils.save_json, "atomic", False):
        return
    original = utils.save_json

    def save_json(path: str, obj: Any) -> str:
        if "://" in str(path):  # a remote file system (gs://): Keras Tuner's own write
            return original(path, obj)
        text = json.dumps(obj)
        target = Path(path)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, target)
        return text

    save_json.atomic = True
    utils.save_json = save_json


def _synchronized(function):
    """Keras Tuner's oracle lock around a function of the oracle."""

    @functools.wraps(function)
    def locked(oracle, *args, **kwargs):
        import keras_tuner

        return keras_tuner.synchronized(function)(oracle, *args, **kwargs)

    return locked


@_synchronized
def tuner_ids(oracle: Any) -> set[str]:
    """The workers (tuner ids) the oracle has handed trials to and not yet let go."""
    return set(oracle.tuner_ids)


@_synchronized
def requeue_trial_of(oracle: Any, tuner_id: str) -> str | None:
    """Forget a dead worker; its running trial goes back to the queue (as on a reload).

    Returns the requeued trial's id, or None when the worker held no trial.
    """
    oracle.tuner_ids.discard(tuner_id)
    trial = oracle.ongoing_trials.pop(tuner_id, None)
    if trial is None:
        return None
    oracle._retry_queue.append(trial.trial_id)
    oracle.save()
    return trial.trial_id


@_synchronized
def release_tuner(oracle: Any, tuner_id: str) -> None:
    """Forget a worker the oracle told to stop."""
    oracle.tuner_ids.discard(tuner_id)


@_synchronized
def consecutive_failures(oracle: Any) -> int:
    """How many trials failed in a row at the end of the oracle's end order."""
    from keras_tuner.engine.trial import TrialStatus

    count = 0
    for trial_id in reversed(oracle.end_order):
        if oracle.trials[trial_id].status != TrialStatus.FAILED:
            break
        count += 1
    return count


def rebuild_grid_order(oracle: Any) -> None:
    """Restore a reloaded GridSearchOracle's in-memory order of tried combinations.

    Every reloaded trial goes into the queue of trials whose next combination may be untried:
    the oracle skips those whose successor is already in the order, as it does for repeats.
    """
    from keras_tuner.src.tuners.gridsearch import LinkedList

    def compare(a: str, b: str) -> int:
        return oracle._compare(
            oracle.trials[a].hyperparameters.values, oracle.trials[b].hyperparameters.values
        )

    ordered = sorted(oracle.start_order, key=functools.cmp_to_key(compare))
    oracle._ordered_ids = LinkedList()
    for trial_id in ordered:
        oracle._ordered_ids.insert(trial_id)
    oracle._populate_next = list(ordered)


def with_failed_trials_scored_worst(oracle: Any, x: Any, y: Any) -> tuple[Any, Any]:
    """The Bayesian oracle's training set for its Gaussian process (``_vectorize_trials``:
    ``x`` the completed trials' values embedded in [0, 1], ``y`` their scores, minimised) with
    every failed trial added at the worst completed score. Keras Tuner fits only completed
    trials, so the point of a trial that failed stayed as promising as before and was proposed
    again (to L-BFGS's last digits) until the failure limit stopped the sweep."""
    import numpy as np
    from keras_tuner.engine.trial import TrialStatus

    failed = [trial for trial in oracle.trials.values() if trial.status == TrialStatus.FAILED]
    scores = np.asarray(y, dtype=float)
    completed = scores[np.isfinite(scores)]
    if not failed or completed.size == 0:
        return x, y
    space = oracle._nonfixed_space()
    vectors = np.array(
        [
            [
                hp.value_to_prob(
                    trial.hyperparameters.values[hp.name]
                    if trial.hyperparameters.is_active(hp)
                    and hp.name in trial.hyperparameters.values
                    else hp.default
                )
                for hp in space
            ]
            for trial in failed
        ]
    )
    worst = np.full(len(failed), float(completed.max()))
    return (
        np.concatenate([np.asarray(x, dtype=float).reshape(-1, len(space)), vectors]),
        np.concatenate([scores, worst]),
    )


def check_keras_tuner() -> None:
    """Keras Tuner's private pieces are where the toolkit reaches for them and do what it uses.

    A real RandomSearchOracle hands a trial to worker ``a``; ``requeue_trial_of`` gives the
    same trial to worker ``b``; failures in a row are counted; a reloaded grid search goes on
    with its next combination; an oracle's state file is replaced, not rewritten; the service,
    the client and the chief test exist with the attributes the toolkit drives.
    """
    from concurrent import futures

    import grpc
    import keras_tuner
    from keras_tuner.engine.trial import TrialStatus

    def fail(what: str) -> UpstreamChanged:
        return UpstreamChanged(f"keras-tuner {metadata.version('keras-tuner')}: {what}")

    from keras_tuner.src.tuners import bayesian

    if not all(hasattr(bayesian, name) for name in ("sklearn", "scipy")):
        raise fail("the Bayesian oracle no longer reads sklearn and scipy from its module")
    hp = keras_tuner.HyperParameters()
    hp.Int("units", 1, 64)
    with tempfile.TemporaryDirectory(prefix="toolkit-check-") as directory:
        oracle = keras_tuner.oracles.RandomSearchOracle(
            objective="loss",
            max_trials=5,
            seed=1,
            hyperparameters=hp,
            max_consecutive_failed_trials=NO_FAILURE_LIMIT,
        )
        oracle.verbose = 0
        oracle._set_project_dir(directory, "check")
        first = oracle.create_trial("a")
        if tuner_ids(oracle) != {"a"} or oracle.ongoing_trials.get("a") is not first:
            raise fail("create_trial no longer records the worker in tuner_ids/ongoing_trials")
        if requeue_trial_of(oracle, "a") != first.trial_id or tuner_ids(oracle):
            raise fail("a worker's trial can no longer be taken back")
        retried = oracle.create_trial("b")
        if retried.trial_id != first.trial_id:
            raise fail("a trial put on _retry_queue is not handed to the next worker")
        for tuner_id in ("b", "c"):
            trial = retried if tuner_id == "b" else oracle.create_trial(tuner_id)
            trial.status = TrialStatus.FAILED
            oracle.end_trial(trial)
        if consecutive_failures(oracle) != 2:
            raise fail("end_order/trials no longer tell the failures in a row")
        bayesian_oracle = keras_tuner.oracles.BayesianOptimizationOracle(
            objective="loss", max_trials=5, seed=1, hyperparameters=hp, num_initial_points=1
        )
        bayesian_oracle.verbose = 0
        bayesian_oracle._set_project_dir(directory, "bayesian-check")
        for score in (1.0, None):
            trial = bayesian_oracle.create_trial("a")
            if score is None:
                trial.status = TrialStatus.FAILED
            else:
                bayesian_oracle.update_trial(trial.trial_id, {"loss": score})
                trial.status = TrialStatus.COMPLETED
            bayesian_oracle.end_trial(trial)
        try:
            x, y = with_failed_trials_scored_worst(
                bayesian_oracle, *bayesian_oracle._vectorize_trials()
            )
        except Exception as error:
            raise fail(f"the Bayesian oracle's _vectorize_trials changed: {error!r}") from error
        if len(x) != 2 or list(y) != [1.0, 1.0]:
            raise fail("_vectorize_trials no longer gives the completed trials' (x, y)")
        grid_hp = keras_tuner.HyperParameters()
        grid_hp.Choice("rate", [1, 2, 3])
        tried = []
        for _ in range(2):  # the second oracle reloads the first one's state
            grid = keras_tuner.oracles.GridSearchOracle(
                objective="loss", max_trials=3, hyperparameters=grid_hp
            )
            grid.verbose = 0
            grid._set_project_dir(directory, "grid")
            try:
                if tried:
                    grid.reload()
                    rebuild_grid_order(grid)
                trial = grid.create_trial("a")
                tried.append(trial.hyperparameters.values.get("rate"))
                grid.update_trial(trial.trial_id, {"loss": 1.0})
                trial.status = TrialStatus.COMPLETED
                grid.end_trial(trial)
                grid.save()
            except Exception as error:
                raise fail(f"a reloaded grid search fails: {error!r}") from error
        if tried != [1, 2]:
            raise fail(f"a reloaded grid search went on with {tried[1:]}, not [2]")
        atomic_tuner_state()
        state = Path(grid._get_oracle_fname())
        before = state.stat().st_ino
        grid.save()
        if state.stat().st_ino == before:
            raise fail("Oracle.save no longer writes through utils.save_json (not atomic)")
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
        try:
            servicer = oracle_service(oracle, server)
            if servicer.stop_triggered or search_finished(servicer, oracle):
                raise fail("OracleServicer.stop_triggered or exit_chief changed meaning")
        finally:
            server.stop(grace=None)

    from toolkit.environment import TUNER_ENV, restored_environment

    client_class = oracle_client_class()
    with restored_environment(TUNER_ENV):
        os.environ.update(
            KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT="1", KERASTUNER_TUNER_ID="w"
        )
        client = client_class(oracle)  # a gRPC channel connects lazily: nothing is contacted
        if wrapped_oracle(client) is not oracle or not hasattr(client.stub, "CreateTrial"):
            raise fail("OracleClient no longer keeps _oracle and a gRPC stub")
        if is_chief_oracle():
            raise fail("is_chief_oracle() says a worker id is the chief")


# =========================================================================== 3. TF gradient registry
#
# tensorflow/tensorflow#27492 and #97697: every ``fit`` traces functions that use
# ``tf.custom_gradient``, and in graph mode each such call registers a ``CustomGradient-N``
# entry in TensorFlow's global gradient registry (``ops._gradient_registry._registry``). The
# entry is never removed and keeps the traced graphs alive: about 5 MB per run, ~180 MB over a
# 30-trial sweep. ``keras.backend.clear_session()`` and ``gc.collect()`` do not free it.

CUSTOM_GRADIENT_PREFIX = "CustomGradient-"


def _gradient_registry() -> dict | None:
    """TensorFlow's registry of gradient functions, or None if its internals have moved."""
    try:
        from tensorflow.python.framework import ops

        registry = ops._gradient_registry._registry
    except (ImportError, AttributeError):
        return None
    return registry if isinstance(registry, dict) else None


def custom_gradient_names() -> set[str]:
    """The ``CustomGradient-N`` entries registered so far (empty if the registry moved)."""
    registry = _gradient_registry()
    if registry is None:
        return set()
    return {name for name in registry if name.startswith(CUSTOM_GRADIENT_PREFIX)}


def drop_custom_gradients(keep: set[str]) -> int:
    """Remove the ``CustomGradient-N`` entries not in ``keep``; how many were removed.

    Only for entries of graphs that are dead: a finished run's, after it returned.
    """
    registry = _gradient_registry()
    if registry is None:
        return 0
    stale = [name for name in custom_gradient_names() if name not in keep]
    for name in stale:
        del registry[name]
    return len(stale)


def check_gradient_registry() -> None:
    """Tracing a ``tf.custom_gradient`` function still leaves an entry, and dropping it works."""
    import tensorflow as tf

    if _gradient_registry() is None:
        raise UpstreamChanged(
            f"tensorflow {metadata.version('tensorflow')}: ops._gradient_registry._registry "
            "is gone; the sweep's memory clean-up does nothing"
        )

    @tf.custom_gradient
    def doubled(x):
        return 2.0 * x, lambda upstream: 2.0 * upstream

    @tf.function
    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = doubled(x)
        return tape.gradient(y, x)

    before = custom_gradient_names()
    value = float(gradient(tf.constant(3.0)))
    added = custom_gradient_names() - before
    if not added:
        raise UpstreamChanged(
            f"tensorflow {metadata.version('tensorflow')}: tracing a custom gradient no "
            "longer registers CustomGradient-N (tensorflow/tensorflow#97697 fixed?); the "
            "clean-up may be removed"
        )
    if value != 2.0 or drop_custom_gradients(before) != len(added):
        raise UpstreamChanged("dropping CustomGradient-N entries no longer works")
    if custom_gradient_names() != before:
        raise UpstreamChanged("CustomGradient-N entries survive being dropped")


# =========================================================================== probe entry point


def main(argv: list[str]) -> int:
    """``python -m toolkit.compat probe-worker INDEX PORTS [--patched]`` (the probe's workers)."""
    if len(argv) >= 3 and argv[0] == "probe-worker":
        return _probe_worker(patched="--patched" in argv[3:])
    print("usage: python -m toolkit.compat probe-worker INDEX PORTS [--patched]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
