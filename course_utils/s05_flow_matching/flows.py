r"""Vector fields, trajectories, flows, and the continuity equation (lecture: "Flow Matching - key notions"
to "Continuity equation"). Taught in notebook ``05_flow_matching``.

A time-dependent vector field :math:`v_t(x)` defines the ODE and its flow :math:`\Phi_t`:

.. math:: \frac{d}{dt} \Phi_t(x_0) = v_t(\Phi_t(x_0)), \qquad \Phi_0(x_0) = x_0 .

:class:`ExampleField` pairs a field with its exact flow, so that Euler's error can be measured
(:func:`solver_errors`, :func:`convergence_order`) and a square grid can be deformed exactly
(:func:`grid_lines`, :func:`push_lines`). The **continuity equation** says that the density
:math:`p_t` of :math:`x_t = \Phi_t(x_0)` obeys

.. math:: \frac{\partial p_t}{\partial t}(x) = -\nabla \cdot (p_t v_t)(x), \qquad
          \nabla \cdot f = \sum_i \frac{\partial f_i}{\partial x_i};

:func:`continuity_check` evaluates both sides on a grid by finite differences, and their residual.

Shapes: points (n, 2); fields ``v(x (n, 2), t (n, 1)) -> (n, 2)`` (the signature of
:mod:`course_utils.core.ode`). Grid arrays are (G, G) (or (G, G, 2) for a vector field) with entry
``[i, j]`` at the point ``(x, y) = (grid[j], grid[i])``: rows are y, columns x, as ``imshow`` draws them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..core import ode
from ..core.threads import one_thread
from ..core.validation import as_points, as_tensor, check_unit_interval
from ..data.mixtures import GaussianMixture
from . import probability_paths

__all__ = [
    "EXAMPLE_FIELDS",
    "ContinuityCheck",
    "ErrorCurve",
    "ExampleField",
    "continuity_check",
    "convergence_order",
    "divergence_on_grid",
    "example_field",
    "grid_lines",
    "grid_points",
    "mixture_path",
    "push_lines",
    "solver_errors",
]

DensityFn = Callable[[Tensor, float], Tensor]


def _time(t, x: Tensor) -> Tensor:
    """t (float, 0-d, (n,) or (n, 1)) as (n, 1) beside x, no range check (flows may run past 1)."""
    t = as_tensor(t, "t", x.dtype)
    if t.numel() not in (1, x.shape[0]) or (t.ndim == 2 and t.shape[1] != 1) or t.ndim > 2:
        raise ValueError(f"t must be a number or have shape ({x.shape[0]},) or ({x.shape[0]}, 1) to match x of "
                         f"shape {tuple(x.shape)}; got {tuple(t.shape)}")
    return t.reshape(-1, 1).expand(x.shape[0], 1)


def _rotate(x: Tensor, angle: Tensor) -> Tensor:
    """Rotate each row of x (n, 2) by its angle (n, 1), counter-clockwise."""
    c, s = torch.cos(angle), torch.sin(angle)
    return torch.cat([c * x[:, :1] - s * x[:, 1:], s * x[:, :1] + c * x[:, 1:]], dim=1)


# --- example fields with a known flow ---------------------------------------------------------


@dataclass(frozen=True)
class ExampleField:
    """A time-dependent 2-D vector field and its exact flow.

    Attributes:
        name: a short key ("spiral", "saddle").
        formula: the field in words and symbols, for plots.
        velocity: ``velocity(x (n, 2), t (n, 1) or float) -> (n, 2)``, the field :math:`v_t(x)`.
        flow: ``flow(x0 (n, 2), t) -> (n, 2)``, the exact :math:`\\Phi_t(x_0)`.
    """

    name: str
    formula: str
    velocity: Callable[[Tensor, Tensor], Tensor]
    flow: Callable[[Tensor, float], Tensor]

    def __call__(self, x: Tensor, t) -> Tensor:
        """The field as an ODE right-hand side: ``field(x, t)``."""
        x = as_points(x, "x", dim=2)
        return self.velocity(x, _time(t, x))


#: Spiral: radial rate K, spin OMEGA * (1 - t).
K_SPIRAL, OMEGA_SPIRAL = 3.0, 2 * math.pi


def _spiral_velocity(x: Tensor, t: Tensor) -> Tensor:
    r""":math:`v_t(x) = k(1 - |x|) x + \omega (1 - t) R_{90} x`: points drift to the unit circle, the spin slows."""
    r = x.norm(dim=1, keepdim=True)
    spin = torch.cat([-x[:, 1:], x[:, :1]], dim=1)
    return K_SPIRAL * (1 - r) * x + OMEGA_SPIRAL * (1 - t) * spin


def _spiral_flow(x0: Tensor, t) -> Tensor:
    r"""In polar coordinates :math:`\dot r = k r (1 - r)`, :math:`\dot\theta = \omega (1 - t)`, so
    :math:`r_t = r_0 e^{kt} / (1 - r_0 + r_0 e^{kt})` and :math:`\theta_t = \theta_0 + \omega (t - t^2/2)`."""
    x0 = as_points(x0, "x0", dim=2)
    t = _time(t, x0)
    r0 = x0.norm(dim=1, keepdim=True)
    grow = torch.exp(K_SPIRAL * t)
    return _rotate(grow / (1 - r0 + r0 * grow) * x0, OMEGA_SPIRAL * (t - t**2 / 2))


#: Saddle: v_t(x) = 2 t D x with D = diag(1, -1).
def _saddle_velocity(x: Tensor, t: Tensor) -> Tensor:
    r""":math:`v_t(x) = 2t\,(x_1, -x_2)`: stretch along the first axis, squeeze along the second, faster and faster."""
    return 2 * t * torch.cat([x[:, :1], -x[:, 1:]], dim=1)


def _saddle_flow(x0: Tensor, t) -> Tensor:
    r""":math:`\Phi_t(x_0) = (e^{t^2} x_{0,1},\ e^{-t^2} x_{0,2})`."""
    x0 = as_points(x0, "x0", dim=2)
    t = _time(t, x0)
    return torch.cat([torch.exp(t**2) * x0[:, :1], torch.exp(-(t**2)) * x0[:, 1:]], dim=1)


#: The example fields by name.
EXAMPLE_FIELDS: dict[str, ExampleField] = {
    "spiral": ExampleField("spiral", "v = 3(1 - |x|) x + 2π(1 - t) R90 x", _spiral_velocity, _spiral_flow),
    "saddle": ExampleField("saddle", "v = 2t (x1, -x2)", _saddle_velocity, _saddle_flow),
}


def example_field(name: str) -> ExampleField:
    """One of :data:`EXAMPLE_FIELDS`."""
    if name not in EXAMPLE_FIELDS:
        raise ValueError(f"unknown field {name!r}; expected one of {', '.join(EXAMPLE_FIELDS)}")
    return EXAMPLE_FIELDS[name]


# --- Euler's error against the step size ------------------------------------------------------


@dataclass(frozen=True)
class ErrorCurve:
    """Global error of a solver at t = 1 for several step counts.

    Attributes:
        method: "euler", "midpoint" or "rk4".
        n_steps: step counts, shape (K,); h = 1 / n_steps.
        h: step sizes, shape (K,).
        errors: max over the starting points of |x_n - Phi_1(x_0)|, shape (K,).
        order: the slope of log error against log h (Euler: about 1).
    """

    method: str
    n_steps: Tensor
    h: Tensor
    errors: Tensor
    order: float


def convergence_order(h, errors) -> float:
    r"""The least-squares slope p of :math:`\log e = p \log h + c` (the solver's order of accuracy)."""
    h, errors = as_tensor(h, "h", torch.float64), as_tensor(errors, "errors", torch.float64)
    if h.shape != errors.shape or h.ndim != 1 or len(h) < 2:
        raise ValueError(f"h and errors must be two vectors of the same length >= 2, got {tuple(h.shape)} "
                         f"and {tuple(errors.shape)}")
    if bool((h <= 0).any()) or bool((errors <= 0).any()):
        raise ValueError("step sizes and errors must be > 0 to take their logs")
    return float(np.polyfit(np.log(h.numpy()), np.log(errors.numpy()), 1)[0])


def solver_errors(field: ExampleField, x0, n_steps=(4, 8, 16, 32, 64, 128), method: ode.Method = "euler") -> ErrorCurve:
    r"""Integrate ``field`` from t = 0 to 1 with each step count; compare with the exact flow :math:`\Phi_1`.

    Args:
        field: an :class:`ExampleField`.
        x0: starting points, shape (n, 2) (computed in float64).
        n_steps: the step counts (h = 1 / n).
        method: "euler", "midpoint" or "rk4".
    """
    x0 = as_points(x0, "x0", dim=2).to(torch.float64)
    exact = field.flow(x0, 1.0)
    steps = [int(n) for n in n_steps]
    with one_thread():
        errors = [float((ode.integrate(field, x0, 0.0, 1.0, n, method) - exact).norm(dim=1).max()) for n in steps]
    h = 1.0 / torch.tensor(steps, dtype=torch.float64)
    errs = torch.tensor(errors, dtype=torch.float64)
    return ErrorCurve(method, torch.tensor(steps), h, errs, convergence_order(h, errs))


# --- grids and their deformation --------------------------------------------------------------


def grid_points(lim: float = 2.5, n: int = 64, dtype=torch.float64) -> tuple[Tensor, Tensor]:
    """A square n x n grid on [-lim, lim]^2: the axis (n,) and the points (n * n, 2), row-major in y.

    Point ``i * n + j`` is ``(axis[j], axis[i])``, so ``values.reshape(n, n)`` is indexed ``[y, x]``.
    """
    if n < 3 or lim <= 0:
        raise ValueError(f"need n >= 3 and lim > 0, got n={n}, lim={lim}")
    axis = torch.linspace(-lim, lim, n, dtype=dtype)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    return axis, torch.stack([xx.flatten(), yy.flatten()], dim=1)


def grid_lines(lim: float = 2.0, n_lines: int = 9, n_points: int = 60, dtype=torch.float64) -> Tensor:
    """The lines of a square grid on [-lim, lim]^2, as polylines: shape (2 n_lines, n_points, 2).

    The first n_lines are vertical (x fixed), the others horizontal (y fixed).
    """
    if n_lines < 2 or n_points < 2:
        raise ValueError(f"need n_lines >= 2 and n_points >= 2, got {n_lines}, {n_points}")
    ticks = torch.linspace(-lim, lim, n_lines, dtype=dtype)
    along = torch.linspace(-lim, lim, n_points, dtype=dtype)
    fixed = ticks[:, None].expand(n_lines, n_points)
    moving = along[None, :].expand(n_lines, n_points)
    vertical = torch.stack([fixed, moving], dim=-1)
    horizontal = torch.stack([moving, fixed], dim=-1)
    return torch.cat([vertical, horizontal], dim=0)


def push_lines(flow_or_field, lines: Tensor, t: float, n_steps: int | None = None,
               method: ode.Method = "euler") -> Tensor:
    r"""The image :math:`\Phi_t(\text{lines})` of polylines (L, P, 2) under a flow, same shape.

    ``flow_or_field`` is an :class:`ExampleField` (its exact flow is used when ``n_steps`` is None)
    or any vector field ``v(x, t)``, integrated from 0 to t with ``n_steps`` steps of ``method``.
    """
    flat = lines.reshape(-1, 2)
    if n_steps is None:
        if not isinstance(flow_or_field, ExampleField):
            raise ValueError("a plain vector field has no exact flow: give n_steps to integrate it")
        moved = flow_or_field.flow(flat, t)
    elif t == 0:
        moved = flat
    else:
        with one_thread():
            moved = ode.integrate(flow_or_field, flat, 0.0, t, n_steps, method)
    return moved.reshape(lines.shape)


# --- the continuity equation on a grid --------------------------------------------------------


def divergence_on_grid(f: Tensor, dx: float) -> Tensor:
    r""":math:`\nabla \cdot f = \partial f_x / \partial x + \partial f_y / \partial y` by central differences.

    Args:
        f: a vector field on the grid, shape (G, G, 2), ``f[i, j]`` at ``(x, y) = (grid[j], grid[i])``,
            ``f[..., 0]`` its x-component.
        dx: the grid spacing (the same along both axes).

    Returns:
        shape (G, G); second-order one-sided differences on the border.

    Graded in exercise 5.6 (notebook ``05_flow_matching``).
    """
    f = as_tensor(f, "f")
    if f.ndim != 3 or f.shape[2] != 2 or f.shape[0] != f.shape[1] or f.shape[0] < 3:
        raise ValueError(f"f must be a vector field on a square grid, shape (G, G, 2) with G >= 3; "
                         f"got {tuple(f.shape)}")
    (d_fx_dx,) = torch.gradient(f[..., 0], spacing=dx, dim=1, edge_order=2)
    (d_fy_dy,) = torch.gradient(f[..., 1], spacing=dx, dim=0, edge_order=2)
    return d_fx_dx + d_fy_dy


@dataclass(frozen=True)
class ContinuityCheck:
    r"""Both sides of the continuity equation on a grid, at one time t.

    Attributes:
        t: the time.
        axis: grid coordinates, shape (G,); arrays below are (G, G) indexed ``[y, x]``.
        density: :math:`p_t`.
        velocity: :math:`v_t`, shape (G, G, 2).
        dp_dt: :math:`\partial_t p_t` (central difference in time).
        div_flux: :math:`\nabla \cdot (p_t v_t)` (central differences in space).
        residual: ``dp_dt + div_flux`` (zero when the equation holds).
    """

    t: float
    axis: Tensor
    density: Tensor
    velocity: Tensor
    dp_dt: Tensor
    div_flux: Tensor
    residual: Tensor

    @property
    def relative_residual(self) -> float:
        """max |residual| / max |dp/dt|: near 0 when v generates p, of order 1 when it does not."""
        return float(self.residual.abs().max() / self.dp_dt.abs().max().clamp_min(1e-300))


def continuity_check(density: DensityFn, velocity: Callable[[Tensor, float], Tensor], t: float,
                     lim: float = 3.0, n: int = 81, dt: float = 1e-4) -> ContinuityCheck:
    r"""Evaluate :math:`\partial_t p_t` and :math:`-\nabla\cdot(p_t v_t)` on an n x n grid at time t.

    Args:
        density: ``density(x (m, 2), t) -> (m,)``, the probability path :math:`p_t(x)`.
        velocity: ``velocity(x (m, 2), t) -> (m, 2)``, the field claimed to generate it.
        t: the time, with [t - dt, t + dt] inside [0, 1].
        lim, n: the grid [-lim, lim]^2 with n points per axis (choose lim so that p is ~0 on the border).
        dt: the time step of the central difference.
    """
    check_unit_interval(torch.tensor([t - dt, t + dt]), "[t - dt, t + dt]")
    axis, pts = grid_points(lim, n)
    dx = float(axis[1] - axis[0])
    with one_thread():
        p = density(pts, t).reshape(n, n)
        dp_dt = ((density(pts, t + dt) - density(pts, t - dt)) / (2 * dt)).reshape(n, n)
        v = velocity(pts, t).reshape(n, n, 2)
        div_flux = divergence_on_grid(p[..., None] * v, dx)
    return ContinuityCheck(float(t), axis, p, v, dp_dt, div_flux, dp_dt + div_flux)


def mixture_path(mixture: GaussianMixture, path: str | probability_paths.GaussianPath = "linear"):
    r"""The exact probability path of Gaussian-mixture data and its marginal velocity field.

    Returns ``(density, velocity)``: ``density(x (m, d), t) -> (m,)`` is :math:`p_t(x)` from
    :func:`~.probability_paths.marginal_mixture`, and ``velocity(x, t) -> (m, d)`` is
    :func:`~.probability_paths.mixture_velocity`, for t in (0, 1].
    """
    def density(x: Tensor, t: float) -> Tensor:
        return probability_paths.marginal_mixture(mixture, t, path).log_prob(x).exp()

    def velocity(x: Tensor, t: float) -> Tensor:
        return probability_paths.mixture_velocity(x, float(t), mixture, path)

    return density, velocity
