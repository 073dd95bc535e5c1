"""Importing this module registers the toolkit's Keras classes, so that plain
``keras.saving.load_model("model.keras")`` loads a model the toolkit wrote, in safe mode::

    import keras
    import toolkit.custom_objects  # noqa: F401

    model = keras.saving.load_model("experiments/diabetes-mlp/<run_id>/model.keras")

Every class is registered with ``keras.saving.register_keras_serializable(package="toolkit")``
(``toolkit>ImputeStandardize``, ``toolkit>GaussianNLL``, ...): the names stay stable so that
models written by earlier versions keep loading. ``import toolkit`` alone stays cheap and
does not import Keras; ``toolkit.load_run`` registers them too.
"""

from toolkit.models.saving import register_custom_objects

register_custom_objects()

__all__ = ["register_custom_objects"]
