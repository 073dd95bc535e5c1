"""``StreamedSplit``: a split read from CSV/Parquet shards each time it is used.

The training pipeline, per epoch ``e``::

    pieces (Parquet row groups, CSV files) in an order drawn from (seed, e)
      -> ``data.shuffle_buffer / 65,536`` pieces open side by side, read in parallel by a
         pool of reader threads (the interleave), 65,536-row chunks encoded from Arrow
      -> a window: the next chunk of every open piece, concatenated and permuted from
         (seed, e, window) -- the bounded shuffle buffer
      -> tf.data: windows cut into batches (the epoch's last one partial, as in memory),
         prefetched; the readers fetch the next window while this one trains

Memory is bounded by the open pieces' chunks, whatever the size of the data, and epoch ``e``
is the same sequence of batches in every process that builds it: a run resumed at epoch
``e`` continues exactly (the stream's position is the epoch a resume point records). Rows
are assigned to splits by hashing (``toolkit.data.hashing``) as they are read, so no split
is ever materialised; chunks go from Arrow to model inputs directly (``arrow_encoding``),
through pandas only when that is the only way.

Windows are made in Python, not by tf.data ops: a tf.data interleave of 32-row blocks and a
tf.data window permutation both cost more CPU per row (2.2 and 1.9 against 1.3 µs, with the
same encoding) on a machine where every microsecond is taken from training.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from toolkit.data import hashing
from toolkit.data.preprocessing import NUMERIC_INPUT, FeatureSpec, encode_target, feature_arrays
from toolkit.data.split import CHUNK_ROWS, Arrays, Split, Worker
from toolkit.data.streaming.files import Piece, where
from toolkit.data.streaming.reader import Rows, ShardSet

# Reader threads of the training pipeline (more pieces may be open, see ``_open_pieces``).
READERS = 4
# Rows of a chunk read from a piece at a time, and the most pieces open at once.
CHUNK = 65_536
MAX_OPEN = 64
# The sample a streamed split keeps (drawn in the pass that fits the statistics); smaller
# samples are drawn from it, so a run and its resumed continuation see the same rows.
SAMPLE_ROWS = 100_000


@dataclass(frozen=True)
class Selection:
    """Which rows of a shard set belong to a split: all of them, or those whose hash
    (of ``split_key``, else of shard and position) falls in the split's share."""

    code: int | None  # hashing.TRAIN / VALIDATION / TEST; None: every row
    split_key: str | None = None
    validation: float | None = None
    test: float | None = None
    # Cross-validation: (k, i, held) keeps the rows of fold i (held) or of the other folds.
    fold: tuple[int, int, bool] | None = None

    def hashes(self, frame: pd.DataFrame | Rows, shard: str) -> np.ndarray:
        if isinstance(frame, Rows):
            if self.split_key is not None:
                return hashing.key_hashes(frame.series(self.split_key))
        elif self.split_key is not None:
            return hashing.key_hashes(frame[self.split_key])
        # Each row's own position (the index): a split's rows are not a contiguous run, and
        # hashing index[0], index[0] + 1, ... gave the training rows of a chunk other rows'
        # folds, so a streamed cross-validation fold read fewer rows than it had counted.
        if isinstance(frame.index, pd.RangeIndex) and frame.index.step == 1:
            return hashing.position_hashes(shard, frame.index.start, len(frame))
        return hashing.hashes_at(shard, frame.index.to_numpy())

    def mask(self, batch, start: int, shard: str) -> np.ndarray | None:
        """Which rows of a RecordBatch starting at row ``start`` of ``shard`` are kept; None
        when all of them are."""
        if self.code is None and self.fold is None:
            return None
        if self.split_key is not None:
            keys = batch.column(batch.schema.get_field_index(self.split_key))
            frame = pd.DataFrame({self.split_key: keys.to_numpy(zero_copy_only=False)})
        else:
            frame = pd.DataFrame(index=pd.RangeIndex(start, start + batch.num_rows))
        keep = np.ones(batch.num_rows, dtype=bool)
        if self.code is not None and (self.validation or self.test):
            keep &= self.codes(frame, shard) == self.code
        if self.fold is not None:
            k, index, held = self.fold
            in_fold = self.folds(frame, shard, k) == index
            keep &= in_fold if held else ~in_fold
        return keep

    def codes(self, frame: pd.DataFrame | Rows, shard: str) -> np.ndarray:
        """The split code of every row of ``frame`` (rows indexed by position in ``shard``)."""
        return hashing.assign(self.hashes(frame, shard), validation=self.validation, test=self.test)

    def folds(self, frame: pd.DataFrame, shard: str, k: int) -> np.ndarray:
        """The cross-validation fold (0 .. k-1) of every row, from the same hash."""
        return hashing.fold(
            self.hashes(frame, shard), k, validation=self.validation, test=self.test
        )

    def apply(self, frame: pd.DataFrame, shard: str) -> pd.DataFrame:
        keep = None
        if self.code is not None and (self.validation or self.test):
            keep = self.codes(frame, shard) == self.code
        if self.fold is not None:
            k, index, held = self.fold
            in_fold = self.folds(frame, shard, k) == index
            in_fold = in_fold if held else ~in_fold
            keep = in_fold if keep is None else keep & in_fold
        return frame if keep is None else frame[keep]


