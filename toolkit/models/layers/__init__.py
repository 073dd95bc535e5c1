"""Custom Keras 3 layers: variational dense, MC dropout, Gaussian output head."""

from toolkit.models.layers.dense_variational import DenseVariational
from toolkit.models.layers.gaussian_head import GaussianHead
from toolkit.models.layers.mc_dropout import MCDropout
from toolkit.models.layers.stochastic import is_stochastic, set_stochastic

__all__ = ["DenseVariational", "GaussianHead", "MCDropout", "is_stochastic", "set_stochastic"]
