"""Cross-validation folds of a streamed training split, in one pass.

A training row's fold follows from the same hash that put it in the training split (the
training share of the hash interval cut into k parts), so folds are disjoint, stable and
never materialised. One pass over the training rows counts every fold and fits the
statistics of each fold's training part (k accumulators side by side).
"""

from __future__ import annotations

from dataclasses import replace

from toolkit.config.schema import ExperimentConfig
from toolkit.data.prepared import PreparedData
from toolkit.data.preprocessing import column_kinds
from toolkit.data.streaming.files import where
from toolkit.data.streaming.statistics import StatisticsAccumulator
from toolkit.data.streaming.streamed_split import StreamedSplit
from toolkit.errors import DataError


def streamed_folds(config: ExperimentConfig, prepared: PreparedData, k: int) -> list[PreparedData]:
    """k ``PreparedData``, each validating on one fold and training on the others."""
    train = prepared.train
    assert isinstance(train, StreamedSplit)
    selection = train.selection
    if selection.code is None:
        # Every row of the shard set is training data (held-out splits are their own files):
        # fold by the position hash over the whole interval.
        selection = replace(selection, validation=None, test=None)
    accumulators = None
    counts = [0] * k
    for piece, frame in train.raw_chunks():
        if accumulators is None:
            features, categorical = column_kinds(frame, config.data)
            accumulators = [
                StatisticsAccumulator(config.data, config.model.task, features, categorical)
                for _ in range(k)
            ]
        shard = train.shard_set.shards[piece.shard].name
        folds = selection.folds(frame, shard, k)
        piece_file = train.shard_set.shards[piece.shard]
        what = where(train.shard_set.label, piece_file.path, single=piece_file.single)
        for index in range(k):
            held = folds == index
            counts[index] += int(held.sum())
            accumulators[index].update(frame[~held], what=what)
    result = []
    for index in range(k):
        if not counts[index]:
            raise DataError(f"tuner.cv_folds {k}: fold {index} of the training split is empty")

        def part(index: int, held: bool, rows: int, spec) -> StreamedSplit:
            return StreamedSplit(
                name=f"fold {index}",
                shard_set=train.shard_set,
                pieces=train.pieces,
                selection=replace(selection, fold=(k, index, held)),
                spec=spec,
                rows=rows,
                shuffle_buffer=train.shuffle_buffer,
            )

        spec = accumulators[index].spec()
        spec = replace(spec, target=prepared.spec.target) if spec.target.classes else spec
        result.append(
            replace(
                prepared,
                spec=spec,
                train=part(index, False, train.rows - counts[index], spec),
                validation=part(index, True, counts[index], spec),
                test=None,
            )
        )
    return result