class Reservoir:
    """A uniform sample of at most ``size`` rows of a stream, drawn with ``seed``: every row
    gets a random key and the rows with the smallest keys are kept (one pass, bounded).

    Each row keeps its shard and its position there (the index of the frames fed in, or the
    positions of ``Rows``), so an error in the sample names the row of the file, not of the
    sample."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.seen = 0
        # The rows that may be kept, in stream order: (shard, rows, their keys), the rows a
        # frame or ``Rows`` as fed in, cut down to the entering ones. Nothing is concatenated
        # before the end: a cut keeps each chunk's share of the smallest keys (concatenating
        # the sample and cutting it at every chunk copied it each time, 1.3 s for 1M rows;
        # concatenating it at every cut still took a tenth of the pass).
        self._pending: list[tuple[int, Any, np.ndarray]] = []
        self._pending_rows = 0
        # Every kept key is below it: the largest key of the last cut (it only falls).
        self._threshold = np.inf

    def update(
        self, rows: pd.DataFrame | Rows, shard: int = 0, keep: np.ndarray | None = None
    ) -> None:
        """Add ``rows`` of shard ``shard``: a frame indexed by their position in it, or
        ``Rows`` (which carry their positions); with ``keep`` (a mask), only the rows it
        picks, filtered together with the keys' choice: once the sample is full, a few."""
        count = len(rows) if keep is None else int(np.count_nonzero(keep))
        keys = self.rng.random(count)
        self.seen += count
        entering = keys < self._threshold
        if keep is not None:
            # The kept rows that enter, picked at once (the same rows as filtering twice).
            if not entering.all():
                chosen = np.zeros(len(keep), dtype=bool)
                chosen[np.flatnonzero(keep)[entering]] = True
                keep, keys = chosen, keys[entering]
            rows = _filter(rows, keep)
        elif not entering.all():
            rows, keys = _filter(rows, entering), keys[entering]
        if not len(rows):
            return
        self._pending.append((shard, rows, keys))
        self._pending_rows += len(rows)
        if self._pending_rows >= 2 * self.size:
            self._cut()

    def _kept(self) -> np.ndarray:
        """Which of the pending rows (in stream order) the ``size`` smallest keys are."""
        keys = np.concatenate([part[2] for part in self._pending])
        keep = np.zeros(len(keys), dtype=bool)
        keep[np.argpartition(keys, self.size - 1)[: self.size]] = True
        return keep

    def _cut(self) -> None:
        """Keep the ``size`` rows with the smallest keys of those pending."""
        if self._pending_rows <= self.size:
            return
        keep = self._kept()
        keys = np.concatenate([part[2] for part in self._pending])
        self._threshold = keys[keep].max()
        pending, offset = [], 0
        for shard, rows, part_keys in self._pending:
            mine = keep[offset : offset + len(part_keys)]
            offset += len(part_keys)
            if mine.all():
                pending.append((shard, rows, part_keys))
            elif mine.any():
                pending.append((shard, _filter(rows, mine), part_keys[mine]))
        self._pending, self._pending_rows = pending, self.size

    def everything(self) -> tuple[list[tuple[int, list[pd.DataFrame | Rows]]], np.ndarray] | None:
        """Every row fed in, as ``parts`` gives the sample, and which of them the sample
        keeps (a mask in stream order), when none has been dropped yet (fewer than twice
        ``size`` rows came); else None. Called before ``parts``, which drops them."""
        if not self._pending or self._threshold != np.inf:
            return None
        keep = self._kept() if self._pending_rows > self.size else None
        if keep is None:
            keep = np.ones(self._pending_rows, dtype=bool)
        return self._runs(), keep

    def parts(self) -> list[tuple[int, list[pd.DataFrame | Rows]]] | None:
        """The sample in stream order: ``(shard, chunks)`` for each run of rows from one
        shard, the chunks as fed in (``encode_sample`` encodes ``Rows`` from Arrow)."""
        if not self._pending:
            return None
        self._cut()
        return self._runs()

    def _runs(self) -> list[tuple[int, list[pd.DataFrame | Rows]]]:
        """The pending chunks in stream order, grouped into runs from one shard:
        ``(shard, chunks)`` for each."""
        runs: list[tuple[int, list[pd.DataFrame | Rows]]] = []
        for shard, rows, _ in self._pending:
            if runs and runs[-1][0] == shard:
                runs[-1][1].append(rows)
            else:
                runs.append((shard, [rows]))
        return runs

    def rows(self) -> list[tuple[int, pd.DataFrame]] | None:
        """The sample in stream order: ``(shard, rows)`` for each run of rows from one shard,
        the rows indexed by their position in it."""
        parts = self.parts()
        return None if parts is None else [(shard, _frame(chunks)) for shard, chunks in parts]


