"""Experiment configuration: the schema and the loading pipeline (no TensorFlow here)."""

from toolkit.config.loading import load_config, resolve_config
from toolkit.config.schema import ExperimentConfig

__all__ = ["ExperimentConfig", "load_config", "resolve_config"]
