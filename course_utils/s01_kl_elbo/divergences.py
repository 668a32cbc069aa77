r"""Divergences between distributions (lecture: "Prerequisite KL divergence").

Taught in notebook ``01_kl_elbo``. Conventions: Gaussians are N(mean, variance);
batched inputs put the batch first and the event (the coordinates that a
divergence sums over) last.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ..core.validation import (
    as_tensor,
    check_broadcastable,
    check_positive,
    check_probabilities,
    check_same_shape,
)

__all__ = [
    "kl_discrete",
    "kl_normal",
    "kl_std_normal",
    "kl_monte_carlo",
    "kl_std_normal_mc",
    "kl_on_grid",
]


def kl_discrete(p, q) -> Tensor:
    r"""KL divergence between discrete distributions.

    .. math:: D_{KL}(p \| q) = \sum_i p_i \log \frac{p_i}{q_i}

    Terms with :math:`p_i = 0` contribute 0 (the limit of :math:`p \log p`);
    a :math:`q_i = 0` where :math:`p_i > 0` gives :math:`+\infty`.

    Args:
        p: probabilities, shape (..., K), each row summing to 1.
        q: probabilities, same shape as ``p``.

    Returns:
        Tensor of shape (...): one divergence per row, in nats.

    Graded in exercise 1.1 (notebook ``01_kl_elbo``).
    """
    p, q = as_tensor(p, "p"), as_tensor(q, "q")
    check_same_shape(p, q, "p", "q")
    check_probabilities(p, "p")
    check_probabilities(q, "q")
    ratio = torch.where(p > 0, torch.log(p) - torch.log(q), torch.zeros_like(p))
    return (p * ratio).sum(-1)


def kl_normal(mu_q, var_q, mu_p, var_p) -> Tensor:
    r"""KL divergence between diagonal Gaussians, summed over the last axis.

    .. math::
        D_{KL}(\mathcal N(\mu_q, \sigma_q^2) \| \mathcal N(\mu_p, \sigma_p^2))
        = \sum_j \frac12\Big[\log\frac{\sigma_{p,j}^2}{\sigma_{q,j}^2}
          + \frac{\sigma_{q,j}^2 + (\mu_{q,j} - \mu_{p,j})^2}{\sigma_{p,j}^2} - 1\Big]

    Args:
        mu_q, var_q: mean and variance of q, shape (..., J).
        mu_p, var_p: mean and variance of p, broadcastable to (..., J).

    Returns:
        Tensor of shape (...).
    """
    mu_q, var_q = as_tensor(mu_q, "mu_q"), as_tensor(var_q, "var_q")
    mu_p, var_p = as_tensor(mu_p, "mu_p"), as_tensor(var_p, "var_p")
    check_positive(var_q, "var_q")
    check_positive(var_p, "var_p")
    check_broadcastable({"mu_q": mu_q, "var_q": var_q, "mu_p": mu_p, "var_p": var_p})
    if mu_q.ndim == 0:
        raise ValueError("mu_q must have shape (..., J) with J latent dimensions, got a scalar")
    terms = torch.log(var_p / var_q) + (var_q + (mu_q - mu_p) ** 2) / var_p - 1.0
    return 0.5 * terms.sum(-1)


def kl_std_normal(mu, log_var) -> Tensor:
    r"""KL from a diagonal Gaussian to the standard normal prior (the VAE's regulariser).

    The lecture's closed form ("VAE - instantiation example"):

    .. math::
        -D_{KL}(\mathcal N(\mu, \sigma^2) \| \mathcal N(0, I))
        = \frac12 \sum_{j=1}^J \big(1 + \log \sigma_j^2 - \mu_j^2 - \sigma_j^2\big)

    Args:
        mu: means, shape (batch, J).
        log_var: log-variances :math:`\log \sigma^2`, shape (batch, J).

    Returns:
        Tensor of shape (batch,): :math:`D_{KL} \ge 0` for each row.

    Graded in exercise 1.3 (notebook ``01_kl_elbo``).
    """
    mu, log_var = as_tensor(mu, "mu"), as_tensor(log_var, "log_var")
    check_same_shape(mu, log_var, "mu", "log_var")
    if mu.ndim == 0:
        raise ValueError("mu must have shape (batch, J), got a scalar")
    return -0.5 * (1.0 + log_var - mu**2 - log_var.exp()).sum(-1)


def kl_monte_carlo(
    log_q: Callable[[Tensor], Tensor], log_p: Callable[[Tensor], Tensor], z: Tensor
) -> Tensor:
    r"""Monte Carlo estimate of :math:`D_{KL}(q \| p)` from samples of q.

    .. math:: \hat D = \frac1N \sum_{n=1}^N \big[\log q(z_n) - \log p(z_n)\big],
              \quad z_n \sim q

    Unbiased; its standard error falls like :math:`1/\sqrt N`.

    Args:
        log_q, log_p: log densities, mapping shape (N, ...) to (N,).
        z: samples from q, shape (N, ...).

    Returns:
        A scalar tensor.
    """
    z = as_tensor(z, "z")
    if z.ndim == 0 or z.shape[0] == 0:
        raise ValueError(f"z must hold N >= 1 samples along its first axis, got shape {tuple(z.shape)}")
    log_ratio = log_q(z) - log_p(z)
    if log_ratio.shape != z.shape[:1]:
        raise ValueError(
            f"log_q(z) and log_p(z) must return one value per sample, shape ({z.shape[0]},); "
            f"got {tuple(log_ratio.shape)}"
        )
    return log_ratio.mean()


def kl_std_normal_mc(mu, log_var, eps) -> Tensor:
    r"""Monte Carlo estimate of :math:`D_{KL}(\mathcal N(\mu, \sigma^2) \| \mathcal N(0, I))`, one per row.

    Draws :math:`z_n = \mu + \sigma \odot \epsilon_n` with :math:`\sigma = \exp(\tfrac12 \log \sigma^2)`
    and averages the log-ratio over the N draws:

    .. math:: \hat D = \frac1N \sum_{n=1}^N \big[\log q(z_n) - \log \mathcal N(z_n; 0, I)\big]

    Unbiased for :func:`kl_std_normal`; one draw's log-ratio can be negative, only its
    expectation is :math:`\ge 0`.

    Args:
        mu: means, shape (batch, J).
        log_var: log-variances :math:`\log \sigma^2`, shape (batch, J).
        eps: standard normal draws, shape (N, batch, J).

    Returns:
        Tensor of shape (batch,).

    Graded in exercise 1.4 (notebook ``01_kl_elbo``).
    """
    mu, log_var, eps = as_tensor(mu, "mu"), as_tensor(log_var, "log_var"), as_tensor(eps, "eps")
    check_same_shape(mu, log_var, "mu", "log_var")
    if eps.ndim != mu.ndim + 1 or eps.shape[1:] != mu.shape or eps.shape[0] == 0:
        raise ValueError(f"eps must have shape (N, {', '.join(map(str, mu.shape))}), got {tuple(eps.shape)}")
    sigma = torch.exp(0.5 * log_var)
    z = mu + sigma * eps
    log_q = -0.5 * (math.log(2 * math.pi) + log_var + eps**2).sum(-1)
    log_p = -0.5 * (math.log(2 * math.pi) + z**2).sum(-1)
    return (log_q - log_p).mean(0)


def kl_on_grid(log_p: Tensor, log_q: Tensor, dx: float) -> Tensor:
    r"""KL divergence of two densities tabulated on a uniform 1-D grid (quadrature).

    .. math:: D_{KL}(p \| q) \approx \sum_k p(x_k) [\log p(x_k) - \log q(x_k)]\, \Delta x

    Args:
        log_p, log_q: log densities on the same grid, shape (..., G).
        dx: grid spacing.

    Returns:
        Tensor of shape (...).
    """
    if dx <= 0 or not math.isfinite(dx):
        raise ValueError(f"dx must be a positive grid spacing, got {dx}")
    check_same_shape(log_p, log_q, "log_p", "log_q")
    p = log_p.exp()
    return (torch.where(p > 0, p * (log_p - log_q), torch.zeros_like(p))).sum(-1) * dx
