r"""ODE solvers for a time-dependent vector field (lecture: "Flow Matching", the ODE and its flow).

A vector field is a function ``v(x, t)`` of points x, shape (n, d), and times t, shape (n, 1),
returning velocities of shape (n, d). Its flow moves a point along

.. math:: \frac{d x_t}{dt} = v_t(x_t), \qquad x_{t_0} = x_0 .

One step of size h from (x, t):

- Euler (order 1): :math:`x + h\, v(x, t)`
- midpoint (order 2): :math:`x + h\, v\big(x + \tfrac h2 v(x, t),\ t + \tfrac h2\big)`
- RK4 (order 4): the classical Runge-Kutta combination :math:`x + \tfrac h6 (k_1 + 2k_2 + 2k_3 + k_4)`

:func:`integrate` takes ``n_steps`` equal steps from t0 to t1 (t1 < t0 integrates backwards).
Networks trained in sections 05-07 have this signature, so ``integrate(model, x0)`` samples them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from .validation import as_tensor, check_int

__all__ = ["METHODS", "Method", "VectorField", "euler_step", "integrate", "midpoint_step", "rk4_step", "time_grid"]

VectorField = Callable[[Tensor, Tensor], Tensor]
Method = Literal["euler", "midpoint", "rk4"]


def _call(v: VectorField, x: Tensor, t: float | Tensor) -> Tensor:
    tt = torch.full((x.shape[0], 1), float(t), dtype=x.dtype)
    out = v(x, tt)
    if not isinstance(out, Tensor) or out.shape != x.shape:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"the vector field must return a tensor of shape {tuple(x.shape)} (like x), got {shape}")
    return out


def euler_step(v: VectorField, x: Tensor, t: float, h: float) -> Tensor:
    r"""One explicit Euler step :math:`x + h\, v_t(x)`; x: (n, d). Error per unit time: O(h)."""
    return x + h * _call(v, x, t)


def midpoint_step(v: VectorField, x: Tensor, t: float, h: float) -> Tensor:
    r"""One explicit midpoint step :math:`x + h\, v_{t + h/2}(x + \tfrac h2 v_t(x))`. Error O(h^2)."""
    return x + h * _call(v, x + 0.5 * h * _call(v, x, t), t + 0.5 * h)


def rk4_step(v: VectorField, x: Tensor, t: float, h: float) -> Tensor:
    r"""One classical Runge-Kutta step. Error O(h^4).

    .. math:: k_1 = v_t(x),\ k_2 = v_{t+h/2}(x + \tfrac h2 k_1),\ k_3 = v_{t+h/2}(x + \tfrac h2 k_2),\
              k_4 = v_{t+h}(x + h k_3);\quad x + \tfrac h6 (k_1 + 2 k_2 + 2 k_3 + k_4)
    """
    k1 = _call(v, x, t)
    k2 = _call(v, x + 0.5 * h * k1, t + 0.5 * h)
    k3 = _call(v, x + 0.5 * h * k2, t + 0.5 * h)
    k4 = _call(v, x + h * k3, t + h)
    return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


#: The one-step methods by name.
METHODS: dict[str, Callable[[VectorField, Tensor, float, float], Tensor]] = {
    "euler": euler_step, "midpoint": midpoint_step, "rk4": rk4_step,
}


def time_grid(n_steps: int, t0: float = 0.0, t1: float = 1.0) -> Tensor:
    """The n_steps + 1 equally spaced times from t0 to t1 (both included), float64, shape (n_steps + 1,)."""
    check_int(n_steps, "n_steps", 1)
    return torch.linspace(t0, t1, n_steps + 1, dtype=torch.float64)


@torch.no_grad()
def integrate(v: VectorField, x0, t0: float = 0.0, t1: float = 1.0, n_steps: int = 100,
              method: Method = "euler", return_path: bool = False) -> Tensor:
    r"""Solve :math:`dx/dt = v_t(x)` from :math:`x_{t_0} = x_0` to :math:`t_1` with n_steps equal steps.

    Runs without autograd (sampling, not training).

    Args:
        v: the vector field ``v(x (n, d), t (n, 1)) -> (n, d)``.
        x0: starting points, shape (n, d).
        t0, t1: start and end times; n_steps: a positive int; method: "euler", "midpoint" or "rk4".
        return_path: also return every intermediate state.

    Returns:
        x at t1, shape (n, d); or, with return_path, the states at every grid time,
        shape (n_steps + 1, n, d), the first being x0.

    Graded in exercise 5.1 (notebook ``05_flow_matching``).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    x = as_tensor(x0, "x0")
    if x.ndim != 2:
        raise ValueError(f"x0 must have shape (n, d), got {tuple(x.shape)}")
    step, times = METHODS[method], time_grid(n_steps, t0, t1).tolist()
    path = [x]
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        x = step(v, x, t, t_next - t)
        if return_path:
            path.append(x)
    return torch.stack(path) if return_path else x
