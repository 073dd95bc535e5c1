"""Loading saved models safely: Keras' safe mode on, toolkit layers registered explicitly."""

from __future__ import annotations

from pathlib import Path


def register_custom_objects() -> None:
    """Import every module that registers a serialisable toolkit class."""
    import toolkit.models.ensemble_loss
    import toolkit.models.ensemble_metric
    import toolkit.models.layers
    import toolkit.models.layers.backbone_preprocessing
    import toolkit.models.layers.impute_standardize
    import toolkit.models.layers.target_scale
    import toolkit.models.layers.temperature_scale
    import toolkit.models.location_metric
    import toolkit.models.losses
    import toolkit.models.member_loss
    import toolkit.models.standardized_loss
    import toolkit.models.variational_model
    import toolkit.training.warmup  # noqa: F401


def check_model_file(path: str | Path) -> Path:
    """``path`` if it is a file that can be a ``.keras`` model (a zip), else a ToolkitError."""
    import zipfile

    from toolkit.errors import ToolkitError

    path = Path(path)
    if not path.is_file():
        raise ToolkitError(f"model file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise ToolkitError(f"{path} is not a .keras model file (not a zip archive)")
    return path


def load_model(path: str | Path):
    """Load a ``.keras`` file with ``safe_mode=True`` (no lambda or pickled code runs).

    A file safe mode refuses, or that is not a Keras model, is a one-line ``ToolkitError``.
    """
    import warnings
    import zipfile

    import keras

    from toolkit.errors import ToolkitError
    from toolkit.models.inputs.table import RENAMED_INPUT_WARNING

    path = check_model_file(path)
    register_custom_objects()
    try:
        with warnings.catch_warnings():
            # A fine-tuned model is saved with its phase-2 optimizer, built for the layers
            # unfrozen then; Keras warns that it skips optimizer state it cannot match.
            # Predictions do not use it, and resume points carry their own.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            warnings.filterwarnings("ignore", message=RENAMED_INPUT_WARNING)
            return keras.saving.load_model(path, safe_mode=True)
    except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as error:
        text = " ".join(str(error).split())
        if "safe_mode" in text or "unsafe" in text:
            raise ToolkitError(
                f"{path}: refused to load the model: it contains Python code (e.g. a Lambda "
                "layer), which Keras' safe mode does not run; use a model the toolkit trained"
            ) from None
        first = text.split(". ")[0][:300] or type(error).__name__
        raise ToolkitError(f"{path}: cannot load the model: {first}") from None


def load_run_model(run_dir: str | Path, *, check_inputs: bool = True):
    """The model of a finished run directory, checked to take the inputs its run's
    preprocessing.json describes (runs of toolkit versions before 0.2's single ``numeric``
    input took one input per numeric column). ``check_inputs=False`` for weight transfer,
    which matches layers, not inputs."""
    from toolkit.data.preprocessing import IMAGE_INPUT, NUMERIC_INPUT, SIGNAL_INPUT, FeatureSpec
    from toolkit.errors import ToolkitError
    from toolkit.runs import open_run_directory

    run = open_run_directory(run_dir)
    model = load_model(run.model)
    if check_inputs and run.preprocessing.exists() and isinstance(model.input, dict):
        spec = FeatureSpec.from_json(run.preprocessing.read_text())
        expected = {f.name for f in spec.categorical} | ({NUMERIC_INPUT} if spec.numeric else set())
        expected |= {IMAGE_INPUT} if spec.image else set()
        expected |= {SIGNAL_INPUT} if spec.signal else set()
        if set(model.input) != expected:
            raise ToolkitError(
                f"{run.model} takes inputs {sorted(model.input)}, not the {sorted(expected)} "
                "this toolkit feeds: it was trained by an older version; train it again"
            )
    return model
