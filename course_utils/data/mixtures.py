r"""Gaussian mixtures: the course's tractable multimodal densities.

.. math:: p(x) = \sum_{k=1}^K \pi_k\, \mathcal N(x; m_k, s_k^2 I)

Used for the forward/reverse KL fits of notebook ``01_kl_elbo`` (1-D, d = 1),
and as 2-D targets in later sections.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..core.validation import as_tensor, check_positive, check_probabilities

__all__ = ["GaussianMixture", "bimodal_target", "moment_match"]


@dataclass(frozen=True)
class GaussianMixture:
    """An isotropic Gaussian mixture.

    Attributes:
        weights: mixing weights pi_k, shape (K,), summing to 1.
        means: component means m_k, shape (K, d).
        variances: component variances s_k^2, shape (K,).
    """

    weights: Tensor
    means: Tensor
    variances: Tensor

    def __post_init__(self):
        w = as_tensor(self.weights, "weights", torch.float64)
        m = as_tensor(self.means, "means", torch.float64)
        v = as_tensor(self.variances, "variances", torch.float64)
        if m.ndim == 1:
            m = m[:, None]
        if w.ndim != 1 or m.shape[0] != w.shape[0] or v.shape != w.shape:
            raise ValueError(
                "expected weights (K,), means (K, d) and variances (K,); got "
                f"{tuple(w.shape)}, {tuple(m.shape)}, {tuple(v.shape)}"
            )
        check_probabilities(w, "weights")
        check_positive(v, "variances")
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "means", m)
        object.__setattr__(self, "variances", v)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def _check_x(self, x) -> Tensor:
        x = as_tensor(x, "x", torch.float64)
        if self.dim == 1 and (x.ndim == 0 or x.shape[-1] != 1):
            x = x[..., None]
        if x.shape[-1] != self.dim:
            raise ValueError(f"x must have shape (..., {self.dim}), got {tuple(x.shape)}")
        return x

    def component_log_probs(self, x) -> Tensor:
        """log pi_k + log N(x; m_k, s_k^2 I), shape (..., K)."""
        x = self._check_x(x)
        sq = ((x[..., None, :] - self.means) ** 2).sum(-1)
        d = self.dim
        log_norm = -0.5 * d * torch.log(2 * math.pi * self.variances)
        return torch.log(self.weights) + log_norm - 0.5 * sq / self.variances

    def log_prob(self, x) -> Tensor:
        """log p(x) for x of shape (..., d) (or (...,) when d = 1); returns shape (...)."""
        return torch.logsumexp(self.component_log_probs(x), dim=-1)

    def responsibilities(self, x) -> Tensor:
        """Posterior component probabilities p(k | x), shape (..., K)."""
        return torch.softmax(self.component_log_probs(x), dim=-1)

    def score(self, x) -> Tensor:
        r"""The score :math:`\nabla_x \log p(x) = \sum_k r_k(x) (m_k - x) / s_k^2`, shape (..., d)."""
        x = self._check_x(x)
        r = self.responsibilities(x)
        return (r[..., None] * (self.means - x[..., None, :]) / self.variances[:, None]).sum(-2)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw n samples, shape (n, d)."""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return self.means[k] + self.variances[k].sqrt()[:, None] * eps

    def mean(self) -> Tensor:
        """E[x], shape (d,)."""
        return (self.weights[:, None] * self.means).sum(0)

    def covariance(self) -> Tensor:
        """Cov[x] = sum_k pi_k (s_k^2 I + m_k m_k^T) - E[x] E[x]^T, shape (d, d)."""
        eye = torch.eye(self.dim, dtype=torch.float64)
        second = (
            self.weights[:, None, None]
            * (self.variances[:, None, None] * eye + self.means[:, :, None] * self.means[:, None, :])
        ).sum(0)
        mu = self.mean()
        return second - torch.outer(mu, mu)


def moment_match(mixture: GaussianMixture) -> tuple[Tensor, Tensor]:
    r"""The Gaussian that minimises the forward KL :math:`D_{KL}(p \| q)` over Gaussians q.

    Minimising :math:`D_{KL}(p\|q) = -H(p) - E_p[\log q]` over q = N(mu, Sigma) is
    maximum likelihood under p: q matches p's mean and covariance (mass-covering).

    Returns:
        (mean, covariance) with shapes (d,) and (d, d).

    Graded in exercise 1.2 (notebook ``01_kl_elbo``).
    """
    return mixture.mean(), mixture.covariance()


def bimodal_target(separation: float, left_weight: float, width: float) -> GaussianMixture:
    """p = w N(-d/2, s^2) + (1 - w) N(d/2, s^2) in 1-D (d = separation, s = width)."""
    half = separation / 2
    return GaussianMixture(
        torch.tensor([left_weight, 1.0 - left_weight]),
        torch.tensor([[-half], [half]]),
        torch.tensor([width**2, width**2]),
    )
