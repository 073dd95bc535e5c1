"""Data bigger than memory: CSV/Parquet shards read in chunks, statistics fitted in one pass,
hash splits, and tf.data pipelines that interleave shards, shuffle in a bounded window and
prefetch. ``toolkit.data.sources.shards.ShardSource`` puts these together."""
