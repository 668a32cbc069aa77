r"""Latent variable models whose evidence is tractable (lecture: "Preliminaries - Variational methods").

A latent variable model samples :math:`z \sim p(z)` and then :math:`x \sim p_\theta(x|z)`;
its evidence :math:`p_\theta(x) = \int p_\theta(x|z) p(z) dz` is what training wants to
maximise. The models here are small enough that the evidence and the posterior
:math:`p_\theta(z|x)` are known exactly, so every estimator of notebook
``01_kl_elbo`` can be compared with the truth.

- :class:`LinearGaussianLVM`: z ~ N(0, I_q), x | z ~ N(W z + b, s^2 I_n); everything closed form.
- :class:`Latent1D`: any model with a 1-D latent; evidence and posterior by quadrature on a grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..core.validation import as_tensor, check_broadcastable, check_last_dim, check_positive

__all__ = ["LinearGaussianLVM", "Latent1D", "squared_latent_model", "linear_latent_model"]

LOG_2PI = math.log(2 * math.pi)


def _log_normal_iso(x: Tensor, mean: Tensor, var: float | Tensor) -> Tensor:
    """log N(x; mean, var I) summed over the last axis."""
    var = torch.as_tensor(var, dtype=x.dtype)
    d = x.shape[-1]
    return -0.5 * (d * (LOG_2PI + torch.log(var)) + ((x - mean) ** 2).sum(-1) / var)


@dataclass(frozen=True)
class LinearGaussianLVM:
    r"""Linear-Gaussian latent variable model (probabilistic PCA).

    .. math::
        z \sim \mathcal N(0, I_q), \qquad x | z \sim \mathcal N(W z + b, s^2 I_n)

    Then :math:`p(x) = \mathcal N(b, W W^\top + s^2 I)` and
    :math:`p(z|x) = \mathcal N(S W^\top (x - b) / s^2, S)` with
    :math:`S = (I + W^\top W / s^2)^{-1}`.

    Attributes:
        W: loading matrix, shape (n, q).
        b: offset, shape (n,).
        noise_var: observation variance s^2 > 0.
    """

    W: Tensor
    b: Tensor
    noise_var: float

    def __post_init__(self):
        W = as_tensor(self.W, "W", torch.float64)
        b = as_tensor(self.b, "b", torch.float64)
        if W.ndim != 2 or b.shape != W.shape[:1]:
            raise ValueError(f"expected W (n, q) and b (n,), got {tuple(W.shape)} and {tuple(b.shape)}")
        check_positive(torch.tensor(float(self.noise_var)), "noise_var")
        object.__setattr__(self, "W", W)
        object.__setattr__(self, "b", b)

    @property
    def x_dim(self) -> int:
        return self.W.shape[0]

    @property
    def z_dim(self) -> int:
        return self.W.shape[1]

    def log_prior(self, z: Tensor) -> Tensor:
        """log p(z), z of shape (..., q) -> (...)."""
        check_last_dim(z, self.z_dim, "z")
        return _log_normal_iso(z, torch.zeros(()), 1.0)

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x | z), x of shape (n,) or broadcastable, z of shape (..., q) -> (...)."""
        check_last_dim(x, self.x_dim, "x")
        check_last_dim(z, self.z_dim, "z")
        return _log_normal_iso(x, z @ self.W.T + self.b, self.noise_var)

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x, z) = log p(x | z) + log p(z), shape (...)."""
        return self.log_likelihood(x, z) + self.log_prior(z)

    def evidence_covariance(self) -> Tensor:
        """W W^T + s^2 I, shape (n, n)."""
        return self.W @ self.W.T + self.noise_var * torch.eye(self.x_dim, dtype=torch.float64)

    def log_evidence(self, x: Tensor) -> Tensor:
        """Exact log p(x) = log N(x; b, W W^T + s^2 I), x of shape (..., n) -> (...)."""
        x = as_tensor(x, "x", torch.float64)
        check_last_dim(x, self.x_dim, "x")
        L = torch.linalg.cholesky(self.evidence_covariance())
        r = torch.linalg.solve_triangular(L, (x - self.b).unsqueeze(-1), upper=False).squeeze(-1)
        log_det = 2 * torch.log(torch.diagonal(L)).sum()
        return -0.5 * (self.x_dim * LOG_2PI + log_det + (r**2).sum(-1))

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Exact posterior p(z | x): (mean (..., q), covariance (q, q))."""
        x = as_tensor(x, "x", torch.float64)
        check_last_dim(x, self.x_dim, "x")
        eye = torch.eye(self.z_dim, dtype=torch.float64)
        S = torch.linalg.inv(eye + self.W.T @ self.W / self.noise_var)
        mean = (x - self.b) @ self.W @ S / self.noise_var
        return mean, S

    def elbo(self, x: Tensor, mu: Tensor, var: Tensor) -> Tensor:
        r"""Exact ELBO of a diagonal Gaussian :math:`q = \mathcal N(\mu, \mathrm{diag}(\mathrm{var}))`.

        .. math::
            V_L = E_q[\log p(x|z)] + E_q[\log p(z)] + H(q), \quad
            E_q[\log p(x|z)] = -\tfrac n2 \log 2\pi s^2
              - \frac{\|x - b - W\mu\|^2 + \mathrm{tr}(W \mathrm{diag}(\mathrm{var}) W^\top)}{2 s^2}

        Args:
            x: one observation, shape (n,).
            mu, var: q's mean and variance, shape (..., q).

        Returns:
            Tensor of shape (...); equals log p(x) - KL(q || p(z|x)).
        """
        x = as_tensor(x, "x", torch.float64)
        mu, var = as_tensor(mu, "mu", torch.float64), as_tensor(var, "var", torch.float64)
        check_last_dim(x, self.x_dim, "x")
        check_last_dim(mu, self.z_dim, "mu")
        check_positive(var, "var")
        check_broadcastable({"mu": mu, "var": var})
        resid = ((x - self.b - mu @ self.W.T) ** 2).sum(-1) + (var * (self.W**2).sum(0)).sum(-1)
        log_lik = -0.5 * (self.x_dim * (LOG_2PI + math.log(self.noise_var)) + resid / self.noise_var)
        log_prior = -0.5 * (self.z_dim * LOG_2PI + (mu**2 + var).sum(-1))
        entropy = 0.5 * (LOG_2PI + 1.0 + torch.log(var)).sum(-1)
        return log_lik + log_prior + entropy

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Draw (z, x) with shapes (n, q) and (n, n_x)."""
        z = torch.randn(n, self.z_dim, generator=generator, dtype=torch.float64)
        noise = torch.randn(n, self.x_dim, generator=generator, dtype=torch.float64)
        return z, z @ self.W.T + self.b + math.sqrt(self.noise_var) * noise


@dataclass(frozen=True)
class Latent1D:
    r"""A model with a scalar latent, solved by quadrature on a grid of z.

    .. math:: p(z) = \mathcal N(0, 1), \quad p(x | z) \text{ given by } \texttt{log\_likelihood}

    For one observed x, :meth:`log_evidence` is :math:`\log \int p(x|z)p(z)dz` on the
    grid, and :meth:`elbo` and :meth:`kl_to_posterior` of a Gaussian
    :math:`q = \mathcal N(\mu, \sigma^2)` are exact up to quadrature error, so
    :math:`\log p(x) = \mathrm{ELBO}(q) + D_{KL}(q \| p(z|x))` can be watched at work.

    Attributes:
        name: label for plots.
        log_likelihood: maps z (G,) to log p(x | z) (G,) for the observed x.
        x: the observed value (for captions).
        z_min, z_max, n_grid: the quadrature grid.
    """

    name: str
    log_likelihood: Callable[[Tensor], Tensor]
    x: float
    z_min: float = -6.0
    z_max: float = 6.0
    n_grid: int = 2401

    @property
    def z(self) -> Tensor:
        return torch.linspace(self.z_min, self.z_max, self.n_grid, dtype=torch.float64)

    @property
    def dz(self) -> float:
        return (self.z_max - self.z_min) / (self.n_grid - 1)

    def log_joint(self, z: Tensor) -> Tensor:
        """log p(x, z) = log p(x | z) + log N(z; 0, 1), any shape."""
        return self.log_likelihood(z) - 0.5 * (LOG_2PI + z**2)

    def log_evidence(self) -> Tensor:
        """log p(x) = log sum_k p(x, z_k) dz (a scalar)."""
        return torch.logsumexp(self.log_joint(self.z), 0) + math.log(self.dz)

    def log_posterior(self) -> Tensor:
        """log p(z | x) on the grid, shape (G,)."""
        return self.log_joint(self.z) - self.log_evidence()

    def _log_q(self, mu, var) -> Tensor:
        mu, var = as_tensor(mu, "mu", torch.float64), as_tensor(var, "var", torch.float64)
        check_positive(var, "var")
        check_broadcastable({"mu": mu, "var": var})
        z = self.z
        return -0.5 * (LOG_2PI + torch.log(var)[..., None] + (z - mu[..., None]) ** 2 / var[..., None])

    def elbo(self, mu, var) -> Tensor:
        r"""ELBO of q = N(mu, var): :math:`E_q[\log p(x, z) - \log q(z)]`, shape of ``mu``."""
        log_q = self._log_q(mu, var)
        q = log_q.exp()
        return (q * (self.log_joint(self.z) - log_q)).sum(-1) * self.dz

    def kl_to_posterior(self, mu, var) -> Tensor:
        r""":math:`D_{KL}(q \| p(z|x))` for q = N(mu, var), by quadrature."""
        log_q = self._log_q(mu, var)
        q = log_q.exp()
        return (q * (log_q - self.log_posterior())).sum(-1) * self.dz


def linear_latent_model(x: float = 1.5, w: float = 1.0, noise_var: float = 0.5) -> Latent1D:
    """x | z ~ N(w z, noise_var): the posterior is Gaussian, so q can close the gap."""
    check_positive(torch.tensor(float(noise_var)), "noise_var")
    def log_lik(z):
        return -0.5 * (LOG_2PI + math.log(noise_var) + (x - w * z) ** 2 / noise_var)
    return Latent1D(f"linear: x | z ~ N({w:g} z, {noise_var:g})", log_lik, x)


def squared_latent_model(x: float = 2.0, noise_var: float = 0.3) -> Latent1D:
    """x | z ~ N(z^2, noise_var): observing x > 0 leaves z = +-sqrt(x), a bimodal posterior."""
    check_positive(torch.tensor(float(noise_var)), "noise_var")
    def log_lik(z):
        return -0.5 * (LOG_2PI + math.log(noise_var) + (x - z**2) ** 2 / noise_var)
    return Latent1D(f"squared: x | z ~ N(z^2, {noise_var:g})", log_lik, x)
