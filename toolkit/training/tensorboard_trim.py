"""Trim a run's TensorBoard event files to the epochs its resume point covers."""

from __future__ import annotations

import os
from pathlib import Path


def trim_event_files(log_dir: Path, completed_epochs: int) -> None:
    """Drop summaries written after epoch ``completed_epochs`` from every event file.

    A run killed between TensorBoard writing epoch N and the resume point of epoch N being
    published (it is written in the background) has epoch N in its event files; the
    resumed run writes epoch N again, and TensorBoard draws both points at one step. As
    history.csv is trimmed to the resume point, so are the event files: every summary at a
    step above ``completed_epochs`` goes (steps are epochs counted from 1; step 0 holds the
    graph, written at the first start only, and HParams, written at the end). Each file is
    rewritten beside itself and renamed over it, so a kill during the trim leaves the old
    file or the new one.
    """
    if not log_dir.is_dir():
        return
    for path in sorted(log_dir.rglob("*tfevents*")):
        if path.is_file():
            _trim_file(path, completed_epochs)


def _trim_file(path: Path, completed_epochs: int) -> None:
    """Rewrite ``path`` without its summaries past ``completed_epochs``, if it has any."""
    import tensorflow as tf

    kept: list[bytes] = []
    dropped = 0
    try:
        for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
            event = tf.compat.v1.Event.FromString(record)
            # With no epoch completed the run starts over: its graph (step 0) is written again.
            if event.HasField("summary") and (
                event.step > completed_epochs or not completed_epochs
            ):
                dropped += 1
            else:
                kept.append(record)
    except tf.errors.DataLossError:
        # The last record of a killed writer can be cut short: keep the whole ones before it.
        dropped += 1
    if not dropped:
        return
    # Not named *tfevents*, so TensorBoard serving the run meanwhile does not read it.
    temporary = path.with_name(f".trim-{os.getpid()}")
    with tf.io.TFRecordWriter(str(temporary)) as writer:
        for record in kept:
            writer.write(record)
    os.replace(temporary, path)
