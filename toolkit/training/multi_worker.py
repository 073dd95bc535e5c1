"""``runtime.distribute: multi_worker``: who the chief is, where each worker writes, the
strategy and its data sharding.

Keras 3's ``fit`` fails under ``tf.distribute`` strategies (keras-team/keras#20585); the
patch of Keras' trainer that fixes it lives in ``toolkit.compat`` with the other uses of
private upstream internals, and is applied only where a probe shows the installed Keras
still needs it (``apply_keras_workaround``). Nothing changes for models built without a
strategy.

Running: start the same ``toolkit train`` on every worker, each with its own ``TF_CONFIG``;
``training.batch_size`` is the global batch, split over all replicas. Every worker runs the
whole fit, checkpoints and saves included (they join collective ops), but only the chief
(task ``chief``, else worker 0) writes under ``--output-dir``; the others write their copy of
the run into a fresh temporary directory, printed as usual and kept for inspection.

Forming the cluster is bounded (``TOOLKIT_CLUSTER_WAIT`` seconds, ``cluster_wait``): first
each worker waits, in Python, for every other task's port to answer (Ctrl-C and SIGTERM stop
that wait at once), then TensorFlow registers the tasks under the same bound (a C++ wait that
no signal interrupts, short once every peer answers). A peer that never comes is a one-line
error naming it, before any run directory exists.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CLUSTER_WAIT_ENV = "TOOLKIT_CLUSTER_WAIT"
DEFAULT_CLUSTER_WAIT = 300.0  # seconds; workers of one job usually start within a minute
_PROBE_INTERVAL = 0.25  # seconds between rounds of connecting to the peers that have not answered
_strategy = None  # this process's strategy: collective ops are configured once per process


def apply_keras_workaround() -> bool:
    """Patch Keras' trainer for tf.distribute if the installed Keras needs it; True if patched.

    The answer comes from ``toolkit.compat``'s probe (a tiny two-worker fit on 127.0.0.1 in
    child processes, once per Keras and TensorFlow version, then cached). Idempotent.
    """
    from toolkit import compat

    if compat.distribution_patch_applied():
        return True
    if not compat.keras_needs_distribution_patch():
        return False
    return compat.apply_distribution_patch()


def task() -> dict[str, Any] | None:
    """This process's ``{"type", "index"}`` from ``TF_CONFIG``; None without one."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return None
    from toolkit.errors import ToolkitError

    try:
        entry = json.loads(raw).get("task") or {}
    except (ValueError, AttributeError):
        raise ToolkitError("TF_CONFIG is not a JSON object with 'cluster' and 'task'") from None
    return {"type": entry.get("type", "worker"), "index": int(entry.get("index", 0))}


def is_chief() -> bool:
    """The chief owns the run directory: task ``chief``, else worker 0 (or no ``TF_CONFIG``)."""
    current = task()
    if current is None:
        return True
    cluster = json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
    if "chief" in cluster:
        return current["type"] == "chief"
    return current["type"] == "worker" and current["index"] == 0


def worker_output_dir(output_dir: str | Path) -> Path:
    """``output_dir`` for the chief; a fresh ``$TMPDIR/toolkit-worker<N>-*`` for the others."""
    if is_chief():
        return Path(output_dir)
    current = task() or {"type": "worker", "index": 0}
    return Path(tempfile.mkdtemp(prefix=f"toolkit-{current['type']}{current['index']}-"))


def refuse_the_chiefs_run_on_a_worker(run_dir: Path) -> None:
    """A ToolkitError when this process is a non-chief task of ``TF_CONFIG`` and ``run_dir``
    is not one of its own copies (``$TMPDIR/toolkit-<task><N>-*/NAME/RUN``) but, say, the
    chief's run directory: each task resumes the run it wrote. Given the chief's directory
    (as the chief's "resume with" line names it), a worker found the chief holding its lock
    on a shared file system, or no such folder on its own machine, and the chief waited for
    it for TOOLKIT_CLUSTER_WAIT seconds before failing too."""
    current = task()
    if current is None or is_chief():
        return
    try:
        import yaml

        config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
        distributed = config["runtime"]["distribute"] == "multi_worker"
        name = str(config["name"])
    except (OSError, ValueError, TypeError, KeyError, yaml.YAMLError):
        return  # not a multi-worker run's config: the usual checks say what is wrong
    prefix = f"toolkit-{current['type']}{current['index']}-"
    if not distributed or run_dir.absolute().parent.parent.name.startswith(prefix):
        return
    from toolkit.errors import ToolkitError, resume_call

    copies = sorted(
        (path.parent for path in Path(tempfile.gettempdir()).glob(f"{prefix}*/{name}/*/run.json")),
        key=lambda path: path.name,  # run ids sort by start time
    )
    where = f"{tempfile.gettempdir()}/{prefix}*/{name}/"
    found = (
        f"the latest here is {copies[-1]}: {resume_call(copies[-1])}"
        if copies
        else f"there is none under {where} on this machine, so start every task anew"
    )
    raise ToolkitError(
        f"{run_dir} is not this task's copy of the multi-worker run ({current['type']} "
        f"{current['index']} of TF_CONFIG writes its own under {where}); resume that copy on "
        f"this task, with the same TF_CONFIG, while the chief resumes its run: {found}"
    )


