"""Config-driven Keras 3 training toolkit.

Importing ``toolkit`` must stay cheap: TensorFlow is imported only by the modules that
train, build or load models, so ``toolkit --help`` and ``toolkit validate`` answer fast.
"""

__version__ = "0.2.0"
