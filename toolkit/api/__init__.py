"""The toolkit's Python API; ``import toolkit`` gives the same names lazily."""

from toolkit.api.commands import load_run, load_sweep, resume, train, train_repeated, tune
from toolkit.api.configs import load_config
from toolkit.api.run import Run
from toolkit.api.run_group import RunGroup
from toolkit.api.sweep import Sweep
from toolkit.serving import export

__all__ = [
    "Run",
    "RunGroup",
    "Sweep",
    "export",
    "load_config",
    "load_run",
    "load_sweep",
    "resume",
    "train",
    "train_repeated",
    "tune",
]
