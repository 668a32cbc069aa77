r"""Gaussian probability paths, in the flow matching convention (lecture: "Flow Matching").

Time runs from noise to data: :math:`p_0 = \mathcal N(0, I)`, :math:`p_1 = p_{\text{data}}`.
Given a data point z, the conditional path and its sample are

.. math:: p_t(x \mid z) = \mathcal N(\alpha_t z, \beta_t^2 I), \qquad
          x_t = \alpha_t z + \beta_t \varepsilon, \quad \varepsilon \sim \mathcal N(0, I),

with a scheduler :math:`(\alpha_t, \beta_t)`, :math:`\alpha_0 = \beta_1 = 0`, :math:`\alpha_1 = \beta_0 = 1`.
The conditional velocity field, the conditional score, and the marginal ones:

.. math:: u_t(x \mid z) = \dot\alpha_t z + \frac{\dot\beta_t}{\beta_t}(x - \alpha_t z), \qquad
          \nabla \log p_t(x \mid z) = -\frac{x - \alpha_t z}{\beta_t^2}, \qquad
          u_t(x) = \mathbb E_{z \sim p(z \mid x_t = x)}\big[u_t(x \mid z)\big].

Score and velocity are affine in each other for every Gaussian path (conditional and marginal alike):

.. math:: u_t(x) = \frac{\dot\alpha_t}{\alpha_t} x
          + \Big(\beta_t^2 \frac{\dot\alpha_t}{\alpha_t} - \dot\beta_t \beta_t\Big) \nabla \log p_t(x).

Shapes: points x, z, eps are (n, d); time t is a float, a 0-d tensor, or a tensor of shape (n,)
or (n, 1), broadcast to (n, 1) by :func:`expand_t`. Everything works for d = 2 (toy data) and
d = 64 (8x8 digits) alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..core.validation import as_points, as_tensor, check_same_shape, check_unit_interval
from ..data.mixtures import GaussianMixture

__all__ = [
    "GAUSSIAN_PATHS",
    "CosinePath",
    "LinearPath",
    "PathSample",
    "GaussianPath",
    "conditional_score",
    "conditional_velocity",
    "expand_t",
    "marginal_mixture",
    "marginal_score",
    "marginal_velocity",
    "mixture_velocity",
    "sample_path",
    "gaussian_path",
    "score_to_velocity",
    "velocity_to_score",
]


# --- time ----------------------------------------------------------------------------------


def expand_t(t, x: Tensor) -> Tensor:
    """Broadcast time ``t`` (float, 0-d, (n,) or (n, 1)) to shape (n, 1) beside points x of shape (n, d).

    Raises ValueError for t outside [0, 1] or a batch size that does not match x's.
    """
    t = as_tensor(t, "t", x.dtype)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim > 1 or (t.ndim == 1 and t.shape[0] not in (1, x.shape[0])):
        raise ValueError(f"t must be a number or have shape ({x.shape[0]},) or ({x.shape[0]}, 1) "
                         f"to match x of shape {tuple(x.shape)}; got {tuple(t.shape)}")
    check_unit_interval(t)
    return t.reshape(-1, 1).expand(x.shape[0], 1)


def _data_points(z, x: Tensor) -> Tensor:
    """z as (n, d) beside x (n, d); a single point (1, d) or (d,) is broadcast to every row."""
    z = as_tensor(z, "z", x.dtype)
    if z.ndim == 1:
        z = z[None, :]
    if z.ndim != 2 or z.shape[1] != x.shape[1] or z.shape[0] not in (1, x.shape[0]):
        raise ValueError(f"z must have shape ({x.shape[0]}, {x.shape[1]}) or (1, {x.shape[1]}) to match x; "
                         f"got {tuple(z.shape)}")
    return z.expand_as(x)


# --- schedulers ----------------------------------------------------------------------------


class GaussianPath:
    r"""A Gaussian path's coefficients :math:`\alpha_t, \beta_t` and their time derivatives.

    Subclasses define :meth:`alpha`, :meth:`beta`, :meth:`d_alpha`, :meth:`d_beta` on tensors t
    in [0, 1] (any shape), with :math:`\alpha_0 = \beta_1 = 0` and :math:`\alpha_1 = \beta_0 = 1`.
    """

    name = "scheduler"

    def alpha(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def beta(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def d_alpha(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def d_beta(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class LinearPath(GaussianPath):
    r""":math:`\alpha_t = t,\ \beta_t = 1 - t` (the conditional optimal-transport path):
    :math:`x_t = t x_1 + (1 - t) x_0` and the target velocity is :math:`x_1 - x_0`."""

    name = "linear"

    def alpha(self, t):
        return t

    def beta(self, t):
        return 1 - t

    def d_alpha(self, t):
        return torch.ones_like(t)

    def d_beta(self, t):
        return -torch.ones_like(t)


class CosinePath(GaussianPath):
    r""":math:`\alpha_t = \sin(\pi t / 2),\ \beta_t = \cos(\pi t / 2)`: variance preserving,
    :math:`\alpha_t^2 + \beta_t^2 = 1`."""

    name = "cosine"

    def alpha(self, t):
        return torch.sin(0.5 * math.pi * t)

    def beta(self, t):
        return torch.cos(0.5 * math.pi * t)

    def d_alpha(self, t):
        return 0.5 * math.pi * torch.cos(0.5 * math.pi * t)

    def d_beta(self, t):
        return -0.5 * math.pi * torch.sin(0.5 * math.pi * t)


#: The schedulers by name.
GAUSSIAN_PATHS: dict[str, type[GaussianPath]] = {"linear": LinearPath, "cosine": CosinePath}


def gaussian_path(name_or_scheduler: str | GaussianPath = "linear") -> GaussianPath:
    """A :class:`GaussianPath` from its name (``"linear"``, ``"cosine"``), or the scheduler itself."""
    if isinstance(name_or_scheduler, GaussianPath):
        return name_or_scheduler
    if name_or_scheduler not in GAUSSIAN_PATHS:
        raise ValueError(f"unknown scheduler {name_or_scheduler!r}; expected one of {', '.join(GAUSSIAN_PATHS)} "
                         "or a GaussianPath instance")
    return GAUSSIAN_PATHS[name_or_scheduler]()


# --- the conditional path ------------------------------------------------------------------


@dataclass(frozen=True)
class PathSample:
    """A draw from the conditional path: x_t (n, d), its target velocity dx_t (n, d), and x_1, eps, t (n, 1)."""

    x_t: Tensor
    dx_t: Tensor
    x_1: Tensor
    eps: Tensor
    t: Tensor


def sample_path(x_1, t, eps, path: str | GaussianPath = "linear") -> PathSample:
    r"""Sample the conditional path and its target velocity (the flow matching regression target).

    .. math:: x_t = \alpha_t x_1 + \beta_t \varepsilon, \qquad
              \frac{d x_t}{dt} = \dot\alpha_t x_1 + \dot\beta_t \varepsilon

    For the linear scheduler the target is :math:`x_1 - \varepsilon` (the slide's :math:`x_1 - x_0`).

    Args:
        x_1: data points, shape (n, d).
        t: times in [0, 1], a number or shape (n,) / (n, 1).
        eps: noise, shape (n, d) (the source sample :math:`x_0`).
        path: a scheduler or its name.

    Graded in exercise 5.2 (notebook ``05_flow_matching``).
    """
    x_1 = as_points(x_1, "x_1")
    eps = as_tensor(eps, "eps", x_1.dtype)
    check_same_shape(x_1, eps, "x_1", "eps")
    s, t = gaussian_path(path), expand_t(t, x_1)
    x_t = s.alpha(t) * x_1 + s.beta(t) * eps
    dx_t = s.d_alpha(t) * x_1 + s.d_beta(t) * eps
    return PathSample(x_t=x_t, dx_t=dx_t, x_1=x_1, eps=eps, t=t)


def conditional_velocity(x, z, t, path: str | GaussianPath = "linear") -> Tensor:
    r""":math:`u_t(x \mid z) = \dot\alpha_t z + \frac{\dot\beta_t}{\beta_t}(x - \alpha_t z)`, shape (n, d).

    x: points (n, d); z: their data points (n, d) or one point (1, d); t in [0, 1) (beta_t > 0).
    """
    x = as_points(x, "x")
    z = _data_points(z, x)
    s, t = gaussian_path(path), expand_t(t, x)
    return s.d_alpha(t) * z + s.d_beta(t) / s.beta(t) * (x - s.alpha(t) * z)


def conditional_score(x, z, t, path: str | GaussianPath = "linear") -> Tensor:
    r""":math:`\nabla_x \log p_t(x \mid z) = -(x - \alpha_t z) / \beta_t^2`, shape (n, d); t in [0, 1)."""
    x = as_points(x, "x")
    z = _data_points(z, x)
    s, t = gaussian_path(path), expand_t(t, x)
    return -(x - s.alpha(t) * z) / s.beta(t) ** 2


# --- marginal fields -----------------------------------------------------------------------


def _posterior_weights(x: Tensor, t: Tensor, points: Tensor, s: GaussianPath, weights: Tensor | None) -> Tensor:
    """p(z_i | x_t = x) for the finite target set: softmax_i [log pi_i - |x - alpha_t z_i|^2 / (2 beta_t^2)], (n, m)."""
    diff = x[:, None, :] - s.alpha(t)[:, :, None] * points[None, :, :]
    logits = -(diff**2).sum(-1) / (2 * s.beta(t) ** 2)
    if weights is not None:
        logits = logits + torch.log(weights)[None, :]
    return torch.softmax(logits, dim=1)


def _target_set(points, x: Tensor, weights) -> tuple[Tensor, Tensor | None]:
    points = as_points(points, "points").to(x.dtype)
    if points.shape[1] != x.shape[1]:
        raise ValueError(f"points must have shape (m, {x.shape[1]}) to match x; got {tuple(points.shape)}")
    if weights is not None:
        weights = as_tensor(weights, "weights", x.dtype)
        if weights.shape != (points.shape[0],) or bool((weights <= 0).any()):
            raise ValueError(f"weights must be positive with shape ({points.shape[0]},); got {tuple(weights.shape)}")
        weights = weights / weights.sum()
    return points, weights


def marginal_velocity(x, t, points, path: str | GaussianPath = "linear", weights=None) -> Tensor:
    r"""The marginal velocity field that transports N(0, I) to a finite set of target points.

    .. math:: u_t(x) = \sum_i w_i(x)\, u_t(x \mid z_i), \qquad
              w_i(x) = \frac{\pi_i\, \mathcal N(x; \alpha_t z_i, \beta_t^2 I)}
                            {\sum_j \pi_j\, \mathcal N(x; \alpha_t z_j, \beta_t^2 I)}

    (the lecture's marginalization formula with :math:`p_{\text{data}} = \sum_i \pi_i \delta_{z_i}`).

    Args:
        x: points, shape (n, d); t: time in [0, 1) (beta_t > 0), a number or (n,) / (n, 1).
        points: the target set z_i, shape (m, d); weights: pi_i, shape (m,) (default uniform).
    Returns:
        shape (n, d).

    Graded in exercise 5.3 (notebook ``05_flow_matching``).
    """
    x = as_points(x, "x")
    points, weights = _target_set(points, x, weights)
    s, t = gaussian_path(path), expand_t(t, x)
    w = _posterior_weights(x, t, points, s, weights)            # (n, m)
    z_bar = w @ points                                          # E[z | x_t = x], (n, d)
    return s.d_alpha(t) * z_bar + s.d_beta(t) / s.beta(t) * (x - s.alpha(t) * z_bar)


def marginal_score(x, t, points, path: str | GaussianPath = "linear", weights=None) -> Tensor:
    r"""The score of the same path: :math:`\nabla \log p_t(x) = -(x - \alpha_t \mathbb E[z \mid x_t = x]) / \beta_t^2`.

    Arguments as :func:`marginal_velocity`; returns shape (n, d).
    """
    x = as_points(x, "x")
    points, weights = _target_set(points, x, weights)
    s, t = gaussian_path(path), expand_t(t, x)
    z_bar = _posterior_weights(x, t, points, s, weights) @ points
    return -(x - s.alpha(t) * z_bar) / s.beta(t) ** 2


def marginal_mixture(mixture: GaussianMixture, t: float, path: str | GaussianPath = "linear") -> GaussianMixture:
    r"""The path's marginal :math:`p_t` when the data is an isotropic Gaussian mixture:

    .. math:: p_1 = \sum_k \pi_k \mathcal N(m_k, s_k^2 I) \ \Rightarrow\
              p_t = \sum_k \pi_k \mathcal N(\alpha_t m_k, (\alpha_t^2 s_k^2 + \beta_t^2) I).
    """
    t = as_tensor(t, "t", torch.float64)
    if t.ndim != 0:
        raise ValueError(f"t must be a single time here, got shape {tuple(t.shape)}")
    check_unit_interval(t)
    s = gaussian_path(path)
    a, b = s.alpha(t), s.beta(t)
    return GaussianMixture(mixture.weights, a * mixture.means, a**2 * mixture.variances + b**2)


def mixture_velocity(x, t: float, mixture: GaussianMixture, path: str | GaussianPath = "linear") -> Tensor:
    """The exact marginal velocity u_t(x) for Gaussian-mixture data, from the exact score of p_t. Shape (n, d)."""
    x = as_points(x, "x")
    score = marginal_mixture(mixture, t, path).score(x.double()).to(x.dtype)
    return score_to_velocity(score, x, t, path)


# --- score <-> velocity --------------------------------------------------------------------


def _conversion(t: Tensor, s: GaussianPath) -> tuple[Tensor, Tensor]:
    """(a, b) with u = a x + b score: a = d_alpha/alpha, b = beta^2 d_alpha/alpha - d_beta beta."""
    alpha = s.alpha(t)
    if bool((alpha <= 0).any()):
        raise ValueError("score and velocity are convertible only for t > 0 (alpha_t > 0)")
    a = s.d_alpha(t) / alpha
    return a, s.beta(t) ** 2 * a - s.d_beta(t) * s.beta(t)


def score_to_velocity(score, x, t, path: str | GaussianPath = "linear") -> Tensor:
    r"""Velocity from score on a Gaussian path, t in (0, 1]:

    .. math:: u_t(x) = \frac{\dot\alpha_t}{\alpha_t} x + \Big(\beta_t^2 \frac{\dot\alpha_t}{\alpha_t}
              - \dot\beta_t \beta_t\Big) \nabla \log p_t(x)

    score, x: shape (n, d). Returns shape (n, d).

    Graded in exercise 6.5 (notebook ``06_sde_langevin``).
    """
    x = as_points(x, "x")
    score = as_tensor(score, "score", x.dtype)
    check_same_shape(score, x, "score", "x")
    a, b = _conversion(expand_t(t, x), gaussian_path(path))
    return a * x + b * score


def velocity_to_score(velocity, x, t, path: str | GaussianPath = "linear") -> Tensor:
    r"""The inverse of :func:`score_to_velocity`: :math:`\nabla \log p_t(x) = (u_t(x) - a_t x) / b_t`,
    t in (0, 1) (both coefficients nonzero). velocity, x: shape (n, d)."""
    x = as_points(x, "x")
    velocity = as_tensor(velocity, "velocity", x.dtype)
    check_same_shape(velocity, x, "velocity", "x")
    a, b = _conversion(expand_t(t, x), gaussian_path(path))
    if bool((b == 0).any()):
        raise ValueError("velocity_to_score needs t < 1 (at t = 1 the velocity carries no score)")
    return (velocity - a * x) / b
