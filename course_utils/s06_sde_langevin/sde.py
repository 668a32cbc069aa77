r"""Stochastic differential equations (lecture: "Diffusion models", the SDE introduction to Theorem 2).

An SDE adds a random kick to the ODE of a flow:

.. math:: dX_t = v_t(X_t)\,dt + \sigma_t\,dW_t, \qquad X_0 = x_0,

with a drift :math:`v_t` (a vector field, as in :mod:`course_utils.core.ode`), a diffusion coefficient
:math:`\sigma_t \ge 0` and a Brownian motion :math:`W_t`. This module holds:

- Brownian motion, simulated with :math:`W_{t+h} = W_t + \sqrt h\,\varepsilon_t` (:func:`brownian_paths`);
- the Euler-Maruyama scheme :math:`X_{t+h} = X_t + h\,v_t(X_t) + \sqrt h\,\sigma_t\,\varepsilon_t`
  (:func:`euler_maruyama_step`, :func:`euler_maruyama`), with n steps i = 0, ..., n - 1 so that the
  last one reaches the end time (the slides' loop stops one step early, see ERRATA);
- the Ornstein-Uhlenbeck process :math:`dX = -\theta (X - \mu)\,dt + \sigma\,dW` and its Gaussian
  marginals in closed form (:func:`ou_marginal`);
- Theorem 2: for a probability path :math:`p_t` with velocity :math:`u_t`, every SDE

  .. math:: dX_t = \Big[u_t(X_t) + \frac{\sigma_t^2}{2} \nabla \log p_t(X_t)\Big] dt + \sigma_t\,dW_t,
            \qquad X_0 \sim p_0

  has the same marginals :math:`X_t \sim p_t` (:func:`sde_drift`; :meth:`MixturePath.broken_drift` breaks
  it). Run backwards in time (data to noise) the drift becomes :math:`u_t - \frac{\sigma_t^2}{2}\nabla\log p_t`.
  :class:`MixturePath` gives the exact :math:`u_t` and :math:`\nabla \log p_t` of Gaussian-mixture data, and
  :func:`three_dynamics` runs the noising SDE, the generative SDE and the probability-flow ODE side by side.

Taught in notebook ``06_sde_langevin``.

Shapes: points are (n, d); a drift is called ``v(x (n, d), t (n, 1)) -> (n, d)``, the signature of
:mod:`course_utils.core.ode`; paths are returned as (n_steps + 1, n, d), like ``ode.integrate(return_path=True)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..core.ode import VectorField, integrate, time_grid
from ..core.threads import one_thread
from ..core.validation import as_tensor, check_same_shape
from ..data.mixtures import GaussianMixture
from ..s05_flow_matching import probability_paths

__all__ = [
    "T_MIN",
    "BrownianSample",
    "Dynamics",
    "MixturePath",
    "MixtureScore",
    "brownian_motion",
    "brownian_paths",
    "closest_approach",
    "crossing_pairs",
    "euler_maruyama",
    "euler_maruyama_step",
    "mixture_score",
    "ou_drift",
    "ou_marginal",
    "sde_drift",
    "three_dynamics",
]

#: Where the SDEs of a Gaussian path start: at t = 0, alpha_0 = 0 and the score -> velocity conversion
#: divides by alpha_t (see :func:`course_utils.s05_flow_matching.probability_paths.score_to_velocity`), so they run
#: on [T_MIN, 1].
T_MIN = 0.01

Sigma = float | Callable[[float], float]


def _sigma_at(sigma: Sigma, t: float) -> float:
    value = float(sigma(t)) if callable(sigma) else float(sigma)
    if not value >= 0:
        raise ValueError(f"the diffusion coefficient sigma_t must be >= 0, got {value} at t = {t:.4g}")
    return value


# --- Brownian motion -------------------------------------------------------------------------


def brownian_paths(eps, h: float) -> Tensor:
    r"""Brownian paths from standard normal increments: :math:`W_0 = 0`, :math:`W_{k+1} = W_k + \sqrt h\,\varepsilon_k`.

    Args:
        eps: standard normal draws, shape (n_steps, n, d) (one per step, path and coordinate).
        h: the step size, > 0.

    Returns:
        W at times 0, h, ..., n_steps h: shape (n_steps + 1, n, d), the first row zero.

    It is the Euler-Maruyama scheme (:func:`euler_maruyama_step`) for :math:`dX = dW` (drift 0, sigma 1).
    """
    eps = as_tensor(eps, "eps")
    if eps.ndim != 3:
        raise ValueError(f"eps must have shape (n_steps, n, d), got {tuple(eps.shape)}")
    if not h > 0:
        raise ValueError(f"the step size h must be > 0, got {h}")
    steps = math.sqrt(h) * eps
    return torch.cat([torch.zeros_like(eps[:1]), steps.cumsum(dim=0)], dim=0)


@dataclass(frozen=True)
class BrownianSample:
    """Brownian paths on a time grid: times (n_steps + 1,) and W (n_steps + 1, n, d)."""

    times: Tensor
    W: Tensor


def brownian_motion(n_paths: int, n_steps: int, t1: float = 1.0, dim: int = 1,
                    generator: torch.Generator | None = None) -> BrownianSample:
    """``n_paths`` Brownian motions in ``dim`` dimensions on [0, t1] with ``n_steps`` steps (float64)."""
    if n_paths < 1 or n_steps < 1 or dim < 1 or not t1 > 0:
        raise ValueError(f"need n_paths, n_steps, dim >= 1 and t1 > 0; got {n_paths}, {n_steps}, {dim}, {t1}")
    eps = torch.randn(n_steps, n_paths, dim, generator=generator, dtype=torch.float64)
    return BrownianSample(time_grid(n_steps, 0.0, t1), brownian_paths(eps, t1 / n_steps))


# --- Euler-Maruyama ----------------------------------------------------------------------------


def _call(v: VectorField, x: Tensor, t: float) -> Tensor:
    out = v(x, torch.full((x.shape[0], 1), float(t), dtype=x.dtype))
    if not isinstance(out, Tensor) or out.shape != x.shape:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"the drift must return a tensor of shape {tuple(x.shape)} (like x), got {shape}")
    return out


def euler_maruyama_step(v: VectorField, x: Tensor, t: float, h: float, sigma_t: float, eps: Tensor) -> Tensor:
    r"""One Euler-Maruyama step :math:`X_{t+h} = X_t + h\,v_t(X_t) + \sqrt{|h|}\,\sigma_t\,\varepsilon_t`.

    Args:
        v: the drift ``v(x (n, d), t (n, 1)) -> (n, d)``.
        x: the current state, shape (n, d); t: the current time.
        h: the step (negative to integrate backwards in time; the noise then scales with sqrt(|h|)).
        sigma_t: the diffusion coefficient at t, >= 0.
        eps: standard normal noise, shape (n, d).

    Graded in exercise 6.1 (notebook ``06_sde_langevin``).
    """
    check_same_shape(x, eps, "x", "eps")
    if not sigma_t >= 0:
        raise ValueError(f"sigma_t must be >= 0, got {sigma_t}")
    return x + h * _call(v, x, t) + math.sqrt(abs(h)) * sigma_t * eps


@torch.no_grad()
def euler_maruyama(v: VectorField, sigma: Sigma, x0, t0: float = 0.0, t1: float = 1.0, n_steps: int = 100,
                   generator: torch.Generator | None = None, return_path: bool = False) -> Tensor:
    r"""Simulate :math:`dX_t = v_t(X_t)\,dt + \sigma_t\,dW_t` from :math:`X_{t_0} = x_0` to :math:`t_1`.

    ``n_steps`` steps of size :math:`h = (t_1 - t_0)/n`, at times :math:`t_i = t_0 + i h` for
    i = 0, ..., n - 1, so that the last step lands on :math:`t_1` (the slide's loop
    "for i = 1, ..., n - 1" takes one step too few and stops at :math:`1 - h`). With :math:`t_1 < t_0`
    it runs backwards in time. Runs without autograd.

    Args:
        v: the drift ``v(x (n, d), t (n, 1)) -> (n, d)``.
        sigma: the diffusion coefficient, a number or a function ``t -> sigma_t``.
        x0: starting points, shape (n, d).
        n_steps: a positive int; generator: the noise's random generator.
        return_path: also return every intermediate state.

    Returns:
        X at t1, shape (n, d); with ``return_path``, shape (n_steps + 1, n, d), the first being x0.
    """
    x = as_tensor(x0, "x0")
    if x.ndim != 2:
        raise ValueError(f"x0 must have shape (n, d), got {tuple(x.shape)}")
    times = time_grid(n_steps, t0, t1).tolist()
    path = [x]
    with one_thread():  # small tensors: the thread pool only adds latency
        for i in range(n_steps):  # i = 0, ..., n - 1: the last step ends at t1
            t, h = times[i], times[i + 1] - times[i]
            eps = torch.randn(x.shape, generator=generator, dtype=x.dtype)
            x = euler_maruyama_step(v, x, t, h, _sigma_at(sigma, t), eps)
            if return_path:
                path.append(x)
    return torch.stack(path) if return_path else x


# --- Ornstein-Uhlenbeck -------------------------------------------------------------------------


def ou_drift(theta: float, mu: float = 0.0) -> VectorField:
    r"""The Ornstein-Uhlenbeck drift :math:`v_t(x) = -\theta (x - \mu)`, a pull towards :math:`\mu` (theta >= 0)."""
    if not theta >= 0:
        raise ValueError(f"theta (the pull's rate) must be >= 0, got {theta}")

    def v(x: Tensor, t: Tensor) -> Tensor:
        return -theta * (x - mu)

    return v


def ou_marginal(t, theta: float, sigma: float, x0_mean=0.0, x0_var=0.0, mu: float = 0.0) -> tuple[Tensor, Tensor]:
    r"""Mean and variance of the Ornstein-Uhlenbeck process :math:`dX = -\theta(X - \mu)\,dt + \sigma\,dW`,
    :math:`X_0 \sim \mathcal N(m_0, v_0)`:

    .. math:: E[X_t] = \mu + (m_0 - \mu) e^{-\theta t}, \qquad
              \mathrm{Var}[X_t] = v_0 e^{-2\theta t} + \frac{\sigma^2}{2\theta}\big(1 - e^{-2\theta t}\big)

    (per coordinate; :math:`\sigma^2 t` at :math:`\theta = 0`, Brownian motion). ``x0_var = 0`` starts from the
    point :math:`m_0`. t: a number or a tensor of times >= 0; returns two float64 tensors of t's shape
    (broadcast with ``x0_mean``).
    """
    t = as_tensor(t, "t", torch.float64)
    if bool((t < 0).any()) or not theta >= 0 or not sigma >= 0 or not float(torch.as_tensor(x0_var).min()) >= 0:
        raise ValueError(f"need t >= 0, theta >= 0, sigma >= 0 and x0_var >= 0; got theta {theta}, sigma {sigma}")
    decay = torch.exp(-theta * t)
    # (1 - e^{-2 theta t}) / (2 theta), written with expm1 so that theta -> 0 gives t
    spread = t if theta == 0 else -torch.expm1(-2 * theta * t) / (2 * theta)
    mean = mu + (as_tensor(x0_mean, "x0_mean", torch.float64) - mu) * decay
    var = as_tensor(x0_var, "x0_var", torch.float64) * decay**2 + sigma**2 * spread
    return mean, var


# --- Theorem 2: an SDE with the marginals of a probability path ----------------------------------


def sde_drift(velocity, score, sigma_t) -> Tensor:
    r"""The drift of Theorem 2: :math:`u_t(x) + \frac{\sigma_t^2}{2}\nabla\log p_t(x)`.

    velocity, score: shape (n, d); sigma_t: a number or a tensor broadcasting against them, (n, 1).
    """
    velocity, score = as_tensor(velocity, "velocity"), as_tensor(score, "score")
    check_same_shape(velocity, score, "velocity", "score")
    return velocity + 0.5 * as_tensor(sigma_t, "sigma_t", velocity.dtype) ** 2 * score


class MixtureScore:
    r"""The score of an isotropic Gaussian mixture :math:`p = \sum_k \pi_k \mathcal N(m_k, s_k^2 I)` (slide
    "Score function"), as a function of x with its constants computed once:

    .. math:: \nabla_x \log p(x) = \sum_k r_k(x)\,\frac{m_k - x}{s_k^2}, \qquad
              r_k(x) = \operatorname{softmax}_k\Big(\log \pi_k - \tfrac d2 \log(2\pi s_k^2)
              - \frac{\|x - m_k\|^2}{2 s_k^2}\Big)

    (:math:`r_k` are the responsibilities :math:`p(k \mid x)`). The lean version of
    :meth:`course_utils.data.mixtures.GaussianMixture.score` that the SDE and Langevin demos call at every step.

    Args:
        weights: pi_k, shape (K,); means: m_k, shape (K, d); variances: s_k^2, shape (K,).
        dtype: the dtype of the points it will be called on.
    """

    def __init__(self, weights, means, variances, dtype: torch.dtype = torch.float64):
        weights, means, variances = (as_tensor(a, name, dtype) for a, name in
                                     ((weights, "weights"), (means, "means"), (variances, "variances")))
        if means.ndim != 2 or weights.shape != variances.shape or weights.shape != means.shape[:1]:
            raise ValueError(f"expected weights (K,), means (K, d), variances (K,); got {tuple(weights.shape)}, "
                             f"{tuple(means.shape)}, {tuple(variances.shape)}")
        if bool((variances <= 0).any()) or bool((weights <= 0).any()):
            raise ValueError("the weights and variances of a mixture must be > 0")
        self.means, self.variances = means, variances
        self.log_norm = torch.log(weights) - 0.5 * means.shape[1] * torch.log(2 * math.pi * variances)   # (K,)
        self.half_precision = 0.5 / variances                                                          # (K,)
        self.precision = 1.0 / variances

    def __call__(self, x: Tensor) -> Tensor:
        """The score at x (n, d), shape (n, d)."""
        if x.ndim != 2 or x.shape[1] != self.means.shape[1]:
            raise ValueError(f"x must have shape (n, {self.means.shape[1]}), got {tuple(x.shape)}")
        diff = x[:, None, :] - self.means                                          # (n, K, d)
        r = torch.softmax(self.log_norm - (diff * diff).sum(-1) * self.half_precision, dim=1)
        return -((r * self.precision)[:, :, None] * diff).sum(1)


def mixture_score(x: Tensor, weights, means, variances) -> Tensor:
    """The score of a Gaussian mixture at x (n, d): :class:`MixtureScore` built and called once. Shape (n, d).

    Graded in exercise 6.2 (notebook ``06_sde_langevin``).
    """
    return MixtureScore(weights, means, variances, x.dtype)(x)


@dataclass(frozen=True)
class MixturePath:
    r"""The exact fields of a Gaussian path whose data :math:`p_1` is an isotropic Gaussian mixture.

    :math:`p_t = \sum_k \pi_k \mathcal N(\alpha_t m_k, (\alpha_t^2 s_k^2 + \beta_t^2) I)` is again a mixture
    (:func:`course_utils.s05_flow_matching.probability_paths.marginal_mixture`), so its score is exact, and the
    velocity follows from the score by the conversion of
    :func:`course_utils.s05_flow_matching.probability_paths.score_to_velocity` (defined for t > 0 only).
    Fields take ``(x (n, d), t (n, 1))`` with one common time, or a number t.
    """

    mixture: GaussianMixture
    path: str | probability_paths.GaussianPath = "linear"

    def marginal(self, t: float) -> GaussianMixture:
        """The exact :math:`p_t`."""
        return probability_paths.marginal_mixture(self.mixture, float(t), self.path)

    def _coefficients(self, t) -> tuple[float, float, float, float]:
        t = float(torch.as_tensor(t).reshape(-1)[0])
        if not 0 <= t <= 1:
            raise ValueError(f"t must lie in [0, 1], got {t}")
        s, tt = probability_paths.gaussian_path(self.path), torch.tensor(t, dtype=torch.float64)
        return float(s.alpha(tt)), float(s.beta(tt)), float(s.d_alpha(tt)), float(s.d_beta(tt))

    def score(self, x: Tensor, t) -> Tensor:
        r""":math:`\nabla \log p_t(x)`, shape (n, d)."""
        a, b, _, _ = self._coefficients(t)
        m = self.mixture
        return mixture_score(x, m.weights, a * m.means, a**2 * m.variances + b**2)

    def fields(self, x: Tensor, t) -> tuple[Tensor, Tensor]:
        r"""(:math:`u_t(x)`, :math:`\nabla\log p_t(x)`), each (n, d); t > 0.

        :math:`u_t = \frac{\dot\alpha_t}{\alpha_t} x + \big(\beta_t^2 \frac{\dot\alpha_t}{\alpha_t}
        - \dot\beta_t \beta_t\big) \nabla \log p_t`.
        """
        a, b, da, db = self._coefficients(t)
        if a <= 0:
            raise ValueError("the velocity follows from the score only for t > 0 (alpha_t > 0): start at t_min")
        score = self.score(x, t)
        return da / a * x + (b**2 * da / a - db * b) * score, score

    def velocity(self, x: Tensor, t) -> Tensor:
        """:math:`u_t(x)`, shape (n, d); t > 0."""
        return self.fields(x, t)[0]

    def drift(self, sigma: Sigma, direction: int = 1) -> VectorField:
        r"""The SDE drift :math:`u_t + \text{direction}\cdot\frac{\sigma_t^2}{2}\nabla\log p_t`.

        direction = +1: the generative SDE, run forwards in t (noise to data);
        direction = -1: the noising SDE, run backwards in t (data to noise), as in
        ``euler_maruyama(drift, sigma, x1, 1.0, t_min)``.
        """
        if direction not in (1, -1):
            raise ValueError(f"direction must be +1 (generative) or -1 (noising), got {direction}")

        def v(x: Tensor, t: Tensor) -> Tensor:
            u, s = self.fields(x, t)
            return sde_drift(u, direction * s, _sigma_at(sigma, float(t[0])))

        return v

    def broken_drift(self, sigma: Sigma, score_factor: float) -> VectorField:
        r"""A deliberately wrong drift, :math:`u_t + \text{score\_factor}\cdot\frac{\sigma_t^2}{2}\nabla\log p_t`.

        ``score_factor = 0`` drops the score term, ``-1`` flips its sign (run forwards in t, as the
        generative SDE). Only ``score_factor = 1`` keeps the marginals :math:`p_t` (Theorem 2); the notebook's
        "break it" rows show what the others do.
        """

        def v(x: Tensor, t: Tensor) -> Tensor:
            u, s = self.fields(x, t)
            return sde_drift(u, score_factor * s, _sigma_at(sigma, float(t[0])))

        return v


# --- do the ODE's paths cross? ----------------------------------------------------------------------


def _orient(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """The sign of the cross product (b - a) x (c - a), broadcast over leading axes; points (..., 2)."""
    return torch.sign((b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1])
                      - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0]))


def crossing_pairs(paths: Tensor) -> int:
    r"""How many pairs of 2-D trajectories cross as curves in the plane (ignoring time).

    Two polylines cross when a segment of one properly intersects a segment of the other (the end
    points of each segment lie strictly on opposite sides of the other's line). An ODE's trajectories never
    meet at the same (t, x) (the flow is a bijection at each t), but their curves in the plane may cross
    at different times: the velocity field changes with t.

    Args:
        paths: positions on a time grid, shape (n_steps + 1, n, 2).

    Returns:
        The number of crossing pairs among the n (n - 1) / 2.
    """
    paths = as_tensor(paths, "paths", torch.float64)
    if paths.ndim != 3 or paths.shape[2] != 2:
        raise ValueError(f"paths must have shape (n_steps + 1, n, 2), got {tuple(paths.shape)}")
    seg_a, seg_b = paths[:-1].transpose(0, 1), paths[1:].transpose(0, 1)        # (n, S, 2) each
    count = 0
    with one_thread():
        for i in range(paths.shape[1] - 1):
            a0, a1 = seg_a[i][None, :, None], seg_b[i][None, :, None]           # (1, S, 1, 2)
            b0, b1 = seg_a[i + 1:, None], seg_b[i + 1:, None]                   # (m, 1, S, 2)
            hits = ((_orient(a0, a1, b0) * _orient(a0, a1, b1) < 0)
                    & (_orient(b0, b1, a0) * _orient(b0, b1, a1) < 0))          # (m, S, S)
            count += int(hits.flatten(1).any(1).sum())
    return count


def closest_approach(paths: Tensor) -> float:
    r"""The smallest distance between two trajectories at the same time: :math:`\min_{t, i \ne j}\|x_i(t) - x_j(t)\|`.

    paths: shape (n_steps + 1, n, d). Positive when no two trajectories ever meet at the same (t, x).
    """
    paths = as_tensor(paths, "paths", torch.float64)
    if paths.ndim != 3 or paths.shape[1] < 2:
        raise ValueError(f"paths must have shape (n_steps + 1, n >= 2, d), got {tuple(paths.shape)}")
    dist = torch.cdist(paths, paths)                                            # (T, n, n)
    eye = torch.eye(paths.shape[1], dtype=torch.bool).expand_as(dist)
    return float(dist.masked_fill(eye, float("inf")).min())


@dataclass(frozen=True)
class Dynamics:
    """Three simulations of one probability path, all stored on the same increasing time grid.

    Attributes:
        times: (n_steps + 1,) from t_min to 1.
        noising: the SDE run backwards from data X_1 ~ p_1 (forward in diffusion terms), (n_steps + 1, n, d).
        generative: the SDE run forwards from X_{t_min} ~ p_{t_min} (the reverse process), same shape.
        ode: the probability-flow ODE dX = u_t(X) dt from the same start as ``generative``, same shape.
        sigma: the diffusion coefficient used (a number).
    """

    times: Tensor
    noising: Tensor
    generative: Tensor
    ode: Tensor
    sigma: float


def three_dynamics(mixture: GaussianMixture, sigma: float, n: int = 500, n_steps: int = 100,
                   t_min: float = T_MIN, seed: int = 0,
                   path: str | probability_paths.GaussianPath = "linear") -> Dynamics:
    r"""Noising SDE, generative SDE and probability-flow ODE for Gaussian-mixture data, on [t_min, 1].

    All three have the marginals :math:`p_t` at every t (Theorem 2); their particles differ.
    The generative SDE and the ODE start from the exact :math:`p_{t_{min}}` (the same points), the
    noising SDE from the data :math:`p_1`. Float64.
    """
    mp = MixturePath(mixture, path)
    g = torch.Generator().manual_seed(seed)
    start = mp.marginal(t_min).sample(n, g)
    data = mixture.sample(n, g)
    generative = euler_maruyama(mp.drift(sigma, +1), sigma, start, t_min, 1.0, n_steps, g, return_path=True)
    noising = euler_maruyama(mp.drift(sigma, -1), sigma, data, 1.0, t_min, n_steps, g, return_path=True)
    with one_thread():
        ode_path = integrate(mp.velocity, start, t_min, 1.0, n_steps, "euler", return_path=True)
    return Dynamics(time_grid(n_steps, t_min, 1.0), noising.flip(0), generative, ode_path, float(sigma))