def _frame(chunks: list[pd.DataFrame | Rows]) -> pd.DataFrame:
    """Chunks of one shard as one frame indexed by position."""
    frames = [rows if isinstance(rows, pd.DataFrame) else rows.frame() for rows in chunks]
    return frames[0] if len(frames) == 1 else pd.concat(frames)


def _filter(rows: pd.DataFrame | Rows, keep: np.ndarray) -> pd.DataFrame | Rows:
    return rows[keep] if isinstance(rows, pd.DataFrame) else rows.filter(keep)


def output_signature(spec: FeatureSpec):
    """The tf.TensorSpec structure of ``(features, target)`` batches for ``spec``."""
    import tensorflow as tf

    features = {}
    if spec.numeric:
        features[NUMERIC_INPUT] = tf.TensorSpec([None, len(spec.numeric)], tf.float32)
    for feature in spec.categorical:
        features[feature.name] = tf.TensorSpec([None, 1], tf.string)
    target = tf.int32 if spec.target.task == "multiclass" else tf.float32
    return features, tf.TensorSpec([None, 1], target)


class StreamedSplit(Split):
    """The rows of ``shard_set`` that ``selection`` picks, encoded with ``spec`` as read."""

    streamed = True

    def __init__(
        self,
        *,
        name: str,
        shard_set: ShardSet,
        pieces: list[Piece],
        selection: Selection,
        spec: FeatureSpec,
        rows: int,
        shuffle_buffer: int,
        samples: dict[tuple[int | None, int], Arrays] | None = None,
    ) -> None:
        self.name = name
        self.shard_set = shard_set
        self.pieces = pieces
        self.selection = selection
        self.spec = spec
        self._rows = rows
        self.shuffle_buffer = shuffle_buffer
        self._samples = dict(samples or {})
        # Every row of a held-out split the one pass kept (``keep_whole``), in the chunks
        # ``chunks`` reads, so evaluating it reads no shard again; None: read each time.
        self._whole: list[Arrays] | None = None

    @property
    def rows(self) -> int:
        return self._rows

    # ------------------------------------------------------------------ reading in Python

    def _shard_name(self, piece: Piece) -> str:
        return self.shard_set.shards[piece.shard].name

    def _what(self, piece: Piece) -> str:
        shard = self.shard_set.shards[piece.shard]
        return where(self.shard_set.label, shard.path, single=shard.single)

    def raw_chunks(
        self, pieces: list[Piece] | None = None, *, rows: int = CHUNK_ROWS, threads: bool = True
    ) -> Iterator[tuple[Piece, pd.DataFrame]]:
        """The split's raw rows, piece by piece, as frames indexed by position in the shard."""
        for piece in self.pieces if pieces is None else pieces:
            for frame in self.shard_set.read(piece, rows=rows, threads=threads):
                selected = self.selection.apply(frame, self._shard_name(piece))
                if len(selected):
                    yield piece, selected

    def encode(self, frame: pd.DataFrame, piece: Piece) -> Arrays:
        what = self._what(piece)
        return feature_arrays(frame, self.spec, what=what), encode_target(
            frame, self.spec, what=what
        )

    def encode_sample(
        self, runs: list[tuple[int, pd.DataFrame | list[pd.DataFrame | Rows]]]
    ) -> Arrays:
        """A ``Reservoir`` sample encoded run by run, so an error names the row's own shard
        and its position there. A run of ``Rows`` (``Reservoir.parts``) is encoded from
        Arrow as the training pipeline encodes it (``encode_batch``), and through one frame,
        as before, when that cannot (the same arrays, or the same error)."""
        from toolkit.data.streaming.arrow_encoding import encode_batch

        parts = []
        for shard, rows in runs:
            if isinstance(rows, list):
                encoded = [
                    None
                    if isinstance(chunk, pd.DataFrame)
                    else encode_batch(chunk.batch, self.spec)
                    for chunk in rows
                ]
                if all(arrays is not None for arrays in encoded):
                    parts.extend(encoded)
                    continue
                rows = _frame(rows)
            parts.append(self.encode(rows, Piece(shard, None, 0, None)))
        return _concatenate(parts, self.spec)

    def keep_whole(
        self, runs: list[tuple[int, list[pd.DataFrame | Rows]]], keep: np.ndarray, seed: int
    ) -> None:
        """Keep every row of the split, ``runs`` in stream order as ``Reservoir.everything``
        gives them (the pass's chunks, which ``chunks`` would read again), and as its
        ``SAMPLE_ROWS`` sample the rows ``keep`` marks: what ``encode_sample`` made of the
        reservoir's cut, from the same rows.

        A held-out split of fewer than twice ``SAMPLE_ROWS`` rows (validation at 1M rows) is
        scored in full after training: held, it is not read from every shard once more
        (0.46 s of CPU at 1M rows), for at most one more sample's memory."""
        chunks = [self.encode_sample([(shard, [chunk])]) for shard, run in runs for chunk in run]
        features, target = _concatenate(chunks, self.spec)
        ends = np.cumsum([len(chunk[1]) for chunk in chunks])
        # Views of the one copy, cut where the pass's (and a reading's) chunks end.
        self._whole = [
            ({name: values[start:end] for name, values in features.items()}, target[start:end])
            for start, end in zip(np.concatenate([[0], ends[:-1]]), ends, strict=True)
        ]
        if not keep.all():
            features = {name: values[keep] for name, values in features.items()}
            target = target[keep]
        self._samples[(SAMPLE_ROWS, seed)] = features, target

    def encoded(self, piece: Piece, *, rows: int = CHUNK, threads: bool = True) -> Iterator[Arrays]:
        """The encoded rows of ``piece`` that belong to the split, a chunk at a time."""
        from toolkit.data.streaming.arrow_encoding import encode_batch
        from toolkit.data.streaming.reader import as_frame

        shard = self._shard_name(piece)
        for start, batch in self.shard_set.batches(piece, rows=rows, threads=threads):
            keep = self.selection.mask(batch, start, shard)
            positions = None
            if keep is not None:
                if not keep.any():
                    continue
                positions = np.flatnonzero(keep)
                batch = batch.filter(keep)
            arrays = encode_batch(batch, self.spec)
            if arrays is None:  # the pandas path: the same arrays, or the error naming a row
                frame = as_frame(batch, start)
                if positions is not None:
                    frame.index = start + positions
                arrays = self.encode(frame, piece)
            yield arrays

    def chunks(self, rows: int = CHUNK_ROWS) -> Iterator[Arrays]:
        if self._whole is not None and rows == CHUNK:
            yield from self._whole
            return
        for piece in self.pieces:
            yield from self.encoded(piece, rows=rows)

    def sample(self, max_rows: int | None = None, *, seed: int = 0) -> Arrays:
        key = (max_rows, seed)
        if key not in self._samples and max_rows is not None and max_rows < SAMPLE_ROWS:
            features, target = self.sample(SAMPLE_ROWS, seed=seed)
            if len(target) > max_rows:
                chosen = np.sort(
                    np.random.default_rng(seed).choice(len(target), max_rows, replace=False)
                )
                features = {name: values[chosen] for name, values in features.items()}
                target = target[chosen]
            self._samples[key] = features, target
        if key not in self._samples:
            if max_rows is None or max_rows >= self.rows:
                parts = list(self.chunks())
            else:
                reservoir = Reservoir(max_rows, seed)
                for piece, frame in self.raw_chunks():
                    reservoir.update(frame, piece.shard)
                parts = [self.encode_sample(reservoir.rows() or [])]
            self._samples[key] = _concatenate(parts, self.spec)
        return self._samples[key]

    # ------------------------------------------------------------------ tf.data

    def _pieces_of(self, worker: Worker | None) -> list[Piece]:
        if worker is None or worker.count == 1:
            return self.pieces
        # By file: worker i reads shards i, i + n, ... (every worker needs at least one).
        return [p for p in self.pieces if p.shard % worker.count == worker.index]

    def shard_names(self, worker: Worker | None = None) -> list[str]:
        """The files ``worker`` reads (all of them without one)."""
        shards = sorted({p.shard for p in self._pieces_of(worker)})
        return [self.shard_set.shards[index].name for index in shards]

    def _open_pieces(self, pieces: list[Piece]) -> int:
        """Pieces read side by side: as many chunks as the shuffle buffer holds (a chunk is
        at most ``CHUNK`` rows, less for small row groups), at most ``MAX_OPEN``."""
        sizes = [p.rows for p in pieces if p.rows]
        chunk = min(CHUNK, max(1, int(np.mean(sizes)))) if sizes else CHUNK
        return max(1, min(len(pieces), MAX_OPEN, self.shuffle_buffer // chunk))

    def windows(self, pieces: list[Piece], *, seed: int | None, epoch: int) -> Iterator[Arrays]:
        """One epoch of ``pieces`` as windows (see the module docstring)."""
        import concurrent.futures

        rng = None if seed is None else np.random.default_rng([seed, epoch])
        order = list(rng.permutation(len(pieces))) if rng is not None else list(range(len(pieces)))
        waiting = [pieces[index] for index in order]
        open_count = self._open_pieces(pieces)
        readers: list[Iterator[Arrays]] = []
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=min(READERS, open_count), thread_name_prefix="shard-reader"
        ) as pool:

            def fetch() -> list[concurrent.futures.Future]:
                while len(readers) < open_count and waiting:
                    readers.append(iter(self.encoded(waiting.pop(0), threads=False)))
                return [pool.submit(next, reader, None) for reader in readers]

            pending = fetch()
            while pending:
                chunks = [future.result() for future in pending]
                readers[:] = [r for r, c in zip(readers, chunks, strict=True) if c is not None]
                chunks = [c for c in chunks if c is not None]
                pending = fetch()  # the next window is read while this one is used
                if not chunks:
                    continue
                features = {
                    name: np.concatenate([c[0][name] for c in chunks]) for name in chunks[0][0]
                }
                target = np.concatenate([c[1] for c in chunks])
                if rng is not None:
                    permutation = rng.permutation(len(target))
                    features = {name: values[permutation] for name, values in features.items()}
                    target = target[permutation]
                yield features, target

    def _epoch(self, pieces: list[Piece], *, batch_size: int, seed: int | None, epoch):
        """One epoch of batches from ``pieces``; ``epoch`` is an int64 scalar tensor."""
        import tensorflow as tf

        def generate(number):
            yield from self.windows(pieces, seed=seed, epoch=int(number))

        windows = tf.data.Dataset.from_generator(
            generate, args=(epoch,), output_signature=output_signature(self.spec)
        )
        return windows.rebatch(batch_size)

    def training_dataset(
        self,
        *,
        batch_size: int,
        shuffle_seed: int | None,
        start_epoch: int = 0,
        epoch: Any = None,
        worker: Worker | None = None,
    ):
        import tensorflow as tf

        from toolkit.data.pipeline import steps_for

        pieces = self._pieces_of(worker)

        # Builds a generator-fed dataset in Python: nothing for AutoGraph to convert (it
        # would warn that generators are not supported on every run).
        @tf.autograph.experimental.do_not_convert
        def one_epoch(number):
            return self._epoch(pieces, batch_size=batch_size, seed=shuffle_seed, epoch=number)

        if epoch is None:
            dataset = tf.data.Dataset.range(start_epoch, 2**62).flat_map(one_epoch)
        else:
            dataset = tf.data.Dataset.from_tensors(0).flat_map(
                tf.autograph.experimental.do_not_convert(lambda _: one_epoch(epoch.value()))
            )
            dataset = dataset.apply(
                tf.data.experimental.assert_cardinality(steps_for(self.rows, batch_size))
            )
        return dataset.prefetch(tf.data.AUTOTUNE)

    def dataset(self, *, batch_size: int, worker: Worker | None = None):
        """One pass over every row; shards are interleaved, so not in file order (use
        ``chunks`` for that)."""
        import tensorflow as tf

        from toolkit.data.pipeline import steps_for

        pieces = self._pieces_of(worker)
        dataset = self._epoch(
            pieces, batch_size=batch_size, seed=None, epoch=tf.constant(0, tf.int64)
        )
        if worker is None:
            # A known length: Keras then neither warns that the data "ran out" nor probes.
            cardinality = tf.data.experimental.assert_cardinality(steps_for(self.rows, batch_size))
            dataset = dataset.apply(cardinality)
        return dataset.prefetch(tf.data.AUTOTUNE)

    def describe(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "streamed": True,
            "shards": len({p.shard for p in self.pieces}),
            "pieces": len(self.pieces),
        }


def _concatenate(parts: list[Arrays], spec: FeatureSpec) -> Arrays:
    if not parts:
        from toolkit.data.streaming.reader import empty_features

        dtype = np.int32 if spec.target.task == "multiclass" else np.float32
        return empty_features(spec), np.zeros((0, 1), dtype)
    features = {name: np.concatenate([p[0][name] for p in parts]) for name in parts[0][0]}
    return features, np.concatenate([p[1] for p in parts])
