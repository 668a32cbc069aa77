r"""Importance sampling for the evidence (lecture: "Importance sampling and the variational approximation").

.. math:: p(x) = E_{q}\Big[\frac{p(x, z)}{q(z)}\Big], \qquad
          \log \hat p_K(x) = \log \frac1K \sum_{k=1}^K \frac{p(x, z_k)}{q(z_k)}, \quad z_k \sim q

- :func:`linear_gaussian_example`: a 2-D latent, 10-D observation
  :class:`~.latent.LinearGaussianLVM` with a fixed seed and one observed x;
- :func:`evidence_proposals`: three Gaussian proposals (the prior = naive Monte Carlo, a
  diagonal q near the posterior, the exact posterior), each with its exact ELBO;
- :func:`evidence_estimates`: many independent estimates at once, vectorised.

Taught in notebook ``01_kl_elbo``; everything is closed form, so the true log p(x) and each
proposal's ELBO are exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import MultivariateNormal, kl_divergence

from .elbo import log_mean_exp
from .latent import LinearGaussianLVM

__all__ = [
    "GaussianProposal",
    "evidence_estimates",
    "evidence_proposals",
    "expected_log_estimate",
    "linear_gaussian_example",
]


@dataclass(frozen=True)
class GaussianProposal:
    """A full-covariance Gaussian proposal q(z) = N(mean, cov).

    Attributes:
        key: short name ("prior", "q", "posterior").
        label: legend text.
        mean: shape (q,).
        cov: shape (q, q).
        elbo: the exact ELBO of this q for the observed x:
            log p(x) - KL(q || p(z|x)).
    """

    key: str
    label: str
    mean: Tensor
    cov: Tensor
    elbo: float

    def __post_init__(self):
        chol = torch.linalg.cholesky(self.cov)
        object.__setattr__(self, "_chol", chol)
        object.__setattr__(self, "_log_norm", float(
            0.5 * self.mean.shape[0] * math.log(2 * math.pi) + torch.log(chol.diagonal()).sum()
        ))

    def sample(self, shape: tuple[int, ...], generator: torch.Generator | None = None) -> Tensor:
        """Draws of shape (*shape, q), reproducible through ``generator``."""
        eps = torch.randn(*shape, self.mean.shape[0], generator=generator, dtype=torch.float64)
        return self.mean + eps @ self._chol.T

    def log_prob(self, z: Tensor) -> Tensor:
        """log q(z), shape (...) for z of shape (..., q)."""
        r = torch.linalg.solve_triangular(self._chol, (z - self.mean).unsqueeze(-1), upper=False)
        return -0.5 * (r.squeeze(-1) ** 2).sum(-1) - self._log_norm


def linear_gaussian_example(
    seed: int = 0, x_dim: int = 10, z_dim: int = 2, noise_var: float = 0.5
) -> tuple[LinearGaussianLVM, Tensor]:
    """A fixed LinearGaussianLVM (W ~ N(0, 1), b ~ N(0, 0.25)) and one x drawn from it.

    With these defaults the posterior is ~5x narrower than the prior in each
    latent direction, so naive Monte Carlo needs many samples.
    """
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(x_dim, z_dim, generator=g, dtype=torch.float64)
    b = 0.5 * torch.randn(x_dim, generator=g, dtype=torch.float64)
    model = LinearGaussianLVM(W, b, noise_var)
    _, x = model.sample(1, generator=g)
    return model, x[0]


def evidence_proposals(model: LinearGaussianLVM, x: Tensor) -> dict[str, GaussianProposal]:
    """Three proposals for estimating log p(x): prior, a near-posterior q, the exact posterior.

    The near-posterior q is diagonal, its mean shifted by half a posterior standard
    deviation and its variances 1.5x the posterior's marginal variances: a good but
    imperfect encoder.
    """
    post_mean, post_cov = model.posterior(x)
    posterior = MultivariateNormal(post_mean, covariance_matrix=post_cov)
    log_evidence = float(model.log_evidence(x))
    sd = post_cov.diagonal().sqrt()
    zeros = torch.zeros(model.z_dim, dtype=torch.float64)
    eye = torch.eye(model.z_dim, dtype=torch.float64)
    specs = {
        "prior": ("prior p(z): naive Monte Carlo", zeros, eye),
        "q": ("q ≈ p(z|x): diagonal, slightly off", post_mean + 0.5 * sd, torch.diag(1.5 * sd**2)),
        "posterior": ("exact posterior p(z|x)", post_mean, post_cov),
    }
    out = {}
    for key, (label, mean, cov) in specs.items():
        kl = float(kl_divergence(MultivariateNormal(mean, covariance_matrix=cov), posterior))
        out[key] = GaussianProposal(key, label, mean, cov, log_evidence - kl)
    return out


def evidence_estimates(
    model: LinearGaussianLVM,
    x: Tensor,
    proposal: GaussianProposal,
    K: int,
    n: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``n`` independent estimates of log p(x), each from K samples of ``proposal``, shape (n,).

    Each is :func:`~.elbo.importance_log_evidence` on its own batch of K draws,
    computed for all n batches at once.
    """
    z = proposal.sample((n, K), generator)
    log_w = model.log_joint(x, z) - proposal.log_prob(z)
    return log_mean_exp(log_w, dim=1)


def expected_log_estimate(log_px: float, kl_to_posterior: float, K: float) -> float:
    r"""The mean of the estimate :math:`\log \hat p_K(x)` over repeats, where it is known in closed form.

    :math:`\hat p_K(x) = \frac1K \sum_k w_k` is unbiased, :math:`E[\hat p_K] = p(x)`, but the log is
    concave, so by Jensen :math:`E[\log \hat p_K] \le \log p(x)`. The mean is known in three cases:

    - K = 1: :math:`E_q[\log w] = \text{ELBO} = \log p(x) - D_{KL}(q \| p(z|x))`;
    - q = p(z|x) (``kl_to_posterior`` = 0), any K: every weight equals p(x), so the mean is
      :math:`\log p(x)` (and the estimator has no variance);
    - :math:`K \to \infty` (``K = math.inf``): :math:`\hat p_K \to p(x)`, so the mean tends to
      :math:`\log p(x)`.

    Args:
        log_px: the exact :math:`\log p(x)`.
        kl_to_posterior: :math:`D_{KL}(q \| p(z|x)) \ge 0` of the proposal q.
        K: samples per estimate: 1, ``math.inf``, or any K >= 1 when ``kl_to_posterior`` is 0.

    Returns:
        The mean of :math:`\log \hat p_K(x)`, a float.

    Graded in exercise 1.7 (notebook ``01_kl_elbo``).
    """
    log_px, kl, K = float(log_px), float(kl_to_posterior), float(K)
    if not kl >= 0:
        raise ValueError(f"kl_to_posterior must be >= 0, got {kl}")
    if not K >= 1:
        raise ValueError(f"K must be >= 1, got {K}")
    if kl == 0 or math.isinf(K):
        return log_px
    if K == 1:
        return log_px - kl
    raise ValueError("for 1 < K < inf and a proposal other than the posterior there is no closed form")
