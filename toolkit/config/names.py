"""Names the config accepts, kept here so validation never imports TensorFlow.

Each table mirrors what Keras 3 itself accepts; ``tests/config/test_names.py`` checks every
entry against the installed Keras, so the tables cannot drift from the library silently.
"""

from __future__ import annotations

DATASETS: dict[str, str] = {
    "diabetes": "regression",
    "breast_cancer": "binary",
    "iris": "multiclass",
    "wine": "multiclass",
    "digits": "multiclass",
}

SYNTHETIC_KINDS: dict[str, str] = {
    "regression": "regression",
    "sine": "regression",
    "binary": "binary",
    "multiclass": "multiclass",
}

# Prefixes of data.source (``sklearn:diabetes``); a source without one is a path (CSV/Parquet
# data, an .npz, or a folder of images). Each names a kind in toolkit.data.sources.SOURCES.
SOURCE_PREFIXES = ("sklearn", "synthetic", "keras")

# keras.datasets loaders the toolkit reads (Keras downloads each once into its cache).
KERAS_DATASETS: dict[str, str] = {
    "mnist": "multiclass",
    "fashion_mnist": "multiclass",
    "cifar10": "multiclass",
    "cifar100": "multiclass",
}

# keras.applications backbones by their Keras name: the input preprocessing their ImageNet
# weights expect ("none": the model rescales inside, from [0, 255] pixels), the smallest
# input side Keras accepts, and the extra constructor arguments the config may set.
BACKBONES: dict[str, tuple[str, int, tuple[str, ...]]] = {
    "MobileNetV3Small": ("none", 32, ("alpha", "minimalistic")),
    "MobileNetV3Large": ("none", 32, ("alpha", "minimalistic")),
    "MobileNetV2": ("tf", 32, ("alpha",)),
    "ResNet50": ("caffe", 32, ()),
    "ResNet101": ("caffe", 32, ()),
    "ResNet50V2": ("tf", 32, ()),
    "EfficientNetB0": ("none", 32, ()),
    "EfficientNetB1": ("none", 32, ()),
    "EfficientNetB2": ("none", 32, ()),
    "EfficientNetB3": ("none", 32, ()),
    "EfficientNetV2B0": ("none", 32, ()),
    "EfficientNetV2S": ("none", 32, ()),
    "ConvNeXtTiny": ("none", 32, ()),
    "DenseNet121": ("torch", 32, ()),
    "InceptionV3": ("tf", 75, ()),
    "Xception": ("tf", 71, ()),
    "VGG16": ("caffe", 32, ()),
}

IMAGE_EXTENSIONS = ("bmp", "gif", "jpeg", "jpg", "png")

TASKS = ("regression", "binary", "multiclass")

_COMMON_OPTIMIZER_ARGS = (
    "learning_rate",
    "weight_decay",
    "clipnorm",
    "clipvalue",
    "global_clipnorm",
    "use_ema",
    "ema_momentum",
    "ema_overwrite_frequency",
    "loss_scale_factor",
    "gradient_accumulation_steps",
)

# Keras class name and the arguments beyond the common ones.
OPTIMIZERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sgd": ("SGD", ("momentum", "nesterov")),
    "rmsprop": ("RMSprop", ("rho", "momentum", "epsilon", "centered")),
    "adam": ("Adam", ("beta_1", "beta_2", "epsilon", "amsgrad")),
    "adamw": ("AdamW", ("beta_1", "beta_2", "epsilon", "amsgrad")),
    "adagrad": ("Adagrad", ("initial_accumulator_value", "epsilon")),
    "adadelta": ("Adadelta", ("rho", "epsilon")),
    "adamax": ("Adamax", ("beta_1", "beta_2", "epsilon")),
    "adafactor": (
        "Adafactor",
        ("beta_2_decay", "epsilon_1", "epsilon_2", "clip_threshold", "relative_step"),
    ),
    "nadam": ("Nadam", ("beta_1", "beta_2", "epsilon")),
    "ftrl": (
        "Ftrl",
        (
            "learning_rate_power",
            "initial_accumulator_value",
            "l1_regularization_strength",
            "l2_regularization_strength",
            "l2_shrinkage_regularization_strength",
            "beta",
        ),
    ),
    "lion": ("Lion", ("beta_1", "beta_2")),
    "lamb": ("Lamb", ("beta_1", "beta_2", "epsilon")),
}


def optimizer_arguments(name: str) -> tuple[str, ...]:
    """Every keyword argument the named optimizer accepts."""
    return _COMMON_OPTIMIZER_ARGS + OPTIMIZERS[name][1]


ACTIVATIONS = (
    "celu",
    "elu",
    "exponential",
    "gelu",
    "glu",
    "hard_shrink",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "leaky_relu",
    "linear",
    "log_sigmoid",
    "mish",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "silu",
    "soft_shrink",
    "softplus",
    "softsign",
    "sparse_plus",
    "squareplus",
    "swish",
    "tanh",
    "tanh_shrink",
)

# Short forms users write, mapped to Keras initializer names.
# Short names, and the names papers and course slides use: Glorot's is Xavier initialisation.
INITIALIZER_ALIASES = {
    "glorot": "glorot_uniform",
    "he": "he_normal",
    "lecun": "lecun_normal",
    "xavier": "glorot_uniform",
    "xavier_uniform": "glorot_uniform",
    "xavier_normal": "glorot_normal",
}
INITIALIZERS = (
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "orthogonal",
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "zeros",
    "ones",
)

# Losses by task. Classifiers output logits, so the toolkit builds these with from_logits.
LOSSES: dict[str, tuple[str, ...]] = {
    "regression": (
        "mean_squared_error",
        "mse",
        "mean_absolute_error",
        "mae",
        "huber",
        "log_cosh",
        "mean_squared_logarithmic_error",
        "msle",
        "mean_absolute_percentage_error",
        "mape",
        "poisson",
        "gaussian_nll",
    ),
    "binary": ("binary_crossentropy", "binary_focal_crossentropy", "hinge", "squared_hinge"),
    "multiclass": ("sparse_categorical_crossentropy",),
}
ALL_LOSSES = tuple(sorted({name for names in LOSSES.values() for name in names}))

# Metrics evaluate() writes to metrics.json for the validation split, by task: a sweep may
# pick trials by them (tuner.objective: validation.<name>), e.g. the predictive
# log-likelihood (nll, log_loss) that Keras' val_loss does not give for sampled models.
EVALUATED_METRICS: dict[str, tuple[str, ...]] = {
    "regression": ("rmse", "mae", "r2", "nll", "crps", "interval_width"),
    "binary": ("accuracy", "f1", "roc_auc", "pr_auc", "log_loss", "brier", "ece"),
    "multiclass": ("accuracy", "f1_macro", "f1_weighted", "log_loss", "ece"),
}

# The evaluated metrics that only a model with a predictive distribution has in metrics.json.
SPREAD_METRICS: tuple[str, ...] = ("nll", "crps", "interval_width")

# Metrics by task: names logged by Keras during training (history, TensorBoard, monitor).
METRICS: dict[str, tuple[str, ...]] = {
    "regression": ("mae", "mse", "rmse", "mape", "r2"),
    "binary": ("accuracy", "auc", "pr_auc", "precision", "recall"),
    "multiclass": ("accuracy", "top3_accuracy", "top5_accuracy"),
}
DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    "regression": ("mae", "rmse"),
    "binary": ("accuracy", "auc"),
    "multiclass": ("accuracy",),
}

SCHEDULES = (
    "constant",
    "exponential",
    "inverse_time",
    "piecewise",
    "polynomial",
    "cosine",
    "cosine_restarts",
)
