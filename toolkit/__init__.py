"""Config-driven Keras 3 training toolkit, from Python or the ``toolkit`` command.

    import toolkit

    run = toolkit.train("configs/regression.yaml", overrides={"training.epochs": 20})
    run.metrics["test"]["rmse"], run.history.tail()
    run.predict("rows.csv")
    run.export("serving/diabetes", format="saved_model")

Importing ``toolkit`` stays cheap: the names below are loaded on first use (module
``__getattr__``), and TensorFlow only starts when a function needs it, so ``toolkit --help``
and ``toolkit validate`` answer fast. ``import toolkit.custom_objects`` registers the
toolkit's Keras classes for plain ``keras.saving.load_model``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# Public name -> the module that defines it.
_LAZY = {
    "ExperimentConfig": "toolkit.config.schema",
    "Run": "toolkit.api.run",
    "RunGroup": "toolkit.api.run_group",
    "Sweep": "toolkit.api.sweep",
    "ToolkitError": "toolkit.errors",
    "export": "toolkit.serving",
    "load_config": "toolkit.api.configs",
    "load_run": "toolkit.api.commands",
    "load_sweep": "toolkit.api.commands",
    "resume": "toolkit.api.commands",
    "train": "toolkit.api.commands",
    "train_repeated": "toolkit.api.commands",
    "tune": "toolkit.api.commands",
}

__all__ = [
    "ExperimentConfig",
    "Run",
    "RunGroup",
    "Sweep",
    "ToolkitError",
    "export",
    "load_config",
    "load_run",
    "load_sweep",
    "resume",
    "train",
    "train_repeated",
    "tune",
]

if TYPE_CHECKING:
    from toolkit.api.commands import load_run, load_sweep, resume, train, train_repeated, tune
    from toolkit.api.configs import load_config
    from toolkit.api.run import Run
    from toolkit.api.run_group import RunGroup
    from toolkit.api.sweep import Sweep
    from toolkit.config.schema import ExperimentConfig
    from toolkit.errors import ToolkitError
    from toolkit.serving import export


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'toolkit' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
