"""``training.class_weight``: each training row's loss weighted by its class.

On a table where one class is rare the unweighted loss is mostly the common class's, and a
network trained on it can predict that class for nearly every row (accuracy at the base rate,
recall of the rare class near 0). Weighting each class by ``n / (k * n_c)`` ("balanced", as
scikit-learn's ``class_weight="balanced"``) makes every class count as much in the loss; a
mapping sets the weights by label. The weights enter the training batches as Keras sample
weights, before a multi-worker run shards them, so every execution path takes them alike.
Validation loss, early stopping and every metric stay unweighted.
"""

from __future__ import annotations

import numpy as np

from toolkit.config.schema import ExperimentConfig
from toolkit.data.preprocessing import FeatureSpec, TargetSpec
from toolkit.errors import ConfigError, did_you_mean

# YAML reads these unquoted keys as booleans: {yes: 5} arrives as {True: 5}.
_YAML_BOOLEANS = {"yes", "no", "on", "off", "y", "n"}


def check_class_weight(config: ExperimentConfig, spec: FeatureSpec) -> None:
    """A mapping names only classes of the target, or a ConfigError naming the label that is
    not one (before any run exists); a key YAML turned into a boolean says how to quote it."""
    check_class_weight_labels(config, spec.target)


def check_class_weight_in_data(config: ExperimentConfig) -> None:
    """``toolkit validate``'s check of the target column, where it reads cheaply without
    TensorFlow (``target_labels``): a missing or blank label (any task), a classifier's
    labels that are not the task's (a binary run on three classes, numbers with fractions,
    a ``data.positive_class`` that is no label) and a ``training.class_weight`` mapping's
    labels. validate said "valid" for each of these, which train refused a moment later:
    ``{cat: 2.0}`` on labels dog and bird, configs/binary.yaml on iris. The classes are those
    of the whole column (train's are its training split's, so a label seen only in held-out
    rows is still left to train), with train's messages."""
    from toolkit.data.preprocessing import (
        _rows,
        class_labels,
        missing_target_words,
        missing_targets,
    )
    from toolkit.data.sources.table import target_labels
    from toolkit.errors import DataError

    labels = target_labels(config.data)
    if labels is None:
        return
    missing = missing_targets(labels)
    if missing.any():
        raise DataError(
            f"{config.data.source}: target column '{config.data.target}' has missing values "
            f"({_rows(labels.index[missing])}{missing_target_words(labels, missing)}); "
            "drop or fill them"
        )
    if config.model.task == "regression":
        return
    target = class_labels(labels, config.model.task, config.data.positive_class)
    check_class_weight_labels(config, target)


def check_class_weight_labels(config: ExperimentConfig, target: TargetSpec) -> None:
    """``check_class_weight`` against a ``target``'s classes."""
    weights = config.training.class_weight
    if not isinstance(weights, dict):
        return
    classes = target.classes
    for label in weights:
        if label in classes:
            continue
        hint = did_you_mean(label, classes)
        if label in ("True", "False") and any(c.lower() in _YAML_BOOLEANS for c in classes):
            hint = (
                "; YAML reads unquoted yes, no, on and off as true and false: quote the "
                "labels ('yes': 5)"
            )
        raise ConfigError(
            f"training.class_weight: '{label}' is not a class of target '{target.name}'"
            f"{hint}; classes: {', '.join(classes)}"
        )


def class_weights(config: ExperimentConfig, spec: FeatureSpec, split) -> np.ndarray | None:
    """Each class's weight by class index, or None without ``training.class_weight``.
    "balanced" counts the training ``split``'s classes (one pass when streamed); a mapping
    leaves the classes it does not name at 1."""
    setting = config.training.class_weight
    if setting is None:
        return None
    classes = spec.target.classes
    if setting == "balanced":
        counts = np.zeros(len(classes), dtype=np.int64)
        for _, target in split.chunks():
            counts += np.bincount(target[:, 0].astype(np.int64), minlength=len(classes))
        # Every class of the spec was seen in training; a count of 0 would weigh nothing.
        balanced = counts.sum() / (len(classes) * np.maximum(counts, 1))
        return np.where(counts > 0, balanced, 1.0)
    check_class_weight(config, spec)
    return np.asarray([setting.get(label, 1.0) for label in classes], dtype=np.float64)


def weighted(dataset, weights: np.ndarray | None):
    """``(features, target)`` batches as ``(features, target, weight)``, each row's weight
    its class's; the dataset itself when there are no weights."""
    if weights is None:
        return dataset
    import tensorflow as tf

    table = tf.constant(weights, dtype=tf.float32)

    def add_weights(features, target):
        classes = tf.cast(tf.reshape(target, [-1]), tf.int32)
        return features, target, tf.gather(table, classes)

    return dataset.map(add_weights, num_parallel_calls=tf.data.AUTOTUNE)
