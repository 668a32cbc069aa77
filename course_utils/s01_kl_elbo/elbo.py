r"""The evidence, its Monte Carlo estimators, and the ELBO (lecture: "VAE - Loss criterion").

.. math::
    \log p_\theta(x) = \underbrace{E_{q(z|x)}[\log p_\theta(x, z) - \log q(z|x)]}_{V_L = \text{ELBO}}
                     + D_{KL}(q(z|x) \| p_\theta(z|x))

Taught in notebook ``01_kl_elbo``. Shapes: K samples of a q-dimensional latent are
(K, q); a log-density callable maps (K, q) to (K,).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ..core.validation import as_tensor, check_positive, check_same_shape

__all__ = [
    "log_mean_exp",
    "importance_log_evidence",
    "reparametrize",
    "log_normal_diag",
    "elbo_estimate",
    "iwae_bound",
    "fit_gaussian_reverse_kl",
    "fit_gaussian_forward_kl",
]

LogDensity = Callable[[Tensor], Tensor]


def log_mean_exp(a: Tensor, dim: int = 0) -> Tensor:
    r""":math:`\log \frac1K \sum_k e^{a_k}`, computed stably with logsumexp."""
    return torch.logsumexp(a, dim=dim) - math.log(a.shape[dim])


def importance_log_evidence(log_joint: LogDensity, log_q: LogDensity, z: Tensor) -> Tensor:
    r"""Importance-sampling estimate of :math:`\log p(x)` (lecture: "Importance sampling ...").

    .. math::
        \log \hat p(x) = \log \frac1K \sum_{k=1}^K \frac{p(x, z_k)}{q(z_k)}, \qquad z_k \sim q

    With q = p(z) this is the naive Monte Carlo estimate
    :math:`\log \frac1K \sum_k p(x|z_k)`; with q = p(z|x) every weight equals p(x).
    By Jensen, its expectation is at most :math:`\log p(x)` and at least the ELBO.

    Args:
        log_joint: z (K, q) -> log p(x, z), shape (K,).
        log_q: z (K, q) -> log q(z), shape (K,).
        z: samples from q, shape (K, q).

    Returns:
        A scalar tensor.

    Graded in exercise 1.5 (notebook ``01_kl_elbo``).
    """
    z = as_tensor(z, "z")
    if z.ndim != 2 or z.shape[0] == 0:
        raise ValueError(f"z must have shape (K, q) with K >= 1 samples, got {tuple(z.shape)}")
    log_w = log_joint(z) - log_q(z)
    if log_w.shape != (z.shape[0],):
        raise ValueError(f"log densities must return shape ({z.shape[0]},), got {tuple(log_w.shape)}")
    return log_mean_exp(log_w)


def reparametrize(mu: Tensor, var: Tensor, eps: Tensor) -> Tensor:
    r"""The reparametrization trick: :math:`z = \mu + \sigma \odot \epsilon`, :math:`\sigma = \sqrt{\mathrm{var}}`.

    Args:
        mu, var: mean and variance of q, shape (q,) or (batch, q).
        eps: standard normal draws, broadcastable against ``mu``, e.g. (K, q).
    """
    check_positive(var, "var")
    return mu + var.sqrt() * eps


def log_normal_diag(z: Tensor, mu: Tensor, var: Tensor) -> Tensor:
    r""":math:`\log \mathcal N(z; \mu, \mathrm{diag}(\mathrm{var}))`, summed over the last axis."""
    check_positive(var, "var")
    return -0.5 * (math.log(2 * math.pi) + torch.log(var) + (z - mu) ** 2 / var).sum(-1)


def elbo_estimate(log_joint: LogDensity, mu: Tensor, var: Tensor, eps: Tensor) -> Tensor:
    r"""Reparametrized Monte Carlo estimate of the ELBO for :math:`q = \mathcal N(\mu, \mathrm{diag}(\mathrm{var}))`.

    .. math::
        V_L \approx \frac1K \sum_{k=1}^K \big[\log p(x, z_k) - \log q(z_k)\big],
        \qquad z_k = \mu + \sigma \odot \epsilon_k

    Args:
        log_joint: z (K, q) -> log p(x, z), shape (K,).
        mu, var: q's mean and variance, shape (q,).
        eps: standard normal draws, shape (K, q).

    Returns:
        A scalar tensor, differentiable in ``mu`` and ``var``.

    Graded in exercise 1.6 (notebook ``01_kl_elbo``).
    """
    mu, var, eps = as_tensor(mu, "mu"), as_tensor(var, "var"), as_tensor(eps, "eps")
    check_same_shape(mu, var, "mu", "var")
    if eps.ndim != 2 or eps.shape[1:] != mu.shape[-1:]:
        raise ValueError(f"eps must have shape (K, {mu.shape[-1]}), got {tuple(eps.shape)}")
    z = reparametrize(mu, var, eps)
    return (log_joint(z) - log_normal_diag(z, mu, var)).mean()


def iwae_bound(log_joint: LogDensity, mu: Tensor, var: Tensor, eps: Tensor) -> Tensor:
    r"""Estimate of the importance-weighted bound :math:`\mathcal L_K = E[\log \hat p_K(x)]`, reparametrized.

    For :math:`q = \mathcal N(\mu, \mathrm{diag}(\mathrm{var}))`, S independent sets of K draws
    :math:`z_{sk} = \mu + \sigma \odot \epsilon_{sk}`, and the weights
    :math:`w_{sk} = p(x, z_{sk}) / q(z_{sk})`:

    .. math::
        \hat{\mathcal L}_K = \frac1S \sum_{s=1}^S \log \frac1K \sum_{k=1}^K w_{sk},
        \qquad \text{ELBO} = \mathcal L_1 \le \mathcal L_K \le \mathcal L_{2K} \le \log p(x)

    (Burda et al. 2016, "Importance weighted autoencoders"). K = 1 gives :func:`elbo_estimate`.

    Args:
        log_joint: z (..., q) -> log p(x, z), shape (...).
        mu, var: q's mean and variance, shape (q,).
        eps: standard normal draws, shape (S, K, q).

    Returns:
        A scalar tensor, differentiable in ``mu`` and ``var``.

    Graded in exercise 1.8 (notebook ``01_kl_elbo``).
    """
    mu, var, eps = as_tensor(mu, "mu"), as_tensor(var, "var"), as_tensor(eps, "eps")
    check_same_shape(mu, var, "mu", "var")
    if eps.ndim != 3 or eps.shape[-1:] != mu.shape[-1:] or eps.shape[1] == 0:
        raise ValueError(f"eps must have shape (S, K, {mu.shape[-1]}), got {tuple(eps.shape)}")
    z = reparametrize(mu, var, eps)
    log_q = -0.5 * (math.log(2 * math.pi) + torch.log(var) + eps**2).sum(-1)
    log_w = log_joint(z) - log_q
    if log_w.shape != eps.shape[:2]:
        raise ValueError(f"log_joint must map (S, K, q) to (S, K), got {tuple(log_w.shape)}")
    return log_mean_exp(log_w, dim=1).mean()


def _grid_gaussian(z: Tensor, mu: Tensor, log_var: Tensor) -> Tensor:
    return -0.5 * (math.log(2 * math.pi) + log_var + (z - mu) ** 2 / log_var.exp())


def fit_gaussian_reverse_kl(
    log_p: Tensor, z: Tensor, mu0: float, var0: float, steps: int = 60
) -> tuple[float, float]:
    r"""Fit q = N(mu, var) to a 1-D density by minimising the reverse KL :math:`D_{KL}(q \| p)`.

    Reverse KL is mode-seeking: q is penalised wherever it puts mass that p lacks,
    so from a start near one mode it settles on that mode. Quadrature on the grid
    ``z`` and L-BFGS on (mu, log var).

    Args:
        log_p: log density of the target on the grid, shape (G,) (unnormalised is fine).
        z: the uniform grid, shape (G,).
        mu0, var0: the starting Gaussian.

    Returns:
        (mu, var) of the fitted Gaussian.
    """
    check_same_shape(log_p, z, "log_p", "z")
    check_positive(torch.tensor(float(var0)), "var0")
    dz = float(z[1] - z[0])
    log_p = log_p - (torch.logsumexp(log_p, 0) + math.log(dz))
    mu = torch.tensor(float(mu0), dtype=torch.float64, requires_grad=True)
    log_var = torch.tensor(math.log(var0), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([mu, log_var], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        log_q = _grid_gaussian(z, mu, log_var)
        loss = (log_q.exp() * (log_q - log_p)).sum() * dz
        loss.backward()
        return loss

    opt.step(closure)
    return float(mu.detach()), float(log_var.detach().exp())


def fit_gaussian_forward_kl(log_p: Tensor, z: Tensor) -> tuple[float, float]:
    r"""Fit q = N(mu, var) to a 1-D density by minimising the forward KL :math:`D_{KL}(p \| q)`.

    Forward KL is mass-covering, and its minimiser over Gaussians matches p's
    first two moments (see :func:`course_utils.data.mixtures.moment_match`).

    Returns:
        (mu, var): p's mean and variance on the grid.
    """
    check_same_shape(log_p, z, "log_p", "z")
    w = torch.softmax(log_p, 0)
    mu = (w * z).sum()
    return float(mu), float((w * (z - mu) ** 2).sum())
