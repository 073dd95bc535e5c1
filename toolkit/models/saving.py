"""Loading saved models safely: Keras' safe mode on, toolkit layers registered explicitly."""

from __future__ import annotations

from pathlib import Path


def register_custom_objects() -> None:
    """Import every module that registers a serialisable toolkit class."""
    import toolkit.models.layers
    import toolkit.models.layers.impute_standardize
    import toolkit.models.layers.target_scale
    import toolkit.models.location_metric
    import toolkit.models.losses
    import toolkit.models.standardized_loss
    import toolkit.training.warmup  # noqa: F401


def load_model(path: str | Path):
    """Load a ``.keras`` file with ``safe_mode=True`` (no lambda or pickled code runs)."""
    import keras

    register_custom_objects()
    return keras.saving.load_model(Path(path), safe_mode=True)


def load_run_model(run_dir: str | Path):
    """The model of a finished run directory."""
    from toolkit.runs import open_run_directory

    return load_model(open_run_directory(run_dir).model)
