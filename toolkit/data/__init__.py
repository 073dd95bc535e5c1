"""Data: sources, splits, fitted preprocessing specs and tf.data pipelines."""
