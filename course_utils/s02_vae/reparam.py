r"""The reparametrization trick, and two gradient estimators of an expectation (lecture:
"VAE - reparametrization trick").

Taught in notebook ``02_vae``. For :math:`q = \mathcal N(\mu, \sigma^2)` and a function f,

.. math::
    \nabla_{\mu,\sigma} E_{q}[f(z)] =
    \underbrace{E_q\big[f(z)\, \nabla_{\mu,\sigma} \log q(z)\big]}_{\text{score function (REINFORCE)}}
    = \underbrace{E_{\epsilon \sim \mathcal N(0, 1)}\big[f'(\mu + \sigma\epsilon)\,
      \nabla_{\mu,\sigma}(\mu + \sigma\epsilon)\big]}_{\text{reparametrized (pathwise)}}

with :math:`\nabla_\mu \log q = \epsilon / \sigma`, :math:`\nabla_\sigma \log q = (\epsilon^2 - 1)/\sigma`
and :math:`\nabla_{\mu,\sigma}(\mu + \sigma\epsilon) = (1, \epsilon)`, where
:math:`\epsilon = (z - \mu)/\sigma`. Both are unbiased. The pathwise one often has a far smaller
variance because it uses f', not only f, but not always: for a wiggly f (sin 2z) and a wide q the
score function wins (:func:`variance_ratio_table` measures both). Subtracting a baseline b from f
(a control variate, :math:`E_q[(f(z) - b)\nabla \log q] = E_q[f\,\nabla\log q]` since
:math:`E_q[\nabla \log q] = 0`) lowers the score function's variance when b is close to f.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..core.threads import one_thread
from ..core.validation import as_tensor, check_positive, check_same_shape

__all__ = [
    "reparametrize",
    "TestFunction",
    "TEST_FUNCTIONS",
    "score_function_grad",
    "pathwise_grad",
    "EstimatorRace",
    "estimator_race",
    "VarianceRow",
    "variance_ratio_table",
]


def reparametrize(mu, log_var, eps) -> Tensor:
    r"""The reparametrized sample :math:`z = \mu + \sigma \odot \epsilon`, :math:`\sigma = e^{\frac12 \log\sigma^2}`.

    The encoder of a VAE outputs ``log_var`` :math:`= \log \sigma^2` (any real number), so
    :math:`\sigma = \exp(\tfrac12 \log \sigma^2)`. The noise ``eps`` is an input: z is a
    deterministic, differentiable function of ``mu`` and ``log_var``.

    Args:
        mu: means, shape (batch, J).
        log_var: log-variances, shape (batch, J).
        eps: standard normal draws, broadcastable against ``mu`` (e.g. (batch, J) or (L, batch, J)).

    Returns:
        z, the broadcast shape of ``mu`` and ``eps``.
    """
    mu, log_var, eps = as_tensor(mu, "mu"), as_tensor(log_var, "log_var"), as_tensor(eps, "eps")
    check_same_shape(mu, log_var, "mu", "log_var")
    return mu + torch.exp(0.5 * log_var) * eps


@dataclass(frozen=True)
class TestFunction:
    r"""A function f with :math:`E_{\mathcal N(\mu, \sigma^2)}[f(z)]` and its gradient in closed form.

    Attributes:
        label: how the function is written, e.g. "z²".
        f: f(z), elementwise.
        df: f'(z), elementwise.
        mean: (mu, sigma) -> :math:`E[f(z)]`.
        grad: (mu, sigma) -> :math:`(\partial_\mu E[f], \partial_\sigma E[f])`.
    """

    __test__ = False  # not a pytest test class, despite its name

    label: str
    f: Callable[[Tensor], Tensor]
    df: Callable[[Tensor], Tensor]
    mean: Callable[[float, float], float]
    grad: Callable[[float, float], tuple[float, float]]


def _sin(a: float) -> TestFunction:
    damp = lambda s: math.exp(-0.5 * a * a * s * s)
    return TestFunction(
        f"sin({a:g}z)",
        lambda z: torch.sin(a * z),
        lambda z: a * torch.cos(a * z),
        lambda m, s: math.sin(a * m) * damp(s),
        lambda m, s: (a * math.cos(a * m) * damp(s), -a * a * s * math.sin(a * m) * damp(s)),
    )


#: The functions of the estimator race: E[z²] = μ² + σ², E[sin(az)] = sin(aμ) e^{-a²σ²/2},
#: E[e^z] = e^{μ + σ²/2}.
TEST_FUNCTIONS: dict[str, TestFunction] = {
    "square": TestFunction(
        "z²", lambda z: z**2, lambda z: 2 * z, lambda m, s: m * m + s * s, lambda m, s: (2 * m, 2 * s)
    ),
    "sin": _sin(2.0),
    "exp": TestFunction(
        "exp(z)", torch.exp, torch.exp, lambda m, s: math.exp(m + 0.5 * s * s),
        lambda m, s: (math.exp(m + 0.5 * s * s), s * math.exp(m + 0.5 * s * s)),
    ),
}


def _check_mu_sigma(mu, sigma, eps) -> tuple[Tensor, Tensor, Tensor]:
    mu, sigma, eps = as_tensor(mu, "mu"), as_tensor(sigma, "sigma"), as_tensor(eps, "eps")
    check_positive(sigma, "sigma", "a standard deviation")
    if mu.ndim or sigma.ndim:
        raise ValueError(f"mu and sigma must be scalars, got shapes {tuple(mu.shape)} and {tuple(sigma.shape)}")
    if eps.ndim == 0 or eps.shape[-1] == 0:
        raise ValueError(f"eps must hold N >= 1 draws along its last axis, got shape {tuple(eps.shape)}")
    return mu, sigma, eps


def score_function_grad(f: Callable[[Tensor], Tensor], mu, sigma, eps) -> Tensor:
    r"""Score-function (REINFORCE) estimate of :math:`\nabla_{\mu,\sigma} E_{\mathcal N(\mu,\sigma^2)}[f(z)]`.

    .. math::
        \hat g = \frac1N \sum_{n=1}^N f(z_n) \Big(\frac{\epsilon_n}{\sigma},\ \frac{\epsilon_n^2 - 1}{\sigma}\Big),
        \qquad z_n = \mu + \sigma \epsilon_n

    It needs only values of f (f may be a black box, even discontinuous).

    Args:
        f: elementwise function.
        mu, sigma: scalars (sigma > 0, a standard deviation).
        eps: standard normal draws, shape (..., N); the estimate averages the last axis.

    Returns:
        Shape (..., 2): the estimates of :math:`(\partial_\mu, \partial_\sigma)`.

    Graded in exercise 2.1 (notebook ``02_vae``).
    """
    mu, sigma, eps = _check_mu_sigma(mu, sigma, eps)
    fz = f(mu + sigma * eps)
    return torch.stack([(fz * eps / sigma).mean(-1), (fz * (eps**2 - 1) / sigma).mean(-1)], -1)


def pathwise_grad(df: Callable[[Tensor], Tensor], mu, sigma, eps) -> Tensor:
    r"""Reparametrized (pathwise) estimate of :math:`\nabla_{\mu,\sigma} E_{\mathcal N(\mu,\sigma^2)}[f(z)]`.

    .. math::
        \hat g = \frac1N \sum_{n=1}^N f'(z_n)\,(1,\ \epsilon_n), \qquad z_n = \mu + \sigma \epsilon_n

    the gradient that autograd computes through :math:`z = \mu + \sigma\epsilon`.

    Args:
        df: the derivative f', elementwise.
        mu, sigma, eps: as in :func:`score_function_grad`.

    Returns:
        Shape (..., 2).
    """
    mu, sigma, eps = _check_mu_sigma(mu, sigma, eps)
    dfz = df(mu + sigma * eps)
    return torch.stack([dfz.mean(-1), (dfz * eps).mean(-1)], -1)


@dataclass(frozen=True)
class EstimatorRace:
    """Many independent estimates of the same gradient by both estimators.

    Attributes:
        score: score-function estimates, shape (repeats, 2) (columns: d/dmu, d/dsigma).
        pathwise: reparametrized estimates, shape (repeats, 2).
        exact: the exact gradient, shape (2,).
        n: samples per estimate.
    """

    score: Tensor
    pathwise: Tensor
    exact: Tensor
    n: int

    def variance_ratio(self) -> Tensor:
        """Var(score) / Var(pathwise) for each of the two derivatives, shape (2,)."""
        return self.score.var(0) / self.pathwise.var(0)


def estimator_race(function: str, mu: float, sigma: float, n: int, repeats: int = 400,
                   seed: int = 0) -> EstimatorRace:
    """``repeats`` estimates from ``n`` samples each, by both estimators, on the same noise."""
    if function not in TEST_FUNCTIONS:
        raise ValueError(f"function must be one of {', '.join(TEST_FUNCTIONS)}, got {function!r}")
    if not isinstance(n, int) or n < 1 or not isinstance(repeats, int) or repeats < 2:
        raise ValueError(f"n must be >= 1 and repeats >= 2 (integers), got n={n!r}, repeats={repeats!r}")
    tf = TEST_FUNCTIONS[function]
    g = torch.Generator().manual_seed(seed)
    eps = torch.randn(repeats, n, generator=g, dtype=torch.float64)
    return EstimatorRace(
        score_function_grad(tf.f, mu, sigma, eps),
        pathwise_grad(tf.df, mu, sigma, eps),
        torch.tensor(tf.grad(mu, sigma), dtype=torch.float64),
        n,
    )


@dataclass(frozen=True)
class VarianceRow:
    """Per-sample variances of the two estimators for one (f, mu, sigma); the ratios are independent of N.

    Attributes:
        function, mu, sigma: the case.
        score, pathwise, score_baseline: variances of one sample's estimate, shape (2,) (d/dmu, d/dsigma);
            ``score_baseline`` subtracts the baseline b = E_q[f] from f.
    """

    function: str
    mu: float
    sigma: float
    score: Tensor
    pathwise: Tensor
    score_baseline: Tensor

    def ratio(self, baseline: bool = False) -> Tensor:
        """Var(score function) / Var(reparametrized), shape (2,)."""
        return (self.score_baseline if baseline else self.score) / self.pathwise


def variance_ratio_table(functions=tuple(TEST_FUNCTIONS), mu: float = 0.5, sigmas=(0.25, 0.5, 1.0, 2.0),
                         draws: int = 20_000, seed: int = 0) -> list[VarianceRow]:
    r"""Measure which estimator has the smaller variance, for each test function and sigma.

    Each row estimates the variance of a one-sample estimate (N = 1) from ``draws`` draws; an
    average of N samples divides both variances by N, so their ratio holds at every N.
    """
    g = torch.Generator().manual_seed(seed)
    eps = torch.randn(draws, generator=g, dtype=torch.float64)
    with one_thread():
        return _variance_rows(functions, mu, sigmas, eps)


def _variance_rows(functions, mu, sigmas, eps) -> list[VarianceRow]:
    rows = []
    for name in functions:
        tf = TEST_FUNCTIONS[name]
        for sigma in sigmas:
            eps_n = eps.unsqueeze(-1)  # draws estimates of N = 1 sample each
            b = tf.mean(mu, sigma)
            rows.append(VarianceRow(
                name, float(mu), float(sigma),
                score_function_grad(tf.f, mu, sigma, eps_n).var(0),
                pathwise_grad(tf.df, mu, sigma, eps_n).var(0),
                score_function_grad(lambda z, f=tf.f, b=b: f(z) - b, mu, sigma, eps_n).var(0),
            ))
    return rows
