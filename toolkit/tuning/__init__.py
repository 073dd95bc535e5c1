"""Sweeps: a Keras Tuner search over any config path, each trial a normal training run.

Importing this package stays cheap: ``space``, ``records`` and ``sweep`` do not import
TensorFlow or Keras Tuner; ``hypermodel``, ``oracles``, ``tuner``, ``trial``, ``client``
and ``chief`` do, and ``sweep`` loads them only once the config is known to be valid.
"""
