r"""Langevin dynamics: sampling a density from its score (lecture: "Score function - example Langevin dynamics").

.. math:: X_{i+1} = X_i + \eta\,\nabla_x \log p(X_i) + \sqrt{2\eta}\,\xi_i, \qquad \xi_i \sim \mathcal N(0, I).

The drift climbs the log-density, the noise keeps the chain from collapsing onto the modes; as
:math:`\eta \to 0` and the number of steps grows, :math:`X_i` is distributed as p.

**The noise must match the step.** The slide writes the noise as :math:`\sqrt{2\alpha}\,\varepsilon_i`
with a separate constant :math:`\alpha`. With :math:`\alpha \ne \eta` the chain is the matched Langevin
chain of step :math:`\alpha` (drift :math:`\alpha\,\nabla\log q`, noise :math:`\sqrt{2\alpha}\,\xi`) for the
tempered density :math:`q = p^{\eta/\alpha}` (temperature :math:`T = \alpha/\eta`), since
:math:`\eta \nabla \log p = \alpha \nabla \log p^{\eta/\alpha}`: it samples :math:`p^{\eta/\alpha}`
(normalised), not p. :func:`langevin_step` takes ``alpha`` for that reason and defaults to the matched
:math:`\alpha = \eta`. (The step is :math:`\eta` throughout, the noise constant :math:`\alpha`: the lecture's
:math:`\varepsilon` for the step is kept for noise here.)

**The step must be small.** For a Gaussian :math:`\mathcal N(m, s^2)` the chain is linear and its
stationary law is known exactly (:func:`gaussian_stationary_variance`): the variance is inflated by
:math:`1/(1 - \eta/(2s^2))`, and for :math:`\eta \ge 2 s^2` the chain diverges. The bias starts long
before the divergence: on the lecture's two-Gaussian mixture, the narrow mode's share of the chains falls
from its weight 0.3 as the step grows well below :math:`2 s^2` (:func:`mode_share`).

Taught in notebook ``06_sde_langevin``.

Shapes: points (n, d); a score is a function ``score(x (n, d)) -> (n, d)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ..core.threads import one_thread
from ..core.validation import as_tensor, check_int, check_same_shape
from ..data.mixtures import GaussianMixture

__all__ = [
    "Score",
    "gaussian_stationary_variance",
    "langevin_chain",
    "langevin_step",
    "langevin_sampler",
    "max_stable_step",
    "mode_share",
    "tempered_marginal",
    "temperature",
    "two_gaussians",
]

Score = Callable[[Tensor], Tensor]


def _check_step(eta: float, alpha: float | None) -> float:
    if not eta > 0:
        raise ValueError(f"the step eta must be > 0, got {eta}")
    alpha = eta if alpha is None else alpha
    if not alpha >= 0:
        raise ValueError(f"the noise scale alpha must be >= 0 (the noise is sqrt(2 alpha) xi), got {alpha}")
    return float(alpha)


def temperature(eta: float, alpha: float | None = None) -> float:
    r"""The temperature :math:`T = \alpha / \eta` of the chain; it samples :math:`p^{1/T}` (1: matched)."""
    return _check_step(eta, alpha) / eta


def langevin_step(score: Score, x: Tensor, eta: float, xi: Tensor, alpha: float | None = None) -> Tensor:
    r"""One Langevin step :math:`x + \eta\,\nabla\log p(x) + \sqrt{2\alpha}\,\xi` (:math:`\alpha = \eta` by default).

    Args:
        score: ``score(x) -> (n, d)``, the gradient of log p.
        x: current points, shape (n, d).
        eta: the step size, > 0.
        xi: standard normal noise, shape (n, d).
        alpha: the noise scale; leave None for the matched chain that samples p.
    """
    alpha = _check_step(eta, alpha)
    x = as_tensor(x, "x")
    check_same_shape(x, xi, "x", "xi")
    return x + eta * score(x) + math.sqrt(2 * alpha) * xi


def langevin_sampler(score: Score, x0: Tensor, eta: float, xi: Tensor) -> Tensor:
    r"""K = len(xi) matched Langevin steps from ``x0``.

    .. math:: X_{i+1} = X_i + \eta\,\nabla\log p(X_i) + \sqrt{2\eta}\,\xi_i, \qquad i = 0, \dots, K - 1.

    The sampler of the slide "Score function - example Langevin dynamics" with its slip corrected: the
    noise's variance is :math:`2\eta`, tied to the step (the slide's separate constant :math:`\alpha` samples
    the tempered :math:`p^{\eta/\alpha}`).

    Args:
        score: ``score(x (n, d)) -> (n, d)``, the gradient of log p.
        x0: the starting points, shape (n, d).
        eta: the step, > 0.
        xi: the standard normal noise of every step, shape (K, n, d).

    Returns:
        :math:`X_K`, shape (n, d) (``x0`` itself when K = 0).

    Graded in exercise 6.3 (notebook ``06_sde_langevin``).
    """
    _check_step(eta, None)
    x = as_tensor(x0, "x0")
    xi = as_tensor(xi, "xi", x.dtype)
    if xi.ndim != 3 or xi.shape[1:] != x.shape:
        raise ValueError(f"xi must have shape (K, *x0.shape) = (K, {', '.join(map(str, x.shape))}), "
                         f"got {tuple(xi.shape)}")
    noise_scale = math.sqrt(2 * eta)
    for xi_k in xi:
        x = x + eta * score(x) + noise_scale * xi_k
    return x


@torch.no_grad()
def langevin_chain(score: Score, x0, eta: float, n_steps: int, alpha: float | None = None,
                   generator: torch.Generator | None = None, return_path: bool = False) -> Tensor:
    r"""Run ``n_steps`` Langevin steps from ``x0`` (shape (n, d)) with step eta and noise scale alpha.

    Returns the last state (n, d), or with ``return_path`` every state, (n_steps + 1, n, d).
    A chain whose step is too large overflows to inf or nan; it is returned as it is.
    """
    alpha = _check_step(eta, alpha)
    check_int(n_steps, "n_steps", 0)
    x = as_tensor(x0, "x0")
    if x.ndim != 2:
        raise ValueError(f"x0 must have shape (n, d), got {tuple(x.shape)}")
    xi = torch.randn((n_steps, *x.shape), generator=generator, dtype=x.dtype)
    noise_scale = math.sqrt(2 * alpha)
    states = [x]
    with one_thread():  # small tensors: the thread pool only adds latency
        for i in range(n_steps):  # langevin_step without its checks, which the loop already made
            x = x + eta * score(x) + noise_scale * xi[i]
            if return_path:
                states.append(x)
    return torch.stack(states) if return_path else x


def gaussian_stationary_variance(var: float, eta: float, alpha: float | None = None) -> float:
    r"""The exact stationary variance of the Langevin chain on :math:`\mathcal N(m, s^2)` (per coordinate).

    The chain is :math:`X' = (1 - \eta/s^2) X + \eta m/s^2 + \sqrt{2\alpha}\,\xi`, an AR(1) process whose
    stationary law is :math:`\mathcal N(m, v)` with

    .. math:: v = \frac{2\alpha}{1 - (1 - \eta/s^2)^2} = \frac{\alpha}{\eta}\,\frac{s^2}{1 - \eta / (2 s^2)}

    (:math:`s^2` when :math:`\alpha = \eta \to 0`; :math:`T s^2`, the tempered Gaussian, when only
    :math:`\eta \to 0`). Raises ValueError when :math:`\eta \ge 2 s^2`: the chain then diverges.

    Args:
        var: the target's variance :math:`s^2`, > 0.
        eta: the step, in (0, 2 s^2).
        alpha: the noise constant (None: matched, :math:`\alpha = \eta`).

    Graded in exercise 6.4 (notebook ``06_sde_langevin``).
    """
    alpha = _check_step(eta, alpha)
    if not var > 0:
        raise ValueError(f"var is a variance and must be > 0, got {var}")
    if eta >= max_stable_step(var):
        raise ValueError(f"eta = {eta} >= 2 s^2 = {2 * var}: the chain diverges, it has no stationary law")
    return alpha / eta * var / (1 - eta / (2 * var))


def max_stable_step(var: float) -> float:
    r"""The largest stable Langevin step on a Gaussian of variance :math:`s^2`: :math:`2 s^2`."""
    return 2.0 * var


def two_gaussians() -> GaussianMixture:
    """The lecture's example (Song 2022's figure): a mixture of two Gaussians in 2-D, unequal weights.

    0.3 N((-1.2, -0.6), 0.3 I) + 0.7 N((1.2, 0.6), 0.45 I).
    """
    return GaussianMixture(torch.tensor([0.3, 0.7]), torch.tensor([[-1.2, -0.6], [1.2, 0.6]]),
                           torch.tensor([0.3, 0.45]))


def mode_share(mixture: GaussianMixture, x: Tensor, k: int) -> float:
    """The share of the points x (n, d) that component k of ``mixture`` is most responsible for.

    A simple way to read how much mass a sampler puts in each mode: 0.3 for the narrow mode of
    :func:`two_gaussians` on exact samples (up to the few points where the modes overlap).
    """
    x = as_tensor(x, "x", torch.float64)
    if not 0 <= k < len(mixture.weights):
        raise ValueError(f"k must index a component (0 .. {len(mixture.weights) - 1}), got {k}")
    r = mixture.responsibilities(x)
    return float((r.argmax(1) == k).double().mean())


def tempered_marginal(mixture: GaussianMixture, power: float, axis: Tensor, other: Tensor,
                      coordinate: int = 0) -> Tensor:
    r"""The density of one coordinate of :math:`p^{\text{power}} / Z` for a 2-D mixture, on a grid.

    :math:`p^{\eta/\alpha}` is not a mixture any more, so it is normalised numerically: its log is
    evaluated on the grid ``axis`` x ``other`` (the coordinate shown, and the one integrated out),
    exponentiated and summed over ``other``. ``power = 1`` gives p's own marginal.

    Args:
        mixture: a 2-D :class:`GaussianMixture`.
        power: the exponent :math:`\eta/\alpha = 1/T`, > 0.
        axis: evenly spaced values of the shown coordinate, shape (G,).
        other: evenly spaced values of the other coordinate, wide enough to hold the mass, shape (H,).
        coordinate: 0 (x_1 shown) or 1 (x_2 shown).

    Returns:
        The marginal density on ``axis``, shape (G,), integrating to 1 (float64).
    """
    if mixture.dim != 2 or coordinate not in (0, 1):
        raise ValueError(f"needs a 2-D mixture and coordinate 0 or 1; got d = {mixture.dim}, coordinate {coordinate}")
    if not power > 0:
        raise ValueError(f"power (eta / alpha) must be > 0, got {power}")
    axis, other = as_tensor(axis, "axis", torch.float64), as_tensor(other, "other", torch.float64)
    a, o = torch.meshgrid(axis, other, indexing="ij")
    pts = torch.stack([a, o] if coordinate == 0 else [o, a], dim=-1)
    log_p = power * mixture.log_prob(pts)                       # (G, H)
    da, do = float(axis[1] - axis[0]), float(other[1] - other[0])
    log_z = torch.logsumexp(log_p.flatten(), 0) + math.log(da * do)
    return torch.exp(log_p - log_z).sum(1) * do
