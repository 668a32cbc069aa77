r"""The Wasserstein-1 (earth mover's) distance in one dimension (lecture: "Objective functions -
Wasserstein GANs", "Earth Mover distance illustration", "Optimal Transport interpretation").

Taught in notebook ``04_wasserstein``. The distance is an infimum over couplings,

.. math:: W(\mu, \nu) = \inf_{\gamma \in \Pi(\mu, \nu)} E_{(x, y) \sim \gamma}\,|x - y|,

and on the real line it has a closed form through the cumulative distribution functions
F (of :math:`\mu`) and G (of :math:`\nu`), or the quantile functions:

.. math:: W_1(\mu, \nu) = \int_{\mathbb R} |F(t) - G(t)|\, dt = \int_0^1 |F^{-1}(u) - G^{-1}(u)|\, du .

The second form says that the *sorted* (monotone) coupling is optimal: the u-th quantile of
:math:`\mu` goes to the u-th quantile of :math:`\nu`. Here: W1 from samples (sorting), from
densities on a grid (CDFs), exactly for piecewise-uniform densities such as the slides'
example (W = 3), the monotone plan itself (which mass goes where), the optimal 1-D critic of
the Kantorovich-Rubinstein dual, and the "parallel lines" of Arjovsky et al. (2017, example 1)
where JS and KL are blind to the distance between two distributions and W is not.
Discrete optimal transport in any dimension is in :mod:`~.transport`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from ..core.validation import as_tensor, check_same_shape

__all__ = [
    "ParallelLines",
    "PiecewiseUniform",
    "TransportSegments",
    "cdf_on_grid",
    "monotone_coupling",
    "optimal_critic_1d",
    "blurred_parallel_lines",
    "parallel_lines",
    "parallel_lines_samples",
    "slides_example",
    "w1_on_grid",
    "w1_piecewise_uniform",
    "w1_samples",
]


def _sample_1d(x, name: str) -> Tensor:
    t = as_tensor(x, name, torch.float64)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 1 or len(t) == 0:
        raise ValueError(f"{name} must be a 1-D sample of shape (n,) with n >= 1, got {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} holds NaN or infinite values")
    return t


def w1_samples(x, y) -> Tensor:
    r"""W1 between the empirical distributions of two 1-D samples (uniform weights).

    .. math:: W_1 = \int |F_n(t) - G_m(t)|\, dt,
       \quad\text{and for } n = m:\quad W_1 = \frac1n \sum_{i=1}^n |x_{(i)} - y_{(i)}|

    with :math:`x_{(i)}` the sorted sample: sorting both samples gives the optimal coupling.
    For n != m the CDF form is integrated exactly between the merged sorted values (as
    ``scipy.stats.wasserstein_distance`` does).

    Args:
        x: sample of shape (n,) (or (n, 1)).
        y: sample of shape (m,) (or (m, 1)).

    Returns:
        A float64 tensor of shape ().
    """
    x, y = _sample_1d(x, "x"), _sample_1d(y, "y")
    xs, ys = torch.sort(x).values, torch.sort(y).values
    if len(xs) == len(ys):
        return (xs - ys).abs().mean()
    points = torch.sort(torch.cat([xs, ys])).values
    widths = points[1:] - points[:-1]
    f = torch.searchsorted(xs, points[:-1], right=True).double() / len(xs)
    g = torch.searchsorted(ys, points[:-1], right=True).double() / len(ys)
    return ((f - g).abs() * widths).sum()


def _grid_densities(p, q, dx: float) -> tuple[Tensor, Tensor]:
    p, q = as_tensor(p, "p", torch.float64), as_tensor(q, "q", torch.float64)
    check_same_shape(p, q, "p", "q")
    if p.ndim != 1:
        raise ValueError(f"p and q must be densities on a 1-D grid, shape (G,), got {tuple(p.shape)}")
    if not dx > 0:
        raise ValueError(f"dx is the grid spacing and must be > 0, got {dx}")
    if bool((p < 0).any()) or bool((q < 0).any()):
        raise ValueError("p and q are densities and must be >= 0 everywhere")
    mass_p, mass_q = float(p.sum() * dx), float(q.sum() * dx)
    if abs(mass_p - mass_q) > 1e-3 * max(mass_p, mass_q, 1e-12):
        raise ValueError(f"W1 compares distributions of equal mass: p integrates to {mass_p:.6g} and q to "
                         f"{mass_q:.6g} on this grid (widen the grid, or normalise)")
    return p, q


def cdf_on_grid(p, dx: float) -> Tensor:
    r"""The CDF of a density on an evenly spaced grid: :math:`F(t_i) = \sum_{k \le i} p(t_k)\, dx`.

    Args:
        p: density values, shape (G,).
        dx: grid spacing, > 0.

    Returns:
        F at the grid points, shape (G,), non-decreasing.
    """
    p = as_tensor(p, "p", torch.float64)
    if not dx > 0:
        raise ValueError(f"dx is the grid spacing and must be > 0, got {dx}")
    return torch.cumsum(p, 0) * dx


def w1_on_grid(p, q, dx: float) -> Tensor:
    r"""W1 between two densities given on the same evenly spaced 1-D grid, through their CDFs.

    .. math:: W_1(\mu, \nu) = \int |F(t) - G(t)|\, dt \approx \sum_i |F(t_i) - G(t_i)|\, dx,
       \qquad F(t_i) = \sum_{k \le i} p(t_k)\, dx

    The grid must hold (nearly) all the mass of both: the two masses must agree to 1e-3.

    Args:
        p, q: density values on the grid, shape (G,) each.
        dx: grid spacing.

    Returns:
        A float64 tensor of shape ().

    Graded in exercise 4.1 (notebook ``04_wasserstein``).
    """
    p, q = _grid_densities(p, q, dx)
    return (cdf_on_grid(p, dx) - cdf_on_grid(q, dx)).abs().sum() * dx


def optimal_critic_1d(p, q, dx: float, tol: float = 1e-9) -> Tensor:
    r"""The optimal Kantorovich-Rubinstein critic between two densities on a 1-D grid.

    Integrating by parts, :math:`E_\mu f - E_\nu f = \int f'(t)\,(G(t) - F(t))\,dt`, which a
    1-Lipschitz f (:math:`|f'| \le 1`) makes largest with :math:`f' = \mathrm{sign}(G - F)`:

    .. math:: f^*(t_i) = \sum_{k \le i} \mathrm{sign}\big(G(t_k) - F(t_k)\big)\, dx,
       \qquad E_\mu f^* - E_\nu f^* = \int |F - G| = W_1 .

    So f* descends where F > G (there the mass of mu must move right, to reach nu) and climbs
    where F < G. Where the CDFs agree (|F - G| <= ``tol``: beyond both supports, both are 1 up to
    round-off) f* is flat: the sign of round-off (about 1e-13) carries no information, and taking
    it would draw slopes of +-1 where no mass moves.

    Args:
        p, q: the densities of mu and nu on the grid, shape (G,).
        dx: grid spacing.
        tol: CDF gaps at most this large count as 0.

    Returns:
        f* at the grid points, shape (G,), with f*(t_0) = sign(...) dx (any constant may be added).
    """
    p, q = _grid_densities(p, q, dx)
    gap = cdf_on_grid(q, dx) - cdf_on_grid(p, dx)
    slope = torch.where(gap.abs() <= tol, torch.zeros_like(gap), torch.sign(gap))
    return torch.cumsum(slope, 0) * dx


# --- piecewise-uniform distributions (the slides' earth mover example) ---------------------


@dataclass(frozen=True)
class PiecewiseUniform:
    r"""A mixture of uniform pieces: mass :math:`m_k` spread evenly on :math:`[a_k, b_k]`.

    .. math:: \mu = \sum_k \frac{m_k}{b_k - a_k}\, \mathbf 1_{[a_k, b_k]}

    Pieces may overlap (their densities add). The slides' :math:`\mu = \frac14 \mathbf 1_{[1,2]}
    + \frac14 \mathbf 1_{[3,4]} + \frac12 \mathbf 1_{[9,10]}` is ``PiecewiseUniform([[1, 2],
    [3, 4], [9, 10]], [0.25, 0.25, 0.5])``.

    Attributes:
        intervals: the pieces' ends, shape (K, 2), with a_k < b_k.
        masses: the pieces' masses, shape (K,), > 0, summing to 1.
    """

    intervals: Tensor
    masses: Tensor

    def __post_init__(self):
        iv = as_tensor(self.intervals, "intervals", torch.float64)
        m = as_tensor(self.masses, "masses", torch.float64)
        if iv.ndim != 2 or iv.shape[1] != 2 or m.shape != (iv.shape[0],) or len(m) == 0:
            raise ValueError(f"expected intervals (K, 2) and masses (K,), got {tuple(iv.shape)} and {tuple(m.shape)}")
        if not bool((iv[:, 1] > iv[:, 0]).all()):
            raise ValueError(f"each interval [a, b] needs a < b; got {iv.tolist()}")
        if not bool((m > 0).all()) or abs(float(m.sum()) - 1.0) > 1e-9:
            raise ValueError(f"masses must be > 0 and sum to 1 (a probability distribution), got {m.tolist()}")
        object.__setattr__(self, "intervals", iv)
        object.__setattr__(self, "masses", m)

    @property
    def heights(self) -> Tensor:
        """Each piece's density m_k / (b_k - a_k), shape (K,)."""
        return self.masses / (self.intervals[:, 1] - self.intervals[:, 0])

    @property
    def breakpoints(self) -> Tensor:
        """All piece ends, sorted and unique, shape (B,): the CDF is linear between them."""
        return torch.unique(self.intervals.flatten())

    @property
    def mean(self) -> float:
        return float((self.masses * self.intervals.mean(1)).sum())

    def density(self, t) -> Tensor:
        """The density at points t, shape (...) (pieces are half-open [a, b))."""
        t = as_tensor(t, "t", torch.float64)
        a, b = self.intervals[:, 0], self.intervals[:, 1]
        inside = (t[..., None] >= a) & (t[..., None] < b)
        return (inside.double() * self.heights).sum(-1)

    def density_on_grid(self, grid) -> Tensor:
        r"""Cell-averaged density on an evenly spaced grid: :math:`(F(t_i + dx/2) - F(t_i - dx/2)) / dx`.

        Unlike :meth:`density` at the grid points, its masses sum exactly to the mass inside the
        grid's cells, whatever the alignment of the pieces' ends with the grid. Shape (G,).
        """
        grid = as_tensor(grid, "grid", torch.float64)
        if grid.ndim != 1 or len(grid) < 2:
            raise ValueError(f"grid must be an evenly spaced 1-D grid of shape (G,), G >= 2, got {tuple(grid.shape)}")
        dx = float(grid[1] - grid[0])
        return (self.cdf(grid + dx / 2) - self.cdf(grid - dx / 2)) / dx

    def cdf(self, t) -> Tensor:
        r""":math:`F(t) = \sum_k m_k\, \mathrm{clip}\big((t - a_k)/(b_k - a_k), 0, 1\big)`, shape of t."""
        t = as_tensor(t, "t", torch.float64)
        a, b = self.intervals[:, 0], self.intervals[:, 1]
        return (self.masses * ((t[..., None] - a) / (b - a)).clamp(0.0, 1.0)).sum(-1)

    def quantile(self, u) -> Tensor:
        """:math:`F^{-1}(u)`, the smallest t with F(t) >= u, for u in [0, 1] (linear between breakpoints)."""
        u = as_tensor(u, "u", torch.float64)
        if bool(((u < 0) | (u > 1)).any()):
            raise ValueError(f"u must lie in [0, 1]; got values from {float(u.min()):.3g} to {float(u.max()):.3g}")
        t = self.breakpoints
        f = self.cdf(t)
        # F is piecewise linear and non-decreasing through (t, f); where it is flat, take the left end.
        j = torch.searchsorted(f, u.clamp(max=float(f[-1])), right=False).clamp(1, len(t) - 1)
        f0, f1, t0, t1 = f[j - 1], f[j], t[j - 1], t[j]
        slope = torch.where(f1 > f0, (u - f0) / torch.where(f1 > f0, f1 - f0, 1.0), torch.zeros_like(u))
        return torch.where(u <= f[0], t[0], t0 + slope * (t1 - t0))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws, shape (n,), float64 (pick a piece by its mass, then a uniform point in it)."""
        k = torch.multinomial(self.masses, n, replacement=True, generator=generator)
        u = torch.rand(n, generator=generator, dtype=torch.float64)
        a, b = self.intervals[k, 0], self.intervals[k, 1]
        return a + u * (b - a)


def slides_example() -> tuple[PiecewiseUniform, PiecewiseUniform]:
    r"""The slides' earth mover example (after F. Fleuret): W(mu, mu') = 3.

    .. math:: \mu = \tfrac14 \mathbf 1_{[1,2]} + \tfrac14 \mathbf 1_{[3,4]} + \tfrac12 \mathbf 1_{[9,10]},
       \qquad \mu' = \tfrac12 \mathbf 1_{[5,7]}
    """
    mu = PiecewiseUniform(torch.tensor([[1.0, 2.0], [3.0, 4.0], [9.0, 10.0]]), torch.tensor([0.25, 0.25, 0.5]))
    mu_prime = PiecewiseUniform(torch.tensor([[5.0, 7.0]]), torch.tensor([1.0]))
    return mu, mu_prime


def _abs_linear_integral(d0: Tensor, d1: Tensor, width: Tensor) -> Tensor:
    r"""Exact :math:`\int_0^w |d_0 + (d_1 - d_0)s/w|\, ds` for a linear function (elementwise)."""
    same_sign = d0 * d1 >= 0
    total = d0.abs() + d1.abs()
    crossing = (d0**2 + d1**2) / torch.where(total > 0, 2 * total, 1.0)
    return width * torch.where(same_sign, 0.5 * total, crossing)


def w1_piecewise_uniform(mu: PiecewiseUniform, nu: PiecewiseUniform) -> Tensor:
    r"""Exact W1 between two piecewise-uniform distributions: :math:`\int |F - G|` with F - G
    linear between consecutive breakpoints of both (integrated in closed form).

    Returns:
        A float64 tensor of shape (); ``w1_piecewise_uniform(*slides_example())`` is 3.
    """
    t = torch.unique(torch.cat([mu.breakpoints, nu.breakpoints]))
    d = mu.cdf(t) - nu.cdf(t)
    return _abs_linear_integral(d[:-1], d[1:], t[1:] - t[:-1]).sum()


class TransportSegments(NamedTuple):
    """A transport plan between 1-D distributions as pieces moved linearly (which mass goes where).

    Attributes:
        source: the source intervals, shape (S, 2): mass spread evenly on [s0, s1] ...
        target: ... goes, in order, onto the target intervals [t0, t1], shape (S, 2);
        mass: the mass of each piece, shape (S,), summing to 1;
        cost: each piece's mass times its mean distance moved, shape (S,); cost.sum() is the plan's cost.
    """

    source: Tensor
    target: Tensor
    mass: Tensor
    cost: Tensor


def monotone_coupling(mu: PiecewiseUniform, nu: PiecewiseUniform) -> TransportSegments:
    r"""The sorted (monotone) optimal plan: the u-th quantile of mu goes to the u-th quantile of nu.

    .. math:: T = G^{-1} \circ F, \qquad \gamma = (F^{-1}, G^{-1})_\# \mathrm{U}[0, 1]

    Both quantile functions are linear between the levels u where either CDF has a
    breakpoint, so the plan is a few pieces, each moved (and stretched) linearly. Its cost
    is :math:`\int_0^1 |F^{-1}(u) - G^{-1}(u)|\,du = W_1(\mu, \nu)`.
    """
    levels = torch.unique(torch.cat([mu.cdf(mu.breakpoints), nu.cdf(nu.breakpoints),
                                     torch.tensor([0.0, 1.0], dtype=torch.float64)]).clamp(0.0, 1.0))
    u0, u1 = levels[:-1], levels[1:]
    keep = (u1 - u0) > 1e-12
    u0, u1 = u0[keep], u1[keep]
    # Quantiles just inside each level range, so a flat stretch of F (a gap between pieces) is skipped.
    inner0, inner1 = u0 + 1e-12, u1 - 1e-12
    source = torch.stack([mu.quantile(inner0), mu.quantile(inner1)], 1)
    target = torch.stack([nu.quantile(inner0), nu.quantile(inner1)], 1)
    mass = u1 - u0
    move = target - source
    cost = mass * _abs_linear_integral(move[:, 0], move[:, 1], torch.ones_like(mass))
    return TransportSegments(source, target, mass, cost)


# --- the parallel lines (Arjovsky et al. 2017, example 1) ----------------------------------


class ParallelLines(NamedTuple):
    r"""Divergences between :math:`P_0` = law of (0, Z) and :math:`P_\theta` = law of (theta, Z), Z ~ U[0, 1].

    Attributes (tensors of the shape of theta):
        kl: :math:`KL(P_\theta \| P_0) = KL(P_0 \| P_\theta)`: 0 at theta = 0, +inf elsewhere.
        js: :math:`JS(P_0, P_\theta)`: 0 at theta = 0, log 2 elsewhere (nats).
        w: :math:`W(P_0, P_\theta) = |\theta|`.
        tv: total variation :math:`\delta(P_0, P_\theta)`: 0 at theta = 0, 1 elsewhere.
    """

    kl: Tensor
    js: Tensor
    w: Tensor
    tv: Tensor


def parallel_lines(theta) -> ParallelLines:
    r"""Closed forms of Arjovsky et al. (2017), example 1: two uniform distributions on parallel
    vertical segments at horizontal distance :math:`|\theta|`.

    The supports are disjoint for theta != 0, so KL is infinite, JS is stuck at log 2 and the
    total variation at 1, whatever the distance: none of them tells the generator which way to
    move theta. The earth mover's distance moves every point horizontally by :math:`|\theta|`:
    :math:`W = |\theta|`, continuous, with gradient sign(theta) everywhere but 0.

    Args:
        theta: offsets, any shape.

    Returns:
        :class:`ParallelLines` of float64 tensors of theta's shape.
    """
    theta = as_tensor(theta, "theta", torch.float64)
    apart = theta != 0
    zero = torch.zeros_like(theta)
    return ParallelLines(kl=torch.where(apart, torch.full_like(theta, math.inf), zero),
                         js=torch.where(apart, torch.full_like(theta, math.log(2.0)), zero),
                         w=theta.abs(), tv=apart.double())


def blurred_parallel_lines(theta, sigma: float) -> ParallelLines:
    r"""The parallel lines with their x-coordinates blurred by Gaussian noise N(0, sigma^2) ("instance noise").

    Both distributions share the uniform y-coordinate, so every divergence reduces to the
    x-marginals :math:`N(0, \sigma^2)` and :math:`N(	heta, \sigma^2)`; with :math:`d = 	heta / \sigma`:

    .. math:: KL = d^2 / 2, \qquad TV = 2\Phi(|d| / 2) - 1, \qquad W = |	heta|,

    and the JS by quadrature (no closed form). Noise makes KL and JS finite and smooth, but JS
    still saturates at log 2 once the lines are a few sigma apart: its gradient vanishes there.
    ``sigma = 0`` gives :func:`parallel_lines`.

    Args:
        theta: offsets, shape (T,) or any shape.
        sigma: the noise's standard deviation, >= 0.
    """
    if sigma < 0:
        raise ValueError(f"sigma is a standard deviation and must be >= 0, got {sigma}")
    theta = as_tensor(theta, "theta", torch.float64)
    if sigma == 0:
        return parallel_lines(theta)
    d = theta / sigma
    u = torch.linspace(-12.0, 36.0, 4801, dtype=torch.float64)  # holds N(0, 1) and N(|d|, 1) for |d| <= 24
    du = float(u[1] - u[0])
    shape = d.shape
    d = d.reshape(-1, 1)
    log_p = -0.5 * u**2 - 0.5 * math.log(2 * math.pi)
    log_q = -0.5 * (u - d.abs().clamp(max=24.0)) ** 2 - 0.5 * math.log(2 * math.pi)  # JS depends on |d| only
    log_m = torch.logaddexp(log_p, log_q) - math.log(2.0)
    js = 0.5 * ((log_p.exp() * (log_p - log_m)).sum(-1) + (log_q.exp() * (log_q - log_m)).sum(-1)) * du
    far = d.abs()[:, 0] > 24.0  # the overlap is below exp(-72): JS = log 2 to double precision
    js = torch.where(far, torch.full_like(js, math.log(2.0)), js).clamp(0.0, math.log(2.0))
    tv = torch.special.erf(d.abs() / (2 * math.sqrt(2.0)))[:, 0]
    return ParallelLines(kl=(0.5 * d**2)[:, 0].reshape(shape), js=js.reshape(shape), w=theta.abs(),
                         tv=tv.reshape(shape))


def parallel_lines_samples(theta: float, n: int, generator: torch.Generator | None = None,
                           shared_z: bool = True) -> tuple[Tensor, Tensor]:
    """n points of P_0 and of P_theta, each shape (n, 2), float64 (the same Z for both when ``shared_z``)."""
    z0 = torch.rand(n, generator=generator, dtype=torch.float64)
    z1 = z0.clone() if shared_z else torch.rand(n, generator=generator, dtype=torch.float64)
    return (torch.stack([torch.zeros_like(z0), z0], 1),
            torch.stack([torch.full_like(z1, float(theta)), z1], 1))