def cluster_wait() -> float:
    """Seconds to wait for the cluster to form: ``TOOLKIT_CLUSTER_WAIT``, else 300."""
    from toolkit.errors import ToolkitError

    value = os.environ.get(CLUSTER_WAIT_ENV, "").strip()
    if not value:
        return DEFAULT_CLUSTER_WAIT
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise ToolkitError(
            f"{CLUSTER_WAIT_ENV} must be a positive number of seconds, got {value!r}"
        )
    return seconds


def cluster_tasks() -> dict[tuple[str, int], str]:
    """``{(type, index): "host:port"}`` of the tasks in ``TF_CONFIG`` that join the collectives
    (``chief`` and ``worker``, as MultiWorkerMirroredStrategy coordinates them)."""
    cluster = json.loads(os.environ["TF_CONFIG"]).get("cluster") or {}
    return {
        (job, index): str(address)
        for job in ("chief", "worker")
        for index, address in enumerate(cluster.get(job) or [])
    }


def _describe(tasks: list[tuple[str, int]], addresses: dict[tuple[str, int], str]) -> str:
    return ", ".join(f"{job} {index} ({addresses.get((job, index), '?')})" for job, index in tasks)


def _split_address(address: str) -> tuple[str, int]:
    from toolkit.errors import ToolkitError

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ToolkitError(f"TF_CONFIG's cluster address {address!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _give_up(missing: str, wait: float) -> Exception:
    from toolkit.errors import ToolkitError

    return ToolkitError(
        f"the multi-worker cluster did not form within {wait:g} s: {missing} never joined; "
        f"start the same toolkit train with its TF_CONFIG on every task of TF_CONFIG's cluster, "
        f"or wait longer with {CLUSTER_WAIT_ENV}=SECONDS"
    )


def wait_for_peers(wait: float) -> None:
    """Return once every other task's port accepts a TCP connection; a one-line error after
    ``wait`` seconds naming those that never did.

    Meanwhile this task's own port answers for it (a plain listener, closed before TensorFlow
    binds the port), so workers waiting for each other all see each other. This wait is in
    Python, where Ctrl-C and SIGTERM stop it; TensorFlow's own wait that follows cannot be
    interrupted, but is short once every peer is up.
    """
    from toolkit.errors import ToolkitError

    addresses = cluster_tasks()
    current = task()
    me = (current["type"], current["index"]) if current else None
    if me not in addresses:
        raise ToolkitError(
            f"TF_CONFIG's task {current} is not in its cluster's chief or worker list"
        )
    hosts_ports = {peer: _split_address(address) for peer, address in addresses.items()}
    port = hosts_ports[me][1]
    try:
        listener = (
            socket.create_server(("", port), family=socket.AF_INET6, dualstack_ipv6=True)
            if socket.has_dualstack_ipv6()
            else socket.create_server(("", port))
        )
    except OSError as error:
        raise ToolkitError(
            f"this task ({_describe([me], addresses)}) cannot listen on port {port}: "
            f"{error.strerror or error}; free the port or change it in TF_CONFIG"
        ) from None
    stop = threading.Event()
    answering = threading.Thread(target=_answer, args=(listener, stop), daemon=True)
    answering.start()
    try:
        pending = {peer for peer in addresses if peer != me}
        deadline = time.monotonic() + wait
        while pending:
            for peer in list(pending):
                if _answers(hosts_ports[peer]):
                    pending.discard(peer)
            if pending and time.monotonic() >= deadline:
                raise _give_up(_describe(sorted(pending), addresses), wait)
            if pending:
                time.sleep(_PROBE_INTERVAL)
    finally:
        stop.set()
        answering.join()
        listener.close()


def _answer(listener: socket.socket, stop: threading.Event) -> None:
    """Accept and close connections on ``listener`` until ``stop`` is set."""
    listener.settimeout(0.1)
    while not stop.is_set():
        try:
            connection, _ = listener.accept()
        except OSError:  # the timeout, or the listener closed
            continue
        connection.close()


def _answers(host_port: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(host_port, timeout=1.0):
            return True
    except OSError:
        return False


def _registration_error(error: Exception, wait: float) -> Exception:
    """TensorFlow's failed registration as a one-line error naming the tasks it missed."""
    addresses = cluster_tasks()
    current = task() or {"type": "worker", "index": 0}
    me = (current["type"], current["index"])
    text = str(error)
    # The leader's error lists the tasks that never registered; another task's names the
    # leader it could not register with.
    text = text.split("timed out task names:", 1)[-1]
    named = re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", text)
    missing = sorted({(job, int(index)) for job, index in named} - {me})
    who = _describe(missing, addresses) if missing else "a peer"
    first = (str(getattr(error, "message", "") or text).strip().splitlines() or [""])[0]
    return _give_up(f"{who} (TensorFlow: {type(error).__name__}: {first[:160]})", wait)


def lost_peer_message(error: BaseException) -> str | None:
    """One line for a collective op aborted because a peer stopped or died mid-training (its
    connection reset, or its heartbeats stopped: TensorFlow notices within about 10 s); None
    for any other error."""
    import tensorflow as tf

    network = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError)
    if not isinstance(error, network) or not os.environ.get("TF_CONFIG"):
        return None
    addresses = cluster_tasks()
    current = task() or {"type": "worker", "index": 0}
    text = str(error)
    named = re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", text)
    peers = sorted(
        {(job, int(index)) for job, index in named} - {(current["type"], current["index"])}
    )
    leader = ("chief", 0) if ("chief", 0) in addresses else ("worker", 0)
    if (
        not peers
        and "CoordinationService" in text
        and leader != (current["type"], current["index"])
    ):
        peers = [leader]  # the leader runs the coordination service: it is the one that went
    who = _describe(peers, addresses) if peers else "a peer"
    cause = re.search(r"aborted by: (.+)", text)
    detail = cause.group(1) if cause else (text.strip().splitlines() or [""])[0]
    return f"training stopped: {who} left the cluster ({type(error).__name__}: {detail[:200]})"


def make_multi_worker_strategy():
    """A MultiWorkerMirroredStrategy from ``TF_CONFIG``, with the Keras workaround applied,
    once the cluster has formed (at most ``cluster_wait()`` seconds of waiting per stage).

    Create it before any other TensorFlow operation runs: collective ops are configured when
    TensorFlow starts, once per process, so the strategy is made once and kept.
    """
    global _strategy
    if _strategy is not None:
        return _strategy
    import tensorflow as tf

    from toolkit import compat

    apply_keras_workaround()
    wait = cluster_wait()
    if task() is not None:  # without TF_CONFIG the strategy is local: no cluster to wait for
        wait_for_peers(wait)
        compat.bound_cluster_registration(wait)
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except tf.errors.OpError as error:
        raise _registration_error(error, wait) from None
    _restore_sigterm()
    _strategy = strategy
    return strategy


def _restore_sigterm() -> None:
    """Give SIGTERM back to Python's handler (the toolkit's: stop as Ctrl-C does).

    The coordination service installs a C-level SIGTERM handler (its preemption notifier) that
    only records the signal for TensorFlow's preemption checkpointing, which the toolkit does
    not use: left in place, ``kill`` of a training worker does nothing at all.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    handler = signal.getsignal(signal.SIGTERM)  # Python's record, untouched by TensorFlow
    if handler is not None:
        signal.signal(signal.SIGTERM, handler)


def shard_by_data(dataset):
    """``dataset`` with the DATA auto-shard policy: each worker keeps its slice of each batch.

    The data is in-memory tensors, so there are no files to shard (AUTO would fall back to
    DATA with a warning) and OFF would make every worker train on the same examples. Every
    worker builds the same seeded pipeline, so the slices partition each global batch.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
