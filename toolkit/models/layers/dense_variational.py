"""Bayesian dense layer with a mean-field Gaussian posterior (Bayes by Backprop)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from toolkit.models.layers import sampling

_ESTIMATORS = ("reparameterization", "flipout")
_PRIORS = ("normal", "scale_mixture")
# Floor on softplus(rho) so the posterior scale never collapses to exactly zero.
_SCALE_EPS = 1e-6
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _inverse_softplus(x: float) -> float:
    """The rho with softplus(rho) = x. log(expm1(x)) written as x + log(-expm1(-x)): the
    first form overflowed (OverflowError) for x above about 710, a posterior_scale_init the
    schema accepts."""
    return x + math.log(-math.expm1(-x))


def _normal_log_prob(x: Any, loc: Any, scale: Any) -> Any:
    z = (x - loc) / scale
    return -0.5 * ops.square(z) - ops.log(scale) - _HALF_LOG_2PI


@keras.saving.register_keras_serializable(package="toolkit")
class DenseVariational(keras.layers.Layer):
    """Dense layer whose kernel and bias are Gaussian random variables.

    The posterior is mean-field Gaussian (trainable ``*_loc`` and ``*_rho``, with
    ``scale = softplus(rho) + 1e-6``). Each call adds ``kl_weight * KL(q || p)`` via
    ``add_loss``: in closed form for a normal prior, as a one-sample Monte-Carlo estimate
    for the two-component scale-mixture prior of Blundell et al. (2015).

    Like TFP's ``DenseVariational`` the layer samples on every call, also at inference,
    so repeated predictions give the predictive distribution. ``set_stochastic(False)``
    switches to the posterior mean; the switch lives in a non-trainable variable, so it
    takes effect in already traced ``predict`` functions. During training
    (``training=True``) the layer always samples, whatever the switch says.

    Estimators: ``"reparameterization"`` draws one weight sample per call (shared by the
    batch); ``"flipout"`` (Wen et al., 2018) decorrelates the kernel perturbation across
    examples with random sign vectors, which lowers gradient variance. The bias is
    sampled once per call in both cases.

    Args:
        units: Output dimension.
        activation: Activation applied to the output.
        use_bias: Whether the layer has a (variational) bias.
        prior: ``"normal"`` for N(0, prior_scale) or ``"scale_mixture"``.
        prior_scale: Standard deviation of the normal prior.
        mixture_scales: Standard deviations of the two scale-mixture components.
        mixture_weight: Weight of the first scale-mixture component.
        kl_weight: Multiplier of the KL term, typically 1 / number of training examples.
        estimator: ``"reparameterization"`` or ``"flipout"``.
        posterior_scale_init: Initial posterior standard deviation of every weight.
        kernel_initializer: Initializer of the kernel posterior mean.
        bias_initializer: Initializer of the bias posterior mean.
        seed: Seed of the layer's random generator; ``None`` follows the global seed.
    """

    # One kernel and bias draw per call, shared by the batch (flipout only flips signs per
    # row of that one draw): rows of a batch are not independent passes.
    draws_per_row = False

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        use_bias: bool = True,
        prior: str = "normal",
        prior_scale: float = 1.0,
        mixture_scales: Sequence[float] = (1.0, 0.0025),
        mixture_weight: float = 0.5,
        kl_weight: float = 1.0,
        estimator: str = "reparameterization",
        posterior_scale_init: float = 0.05,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if units <= 0:
            raise ValueError(f"units must be positive, got {units}")
        if prior not in _PRIORS:
            raise ValueError(f"prior must be one of {_PRIORS}, got {prior!r}")
        if estimator not in _ESTIMATORS:
            raise ValueError(f"estimator must be one of {_ESTIMATORS}, got {estimator!r}")
        if prior_scale <= 0:
            raise ValueError(f"prior_scale must be positive, got {prior_scale}")
        if len(mixture_scales) != 2 or min(mixture_scales) <= 0:
            raise ValueError(f"mixture_scales must be two positive floats, got {mixture_scales}")
        if not 0.0 < mixture_weight < 1.0:
            raise ValueError(f"mixture_weight must be in (0, 1), got {mixture_weight}")
        if kl_weight < 0:
            raise ValueError(f"kl_weight must be non-negative, got {kl_weight}")
        if posterior_scale_init <= _SCALE_EPS:
            raise ValueError(
                f"posterior_scale_init must exceed {_SCALE_EPS}, got {posterior_scale_init}"
            )
        self.units = int(units)
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.prior = prior
        self.prior_scale = float(prior_scale)
        self.mixture_scales = tuple(float(s) for s in mixture_scales)
        self.mixture_weight = float(mixture_weight)
        self.kl_weight = float(kl_weight)
        self.estimator = estimator
        self.posterior_scale_init = float(posterior_scale_init)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # Created here rather than in build() so the switch works before the first call.
        self.stochastic_flag = self.add_weight(
            shape=(),
            initializer="ones",
            trainable=False,
            autocast=False,
            dtype="float32",
            name="stochastic",
        )
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError("The last dimension of the inputs must be defined.")
        rho_init = keras.initializers.Constant(
            _inverse_softplus(self.posterior_scale_init - _SCALE_EPS)
        )
        # autocast=False: sampling and the KL stay in float32 under mixed precision;
        # only the sampled weights are cast to the compute dtype.
        self.kernel_loc = self.add_weight(
            name="kernel_loc",
            shape=(input_dim, self.units),
            initializer=self.kernel_initializer,
            autocast=False,
        )
        self.kernel_rho = self.add_weight(
            name="kernel_rho", shape=(input_dim, self.units), initializer=rho_init, autocast=False
        )
        if self.use_bias:
            self.bias_loc = self.add_weight(
                name="bias_loc",
                shape=(self.units,),
                initializer=self.bias_initializer,
                autocast=False,
            )
            self.bias_rho = self.add_weight(
                name="bias_rho", shape=(self.units,), initializer=rho_init, autocast=False
            )
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: input_dim})

    def set_stochastic(self, flag: bool) -> None:
        """Sample weights at inference (True) or use the posterior mean (False)."""
        self.stochastic_flag.assign(1.0 if flag else 0.0)

    @property
    def is_stochastic(self) -> bool:
        return bool(ops.convert_to_numpy(self.stochastic_flag) > 0.5)

    def _sample_noise(self, rho: Any) -> tuple[Any, Any]:
        """Return (posterior scale, scale * standard normal noise), both float32."""
        scale = ops.softplus(rho) + _SCALE_EPS
        eps = sampling.normal(ops.shape(rho), self.seed_generator)
        return scale, scale * eps

    def _random_sign(self, shape: Any) -> Any:
        return sampling.random_sign(shape, self.compute_dtype, self.seed_generator)

    def _kl(self, loc: Any, scale: Any, sample: Any) -> Any:
        if self.prior == "normal":
            # Closed form KL(N(loc, scale) || N(0, prior_scale)), summed over weights.
            ratio = ops.square(scale / self.prior_scale)
            kl = 0.5 * (ratio + ops.square(loc / self.prior_scale) - 1.0 - ops.log(ratio))
            return ops.sum(kl)
        log_q = _normal_log_prob(sample, loc, scale)
        s1, s2 = self.mixture_scales
        log_p = ops.logsumexp(
            ops.stack(
                [
                    math.log(self.mixture_weight) + _normal_log_prob(sample, 0.0, s1),
                    math.log1p(-self.mixture_weight) + _normal_log_prob(sample, 0.0, s2),
                ]
            ),
            axis=0,
        )
        return ops.sum(log_q - log_p)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        # A variable, not a Python bool, so traced predict functions see later switches.
        gate = 1.0 if training else self.stochastic_flag
        kernel_scale, kernel_noise = self._sample_noise(self.kernel_rho)
        # The Monte-Carlo KL uses an ungated sample: it stays a valid estimate in mean mode.
        kl = self._kl(self.kernel_loc, kernel_scale, self.kernel_loc + kernel_noise)

        if self.estimator == "reparameterization":
            kernel = self.kernel_loc + gate * kernel_noise
            outputs = ops.matmul(inputs, ops.cast(kernel, self.compute_dtype))
        else:
            outputs = ops.matmul(inputs, ops.cast(self.kernel_loc, self.compute_dtype))
            sign_in = self._random_sign(ops.shape(inputs))
            sign_out = self._random_sign(ops.shape(outputs))
            perturbation = (
                ops.matmul(inputs * sign_in, ops.cast(kernel_noise, self.compute_dtype)) * sign_out
            )
            outputs = outputs + ops.cast(gate, self.compute_dtype) * perturbation

        if self.use_bias:
            bias_scale, bias_noise = self._sample_noise(self.bias_rho)
            kl = kl + self._kl(self.bias_loc, bias_scale, self.bias_loc + bias_noise)
            bias = self.bias_loc + gate * bias_noise
            outputs = outputs + ops.cast(bias, self.compute_dtype)

        self.add_loss(self.kl_weight * kl)
        return self.activation(outputs)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "prior": self.prior,
                "prior_scale": self.prior_scale,
                "mixture_scales": list(self.mixture_scales),
                "mixture_weight": self.mixture_weight,
                "kl_weight": self.kl_weight,
                "estimator": self.estimator,
                "posterior_scale_init": self.posterior_scale_init,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "seed": self.seed,
            }
        )
        return config
